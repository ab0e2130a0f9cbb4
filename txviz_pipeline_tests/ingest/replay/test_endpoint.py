"""An unreachable endpoint: network errors are no attempts and no dead letters; the workers'
shared clock of how long it has been gone decides when the replay stops."""

from __future__ import annotations

import random

import pytest
from botocore.exceptions import (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from txviz_pipeline.ingest.replay.endpoint import (
    EndpointUnreachable,
    Reachability,
    network_cause,
)
from txviz_pipeline.ingest.replay.send import RetryPolicy, firehose_client, send_batch
from txviz_pipeline.settings import Settings

URL = "http://127.0.0.1:5055"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class Script:
    """A Firehose client answering from a script: an exception to raise, or 'ok'."""

    class meta:  # noqa: N801 - boto3's attribute name
        endpoint_url = URL

    def __init__(self, clock: Clock, steps: list, call_s: float = 0.0) -> None:
        self.clock, self.steps, self.call_s, self.calls = clock, list(steps), call_s, 0

    def put_record_batch(self, DeliveryStreamName, Records):  # noqa: N803
        self.calls += 1
        self.clock.now += self.call_s
        step = self.steps.pop(0) if self.steps else "ok"
        if step != "ok":
            raise step
        return {"FailedPutCount": 0, "RequestResponses": [{"RecordId": "x"}] * len(Records)}


def refused() -> EndpointConnectionError:
    return EndpointConnectionError(endpoint_url=URL, error=ConnectionRefusedError("refused"))


def test_network_errors_are_retried_without_spending_attempts():
    clock = Clock()
    client = Script(clock, [refused(), ConnectionClosedError(endpoint_url=URL)] * 3)
    out = send_batch(
        client,
        "s",
        [b"{}\n"] * 3,
        retry=RetryPolicy(max_attempts=1),
        reach=Reachability(20.0, clock=clock),
        sleep=clock.sleep,
        clock=clock,
        rng=random.Random(1),
    )
    assert (out.sent, out.attempts, out.failures, client.calls) == (3, 1, [], 7)


def test_an_endpoint_gone_for_the_deadline_raises_with_nothing_dead_lettered():
    clock = Clock()
    client = Script(clock, [refused()] * 1_000)
    with pytest.raises(EndpointUnreachable) as caught:
        send_batch(
            client,
            "s",
            [b"{}\n"],
            reach=Reachability(20.0, clock=clock),
            sleep=clock.sleep,
            clock=clock,
        )
    exc = caught.value
    assert (exc.endpoint, exc.cause) == (URL, "connection refused")
    assert 20.0 <= exc.down_s <= 22.0  # at most one capped wait past the deadline
    assert str(exc).startswith(f"cannot reach Firehose at {URL} for 2")


def test_a_hung_call_counts_from_when_it_began():
    clock = Clock()
    hung = ReadTimeoutError(endpoint_url=URL)
    client = Script(clock, [hung, hung, hung], call_s=10.0)
    with pytest.raises(EndpointUnreachable, match=r"for 20 s \(no answer within 10 s\)"):
        send_batch(
            client,
            "s",
            [b"{}\n"],
            reach=Reachability(20.0, clock=clock),
            sleep=lambda s: None,
            clock=clock,
        )
    assert client.calls == 2


def test_workers_share_one_deadline_and_any_answer_resets_it():
    clock = Clock()
    reach = Reachability(20.0, clock=clock)
    assert reach.failed(clock.now) == 0.0
    clock.now += 15
    # Another worker's call, begun later, fails: the endpoint is gone since the first failure.
    assert reach.failed(clock.now - 1) == 15.0
    reach.answered()
    clock.now += 5
    # A call begun before the endpoint last answered counts from that answer.
    assert reach.failed(clock.now - 30) == 5.0


def test_causes_name_the_kind_of_failure_never_data():
    assert network_cause(refused()) == "connection refused"
    assert network_cause(EndpointConnectionError(endpoint_url=URL)) == "cannot connect"
    assert network_cause(ConnectTimeoutError(endpoint_url=URL)) == "no connection within 5 s"
    assert network_cause(ReadTimeoutError(endpoint_url=URL)) == "no answer within 10 s"
    assert network_cause(ConnectionClosedError(endpoint_url=URL)) == "connection closed"


def test_the_replay_client_has_short_timeouts_and_no_retries_of_its_own():
    config = firehose_client(Settings(endpoint_url=URL)).meta.config
    assert (config.connect_timeout, config.read_timeout) == (5.0, 10.0)
    assert config.retries["total_max_attempts"] == 1
