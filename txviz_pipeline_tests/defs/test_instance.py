"""Sensor evaluations share one Dagster instance per code server (defs/instance.py)."""

import dagster as dg
import pytest

from txviz_pipeline.defs.instance import shared_instance
from txviz_pipeline.defs.landing.jobs import process_landing_job
from txviz_pipeline.defs.runs import RUNNING, run_in
from txviz_pipeline_tests.support.runs import add_run


@pytest.fixture
def built(monkeypatch) -> list[object]:
    """Every instance DagsterInstance.from_ref builds from here on."""
    made: list[object] = []
    from_ref = dg.DagsterInstance.from_ref

    def counting(ref):
        made.append(ref)
        return from_ref(ref)

    monkeypatch.setattr(dg.DagsterInstance, "from_ref", staticmethod(counting))
    return made


def daemon_context(ref) -> dg.SensorEvaluationContext:
    """A context as the code server builds one per evaluation: from a fresh copy of the ref."""
    copy = dg.deserialize_value(dg.serialize_value(ref))
    return dg.SensorEvaluationContext(instance_ref=copy, log_key=["txviz", "test", "tick"])


def test_evaluations_of_one_instance_ref_share_one_instance(built):
    with dg.instance_for_test() as instance:
        run_id = add_run(instance, process_landing_job.name, dg.DagsterRunStatus.STARTED)
        seen = []
        for _ in range(3):
            with daemon_context(instance.get_ref()) as context:
                shared = shared_instance(context)
                assert context.instance is shared
                context.log.info("logging does not build another instance")
                assert run_in(shared, RUNNING, process_landing_job.name) == run_id
                seen.append(shared)
        assert len(built) == 1
        assert seen[0] is seen[1] is seen[2]
        # The evaluation's end leaves the shared instance usable by the next one.
        assert run_in(seen[0], RUNNING, process_landing_job.name) == run_id


def test_a_context_built_around_an_instance_keeps_it(built):
    with dg.instance_for_test() as instance:
        with dg.build_sensor_context(instance=instance) as context:
            assert shared_instance(context) is instance
        assert built == []
