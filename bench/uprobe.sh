#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Uprobe overhead: what does each call of a traced user-space function cost
# while kscope traces it, next to bpftrace counting it, in the same run?
# Workloads call one small function in a tight loop and time the loop:
#   C   bench/workloads/uprobe_loop.c, bench_fn(long, long)
#   Go  a program built here, main.benchFn(int, int) (//go:noinline)
#
#   sudo bash bench/uprobe.sh
#
# Rows per workload, each run BENCH_REPS times, interleaved; medians:
#   untraced       nothing attached
#   kscope         kscope trace uprobe BIN:FN --args 2 --json >/dev/null:
#                  an event per call through the ring buffer, decoded and
#                  written as JSON
#   kscope-ret     the same with --ret (C: uretprobe; Go: probes on RETs)
#   bpftrace       uprobe:BIN:FN { @ = count(); } (a map update per call)
#   bpftrace-ret   uretprobe:BIN:FN { @ = count(); } (C only: a uretprobe
#                  on a Go function can crash it)
#
# Knobs: BENCH_ITERS calls per run (default 200000; a uprobe hit costs microseconds), BENCH_REPS (default 3),
# BENCH_RESULTS report (default bench/results/uprobe.md).
# Needs root, go, gcc, bpftrace. Reports numbers; never fails because of them.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
iters=${BENCH_ITERS:-200000}
reps=${BENCH_REPS:-3}
results=${BENCH_RESULTS:-$here/results/uprobe.md}

log() { printf '%s\n' "$*" >&2; }
die() {
	log "bench: $*"
	exit 1
}
[[ $(id -u) -eq 0 ]] || die "needs root to load BPF programs"
for t in go gcc bpftrace awk; do
	command -v "$t" >/dev/null || die "$t not found in PATH"
done

work=$(mktemp -d /tmp/kscope-bench-uprobe.XXXXXX)
tracer_pid=
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [[ -n $tracer_pid ]] && kill -0 "$tracer_pid" 2>/dev/null; then
		kill -INT "$tracer_pid" 2>/dev/null || true
		sleep 1
		kill -KILL "$tracer_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "bench: building in $work"
gcc -O2 -o "$work/uprobe_loop" "$here/workloads/uprobe_loop.c"
mkdir "$work/gol"
cat >"$work/gol/main.go" <<'GO'
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

//go:noinline
func benchFn(a, b int) int { return a + b }

func main() {
	n, _ := strconv.Atoi(os.Args[1])
	sum := 0
	t0 := time.Now()
	for i := 0; i < n; i++ {
		sum += benchFn(i, 1)
	}
	fmt.Println(time.Since(t0).Nanoseconds())
	fmt.Fprintln(os.Stderr, "sum", sum)
}
GO
printf 'module gol\n\ngo 1.22\n' >"$work/gol/go.mod"
(cd "$work/gol" && GOTOOLCHAIN=local CGO_ENABLED=0 go build -o "$work/go_loop" .)
(cd "$repo" && GOTOOLCHAIN=local go build -o "$work/kscope" ./cmd/kscope)
version="$(git -C "$repo" describe --always --dirty 2>/dev/null || echo unknown)"

# start_tracer ROW BIN FN
start_tracer() {
	local row=$1 bin=$2 fn=$3 out=$work/tracer.out err=$work/tracer.err i
	: >"$out"
	: >"$err"
	case $row in
	untraced) return 0 ;;
	kscope) "$work/kscope" trace uprobe "$bin:$fn" --args 2 --json -v >/dev/null 2>"$err" & ;;
	kscope-ret) "$work/kscope" trace uprobe "$bin:$fn" --args 2 --ret --json -v >/dev/null 2>"$err" & ;;
	bpftrace) bpftrace -e "BEGIN { printf(\"READY\\n\"); } uprobe:$bin:$fn { @ = count(); }" >"$out" 2>"$err" & ;;
	bpftrace-ret) bpftrace -e "BEGIN { printf(\"READY\\n\"); } uretprobe:$bin:$fn { @ = count(); }" >"$out" 2>"$err" & ;;
	esac
	tracer_pid=$!
	for i in $(seq 1 3000); do
		grep -q -E 'msg=attached|^READY$' "$out" "$err" 2>/dev/null && return 0
		kill -0 "$tracer_pid" 2>/dev/null || {
			cat "$err" >&2
			die "$row exited before it was ready"
		}
		sleep 0.02
	done
	die "$row not ready"
}

