#!/usr/bin/env bash
# Run every test. pytest's exit code 5 ("no tests collected") is a failure here too.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONHASHSEED=0
mkdir -p artifacts
.venv/bin/pytest "$@"
status=$?
if [ "$status" -eq 5 ]; then
    echo "no tests were collected: failing" >&2
    exit 1
fi
exit "$status"
