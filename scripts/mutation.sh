#!/usr/bin/env bash
# Mutation-test the guard modules: the landing checks, reconciliation, the landing scanner, the
# replay's resume checkpoint and the processor's validation and fraud rules. A surviving mutant
# is a change to a guard that no test notices.
#
# mutmut names mutants after file paths, and lambda/ is not importable as a package (it is a
# Python keyword), so the run happens in a scratch copy where the Lambda modules sit at the
# root, as they do in the deployed zip. Nothing in the checkout is changed.
#
#   ./scripts/mutation.sh            # results in $TXVIZ_MUTATION_DIR (default: a temp folder)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=${TXVIZ_MUTATION_DIR:-$(mktemp -d -t txviz-mutation.XXXXXX)}
mkdir -p "$work"
cd "$repo"
git ls-files -z | tar --null -T - -cf - | (cd "$work" && tar xf -)
ln -sfn "$repo/.venv" "$work/.venv"
cd "$work"
cp lambda/*.py .
cat >> pyproject.toml <<'TOML'

[tool.mutmut]
source_paths = [
    "txviz_pipeline/landing/checks.py",
    "txviz_pipeline/landing/reconcile.py",
    "txviz_pipeline/landing/scanner.py",
    "txviz_pipeline/ingest/replay/checkpoint.py",
    "scoring.py",
    "validate.py",
]
also_copy = ["txviz_pipeline", "txviz_pipeline_tests", "lambda", "data", "infra",
             "handler.py", "records.py", "response.py", "build.py"]
pytest_add_cli_args_test_selection = [
    "txviz_pipeline_tests/landing",
    "txviz_pipeline_tests/defs/landing",
    "txviz_pipeline_tests/defs/ingest",
    "txviz_pipeline_tests/ingest/replay",
    "txviz_pipeline_tests/processor",
]
# The zip test runs the built zip without the venv, where mutmut's trampolines cannot import.
pytest_add_cli_args = ["-m", "not e2e", "-p", "no:cacheprovider",
                       "--ignore=txviz_pipeline_tests/processor/test_build.py"]
TOML
rm -rf mutants
.venv/bin/mutmut run || true
.venv/bin/mutmut results | tee "$work/survivors.txt"
echo "survivors: $(grep -c ': survived' "$work/survivors.txt" || true) (list in $work/survivors.txt;" \
     "see one with: cd $work && .venv/bin/mutmut show <name>)"
