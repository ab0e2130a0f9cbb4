"""On AWS the card-token key comes from Secrets Manager, read once per container.

Against a moto server over HTTP: the handler's boto3 client finds it through AWS_ENDPOINT_URL,
exactly as it finds Secrets Manager on AWS through the Lambda's region.
"""

from __future__ import annotations

import hashlib
import hmac

import handler as lambda_handler
import pytest
from handler import (
    CARD_TOKEN_KEY_ENV,
    CARD_TOKEN_SECRET_ARN_ENV,
    ConfigurationError,
    card_token_key,
)

from txviz_pipeline import aws

from .builders import decode, event, line, record

SECRET = "s" * 20 + "-from-secrets-manager"


@pytest.fixture
def secrets(moto_settings, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(CARD_TOKEN_KEY_ENV, raising=False)
    monkeypatch.setattr(lambda_handler, "_secret_cache", {})
    return aws.client("secretsmanager", moto_settings)


@pytest.mark.integration
def test_key_is_read_from_the_secret_once_per_container(secrets, monkeypatch):
    arn = secrets.create_secret(Name="txviz/card-token-key", SecretString=SECRET)["ARN"]
    monkeypatch.setenv(CARD_TOKEN_SECRET_ARN_ENV, arn)
    # A plaintext key in the environment is ignored when the secret is configured.
    monkeypatch.setenv(CARD_TOKEN_KEY_ENV, "k" * 32)
    assert card_token_key() == SECRET.encode()
    out = lambda_handler.handler(event([line(record())]), None)
    landed = decode(out["records"][0]["data"])
    expected = hmac.new(SECRET.encode(), b"2703186189652095", hashlib.sha256).hexdigest()[:32]
    assert landed["card_token"] == expected
    # Cached: later invocations of the container make no Secrets Manager call.
    secrets.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
    assert card_token_key() == SECRET.encode()


@pytest.mark.integration
def test_short_or_missing_secret_fails_the_invocation_without_showing_it(secrets, monkeypatch):
    arn = secrets.create_secret(Name="short", SecretString="tooshort")["ARN"]
    monkeypatch.setenv(CARD_TOKEN_SECRET_ARN_ENV, arn)
    with pytest.raises(ConfigurationError, match="holds 8 characters; at least 16") as err:
        card_token_key()
    assert "tooshort" not in str(err.value)
    missing = arn.replace("short", "absent")
    monkeypatch.setenv(CARD_TOKEN_SECRET_ARN_ENV, missing)
    with pytest.raises(ConfigurationError, match="cannot read the card-token key from"):
        lambda_handler.handler(event([line(record())]), None)
    assert lambda_handler._secret_cache == {}
