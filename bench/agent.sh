#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The agent's own cost: CPU and resident memory of `kscope agent` with its
# default collectors, idle and while a getppid storm runs
# (bench/workloads/getppid_storm.c, one thread), plus how long a /metrics
# scrape and a PromQL query take. Targets: RSS <= 60 MB, idle CPU <= 0.5% of
# a core.
#
#   sudo bash bench/agent.sh
#
# Knobs (environment):
#   BENCH_IDLE      seconds measured idle                (default 60)
#   BENCH_ITERS     getppid calls in the storm           (default 50000000)
#   BENCH_INTERVAL  the agent's --interval               (default 10s)
#   BENCH_RESULTS   report file                          (default bench/results/agent.md)
#
# "Idle" is the agent with nothing added by this script; whatever else the
# host runs still makes events. The script reports numbers and never fails
# because of them.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
idle=${BENCH_IDLE:-60}
iters=${BENCH_ITERS:-50000000}
interval=${BENCH_INTERVAL:-10s}
results=${BENCH_RESULTS:-$here/results/agent.md}

[ "$(id -u)" = 0 ] || { echo "bench/agent.sh: needs root" >&2; exit 1; }
work=$(mktemp -d /tmp/kscope-bench-agent.XXXXXX)
agent_pid=
cleanup() {
	[ -z "$agent_pid" ] || kill "$agent_pid" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

(cd "$repo" && GOTOOLCHAIN=local go build -o "$work/kscope" ./cmd/kscope)
gcc -O2 -o "$work/getppid_storm" "$here/workloads/getppid_storm.c"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$work/kscope" agent --data-dir "$work/data" --listen "127.0.0.1:$port" --interval "$interval" 2>"$work/agent.log" &
agent_pid=$!
for _ in $(seq 100); do
	curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
	sleep 0.1
done
curl -sf "http://127.0.0.1:$port/healthz" >/dev/null || { cat "$work/agent.log" >&2; exit 1; }

clk=$(getconf CLK_TCK)
# cpu_ticks: utime+stime of the agent, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$agent_pid/stat"; }
rss_kb() { awk '/^VmRSS/{print $2}' "/proc/$agent_pid/status"; }
hwm_kb() { awk '/^VmHWM/{print $2}' "/proc/$agent_pid/status"; }
pct() { awk -v t="$1" -v s="$2" -v c="$clk" 'BEGIN{printf "%.2f", 100 * t / c / s}'; }

sleep 15 # start-up walks and the first collections
t0=$(cpu_ticks)
s0=$(date +%s.%N)
sleep "$idle"
t1=$(cpu_ticks)
s1=$(date +%s.%N)
idle_secs=$(awk -v a="$s0" -v b="$s1" 'BEGIN{print b - a}')
idle_cpu=$(pct $((t1 - t0)) "$idle_secs")
idle_rss=$(rss_kb)

scrape_ms=$(curl -s -o /dev/null -w '%{time_total}' "http://127.0.0.1:$port/metrics" | awk '{printf "%.1f", $1 * 1000}')
series=$(curl -s "http://127.0.0.1:$port/metrics" | grep -vc '^#')
query_ms=$(curl -s -o /dev/null -w '%{time_total}' --data-urlencode 'query=sum by (syscall) (rate(kscope_syscalls_total[1m]))' "http://127.0.0.1:$port/api/v1/query" | awk '{printf "%.1f", $1 * 1000}')

t0=$(cpu_ticks)
s0=$(date +%s.%N)
storm_ns=$("$work/getppid_storm" "$iters")
t1=$(cpu_ticks)
s1=$(date +%s.%N)
storm_secs=$(awk -v a="$s0" -v b="$s1" 'BEGIN{print b - a}')
storm_cpu=$(pct $((t1 - t0)) "$storm_secs")
storm_rss=$(rss_kb)
peak_rss=$(hwm_kb)
ns_call=$(awk -v t="$storm_ns" -v n="$iters" 'BEGIN{printf "%.0f", t / n}')

lost=$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^kscope_self_ringbuf_lost_total/{s += $2} END{print s + 0}')
dropped=$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^kscope_self_events_dropped_total/{s += $2} END{print s + 0}')

mb() { awk -v k="$1" 'BEGIN{printf "%.1f", k / 1024}'; }
{
	echo "# kscope agent: CPU and memory"
	echo
	echo "$(date -u +%Y-%m-%d), $(uname -r), $(nproc) CPUs, default collectors ($(grep -o 'collectors=[^ ]*' "$work/agent.log" | head -1 | cut -d= -f2)), interval $interval."
	echo
	echo "| phase | agent CPU (% of one core) | RSS (MB) |"
	echo "| --- | ---: | ---: |"
	echo "| idle, ${idle}s | $idle_cpu | $(mb "$idle_rss") |"
	echo "| getppid storm, $iters calls in ${storm_secs%.*} s ($ns_call ns/call) | $storm_cpu | $(mb "$storm_rss") |"
	echo "| peak (VmHWM) | | $(mb "$peak_rss") |"
	echo
	echo "/metrics: $series series in $scrape_ms ms; a PromQL rate over all syscalls: $query_ms ms."
	echo "Ring-buffer losses: $lost; events dropped by the store: $dropped."
	echo
	echo "Targets: RSS <= 60 MB, idle CPU <= 0.5% of a core."
} | tee "$results"
