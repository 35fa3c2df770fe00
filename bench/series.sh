#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Series under pid churn: `kscope agent` with its default collectors while
# 800 processes a second, each of a command name never seen before
# (bench/workloads/unique_fork_storm.c execs /bin/true through fresh
# symlinks), start and end, for BENCH_MINUTES. Every BENCH_SAMPLE seconds it
# records the TSDB head's series, the agent's RSS, whether the series cap
# is reached and how many per-pid series PromQL sees. Near the end it starts
# a long-running process that uses CPU and reports after how many seconds
# (and collection intervals) its first sample was stored and it was
# queryable by pid through PromQL. After the storm it samples on for
# BENCH_AFTER minutes, while the series of ended processes leave the head.
#
#   sudo bash bench/series.sh
#
# Knobs (environment):
#   BENCH_MINUTES   length of the storm                     (default 60)
#   BENCH_RATE      processes started a second              (default 800)
#   BENCH_LONG_AT   minute the long-running process starts  (default BENCH_MINUTES-10, or 4/5 of a short run)
#   BENCH_SAMPLE    seconds between samples                 (default 60)
#   BENCH_AFTER     minutes sampled after the storm, while
#                   the ended processes' series leave the head (default 10)
#   BENCH_INTERVAL  the agent's --interval                  (default 10s)
#   BENCH_RESULTS   report file                             (default bench/results/series.md)
#
# It reports numbers and never fails because of them.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
minutes=${BENCH_MINUTES:-60}
rate=${BENCH_RATE:-800}
if [ "$minutes" -gt 10 ]; then long_default=$((minutes - 10)); else long_default=$((minutes * 4 / 5)); fi
long_at=${BENCH_LONG_AT:-$long_default}
sample=${BENCH_SAMPLE:-60}
after=${BENCH_AFTER:-10}
interval=${BENCH_INTERVAL:-10s}
results=${BENCH_RESULTS:-$here/results/series.md}

[ "$(id -u)" = 0 ] || { echo "bench/series.sh: needs root" >&2; exit 1; }
work=$(mktemp -d /tmp/kscope-bench-series.XXXXXX)
agent_pid= storm_pid= long_pid= poller_pid=
cleanup() {
	[ -n "$long_pid" ] || long_pid=$(cat "$work/long.pid" 2>/dev/null || true)
	for p in $poller_pid $long_pid $storm_pid $agent_pid; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

(cd "$repo" && GOTOOLCHAIN=local go build -o "$work/kscope" ./cmd/kscope)
gcc -O2 -o "$work/unique_fork_storm" "$here/workloads/unique_fork_storm.c"
gcc -O2 -o "$work/cpu_loop" "$here/workloads/cpu_loop.c"
mkdir "$work/links"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
"$work/kscope" agent --data-dir "$work/data" --listen "127.0.0.1:$port" --interval "$interval" 2>"$work/agent.log" &
agent_pid=$!
for _ in $(seq 100); do
	curl -sf "$base/healthz" >/dev/null && break
	sleep 0.1
done
curl -sf "$base/healthz" >/dev/null || { cat "$work/agent.log" >&2; exit 1; }
interval_s=$(curl -s "$base/api/v1/status/agent" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["interval_seconds"])')

metric() { curl -s "$base/metrics" | awk -v m="$1" '$1 == m {print $2; exit}'; }
# promql QUERY: the value of a one-series result, 0 if empty.
promql() {
	curl -s --data-urlencode "query=$1" "$base/api/v1/query" |
		python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else 0)'
}
rss_mb() { awk '/^VmRSS/{printf "%.1f", $2 / 1024}' "/proc/$agent_pid/status"; }

sleep 15 # the first collections
start=$(date +%s)
"$work/unique_fork_storm" /bin/true "$work/links" "$rate" $((minutes * 60)) >"$work/storm.out" &
storm_pid=$!

