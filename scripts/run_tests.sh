#!/usr/bin/env bash
# Run every test. pytest's exit code 5 ("no tests collected") is a failure here too.
#
# With no arguments: the code checks (ruff, ruff format, mypy: scripts/check_code.sh), then the
# suite in two pytest processes: everything but the
# browser tests (one shared Ray session), then the browser tests, which drive
# Chromium through Playwright's sync API (it keeps an event loop running in the
# main thread) against dashboard servers that start their own Ray. Separate
# processes keep the two from interfering. `--fast`: the code checks and every test but the Ray,
# browser, cluster and slow ones, for everyday work. With other arguments, one pytest run.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONHASHSEED=0
mkdir -p artifacts

run() {
    .venv/bin/pytest "$@"
    local status=$?
    if [ "$status" -eq 5 ]; then
        echo "no tests were collected: failing" >&2
        return 1
    fi
    return "$status"
}

FAST_MARKERS="not slow and not ray and not browser and not cluster"

if [ "${1:-}" = "--fast" ]; then
    shift
    bash scripts/check_code.sh
    checks=$?
    run --ignore=tests/browser -m "$FAST_MARKERS" "$@"
    tests=$?
    [ "$checks" -eq 0 ] && [ "$tests" -eq 0 ]
    exit $?
fi
if [ "$#" -gt 0 ]; then
    run "$@"
    exit $?
fi
bash scripts/check_code.sh
checks=$?
run --ignore=tests/browser
first=$?
run tests/browser
second=$?
if [ "$checks" -ne 0 ] || [ "$first" -ne 0 ] || [ "$second" -ne 0 ]; then
    echo "tests failed (code checks exit $checks, main suite exit $first, browser suite exit $second)" >&2
    exit 1
fi
exit 0
