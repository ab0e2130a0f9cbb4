"""The one client factory: which credentials a client signs with, per mode."""

import boto3
import pytest

from txviz_pipeline import aws
from txviz_pipeline.settings import Settings


class _Sent(Exception):
    pass


def _access_key(client) -> str:
    """The access key a request is signed with, read from its Authorization header; not sent."""

    def stop(request, **_):
        raise _Sent(request.headers["Authorization"].decode())

    client.meta.events.register("before-send", stop)
    with pytest.raises(_Sent) as sent:
        client.list_buckets()
    return str(sent.value).split("Credential=")[1].split("/")[0]


def test_embedded_clients_sign_with_the_fixed_test_credentials(monkeypatch):
    # A user's real keys in the environment must never be sent to the local endpoint.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAREALKEY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "real-secret")
    client = aws.client("s3", Settings(endpoint_url="http://127.0.0.1:5055"))
    assert _access_key(client) == "testing"


def test_aws_clients_use_the_credential_chain(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAREALKEY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "real-secret")
    assert _access_key(aws.client("s3", Settings(endpoint_url=None))) == "AKIAREALKEY"


def test_an_explicit_session_wins_on_the_embedded_stack():
    session = boto3.session.Session(aws_access_key_id="chosen", aws_secret_access_key="x")
    client = aws.client("s3", Settings(endpoint_url="http://127.0.0.1:5055"), session=session)
    assert _access_key(client) == "chosen"


def test_embedded_clients_share_one_session_and_aws_clients_do_not(monkeypatch):
    """A session loads the service models again: embedded clients (thousands in a replay's
    sensors and runs) reuse one; on AWS each reads the credential chain afresh."""
    made: list[boto3.session.Session] = []
    real_session = boto3.session.Session

    def counting_session(*args, **kwargs):
        made.append(real_session(*args, **kwargs))
        return made[-1]

    aws._embedded_session.cache_clear()
    monkeypatch.setattr(boto3.session, "Session", counting_session)
    embedded = Settings(endpoint_url="http://127.0.0.1:5055")
    clients = [aws.client(service, embedded) for service in ("s3", "sns", "s3", "firehose")]
    assert len(made) == 1
    assert _access_key(clients[2]) == "testing"
    assert _access_key(clients[0]) == "testing"  # one client's hooks do not leak into another
    aws.client("s3", Settings(endpoint_url=None))
    aws.client("s3", Settings(endpoint_url=None))
    assert len(made) == 3
    aws._embedded_session.cache_clear()  # not a session made by the counting stand-in
