#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The agent's cost, in one run:
#
# 1. Per syscall: CPU ns added to every getppid and every 1-byte read by the
#    default `kscope agent`, next to the per-CPU floor and a bpftrace
#    one-liner doing the same kind of work, on a quiet host and on a churny
#    one (BENCH_CHURN forks a second in the background). Rows:
#      untraced   nothing attached by this script
#      floor      bench/minimal_counter: for getppid, one sys_enter program
#                 counting per comm in a per-CPU hash; for read, -hist: entry
#                 time in task storage, a log2 histogram in a per-CPU array
#      bpftrace   getppid: tracepoint:raw_syscalls:sys_enter { @[comm] = count(); }
#                 read: the same entry/exit latency histogram, keyed by tid
#      agent      `kscope agent` with its default collectors
#      baseline   the same, built from BENCH_BASELINE (a git revision), to
#                 compare a change with what it changes in the same run
#    The workload (bench/workloads/syscall_storm.c) prints its thread's CPU
#    time: on a loaded machine that moves far less than wall time. Each
#    round starts every row in turn (interleaved); medians of the rounds.
# 2. Footprint: the default agent's CPU (% of one core) and RSS over
#    BENCH_MINUTES quiet, then BENCH_MINUTES churny; the /metrics scrape.
#
#   sudo bash bench/agent.sh
#
# Knobs (environment):
#   BENCH_PHASES    phases to run                        (default "cost footprint")
#   BENCH_ITERS     syscalls per workload run            (default 1000000)
#   BENCH_ROUNDS    rounds per host                      (default 5)
#   BENCH_ROWS      rows of the cost phase               (default "untraced floor bpftrace agent",
#                                                         and baseline with BENCH_BASELINE)
#   BENCH_BASELINE  git revision the baseline row's agent is built from (default none)
#   BENCH_HOSTS     host states                          (default "quiet churny")
#   BENCH_CHURN     forks per second on a churny host    (default 800)
#   BENCH_MINUTES   minutes per footprint state          (default 10)
#   BENCH_AGENT_ARGS more `kscope agent` arguments       (default none)
#   BENCH_RESULTS   report file                          (default bench/results/agent.md)
#
# Needs root, go, gcc, curl and bpftrace (apt-get install -y bpftrace). It
# reports numbers and never fails because of them; it records the load
# average, since a busy machine makes every row slower.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
phases=${BENCH_PHASES:-cost footprint}
iters=${BENCH_ITERS:-1000000}
rounds=${BENCH_ROUNDS:-5}
baseline=${BENCH_BASELINE:-}
rows=${BENCH_ROWS:-untraced floor bpftrace agent${baseline:+ baseline}}
hosts=${BENCH_HOSTS:-quiet churny}
churn=${BENCH_CHURN:-800}
minutes=${BENCH_MINUTES:-10}
agent_args=${BENCH_AGENT_ARGS:-}
results=${BENCH_RESULTS:-$here/results/agent.md}
ready_timeout=120

log() { printf 'bench: %s\n' "$*" >&2; }
die() {
	log "$*"
	exit 1
}

[ "$(id -u)" = 0 ] || die "needs root: sudo env PATH=\"\$PATH\" bash bench/agent.sh"
for t in go gcc curl awk; do
	command -v "$t" >/dev/null || die "$t not found in PATH"
done
if [[ $phases == *cost* && " $rows " == *" bpftrace "* ]]; then
	command -v bpftrace >/dev/null || die "bpftrace not found in PATH (apt-get install -y bpftrace)"
fi

work=$(mktemp -d /tmp/kscope-bench-agent.XXXXXX)
tracer_pid=
churn_pid=
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	for p in $tracer_pid $churn_pid; do
		kill -INT "$p" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)
start_s=$(date +%s)
log "building in $work"
(cd "$repo" && GOTOOLCHAIN=local go build -o "$work/kscope" ./cmd/kscope)
(cd "$repo" && GOTOOLCHAIN=local go build -o "$work/minimal_counter" ./bench/minimal_counter)
gcc -O2 -Wall -Wextra -o "$work/syscall_storm" "$here/workloads/syscall_storm.c"
gcc -O2 -Wall -Wextra -o "$work/fork_storm" "$here/workloads/fork_storm.c"
kscope_version=$(git -C "$repo" describe --always --dirty 2>/dev/null || echo unknown)
baseline_version=
if [[ -n $baseline ]]; then
	baseline_version=$(git -C "$repo" rev-parse --short "$baseline^{commit}") || die "no revision $baseline"
	mkdir "$work/baseline-src"
	git -C "$repo" archive "$baseline_version" | tar -x -C "$work/baseline-src"
	(cd "$work/baseline-src" && GOTOOLCHAIN=local go build -o "$work/kscope-baseline" ./cmd/kscope)
	rm -rf "$work/baseline-src"
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base=http://127.0.0.1:$port

