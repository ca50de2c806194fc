#!/usr/bin/env bash
# Lint, format and type checks: what the test command runs before the tests.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
echo "==> ruff check"
.venv/bin/ruff check flowray tests benchmarks scripts || status=1
echo "==> ruff format --check"
.venv/bin/ruff format --check flowray tests benchmarks scripts || status=1
echo "==> mypy flowray"
.venv/bin/mypy flowray || status=1
if [ "$status" -ne 0 ]; then
    echo "code checks failed" >&2
fi
exit "$status"
