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
# Knobs: BENCH_KILL_ITERS (200), BENCH_OPEN_ITERS (20000), BENCH_RESULTS
# (bench/results/policy-lsm.md).
set -euo pipefail

cd "$(dirname "$0")/.."
kill_iters=${BENCH_KILL_ITERS:-200}
open_iters=${BENCH_OPEN_ITERS:-20000}
results=${BENCH_RESULTS:-bench/results/policy-lsm.md}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kscope-policy-lsm.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

CGO_ENABLED=0 go test -c -o "$tmp/policy.test" ./internal/collector/policy
run() { # BENCH ITERS
	scripts/kernel-vm "$tmp/policy.test" -test.run '^$' -test.bench "$1" -test.benchtime "$2x" -test.count 3 2>&1 | tee -a "$tmp/out"
}
run 'BenchmarkViolationToEnforcement/deny' "$open_iters"
run 'BenchmarkViolationToEnforcement/kill' "$kill_iters"
run 'BenchmarkOpenStorm' "$open_iters"

kernel=$(sed -n 's/^kernel-vm: exit=[0-9]* (\([^ ]*\) .*/\1/p' "$tmp/out" | tail -1)
{
	echo "# kscope policy: deny through BPF LSM"
	echo
	echo "$(date -u +%Y-%m-%dT%H:%MZ), guest kernel ${kernel:-?} in QEMU (scripts/kernel-vm),"
	echo "kscope $(git describe --always --dirty 2>/dev/null || echo devel). Median of 3 runs. Indicative only: the guest is emulated."
	echo
	echo "| benchmark | iterations | ns/op | ns from violation to enforcement |"
	echo "|---|---|---|---|"
	awk '/^Benchmark/ {
		name = $1; sub(/-[0-9]+$/, "", name)
		v[name] = v[name] " " $3; it[name] = $2
		for (i = 4; i < NF; i++) if ($(i+1) == "ns/enforcement") e[name] = e[name] " " $i
		if (!(name in seen)) { seen[name] = 1; order[++n] = name }
	}
	function med(s,   a, k) { k = split(s, a, " "); if (k == 0) return ""; asort(a); return a[int((k + 1) / 2)] }
	END { for (j = 1; j <= n; j++) { m = order[j]; printf "| %s | %s | %s | %s |\n", m, it[m], med(v[m]), med(e[m]) } }' "$tmp/out"
} >"$results"
cat "$results"