# wait_for CMD... polls CMD until it succeeds, or fails the run.
wait_for() {
	local what=$1 deadline=$(($(now_ms) + ready_timeout * 1000))
	shift
	until "$@"; do
		[[ -z $tracer_pid ]] || kill -0 "$tracer_pid" 2>/dev/null || {
			sed 's/^/    /' "$work/tracer.err" >&2
			die "$what exited before it was ready"
		}
		(($(now_ms) < deadline)) || die "$what not ready after ${ready_timeout}s"
		sleep 0.05
	done
}
ready_line() { grep -q -m1 -E '^(ready |READY$)' "$work/tracer.out" "$work/tracer.err" 2>/dev/null; }
# The agent samples BPF statistics for a second when it starts: wait for
# that window to end, so no run pays for it.
agent_ready() {
	curl -sf "$base/metrics" 2>/dev/null | awk '/^kscope_self_bpf_stats_window_seconds_total/ && $2 > 0 {ok=1} END{exit !ok}' ||
		{ curl -sf "$base/healthz" >/dev/null 2>&1 && grep -q 'BPF program run-time statistics unavailable' "$work/tracer.err"; }
}

# start_agent [BINARY]
start_agent() {
	# shellcheck disable=SC2086 # BENCH_AGENT_ARGS is a word list
	"${1:-$work/kscope}" agent --data-dir "$work/data" --listen "127.0.0.1:$port" $agent_args >"$work/tracer.out" 2>"$work/tracer.err" &
	tracer_pid=$!
	wait_for agent agent_ready
}