# stop_tracer ROW: sets counted (events shown / counted) and lost.
stop_tracer() {
	local row=$1
	counted= lost=
	[[ $row == untraced ]] && return 0
	kill -INT "$tracer_pid"
	wait "$tracer_pid" || true
	tracer_pid=
	case $row in
	kscope*)
		counted=$(sed -n 's/^\([0-9]*\) events shown, \([0-9]*\) lost.*/\1/p' "$work/tracer.err")
		lost=$(sed -n 's/^\([0-9]*\) events shown, \([0-9]*\) lost.*/\2/p' "$work/tracer.err")
		;;
	bpftrace*) counted=$(sed -n 's/^@: \([0-9]*\)/\1/p' "$work/tracer.out") lost=0 ;;
	esac
}

median() { sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%d\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

declare -A ns cnt lst
run_workload() {
	local wl=$1 bin=$2 fn=$3 rows=$4 rep row t
	for rep in $(seq 1 "$reps"); do
		for row in $rows; do
			start_tracer "$row" "$bin" "$fn"
			t=$("$bin" "$iters" 2>/dev/null)
			stop_tracer "$row"
			ns[$wl/$row]+="$t "
			cnt[$wl/$row]+="${counted:-0} "
			lst[$wl/$row]+="${lost:-0} "
			log "bench: $wl $row rep $rep: $((t / iters)) ns/call, counted ${counted:--}, lost ${lost:--}"
		done
	done
}

run_workload C "$work/uprobe_loop" bench_fn "untraced kscope kscope-ret bpftrace bpftrace-ret"
run_workload Go "$work/go_loop" main.benchFn "untraced kscope kscope-ret bpftrace"

{
	echo "# Uprobe overhead"
	echo
	echo "bench/uprobe.sh, $(date -u +%Y-%m-%d), kscope $version, $(uname -r), $(nproc) CPUs, bpftrace $(bpftrace --version | awk '{print $2}')."
	echo "$iters calls of a two-argument function per run, median of $reps runs per row, rows interleaved."
	echo "Added = (row - untraced) / calls. kscope rows stream every call as a JSON line to /dev/null;"
	echo "bpftrace rows only count in a map, so they do less per call. Every row pays the uprobe trap"
	echo "(int3, a kernel entry and exit), which dominates; on a shared VM it varies from run to run,"
	echo "as the range column shows: compare rows by the median, and the ratios only roughly."
	echo
	echo "| workload | row | ns/call | range of runs | added ns/call | vs bpftrace | events | lost |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|"
	for wl in C Go; do
		base=$(echo ${ns[$wl/untraced]} | tr ' ' '\n' | median)
		bt=$(echo ${ns[$wl/bpftrace]} | tr ' ' '\n' | median)
		for row in untraced kscope kscope-ret bpftrace bpftrace-ret; do
			[[ -n ${ns[$wl/$row]:-} ]] || continue
			m=$(echo ${ns[$wl/$row]} | tr ' ' '\n' | median)
			lo=$(echo ${ns[$wl/$row]} | tr ' ' '\n' | sort -n | head -1)
			hi=$(echo ${ns[$wl/$row]} | tr ' ' '\n' | sort -n | tail -1)
			c=$(echo ${cnt[$wl/$row]} | tr ' ' '\n' | median)
			l=$(echo ${lst[$wl/$row]} | tr ' ' '\n' | median)
			awk -v wl="$wl" -v row="$row" -v m="$m" -v b="$base" -v bt="$bt" -v n="$iters" -v c="$c" -v l="$l" -v lo="$lo" -v hi="$hi" 'BEGIN {
				added = (m - b) / n; btadded = (bt - b) / n
				ratio = (row == "untraced" || btadded <= 0) ? "-" : sprintf("%.2fx", added / btadded)
				printf "| %s | %s | %.1f | %.1f-%.1f | %s | %s | %s | %s |\n", wl, row, m / n, lo / n, hi / n, row == "untraced" ? "-" : sprintf("%.1f", added), ratio, row == "untraced" ? "-" : c, row == "untraced" ? "-" : l
			}'
		done
	done
} >"$results"
cat "$results"
