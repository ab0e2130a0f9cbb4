"""The dashboard process is told where the pipeline's S3 is, so its speed layer reads landing."""

from __future__ import annotations

from pathlib import Path

from txviz_pipeline.serving.dashboard.launch import s3_env
from txviz_pipeline.settings import Settings


def test_embedded_dashboard_reads_the_stacks_s3():
    settings = Settings(endpoint_url="http://127.0.0.1:5123", bucket="b-1", home=Path("/h"))
    env = s3_env(settings)
    assert Settings.from_env({**env, "TXVIZ_HOME": "/h"}) == settings


def test_aws_dashboard_uses_aws_endpoints():
    settings = Settings(mode="aws", region="eu-west-1", bucket="b-2", home=Path("/h"))
    env = s3_env(settings)
    assert "AWS_ENDPOINT_URL" not in env
    assert Settings.from_env({**env, "TXVIZ_HOME": "/h"}) == settings
