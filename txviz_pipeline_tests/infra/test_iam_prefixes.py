"""Every S3 prefix txviz writes is writable by whoever writes it on AWS.

The prefixes come from settings.py (every ``*_PREFIX`` and ``*_KEY``), not from a list kept
here, so a prefix added to the code without its IAM grant fails this test. Firehose writes what
its delivery templates render (the processor's zones and its error output types); the pipeline,
through ``PipelinePolicy``, writes everything else.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any

import response

from txviz_pipeline import settings
from txviz_pipeline_tests.infra.test_template import resolve, statements

PACKAGE = settings.REPO_ROOT / "txviz_pipeline"
BUCKET_ARN = "<TransactionsBucket.Arn>"
# AWS's values of !{firehose:error-output-type} for an S3 destination with a Lambda processor.
FIREHOSE_ERROR_OUTPUT_TYPES = ("processing-failed", "format-conversion-failed")
# boto3 calls that create objects; dagster-aws's S3 IO manager is given its prefix by txviz.
WRITE_CALLS = (".put_object(", ".upload_file(", ".upload_fileobj(", "PickledObjectS3IOManager(")


def settings_locations() -> dict[str, str]:
    """Name -> S3 prefix or key, for every ``*_PREFIX`` / ``*_KEY`` constant in settings."""
    return {
        name: value
        for name, value in vars(settings).items()
        if name.endswith(("_PREFIX", "_KEY")) and isinstance(value, str)
    }


def firehose_prefixes() -> list[str]:
    """What the stream's Prefix and ErrorOutputPrefix render to, up to the arrival hour."""
    zones = [value for name, value in vars(response).items() if name.endswith("_ZONE")]
    delivery = settings.DELIVERY_PREFIX_TEMPLATE.split("!{timestamp:")[0]
    errors = settings.ERROR_PREFIX_TEMPLATE.split("!{timestamp:")[0]
    return [delivery.replace("!{partitionKeyFromLambda:zone}", z) for z in zones] + [
        errors.replace("!{firehose:error-output-type}", t) for t in FIREHOSE_ERROR_OUTPUT_TYPES
    ]


def written_by_firehose(location: str) -> bool:
    return any(location.startswith(prefix) for prefix in firehose_prefixes())


def can_put(template: dict[str, Any], logical_id: str, location: str) -> bool:
    """Does an Allow statement of ``logical_id`` grant s3:PutObject on an object at location?"""
    return can(template, logical_id, "s3:PutObject", location)


def can(template: dict[str, Any], logical_id: str, action: str, location: str) -> bool:
    """Does an Allow statement of ``logical_id`` grant ``action`` on an object at location?"""
    key = location + "part-0" if location.endswith("/") else location
    for statement in statements(template, logical_id):
        actions = statement["Action"]
        if statement["Effect"] != "Allow" or action not in actions:
            continue
        targets = statement["Resource"]
        for target in targets if isinstance(targets, list) else [targets]:
            if fnmatch.fnmatchcase(f"{BUCKET_ARN}/{key}", resolve(template, target)):
                return True
    return False


def test_settings_name_every_prefix_and_firehose_writes_only_its_templates():
    locations = settings_locations()
    assert all("/" in value and not value.startswith("/") for value in locations.values())
    firehose = {name for name, value in locations.items() if written_by_firehose(value)}
    assert firehose == {"LANDING_PREFIX", "QUARANTINE_PREFIX", "PROCESSING_FAILED_PREFIX"}
    # The replay's dead letters share errors/ with Firehose but are the pipeline's to write.
    assert not written_by_firehose(settings.REPLAY_FAILED_PREFIX)


def test_pipeline_policy_may_put_everywhere_the_pipeline_writes(template):
    pipeline = {n: v for n, v in settings_locations().items() if not written_by_firehose(v)}
    assert len(pipeline) >= 6
    missing = {n: v for n, v in pipeline.items() if not can_put(template, "PipelinePolicy", v)}
    assert not missing, f"PipelinePolicy lacks s3:PutObject on {missing}"


def test_firehose_may_put_where_it_delivers_and_the_pipeline_may_not(template):
    for prefix in firehose_prefixes():
        assert can_put(template, "DeliveryRole", prefix), prefix
        assert not can_put(template, "PipelinePolicy", prefix), prefix
    # Firehose writes nothing of the pipeline's, except under errors/, whose error types AWS
    # names (so the role grants errors/* whole).
    for value in settings_locations().values():
        if not written_by_firehose(value) and not value.startswith("errors/"):
            assert not can_put(template, "DeliveryRole", value), value


# txviz modules a module imports from, except settings itself (whose names are matched above).
IMPORTS = re.compile(r"^from txviz_pipeline\.((?!settings\b)[\w.]+) import", re.MULTILINE)


def _module_source(dotted: str) -> str:
    path = PACKAGE.joinpath(*dotted.split("."))
    return (path / "__init__.py" if path.is_dir() else path.with_suffix(".py")).read_text()


def test_every_location_the_writing_modules_use_comes_from_settings(template):
    # The modules that put objects name their keys with settings constants; each one they
    # import must be among the derived locations (and so covered by the tests above).
    # A module that names its keys through another txviz module (compaction's layout.py) is
    # read with the modules it imports.
    names: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        source = path.read_text()
        writes = any(call in source for call in WRITE_CALLS)
        if writes and "stack" not in path.relative_to(PACKAGE).parts:
            for text in (source, *map(_module_source, IMPORTS.findall(source))):
                names |= set(re.findall(r"\b[A-Z][A-Z_]*_(?:PREFIX|KEY)\b", text))
    names = {n for n in names if hasattr(settings, n)}
    assert {
        "CURATED_PREFIX",
        "REPLAY_FAILED_PREFIX",
        "ALERTS_PREFIX",
        "STAGING_NDJSON_PREFIX",
        "IO_MANAGER_PREFIX",
    } <= names
    assert names <= set(settings_locations())
    for name in names:
        value = getattr(settings, name)
        writer = "DeliveryRole" if written_by_firehose(value) else "PipelinePolicy"
        assert can_put(template, writer, value), (name, writer)


def test_state_shared_between_machines_is_readable_and_replaceable(template):
    # A replay on another ECS task reads the staged NDJSON and the pickled outputs; a new
    # conversion deletes parts the new manifest does not name.
    for location in (settings.STAGING_NDJSON_PREFIX, settings.IO_MANAGER_PREFIX):
        for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"):
            assert can(template, "PipelinePolicy", action, location), (action, location)
        assert not can(template, "DeliveryRole", "s3:PutObject", location), location
