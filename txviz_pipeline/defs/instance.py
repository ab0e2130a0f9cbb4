"""One Dagster instance per code server for the sensors' evaluations.

Dagster builds a sensor's ``context.instance`` (also behind ``context.log``) afresh from the
instance ref on every evaluation. For the local SQLite instance that opens three storages and
checks each one's schema revision with alembic, ~40 ms of CPU each time: with five sensors
ticking every 5-30 s it was 29 % of the code server's busy samples during a 300k-row demo
(py-spy). The storages open a connection per query (SQLite) or take one from a pool
(PostgreSQL), so one instance serves every sensor thread for the life of the code server.
"""

from __future__ import annotations

import threading

import dagster as dg

_lock = threading.Lock()
_shared: dict[str, dg.DagsterInstance] = {}


def shared_instance(context: dg.SensorEvaluationContext) -> dg.DagsterInstance:
    """The instance of ``context``: the code server's shared one for the context's instance ref,
    set on the context before Dagster builds its own (so ``context.log`` uses it too).

    A context built around an instance (in tests) keeps that instance.
    """
    ref = context.instance_ref
    # dagster 1.13 keeps the evaluation's instance in ``_instance`` until first use; the
    # shared one is not entered into the context's exit stack, so the evaluation leaves it open.
    if ref is None or context._instance is not None:  # noqa: SLF001
        return context.instance
    key = dg.serialize_value(ref)
    with _lock:
        instance = _shared.get(key)
        if instance is None:
            instance = _shared[key] = dg.DagsterInstance.from_ref(ref)
    context._instance = instance  # noqa: SLF001
    return instance
