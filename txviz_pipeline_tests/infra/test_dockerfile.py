"""The Dockerfile builds what the ECS stack runs, checked without Docker (the build itself needs
registry access this suite does not assume): every path it copies exists and passes
.dockerignore, it installs from uv.lock without the dev group, it runs as a non-root user,
and every command the image and the task definitions start is installed by the lock.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import tomllib
from pathlib import Path

from cfnlint.decode import decode_str

from txviz_pipeline.settings import REPO_ROOT

DOCKERFILE = (REPO_ROOT / "Dockerfile").read_text()
INSTRUCTIONS = [
    line
    for line in re.sub(r"\\\n", " ", DOCKERFILE).splitlines()
    if line.strip() and not line.lstrip().startswith("#")
]


def instructions(keyword: str) -> list[str]:
    return [line.split(None, 1)[1] for line in INSTRUCTIONS if line.split()[0] == keyword]


def local_copy_sources() -> list[str]:
    sources = []
    for args in instructions("COPY"):
        words = [w for w in shlex.split(args) if not w.startswith("--chown")]
        if any(w.startswith("--from") for w in words):
            continue
        sources.extend(words[:-1])
    return sources


def dockerignored(path: str) -> bool:
    """Docker's rule: the last .dockerignore pattern that matches the path or a parent wins."""
    ignored = False
    parts = Path(path).parts
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for raw in (REPO_ROOT / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!").rstrip("/").removeprefix("**/")
        if any(
            fnmatch.fnmatch(c, pattern) or fnmatch.fnmatch(Path(c).name, pattern)
            for c in candidates
        ):
            ignored = not negate
    return ignored


def env_value(name: str) -> str:
    for args in instructions("ENV"):
        for word in shlex.split(args):
            key, _, value = word.partition("=")
            if key == name:
                return value
    raise KeyError(name)


def test_every_copied_path_exists_and_reaches_the_build_context():
    sources = local_copy_sources()
    assert {"pyproject.toml", "uv.lock", "txviz_pipeline", "infra/dagster/dagster.yaml"} <= set(
        sources
    )
    for source in sources:
        assert (REPO_ROOT / source).exists(), source
        assert not dockerignored(source), source
    for private in (".venv", ".txviz", "data/fraudTrain.csv", ".git", "lambda/dist/processor.zip"):
        assert dockerignored(private), private


def test_installs_from_the_lock_without_the_dev_group():
    syncs = [run for run in instructions("RUN") if "uv sync" in run]
    assert len(syncs) == 2  # dependencies, then the project
    assert all("--frozen" in run and "--no-dev" in run for run in syncs)
    assert not any("pip install" in run for run in instructions("RUN"))


def test_uses_the_projects_uv_version():
    bootstrap = (REPO_ROOT / "scripts" / "bootstrap.sh").read_text()
    version = re.search(r"^UV_VERSION=(\S+)$", bootstrap, re.M).group(1)
    assert f"ghcr.io/astral-sh/uv:{version} " in DOCKERFILE


def test_runs_as_a_non_root_user_with_no_secrets_baked_in():
    [user] = instructions("USER")
    assert user.split(":")[0] not in {"root", "0"}
    names = [w.partition("=")[0] for args in instructions("ENV") for w in shlex.split(args)]
    names += [shlex.split(args)[0].partition("=")[0] for args in instructions("ARG")]
    assert not [n for n in names if re.search("PASSWORD|SECRET|TOKEN|ACCESS_KEY", n)]
    assert env_value("TXVIZ_MODE") == "aws"


def test_instance_files_land_in_dagster_home():
    home = env_value("DAGSTER_HOME")
    [copy] = [args for args in instructions("COPY") if "infra/dagster/" in args]
    *sources, target = shlex.split(copy)
    assert target.rstrip("/") == home
    assert {Path(s).name for s in sources} == {"dagster.yaml", "workspace.yaml"}


def test_every_command_started_is_installed_by_the_lock():
    """The image's CMD and the task definitions' commands name scripts of locked packages, and
    the code server serves the project's own code location."""
    venv_bin = REPO_ROOT / ".venv" / "bin"
    [cmd] = instructions("CMD")
    code_server = json.loads(cmd)  # the exec form is JSON
    template, errors = decode_str((REPO_ROOT / "infra" / "dagster-ecs.yaml").read_text())
    assert not errors
    commands = [code_server]
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::ECS::TaskDefinition":
            for c in resource["Properties"]["ContainerDefinitions"]:
                commands += [c[key] for key in ("Command",) if key in c]
                if "HealthCheck" in c:
                    commands.append(c["HealthCheck"]["Command"][1:])  # after "CMD"
    assert {command[0] for command in commands} == {
        "dagster",
        "dagster-webserver",
        "dagster-daemon",
        "python",
    }
    for command in commands:
        assert (venv_bin / command[0]).exists(), command
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["dagster"]
    assert code_server[code_server.index("--module-name") + 1] == project["module_name"]
    assert code_server[code_server.index("--location-name") + 1] == project["code_location_name"]
    assert "dagster-postgres" in (REPO_ROOT / "pyproject.toml").read_text()
