#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# kscope run against bpftrace, in the same run on the same machine:
#
#   1. compile + load + attach + exit time of the same scripts (wall clock
#      of the whole command; the script calls exit() in BEGIN, which both
#      run after attaching), median of BENCH_REPS;
#   2. per-event cost: bench/workloads/getppid_storm makes BENCH_EVENTS
#      getppid calls under each tracer (-c) and untraced; the added
#      nanoseconds per call are (traced - untraced) / BENCH_EVENTS, median
#      of BENCH_REPS.
#
# Results are ratios kscope/bpftrace (below 1: kscope is cheaper), written
# as markdown to BENCH_RESULTS (default bench/results/probe-run.md).
#
#   sudo bash bench/probe-run.sh
#
# It reports numbers and never fails because of them; it exits non-zero
# only when it cannot run (not root, bpftrace or a compiler missing).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
reps=${BENCH_REPS:-5}
events=${BENCH_EVENTS:-2000000}
results=${BENCH_RESULTS:-$here/results/probe-run.md}

log() { echo "$*" >&2; }
[ "$(id -u)" = 0 ] || { log "probe-run: needs root"; exit 1; }
command -v bpftrace >/dev/null || { log "probe-run: bpftrace is not installed"; exit 1; }
cc=$(command -v cc || command -v gcc || command -v clang-14) || { log "probe-run: no C compiler"; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$repo" && GOTOOLCHAIN=local go build -o "$work/kscope" ./cmd/kscope)
"$cc" -O2 -o "$work/getppid_storm" "$here/workloads/getppid_storm.c"

now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2))}'; }

# startup TRACER SCRIPT: median wall-clock ms of running SCRIPT to exit.
startup() {
	local tracer=$1 script=$2 t0 t1
	for _ in $(seq "$reps"); do
		t0=$(now)
		if [ "$tracer" = kscope ]; then
			"$work/kscope" run -q -e "$script" >/dev/null 2>&1
		else
			bpftrace -q -e "$script" >/dev/null 2>&1
		fi
		t1=$(now)
		echo $(((t1 - t0) / 1000))
	done | median
}

# storm TRACER SCRIPT: one line per rep, "LOOP_NS KERNEL_NS_PER_RUN": how
# long the workload's loop took under TRACER ("none": untraced; its kernel
# cost is 0), and what the tracer's programs cost per run in the kernel
# (bpf_stats, read by the traced command itself while they are loaded; the
# tracer's programs are the tracepoint programs that appeared since it
# started, so run it on a machine where nothing else loads programs then).
storm() {
	local tracer=$1 script=$2 inner=$work/storm.sh
	printf '%s %s\nbpftool prog show -j > %s\n' "$work/getppid_storm" "$events" "$work/progs.json" >"$inner"
	for _ in $(seq "$reps"); do
		rm -f "$work/progs.json"
		bpftool prog show -j | jq '[.[].id]' >"$work/before.json"
		case $tracer in
		none) loop=$("$work/getppid_storm" "$events"); echo "$loop 0"; continue ;;
		kscope) loop=$("$work/kscope" run -q -c "/bin/sh $inner" -e "$script" 2>/dev/null | grep -E '^[0-9]+$' | head -1) ;;
		bpftrace) loop=$(bpftrace -q -c "/bin/sh $inner" -e "$script" 2>/dev/null | grep -E '^[0-9]+$' | head -1) ;;
		esac
		# The tracer's programs: tracepoint programs loaded since it started.
		kns=$(jq --slurpfile before "$work/before.json" '[.[] | select(.type == "tracepoint" and ((.id as $i | $before[0] | index($i)) == null))] | ((map(.run_time_ns // 0) | add) // 0) / ([((map(.run_cnt // 0) | add) // 0), 1] | max)' "$work/progs.json")
		echo "$loop $kns"
	done
}

# delta A B: median over reps of (A's loop - B's loop) / events, in ns.
delta() { paste -d' ' <(echo "$1") <(echo "$2") | awk -v n="$events" '{print ($1 - $3) / n}' | sort -n | awk '{a[NR]=$1} END {printf "%.1f", (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
kmed() { echo "$1" | awk '{print $2}' | sort -n | awk '{a[NR]=$1} END {printf "%.1f", (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

one='tracepoint:syscalls:sys_enter_getppid { @[comm] = count(); } BEGIN { exit(); }'
multi='tracepoint:syscalls:sys_enter_openat { @o[comm] = count(); }
tracepoint:syscalls:sys_exit_openat /args->ret < 0/ { @fail[comm] = count(); }
tracepoint:syscalls:sys_enter_read { @r[comm] = count(); }
tracepoint:syscalls:sys_exit_read /args->ret > 0/ { @bytes = hist(args->ret); }
tracepoint:sched:sched_process_exec { printf("%s\n", comm); }
tracepoint:sched:sched_process_exit { @exits = count(); }
interval:s:10 { print(@o); clear(@o); }
BEGIN { exit(); }'

log "probe-run: startup"
declare -A st
for name in one multi; do
	for tr in kscope bpftrace; do
		st[$name,$tr]=$(startup "$tr" "${!name}")
	done
done

log "probe-run: per-event cost over $events getppid calls"
count='tracepoint:syscalls:sys_enter_getppid { @[comm] = count(); }'
hist='tracepoint:syscalls:sys_enter_getppid { @h[comm] = hist(nsecs & 0xfffff); }'
old_stats=$(sysctl -n kernel.bpf_stats_enabled)
trap 'sysctl -qw kernel.bpf_stats_enabled=$old_stats; rm -rf "$work"' EXIT
sysctl -qw kernel.bpf_stats_enabled=1
base=$(storm none "")
declare -A ev kern
for name in count hist; do
	for tr in kscope bpftrace; do
		runs=$(storm "$tr" "${!name}")
		ev[$name,$tr]=$(delta "$runs" "$base")
		kern[$name,$tr]=$(kmed "$runs")
	done
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
{
	echo "# kscope run against bpftrace"
	echo
	echo "$(date -u +%Y-%m-%dT%H:%MZ), $(uname -r), $(nproc) CPUs, $(bpftrace --version), medians of $reps runs (bench/probe-run.sh)."
	echo
	echo "| Compile + load + attach + exit | kscope run (ms) | bpftrace (ms) | ratio |"
	echo "|---|---:|---:|---:|"
	for name in one multi; do
		k=$(awk -v x="${st[$name,kscope]}" 'BEGIN { printf "%.1f", x / 1000 }')
		b=$(awk -v x="${st[$name,bpftrace]}" 'BEGIN { printf "%.1f", x / 1000 }')
		echo "| \`$name\` script | $k | $b | $(ratio "$k" "$b") |"
	done
	echo
	echo "| Per event (getppid) | kscope run: in kernel (ns/run) | bpftrace: in kernel (ns/run) | ratio | kscope run: added wall (ns) | bpftrace: added wall (ns) |"
	echo "|---|---:|---:|---:|---:|---:|"
	for name in count hist; do
		echo "| \`$name\` | ${kern[$name,kscope]} | ${kern[$name,bpftrace]} | $(ratio "${kern[$name,kscope]}" "${kern[$name,bpftrace]}") | ${ev[$name,kscope]} | ${ev[$name,bpftrace]} |"
	done
	echo
	echo "Untraced loop: $(kmed "$(echo "$base" | awk '{print 0, $1 / '"$events"'}')") ns per call. The in-kernel cost (bpf_stats) is the stable number on a shared machine; the added wall time is noisy there."
} >"$results"
cat "$results"
