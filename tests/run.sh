#!/bin/bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Runs every test: the unit tests (.output/unit_tests), the documentation tests
# (tests/docs/run.py) and the end-to-end tests (tests/e2e/run.py), relays their lines, and
# ends with one line
#   N passed, N failed[, N skipped]
# Exits non-zero when a test failed or a runner crashed (a crash is reported as a FAIL line).
# Extra arguments are passed to tests/e2e/run.py (e.g. -k NAME, -v).
# When the sanitized unit tests are built (.output-asan/unit_tests, make check builds them) they
# run too, as the suite unit-asan; with MW_CHECK_FUZZ_SECONDS=N every libFuzzer harness built in
# .output-fuzz runs over its regression files and then N seconds (suite fuzz).
# --asan (make check-asan): the sanitized unit tests and the e2e suite against MEMWATCH_BIN (the
# sanitized memwatch), instead of the normal ones.
set -u
cd "$(dirname "$0")/.." || exit 1

PYTHON=/usr/bin/python3
[ -x "$PYTHON" ] || PYTHON=python3
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
crashed=0

# run_runner NAME LOG CMD...: relay CMD's output, keep it in LOG, check its exit status
# against the FAIL lines it printed.
run_runner() {
	local name=$1 log=$2 rc fails
	shift 2
	"$@" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	fails=$(grep -c '^FAIL ' "$log")
	if [ "$rc" -gt 1 ]; then
		echo "FAIL $name/runner: crashed (exit status $rc)" | tee -a "$log"
		crashed=1
	elif [ "$rc" -ne 0 ] && [ "$fails" -eq 0 ]; then
		echo "FAIL $name/runner: exited with status $rc without reporting a failed test" | tee -a "$log"
		crashed=1
	elif [ "$rc" -eq 0 ] && [ "$fails" -ne 0 ]; then
		echo "FAIL $name/runner: reported failures but exited with status 0" | tee -a "$log"
		crashed=1
	fi
}

asan=0
if [ "${1:-}" = "--asan" ]; then
	asan=1
	shift
fi
# Any sanitizer report fails the run (the Makefile exports the same).
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:strict_string_checks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

if [ "$asan" -eq 0 ]; then
	if [ -x .output/unit_tests ]; then
		run_runner unit "$tmp/unit.log" .output/unit_tests
	else
		echo "FAIL unit/runner: .output/unit_tests is not built (run make unit)" |
			tee "$tmp/unit.log"
		crashed=1
	fi
fi
if [ -x .output-asan/unit_tests ]; then
	run_runner unit-asan "$tmp/unit-asan.log" env UNIT_SUITE=unit-asan .output-asan/unit_tests
elif [ "$asan" -eq 1 ]; then
	echo "FAIL unit-asan/runner: .output-asan/unit_tests is not built (run make asan)" |
		tee "$tmp/unit-asan.log"
	crashed=1
fi
if [ -n "${MW_CHECK_FUZZ_SECONDS:-}" ] && [ "$asan" -eq 0 ]; then
	run_runner fuzz "$tmp/fuzz.log" tests/fuzz/run.sh check .output-fuzz \
		"$MW_CHECK_FUZZ_SECONDS" $(cd tests/fuzz && ls fuzz_*.c | sed 's/\.c$//')
fi
[ "$asan" -eq 0 ] && run_runner docs "$tmp/docs.log" "$PYTHON" tests/docs/run.py
# The sanitized memwatch lives in .output-asan/, where it would not find the sampler library it
# preloads for --sampler (next to it, or in the .output/ of the tree it runs from): say where.
if [ "$asan" -eq 1 ] && [ -z "${MEMWATCH_SAMPLER:-}" ]; then
	export MEMWATCH_SAMPLER="$PWD/.output/libmemwatch-sampler.so"
fi
run_runner e2e "$tmp/e2e.log" "$PYTHON" tests/e2e/run.py "$@"

passed=$(cat "$tmp"/*.log | grep -c '^PASS ')
failed=$(cat "$tmp"/*.log | grep -c '^FAIL ')
skipped=$(cat "$tmp"/*.log | grep -c '^SKIP ')
summary="$passed passed, $failed failed"
[ "$skipped" -gt 0 ] && summary="$summary, $skipped skipped"
echo "$summary"
[ "$failed" -eq 0 ] && [ "$crashed" -eq 0 ]
