#!/bin/bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Runs the libFuzzer harnesses built in DIR (make fuzz-build).
#   run.sh fuzz DIR SECONDS NAME...     each harness for SECONDS on its corpus
#   run.sh regress DIR 0 NAME...        each harness once over its corpus and regression files
#   run.sh check DIR SECONDS NAME...    both, one line per harness for tests/run.sh:
#                                       PASS fuzz/NAME or FAIL fuzz/NAME: <reason>; the
#                                       fuzzing part with a fixed seed and at most
#                                       CHECK_RUNS (2000) inputs, from the seeds alone
# Corpora: tests/fuzz/corpus/NAME (seeds, read only), tests/fuzz/regress/NAME (inputs that
# crashed a harness once: each must keep passing). New inputs a run finds go to
# DIR/corpus/NAME, crashers to DIR/crashes/NAME-*; a crasher is fixed, then added to
# tests/fuzz/regress/NAME.
set -u
cd "$(dirname "$0")/../.." || exit 2
mode=$1 dir=$2 secs=$3
shift 3
failed=0
for name in "$@"; do
	bin=$dir/$name
	seeds=tests/fuzz/corpus/$name
	# The recordings of real runs kept for the unit tests seed the recording reader.
	[ "$name" = fuzz_record ] && seeds="$seeds tests/fixtures"
	regress=tests/fuzz/regress/$name
	work=$dir/corpus/$name
	log=$dir/$name.log
	mkdir -p "$work" "$dir/crashes"
	if [ ! -x "$bin" ]; then
		echo "FAIL fuzz/$name: $bin is not built (make fuzz-build)"
		failed=1
		continue
	fi
	# Once over every seed and regression file: each must pass.
	# shellcheck disable=SC2086
	files=$(find $seeds "$regress" -type f 2>/dev/null)
	if [ -n "$files" ]; then
		# shellcheck disable=SC2086
		if ! "$bin" -runs=1 -close_fd_mask=2 $files >"$log" 2>&1; then
			echo "FAIL fuzz/$name: an input of $seeds or $regress fails (see $log)"
			failed=1
			continue
		fi
	fi
	if [ "$mode" = regress ]; then
		echo "PASS fuzz/$name"
		continue
	fi
	# make check's run is the same on every machine: a fixed seed, a fresh corpus and at most
	# CHECK_RUNS inputs (what a slow machine may not reach in SECONDS; a faster one stops
	# there), so it fails only on a bug that input sequence reaches, never on a new find
	# that chance brought to one run. make fuzz explores: a random seed, a corpus that grows.
	limits=
	if [ "$mode" = check ]; then
		work=$(mktemp -d) || exit 2
		limits="-seed=1 -runs=${CHECK_RUNS:-2000}"
	fi
	# shellcheck disable=SC2086
	# -close_fd_mask=2: memwatch's one-line errors are not the fuzzer's report.
	if ! "$bin" -max_total_time="$secs" $limits -timeout=10 -rss_limit_mb=2048 \
		-max_len=65536 -close_fd_mask=2 \
		-print_final_stats=1 -artifact_prefix="$dir/crashes/$name-" \
		"$work" $seeds >"$log" 2>&1; then
		echo "FAIL fuzz/$name: a crasher after $(grep -c . "$log") log lines: $(ls -t "$dir"/crashes/"$name"-* 2>/dev/null | head -1) (see $log)"
		failed=1
		[ "$mode" = check ] && rm -rf "$work"
		continue
	fi
	[ "$mode" = check ] && rm -rf "$work"
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	echo "PASS fuzz/$name"
	[ "$mode" = fuzz ] && echo "  $name: ${execs:-?} inputs in $secs s"
done
exit $failed
