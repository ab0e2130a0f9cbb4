from pathlib import Path

from txviz_pipeline.settings import Settings, embedded_env


def test_from_env_reads_endpoint_and_home(tmp_path: Path):
    env = embedded_env(6001, home=tmp_path)
    settings = Settings.from_env(env)
    assert settings.endpoint_url == "http://127.0.0.1:6001"
    assert settings.embedded
    assert settings.home == tmp_path
    assert settings.spice_path.is_relative_to(tmp_path)


def test_real_aws_has_no_endpoint():
    settings = Settings.from_env({"AWS_REGION": "eu-west-1"})
    assert settings.endpoint_url is None
    assert not settings.embedded
    assert settings.region == "eu-west-1"
