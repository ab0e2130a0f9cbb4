"""Settings.from_env: the one reader of the environment, and the command line built on it."""

from os import pathsep
from pathlib import Path

import pytest

from txviz_pipeline import settings
from txviz_pipeline.cli import build_parser, main
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


@pytest.mark.parametrize(
    ("env", "in_s3"),
    [
        ({}, True),  # real AWS: no endpoint
        ({"TXVIZ_MODE": "aws"}, True),
        (embedded_env(6001), False),
        ({**embedded_env(6001), "TXVIZ_MODE": "aws"}, True),
        ({**embedded_env(6001), "TXVIZ_STATE_STORE": "s3"}, True),
        ({"TXVIZ_STATE_STORE": "local"}, False),
        ({"TXVIZ_STATE_STORE": ""}, True),
    ],
)
def test_shared_state_lives_in_s3_on_aws_and_locally_when_embedded(env, in_s3):
    assert Settings.from_env(env).state_in_s3 is in_s3


def test_mode_ports_and_card_key_come_from_the_environment(tmp_path: Path):
    env = {
        "TXVIZ_MODE": "aws",
        "TXVIZ_MOTO_PORT": "6001",
        "TXVIZ_DAGSTER_PORT": "6002",
        "TXVIZ_DASHBOARD_PORT": "6003",
        "TXVIZ_CARD_TOKEN_KEY": "k" * 32,
    }
    s = Settings.from_env(env)
    assert (s.mode, s.moto_port, s.dagster_port, s.dashboard_port) == ("aws", 6001, 6002, 6003)
    assert s.card_token_key == "k" * 32
    assert "k" * 32 not in repr(s)


def test_unset_or_empty_variables_give_the_defaults():
    for env in ({}, dict.fromkeys(["TXVIZ_MODE", "TXVIZ_MOTO_PORT", "TXVIZ_CARD_TOKEN_KEY"], "")):
        s = Settings.from_env(env)
        assert s.mode == "embedded"
        assert (s.moto_port, s.dagster_port, s.dashboard_port) == (
            settings.DEFAULT_MOTO_PORT,
            settings.DEFAULT_DAGSTER_PORT,
            settings.DEFAULT_DASHBOARD_PORT,
        )
        assert s.card_token_key is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TXVIZ_MOTO_PORT", "sixty"),
        ("TXVIZ_DAGSTER_PORT", "0"),
        ("TXVIZ_DASHBOARD_PORT", "70000"),
        ("TXVIZ_MODE", "cloud"),
        ("TXVIZ_STATE_STORE", "disk"),
        ("TXVIZ_RECONCILE_WAIT_S", "-1"),
        ("TXVIZ_RECONCILE_WAIT_S", "nan"),
        ("TXVIZ_MAX_LANDING_SILENCE_MINUTES", "soon"),
        ("TXVIZ_MAX_LANDING_SILENCE_MINUTES", "inf"),
    ],
)
def test_a_bad_value_is_refused_naming_the_variable(name: str, value: str):
    with pytest.raises(ValueError, match=rf"{name}='{value}'"):
        Settings.from_env({name: value})


def test_the_environment_is_read_when_asked_not_at_import(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TXVIZ_MOTO_PORT", "6111")
    assert Settings().moto_port == settings.DEFAULT_MOTO_PORT
    assert Settings.from_env().moto_port == 6111


def test_the_command_line_takes_its_port_defaults_from_the_settings():
    parser = build_parser(Settings(moto_port=6201, dagster_port=6202, dashboard_port=6203))
    assert parser.parse_args(["stack", "up"]).port == 6201
    assert parser.parse_args(["dashboard"]).port == 6203
    demo = parser.parse_args(["demo"])
    assert (demo.moto_port, demo.dagster_port, demo.dashboard_port) == (6201, 6202, 6203)


def test_the_command_line_reports_a_bad_variable_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setenv("TXVIZ_MOTO_PORT", "sixty")
    assert main(["stack", "status"]) == 2
    assert capsys.readouterr().err == "txviz: error: TXVIZ_MOTO_PORT='sixty' is not a port number\n"


def test_guard_waits_are_read_as_numbers():
    settings = Settings.from_env(
        {"TXVIZ_RECONCILE_WAIT_S": "0", "TXVIZ_MAX_LANDING_SILENCE_MINUTES": "2.5"}
    )
    assert settings.reconcile_wait_s == 0.0
    assert settings.max_landing_silence_minutes == 2.5
    defaults = Settings.from_env({})
    assert (defaults.reconcile_wait_s, defaults.max_landing_silence_minutes) == (300.0, 5.0)


def test_the_embedded_stack_runs_the_repos_processor_unless_told_otherwise(tmp_path):
    assert Settings.from_env({}).processor_path.parts[-2:] == ("lambda", "handler.py")
    other = tmp_path / "handler.py"
    assert Settings.from_env({"TXVIZ_PROCESSOR_PATH": str(other)}).processor_path == other


def test_data_folders_default_to_data_and_home_and_read_txviz_data_dirs(tmp_path):
    default = Settings.from_env({"TXVIZ_HOME": str(tmp_path / "home")})
    data = (settings.REPO_ROOT / "data").resolve()
    assert default.data_folders == (data, (tmp_path / "home").resolve())
    dirs = f"{tmp_path}/a{pathsep}{tmp_path}/b"
    configured = Settings.from_env({"TXVIZ_DATA_DIRS": dirs})
    assert configured.data_folders == ((tmp_path / "a").resolve(), (tmp_path / "b").resolve())


def test_alert_links_cool_down_and_fraud_thresholds_come_from_the_environment():
    default = Settings.from_env({settings.DAGSTER_PORT_ENV: "3100"})
    assert default.dagster_ui == "http://127.0.0.1:3100"
    assert default.alert_cooldown_minutes == 30.0
    assert default.fraud_thresholds["burst_flags"] == 3
    assert default.dashboard_url is None, "no local dashboard to link to on AWS"
    chosen = Settings.from_env(
        {
            settings.DAGSTER_URL_ENV: "https://dagster.example.com/",
            settings.ALERT_COOLDOWN_ENV: "0",
            "TXVIZ_FRAUD_SPIKE_FACTOR": "2.5",
            "TXVIZ_CARD_BURST_MINUTES": "15",
            **embedded_env(6001),
        }
    )
    assert chosen.dagster_ui == "https://dagster.example.com"
    assert chosen.alert_cooldown_minutes == 0.0
    assert chosen.fraud_thresholds["spike_factor"] == 2.5
    assert chosen.fraud_thresholds["burst_minutes"] == 15
    assert chosen.dashboard_url == "http://127.0.0.1:8501"
    with pytest.raises(ValueError, match="TXVIZ_FRAUD_MIN_RATE='-1' is not a non-negative"):
        Settings.from_env({"TXVIZ_FRAUD_MIN_RATE": "-1"})
