"""The resources every stage shares: where AWS is, and how long the landing guards wait."""

from datetime import timedelta
from pathlib import Path

import boto3
import dagster as dg
from dagster_aws.utils import ResourceWithBoto3Configuration
from pydantic import Field

from txviz_pipeline import aws
from txviz_pipeline.settings import IO_MANAGER_PREFIX, Settings


class AwsResource(ResourceWithBoto3Configuration):
    """AWS clients and txviz's resource names; empty fields fall back to the environment.

    dagster-aws's fields (region_name, endpoint_url, max_attempts, profile_name, credentials,
    use_ssl, verify) configure every client. On the embedded stack ``AWS_ENDPOINT_URL`` points
    them at the local moto server; on AWS it is unset and boto3 uses the real endpoints.
    """

    bucket: str | None = Field(default=None, description="Pipeline bucket (default: settings).")
    home: str | None = Field(
        default=None, description="Local working folder (default: TXVIZ_HOME or ./.txviz)."
    )

    def settings(self) -> Settings:
        """The environment's settings with this resource's non-empty fields laid over them."""
        base = Settings.from_env()
        overrides = {
            "region": self.region_name,
            "endpoint_url": self.endpoint_url,
            "bucket": self.bucket,
            "home": Path(self.home) if self.home else None,
        }
        return Settings(**{**base.__dict__, **{k: v for k, v in overrides.items() if v}})

    def client(self, service: str):
        chosen = self.profile_name or self.aws_access_key_id
        # Without a profile or keys here, the client factory picks the credentials for the mode.
        session = (
            boto3.session.Session(
                profile_name=self.profile_name,
                aws_access_key_id=self.aws_access_key_id,
                aws_secret_access_key=self.aws_secret_access_key,
                aws_session_token=self.aws_session_token,
            )
            if chosen
            else None
        )
        return aws.client(
            service,
            self.settings(),
            max_attempts=self.max_attempts,
            session=session,
            use_ssl=self.use_ssl,
            verify=self.verify,
        )


class GuardsResource(dg.ConfigurableResource):
    """How long the landing guards wait before they call rows missing or the landing zone stale."""

    reconcile_wait_s: float | None = Field(
        default=None,
        description="Seconds replay_reconciles waits for Firehose to deliver every row before it "
        "names the missing ones (default: TXVIZ_RECONCILE_WAIT_S, else 300).",
    )
    max_landing_silence_minutes: float | None = Field(
        default=None,
        description="Minutes without a new landing object, while a replay runs, before "
        "landing_fresh_during_replay warns (default: TXVIZ_MAX_LANDING_SILENCE_MINUTES, else 5).",
    )

    def reconcile_wait(self) -> timedelta:
        seconds = self.reconcile_wait_s
        if seconds is None:
            seconds = Settings.from_env().reconcile_wait_s
        return timedelta(seconds=seconds)

    def max_landing_silence(self) -> timedelta:
        minutes = self.max_landing_silence_minutes
        if minutes is None:
            minutes = Settings.from_env().max_landing_silence_minutes
        return timedelta(minutes=minutes)


class OutputsIOManager(dg.ConfigurableIOManagerFactory):
    """Where asset outputs are pickled between runs: S3 when state lives in S3 (on AWS, a run
    on another ECS task loads what this one stored), the Dagster home's storage/ otherwise.

    Chosen when a run starts, from the same settings as every other resource, so the code
    location loads alike everywhere and reads no environment at import time.
    """

    aws: dg.ResourceDependency[AwsResource]

    def create_io_manager(self, context: dg.InitResourceContext) -> dg.IOManager:
        from dagster_aws.s3 import PickledObjectS3IOManager

        settings = self.aws.settings()
        if not settings.state_in_s3:
            return dg.FilesystemIOManager().create_io_manager(context)
        return PickledObjectS3IOManager(
            settings.bucket, self.aws.client("s3"), s3_prefix=IO_MANAGER_PREFIX.rstrip("/")
        )


@dg.definitions
def resources() -> dg.Definitions:
    aws_resource = AwsResource()
    return dg.Definitions(
        resources={
            "aws": aws_resource,
            "guards": GuardsResource(),
            "io_manager": OutputsIOManager(aws=aws_resource),
        }
    )
