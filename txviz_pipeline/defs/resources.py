"""The one resource every stage shares: where AWS is and what txviz's resources are called."""

from pathlib import Path

import dagster as dg
from pydantic import Field

from txviz_pipeline import aws
from txviz_pipeline.settings import Settings


class AwsResource(dg.ConfigurableResource):
    """AWS endpoint, region and txviz resource names; empty fields fall back to the environment.

    On the embedded stack ``AWS_ENDPOINT_URL`` points every client at the local moto server;
    on AWS it is unset and boto3 uses the real endpoints.
    """

    region: str | None = Field(default=None, description="AWS region (default: AWS_REGION).")
    endpoint_url: str | None = Field(
        default=None,
        description="AWS endpoint override (default: AWS_ENDPOINT_URL; unset means real AWS).",
    )
    bucket: str | None = Field(default=None, description="Pipeline bucket (default: settings).")
    home: str | None = Field(
        default=None, description="Local working folder (default: TXVIZ_HOME or ./.txviz)."
    )

    def settings(self) -> Settings:
        base = Settings.from_env()
        overrides = {
            "region": self.region,
            "endpoint_url": self.endpoint_url,
            "bucket": self.bucket,
            "home": Path(self.home) if self.home else None,
        }
        return Settings(**{**base.__dict__, **{k: v for k, v in overrides.items() if v}})

    def client(self, service: str):
        return aws.client(service, self.settings())


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources={"aws": AwsResource()})