# start_tracer ROW WORKLOAD
start_tracer() {
	: >"$work/tracer.out"
	: >"$work/tracer.err"
	case $1/$2 in
	untraced/*) return 0 ;;
	floor/getppid) "$work/minimal_counter" -comm syscall_storm >"$work/tracer.out" 2>"$work/tracer.err" & ;;
	floor/read) "$work/minimal_counter" -hist >"$work/tracer.out" 2>"$work/tracer.err" & ;;
	bpftrace/getppid)
		bpftrace -e 'BEGIN { printf("READY\n"); } tracepoint:raw_syscalls:sys_enter { @[comm] = count(); }' \
			>"$work/tracer.out" 2>"$work/tracer.err" &
		;;
	bpftrace/read)
		bpftrace -e 'BEGIN { printf("READY\n"); }
			tracepoint:raw_syscalls:sys_enter { @start[tid] = nsecs; }
			tracepoint:raw_syscalls:sys_exit /@start[tid]/ { @ns = hist(nsecs - @start[tid]); delete(@start[tid]); }' \
			>"$work/tracer.out" 2>"$work/tracer.err" &
		;;
	agent/*)
		start_agent
		return 0
		;;
	baseline/*)
		start_agent "$work/kscope-baseline"
		return 0
		;;
	*) die "unknown row $1" ;;
	esac
	tracer_pid=$!
	wait_for "$1" ready_line
}

# stop_tracer interrupts the tracer, and terminates it if it has not
# exited 30 s later (bpftrace sometimes misses a SIGINT).
stop_tracer() {
	[[ -n $tracer_pid ]] || return 0
	kill -INT "$tracer_pid" 2>/dev/null || true
	local deadline=$(($(now_ms) + 30000))
	while kill -0 "$tracer_pid" 2>/dev/null && (($(now_ms) < deadline)); do
		sleep 0.1
	done
	kill -TERM "$tracer_pid" 2>/dev/null || true
	wait "$tracer_pid" 2>/dev/null || true
	tracer_pid=
	rm -rf "$work/data"
}

start_churn() {
	"$work/fork_storm" "$churn" &
	churn_pid=$!
}
stop_churn() {
	[[ -n $churn_pid ]] || return 0
	kill "$churn_pid" 2>/dev/null || true
	wait "$churn_pid" 2>/dev/null || true
	churn_pid=
}


report=$work/report.md
{
	echo "# kscope agent: cost per syscall and footprint"
	echo
	echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); kernel $(uname -r); $(nproc) CPUs ($(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo))"
	echo "- kscope $kscope_version${baseline_version:+; baseline $baseline_version}$(command -v bpftrace >/dev/null && echo "; $(bpftrace --version 2>/dev/null)")"
	echo "- load average at start: $load_at_start"
	echo "- command: \`sudo$(env | grep -E '^BENCH_' | sort | sed 's/^/ /' | tr -d '\n') bash bench/agent.sh\`"
	echo
} >"$report"

if [[ $phases == *cost* ]]; then
	log "cost: rows $rows; hosts $hosts; $rounds rounds of $iters calls"
	for host in $hosts; do
		[[ $host == churny ]] && start_churn
		for r in $(seq "$rounds"); do
			for row in $rows; do
				for w in getppid read; do
					start_tracer "$row" "$w"
					"$work/syscall_storm" "$w" "$iters" >>"$work/$host.$row.$w"
					stop_tracer
				done
			done
			log "$host: round $r of $rounds done"
		done
		stop_churn
	done
	{
		echo "## Added CPU ns per syscall"
		echo
		echo "CPU time of the calling thread per call, over $rounds rounds of $iters calls: median, and in brackets the fastest round (what a loaded machine disturbs least). Added = row − untraced of the same host state and statistic. Churny: $churn forks/s in the background."
		echo
		cols="floor bpftrace agent"
		head="| host | workload | untraced ns/op | floor | bpftrace | agent (default)"
		rule="| --- | --- | ---: | ---: | ---: | ---: "
		if [[ " $rows " == *" baseline "* ]]; then
			cols+=" baseline"
			head+=" | agent at $baseline_version"
			rule+="| ---: "
		fi
		echo "$head | agent wall ns/op |"
		echo "$rule| ---: |"
		minimum() { sort -n | head -1; }
		for host in $hosts; do
			for w in getppid read; do
				f=$work/$host.untraced.$w
				base_med=-
				base_min=-
				if [[ -s $f ]]; then
					base_med=$(awk -v n="$iters" '{print $1 / n}' "$f" | median)
					base_min=$(awk -v n="$iters" '{print $1 / n}' "$f" | minimum)
				fi
				line="| $host | $w | $(printf '%.0f (%.0f)' "$base_med" "$base_min" 2>/dev/null || echo -)"
				for row in $cols; do
					f=$work/$host.$row.$w
					if [[ -s $f && $base_med != - ]]; then
						m=$(awk -v n="$iters" '{print $1 / n}' "$f" | median)
						lo=$(awk -v n="$iters" '{print $1 / n}' "$f" | minimum)
						line+=" | $(awk -v a="$m" -v b="$base_med" -v c="$lo" -v d="$base_min" 'BEGIN{printf "%+.0f (%+.0f)", a - b, c - d}')"
					else
						line+=" | –"
					fi
				done
				f=$work/$host.agent.$w
				line+=" | $([[ -s $f ]] && awk -v n="$iters" '{printf "%.0f\n", $2 / n}' "$f" | median || echo –) |"
				echo "$line"
			done
		done
		echo
		echo "Raw CPU ns per run (cpu wall), by row:"
		echo
		echo '```'
		for f in "$work"/*.*.getppid "$work"/*.*.read; do
			[[ -s $f ]] && echo "$(basename "$f"): $(awk -v n="$iters" '{printf "%.0f/%.0f ", $1 / n, $2 / n}' "$f")"
		done
		echo '```'
		echo
	} >>"$report"
fi

if [[ $phases == *footprint* ]]; then
	log "footprint: $minutes min quiet, $minutes min churny"
	clk=$(getconf CLK_TCK)
	start_agent
	cpu_ticks() { awk '{print $14 + $15}' "/proc/$tracer_pid/stat"; }
	status_kb() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$tracer_pid/status"; }
		rows_out=()
	for state in quiet churny; do
		[[ $state == churny ]] && start_churn
		t0=$(cpu_ticks)
		s0=$(date +%s.%N)
		peak=0
		end=$(($(date +%s) + minutes * 60))
		while (($(date +%s) < end)); do
			kb=$(status_kb VmRSS)
			((kb > peak)) && peak=$kb
			sleep 5
		done
		t1=$(cpu_ticks)
		s1=$(date +%s.%N)
		cpu=$(awk -v t=$((t1 - t0)) -v c="$clk" -v a="$s0" -v b="$s1" 'BEGIN{printf "%.2f", 100 * t / c / (b - a)}')
		rows_out+=("| $state, $minutes min | $cpu | $(mb "$(status_kb VmRSS)") | $(mb "$peak") |")
		stop_churn
	done
	hwm=$(status_kb VmHWM)
	scrape_ms=$(curl -s -o /dev/null -w '%{time_total}' "$base/metrics" | awk '{printf "%.1f", $1 * 1000}')
	series=$(curl -s "$base/metrics" | grep -vc '^#')
	lost=$(curl -s "$base/metrics" | awk '/^kscope_self_ringbuf_lost_total/{s += $2} END{print s + 0}')
	dropped=$(curl -s "$base/metrics" | awk '/^kscope_self_events_dropped_total/{s += $2} END{print s + 0}')
	stop_tracer
	{
		echo "## Footprint of the default agent"
		echo
		echo "| host | agent CPU (% of one core) | RSS at the end (MB) | RSS peak, sampled every 5 s (MB) |"
		echo "| --- | ---: | ---: | ---: |"
		printf '%s\n' "${rows_out[@]}"
		echo
		echo "VmHWM over both: $(mb "$hwm") MB. /metrics: $series series in $scrape_ms ms. Ring-buffer losses: $lost; events dropped by the store: $dropped."
		echo
	} >>"$report"
fi

{
	echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); took $(($(date +%s) - start_s)) s."
	echo
	echo "Targets (issue 13): agent ≤ +65 ns per getppid and ≤ +150 ns per read; RSS ≤ 60 MB busy; CPU ≤ 0.5% of a core idle."
} >>"$report"
cp "$report" "$results"
cat "$report"
