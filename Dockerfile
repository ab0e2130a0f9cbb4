# syntax=docker/dockerfile:1
# The txviz code location, the one image behind every Dagster process on AWS
# (infra/dagster-ecs.yaml): the code server (the default command), the webserver, the daemon and
# each run's task (the EcsRunLauncher starts `dagster api execute_run` in it).
#
#   docker build -t txviz-dagster .
#
# Installed from uv.lock exactly (--frozen), without the dev group; no credentials or
# account-specific values are baked in: the task definitions set them at run time.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS base
# LightGBM's wheel loads OpenMP (libgomp) at import time.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

FROM base AS build
COPY --from=ghcr.io/astral-sh/uv:0.13.8 /uv /bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/txviz/.venv
WORKDIR /opt/txviz
# Dependencies first, so a code change rebuilds only the layer below.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project
# The project itself, installed editable: settings.REPO_ROOT (the parent of txviz_pipeline/)
# must be /opt/txviz, where lambda/ (the bundled fraud model) and data/ live.
COPY README.md ./
COPY txviz_pipeline ./txviz_pipeline
COPY lambda ./lambda
COPY data/sample.csv data/README.md ./data/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev

FROM base
RUN groupadd --system --gid 10001 dagster \
    && useradd --system --uid 10001 --gid dagster --no-create-home --home-dir /tmp dagster
COPY --from=build /opt/txviz /opt/txviz
COPY infra/dagster/dagster.yaml infra/dagster/workspace.yaml /opt/dagster/home/
# The root filesystem is read-only on ECS; everything written goes under /tmp (the task's
# scratch volume): Dagster's local artifacts and compute-log staging, TXVIZ_HOME, matplotlib.
ENV PATH=/opt/txviz/.venv/bin:$PATH \
    DAGSTER_HOME=/opt/dagster/home \
    TXVIZ_MODE=aws \
    TXVIZ_HOME=/tmp/txviz \
    MPLCONFIGDIR=/tmp/matplotlib \
    HOME=/tmp
WORKDIR /opt/txviz
USER 10001:10001
EXPOSE 3000 4000
# The code server. The webserver and the daemon override the command (see the stack):
#   dagster-webserver -h 0.0.0.0 -p 3000 -w /opt/dagster/home/workspace.yaml
#   dagster-daemon run -w /opt/dagster/home/workspace.yaml
# 0.0.0.0 because other tasks reach it on the task's own network interface; the security group
# admits only the stack's Dagster tasks.
CMD ["dagster", "code-server", "start", "--host", "0.0.0.0", "--port", "4000", \
     "--module-name", "txviz_pipeline.definitions", "--location-name", "txviz_pipeline"]
