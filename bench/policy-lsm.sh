#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# kscope policy deny through BPF LSM, on Debian's stock kernel in QEMU
# (scripts/kernel-vm: the development machines have no BPF LSM): the time
# from an offending open to its enforcement, LSM deny against the
# tracepoint kill, and the cost of an open that matches nothing, untraced,
# with 64 LSM deny rules and with 64 kill rules. Runs the policy package's
# benchmarks (BenchmarkViolationToEnforcement, BenchmarkOpenStorm).
# Reports numbers, asserts nothing. Numbers from an emulated (TCG) guest
# are indicative only: compare the rows, not the absolute values.
#
#   bash bench/policy-lsm.sh
#
# Knobs: BENCH_KILL_ITERS (200), BENCH_OPEN_ITERS (20000, denied opens),
# BENCH_STORM_ITERS (5000, opens per storm run), BENCH_RESULTS
# (bench/results/policy-lsm.md).
set -euo pipefail

cd "$(dirname "$0")/.."
kill_iters=${BENCH_KILL_ITERS:-200}
open_iters=${BENCH_OPEN_ITERS:-20000}
storm_iters=${BENCH_STORM_ITERS:-5000}
results=${BENCH_RESULTS:-bench/results/policy-lsm.md}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kscope-policy-lsm.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

CGO_ENABLED=0 go test -c -o "$tmp/policy.test" ./internal/collector/policy
run() { # BENCH ITERS
	scripts/kernel-vm "$tmp/policy.test" -test.run '^$' -test.bench "$1" -test.benchtime "$2x" -test.count "${BENCH_COUNT:-3}" 2>&1 | tee -a "$tmp/out" || true # a timed-out run still reports the others
}
run 'BenchmarkViolationToEnforcement/deny' "$open_iters"
run 'BenchmarkViolationToEnforcement/kill' "$kill_iters"
run 'BenchmarkOpenStorm' "$storm_iters"

kernel=$(sed -n 's/^kernel-vm: exit=[0-9]* (\([^ ]*\) .*/\1/p' "$tmp/out" | tail -1)
{
	echo "# kscope policy: deny through BPF LSM"
	echo
	echo "$(date -u +%Y-%m-%dT%H:%MZ), guest kernel ${kernel:-?} in QEMU (scripts/kernel-vm),"
	echo "kscope $(git describe --always --dirty 2>/dev/null || echo devel). Indicative only: the guest is emulated (TCG) on a shared host."
	echo "ns/enforcement: from just before the offending open to the deny's EPERM in the caller, or to the"
	echo "parent seeing the killed process gone. ns/PROGRAM, runs/op/PROGRAM: the programs' own run time"
	echo "(BPF_ENABLE_STATS) and runs per open."
	echo
	echo '```'
	grep '^Benchmark' "$tmp/out"
	echo '```'
} >"$results"
cat "$results"