rows=()
row() {
	local t=$(($(date +%s) - start))
	rows+=("| $((t / 60))m$((t % 60))s | $(metric kscope_self_tsdb_head_series) | $(promql 'count(kscope_process_cpu_seconds_total{pid!~"other|"} or kscope_process_syscalls_total{pid!~"other|"} or kscope_fileio_reads_total{pid!~"other|"})') | $(promql 'count(kscope_process_cpu_seconds_total{pid=""})') | $(rss_mb) | $(metric kscope_self_tsdb_series_limit_reached) | $(curl -s "$base/metrics" | awk '/^kscope_self_tsdb_samples_rejected_total.*series_limit/{print $2}') | $(curl -s "$base/healthz" | head -c 40 | tr '\n' ' ') |")
	echo "${rows[-1]}"
}

# The long-running process, and a poller that records when PromQL first
# answers for its pid and when its first sample was stored.
(
	sleep $((long_at * 60))
	ln -s "$work/cpu_loop" "$work/longrunner"
	"$work/longrunner" 100000000000 >/dev/null &
	pid=$!
	echo "$pid" >"$work/long.pid"
	t0=$(date +%s.%N)
	while sleep 1; do
		[ "$(promql "count(kscope_process_cpu_seconds_total{pid=\"$pid\"})")" = 1 ] || continue
		t1=$(date +%s.%N)
		first=$(curl -s --data-urlencode "query=kscope_process_cpu_seconds_total{pid=\"$pid\"}[30m]" "$base/api/v1/query" |
			python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["result"][0]["values"][0][0])')
		awk -v a="$t0" -v b="$t1" -v f="$first" 'BEGIN{printf "%.1f %.1f\n", b - a, f - a}' >"$work/long.out"
		break
	done
) &
poller_pid=$!

# Samples: during the storm, then while ended series leave the head.
end=$((start + minutes * 60))
for ((next = start + sample; next <= end + after * 60; next += sample)); do
	sleep $((next - $(date +%s) > 0 ? next - $(date +%s) : 0))
	if [ -n "$storm_pid" ] && [ "$(date +%s)" -ge "$end" ]; then
		wait "$storm_pid" || true
		storm_pid=
		rows+=("| storm ended | | | | | | | |")
	fi
	row
done
[ -z "$storm_pid" ] || { wait "$storm_pid" || true; storm_pid=; }
long_pid=$(cat "$work/long.pid" 2>/dev/null || true)
long_secs= long_first=
if [ -s "$work/long.out" ]; then
	read -r long_secs long_first <"$work/long.out"
	long_intervals=$(awk -v s="$long_first" -v i="$interval_s" 'BEGIN{printf "%.2f", s / i}')
fi
kill "$poller_pid" 2>/dev/null || true
read -r started storm_ns <"$work/storm.out"
achieved=$(awk -v n="$started" -v t="$storm_ns" 'BEGIN{printf "%.0f", n / (t / 1e9)}')
peak_rss=$(awk '/^VmHWM/{printf "%.1f", $2 / 1024}' "/proc/$agent_pid/status")
warns=$(grep -c 'series cap' "$work/agent.log" || true)

{
	echo "# kscope agent: series under pid churn"
	echo
	echo "$(date -u +%Y-%m-%d), $(uname -r), $(nproc) CPUs, default collectors, interval $interval."
	echo "Storm: $started processes of unique command names in $((storm_ns / 1000000000)) s ($achieved a second, $rate asked) for $minutes minutes."
	echo
	echo "| time | head series | per-pid series (cpu, syscalls, fileio) | per-command cpu series | RSS (MB) | limit reached | samples refused at the cap | /healthz |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
	printf '%s\n' "${rows[@]}"
	echo
	if [ -n "$long_secs" ]; then
		echo "A CPU-bound process started at minute $long_at had its first sample stored $long_first s after it started ($long_intervals intervals of $interval_s s); PromQL answered for its pid after $long_secs s of polling."
	else
		echo "A CPU-bound process started at minute $long_at was NOT queryable by pid by the end of the run."
	fi
	echo "Peak RSS (VmHWM): $peak_rss MB. Series-cap warnings logged: $warns."
} | tee "$results"
