#!/usr/bin/env bash
# Set up everything txviz needs on a fresh Linux machine with Python 3.11:
# uv, the locked virtual environment (.venv), OpenMP for LightGBM if missing, and with
# --browser Debian's chromium for the dashboard's browser tests. Safe to run again: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.8
want_browser=0
for arg in "$@"; do
  case "$arg" in
    --browser) want_browser=1 ;;
    *) echo "usage: $0 [--browser]" >&2; exit 2 ;;
  esac
done

python=${PYTHON:-python3.11}
command -v "$python" >/dev/null || python=python3

if ! command -v uv >/dev/null 2>&1 || [ "$(uv --version | cut -d' ' -f2)" != "$UV_VERSION" ]; then
  "$python" -m pip install --quiet --user "uv==$UV_VERSION" 2>/dev/null \
    || "$python" -m pip install --quiet "uv==$UV_VERSION"
  export PATH="$HOME/.local/bin:$PATH"
fi
uv_bin=$(command -v uv || echo "$("$python" -m site --user-base)/bin/uv")

# The lock file pins every package (dagster 1.13.27 with dagster-aws 0.29.27 among them).
# --compile-bytecode writes every package's .pyc once, here: the demo starts a Python process per
# Dagster run, and where PYTHONDONTWRITEBYTECODE is set (as in many CI and container images) none
# is ever cached, so each process compiled dagster, pandas and boto3 from source again (importing
# txviz's definitions took 2.1 s of CPU instead of 0.75 s). A later sync compiles only what changed.
"$uv_bin" sync --frozen --compile-bytecode --python "$python" --quiet

# Debian packages: LightGBM's wheel links the system's OpenMP runtime (libgomp1), and the
# dashboard's browser tests drive Debian's chromium.
packages=()
ldconfig -p 2>/dev/null | grep -q 'libgomp\.so\.1' || packages+=(libgomp1)
if [ "$want_browser" = 1 ] && ! command -v chromium >/dev/null 2>&1; then
  packages+=(chromium)
fi
# The full test run also starts a throwaway PostgreSQL server, RDS's stand-in for the production
# Dagster instance (txviz_pipeline_tests/support/postgres.py).
if [ "$want_browser" = 1 ] && ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
  packages+=(postgresql)
fi
if [ "${#packages[@]}" -gt 0 ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${packages[@]}" >/dev/null
fi
