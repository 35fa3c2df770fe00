#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# What kscope costs a host in a fleet, in one run:
#
# rw        The default agent with remote write off and with it on, side by
#           side for BENCH_MINUTES: CPU (% of one core), RSS at the end and
#           its peak (sampled every 5 s), and the samples/s the second sends
#           to a Debian Prometheus (--web.enable-remote-write-receiver).
# outage    That Prometheus stopped for BENCH_OUTAGE_MINUTES while the agent
#           keeps collecting: the queue's size on disk (its metric and du of
#           data_dir/remote_write) every 5 s; then Prometheus started again:
#           how long the queue takes to drain, at what rate, what was
#           dropped, and whether Prometheus has every sample of one series
#           (kscope_self_tsdb_head_series) from inside the outage.
# node      Debian's prometheus-node-exporter scraped by a Debian Prometheus
#           every 10 s (kscope's default interval) next to a default agent,
#           for BENCH_MINUTES: CPU and RSS of each process, series, samples/s
#           and disk use at the end.
#
#   sudo bash bench/fleet.sh            # 10-minute periods
#   sudo SHORT=1 bash bench/fleet.sh    # 1-minute periods
#
# Knobs: BENCH_PHASES (default "rw outage node"), BENCH_MINUTES (default 10,
# 1 with SHORT=1), BENCH_OUTAGE_MINUTES (the same), BENCH_RESULTS (default
# bench/results/fleet.md). Needs root, go, curl, python3, prometheus and
# prometheus-node-exporter (apt-get install -y prometheus
# prometheus-node-exporter). It reports numbers and never fails because of
# them; it records the load average, since a busy machine makes every row
# slower.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
phases=${BENCH_PHASES:-rw outage node}
if [[ ${SHORT:-} == 1 ]]; then def_min=1; else def_min=10; fi
minutes=${BENCH_MINUTES:-$def_min}
outage_min=${BENCH_OUTAGE_MINUTES:-$def_min}
results=${BENCH_RESULTS:-$here/results/fleet.md}

log() { printf 'bench: %s\n' "$*" >&2; }
die() {
	log "$*"
	exit 1
}
[ "$(id -u)" = 0 ] || die "needs root: sudo env PATH=\"\$PATH\" bash bench/fleet.sh"
for t in go curl python3 prometheus; do
	command -v "$t" >/dev/null || die "$t not found in PATH (apt-get install -y prometheus)"
done
node_exporter=$(command -v prometheus-node-exporter || true)
if [[ $phases == *node* && -z $node_exporter ]]; then
	die "prometheus-node-exporter not found (apt-get install -y prometheus-node-exporter)"
fi

work=$(mktemp -d /tmp/kscope-bench-fleet.XXXXXX)
pids=()
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	for p in "${pids[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
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
version=$(git -C "$repo" describe --always --dirty 2>/dev/null || echo unknown)
prom_version=$(prometheus --version 2>&1 | awk 'NR == 1 {print $3}')

clk=$(getconf CLK_TCK)
# metric URL NAME: the sum of NAME's series, as an integer.
metric() { curl -s "$1/metrics" | awk -v m="$2" '$1 == m || index($1, m "{") == 1 {v += $2} END {printf "%.0f\n", v}'; }
# promql URL QUERY: the first value of an instant query, or 0.
promql() {
	curl -s --get --data-urlencode "query=$2" ${3:+--data-urlencode "time=$3"} "$1/api/v1/query" |
		python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else 0)'
}
# wait_http URL PID WHAT: until URL answers, PID alive, 120 s.
wait_http() {
	local deadline=$(($(now_ms) + 120000))
	until curl -sf "$1" >/dev/null 2>&1; do
		kill -0 "$2" 2>/dev/null || die "$3 exited before it was ready"
		(($(now_ms) < deadline)) || die "$3 not ready after 120 s"
		sleep 0.2
	done
}
# stop PID: SIGTERM, wait for it, and forget it (its number may be reused).
stop() {
	local p keep=()
	kill -TERM "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
	for p in "${pids[@]}"; do
		[[ $p == "$1" ]] || keep+=("$p")
	done
	pids=("${keep[@]}")
}

# start_prom NAME PORT [SCRAPE_TARGET]: a Prometheus receiving remote write,
# scraping SCRAPE_TARGET every 10 s if given; sets prom_pid.
start_prom() {
	local name=$1 port=$2 target=${3:-}
	mkdir -p "$work/$name"
	if [[ -n $target ]]; then
		printf 'global: {scrape_interval: 10s}\nscrape_configs:\n  - job_name: node\n    static_configs: [{targets: ["%s"]}]\n' "$target" >"$work/$name/prometheus.yml"
	else
		printf 'global: {}\n' >"$work/$name/prometheus.yml"
	fi
	prometheus --config.file="$work/$name/prometheus.yml" --storage.tsdb.path="$work/$name/data" \
		--web.listen-address="127.0.0.1:$port" --web.enable-remote-write-receiver \
		>>"$work/$name/log" 2>&1 &
	prom_pid=$!
	pids+=("$prom_pid")
	wait_http "http://127.0.0.1:$port/-/ready" "$prom_pid" "prometheus ($name)"
}

# start_agent NAME [REMOTE_WRITE_URL]: a default agent; sets agent_pid and
# agent_url.
start_agent() {
	local name=$1 rw=${2:-} port
	port=$(free_port)
	mkdir -p "$work/$name"
	{
		echo "external_labels: {instance: $name}"
		if [[ -n $rw ]]; then
			echo "remote_write:"
			echo "  - url: $rw"
			echo "    name: bench"
		fi
	} >"$work/$name/kscope.yml"
	"$work/kscope" agent --config "$work/$name/kscope.yml" --data-dir "$work/$name/data" \
		--listen "127.0.0.1:$port" >"$work/$name/out" 2>"$work/$name/err" &
	agent_pid=$!
	agent_url=http://127.0.0.1:$port
	pids+=("$agent_pid")
	wait_http "$agent_url/healthz" "$agent_pid" "agent ($name)"
}

# measure SECONDS PID...: CPU % of one core of each PID over SECONDS, and
# its RSS peak (sampled every 5 s); sets cpu[PID] and peak[PID].
declare -A cpu peak t0
measure() {
	local secs=$1 p s0 s1 end kb
	shift
	for p in "$@"; do
		t0[$p]=$(cpu_ticks "$p")
		peak[$p]=0
	done
	s0=$(date +%s.%N)
	end=$(($(date +%s) + secs))
	while (($(date +%s) < end)); do
		for p in "$@"; do
			kb=$(status_kb "$p" VmRSS)
			((kb > peak[$p])) && peak[$p]=$kb
		done
		sleep 5
	done
	s1=$(date +%s.%N)
	for p in "$@"; do
		kb=$(status_kb "$p" VmRSS)
		((kb > peak[$p])) && peak[$p]=$kb
		cpu[$p]=$(awk -v t=$(($(cpu_ticks "$p") - t0[$p])) -v c="$clk" -v a="$s0" -v z="$s1" 'BEGIN{printf "%.2f", 100 * t / c / (z - a)}')
	done
}

report=$work/report.md
{
	echo "# kscope in a fleet: remote write, an outage, node_exporter"
	echo
	echo "bench/fleet.sh, $(date -u '+%Y-%m-%d %H:%M') UTC, kscope $version, $(uname -r), $(nproc) CPUs,"
	echo "Prometheus $prom_version; ${minutes}-minute periods, a ${outage_min}-minute outage; load average at the start $load_at_start."
	echo
} >"$report"

rw_pid=
if [[ $phases == *rw* || $phases == *outage* ]]; then
	rw_port=$(free_port)
	start_prom recv "$rw_port"
	recv_pid=$prom_pid
	recv_url=http://127.0.0.1:$rw_port
	start_agent off
	off_pid=$agent_pid
	off_url=$agent_url
	start_agent on "$recv_url/api/v1/write"
	rw_pid=$agent_pid
	rw_url=$agent_url
fi

if [[ $phases == *rw* ]]; then
	log "rw: $minutes min, remote write off and on side by side"
	sent0=$(metric "$rw_url" kscope_self_export_samples_sent_total)
	s0=$(date +%s)
	measure $((minutes * 60)) "$off_pid" "$rw_pid" "$recv_pid"
	sent1=$(metric "$rw_url" kscope_self_export_samples_sent_total)
	rate=$(awk -v a="$sent0" -v b="$sent1" -v s=$(($(date +%s) - s0)) 'BEGIN{printf "%.0f", (b - a) / s}')
	{
		echo "## Remote write off and on"
		echo
		echo "Two default agents side by side for $minutes min, one remote-writing to a Prometheus on the same host."
		echo
		echo "| process | CPU (% of one core) | RSS (MB) | RSS peak (MB) | head series | sent samples/s |"
		echo "|---|---:|---:|---:|---:|---:|"
		echo "| agent, remote write off | ${cpu[$off_pid]} | $(mb "$(status_kb "$off_pid" VmRSS)") | $(mb "${peak[$off_pid]}") | $(metric "$off_url" kscope_self_tsdb_head_series) | - |"
		echo "| agent, remote write on | ${cpu[$rw_pid]} | $(mb "$(status_kb "$rw_pid" VmRSS)") | $(mb "${peak[$rw_pid]}") | $(metric "$rw_url" kscope_self_tsdb_head_series) | $rate |"
		echo "| the receiving Prometheus | ${cpu[$recv_pid]} | $(mb "$(status_kb "$recv_pid" VmRSS)") | $(mb "${peak[$recv_pid]}") | $(metric "$recv_url" prometheus_tsdb_head_series) | - |"
		echo
	} >>"$report"
fi
if [[ -n ${off_pid:-} ]]; then
	stop "$off_pid"
fi

if [[ $phases == *outage* ]]; then
	log "outage: Prometheus down for $outage_min min"
	interval=10
	dropped0=$(metric "$rw_url" kscope_self_export_samples_dropped_total)
	stop "$recv_pid"
	down_at=$(date +%s)
	maxq=0
	maxdu=0
	qsamples=0
	rows=()
	end=$((down_at + outage_min * 60))
	next_row=$down_at
	while (($(date +%s) < end)); do
		q=$(metric "$rw_url" kscope_self_export_queue_bytes)
		qsamples=$(metric "$rw_url" kscope_self_export_queue_samples)
		du=$(du -sb "$work/on/data/remote_write" | awk '{print $1}')
		((q > maxq)) && maxq=$q
		((du > maxdu)) && maxdu=$du
		if (($(date +%s) >= next_row)); then
			rows+=("| $(($(date +%s) - down_at)) | $qsamples | $(awk -v b="$q" 'BEGIN{printf "%.2f", b / 1048576}') | $(awk -v b="$du" 'BEGIN{printf "%.2f", b / 1048576}') |")
			next_row=$((next_row + outage_min * 60 / 5))
		fi
		sleep 5
	done
	up_at=$(date +%s)
	queued=$(metric "$rw_url" kscope_self_export_queue_samples)
	sent0=$(metric "$rw_url" kscope_self_export_samples_sent_total)
	t_up=$(now_ms)
	start_prom recv "$rw_port"
	recv_pid=$prom_pid
	deadline=$(($(now_ms) + 600000))
	while :; do
		left=$(metric "$rw_url" kscope_self_export_queue_samples)
		[[ $left == 0 ]] && break
		(($(now_ms) < deadline)) || break
		sleep 0.2
	done
	t_drained=$(now_ms)
	sent1=$(metric "$rw_url" kscope_self_export_samples_sent_total)
	dropped1=$(metric "$rw_url" kscope_self_export_samples_dropped_total)
	drain_s=$(awk -v a="$t_up" -v b="$t_drained" 'BEGIN{printf "%.1f", (b - a) / 1000}')
	drain_rate=$(awk -v a="$sent0" -v b="$sent1" -v s="$drain_s" 'BEGIN{if (s > 0) printf "%.0f", (b - a) / s; else print "-"}')
	# One series, every interval inside the outage, at the backend.
	win=$((up_at - down_at - 2 * interval))
	got=$(promql "$recv_url" "count_over_time(kscope_self_tsdb_head_series{instance=\"on\"}[${win}s])" "$((up_at - interval))")
	{
		echo "## A ${outage_min}-minute backend outage"
		echo
		echo "The receiving Prometheus stopped (SIGTERM) while the agent kept collecting every ${interval} s, then started again."
		echo
		echo "| seconds into the outage | queued samples | queue (MiB, its metric) | data_dir/remote_write (MiB, du) |"
		echo "|---:|---:|---:|---:|"
		printf '%s\n' "${rows[@]}"
		echo
		echo "| | measured |"
		echo "|---|---:|"
		echo "| samples queued when the backend came back | $queued |"
		echo "| queue's peak on disk | $(awk -v b="$maxq" 'BEGIN{printf "%.2f", b / 1048576}') MiB (du: $(awk -v b="$maxdu" 'BEGIN{printf "%.2f", b / 1048576}') MiB) |"
		echo "| time to drain, from starting Prometheus (its start-up included) | $drain_s s |"
		echo "| samples sent while draining, per second | $drain_rate |"
		echo "| samples dropped during the outage | $(awk -v a="$dropped0" -v b="$dropped1" 'BEGIN{print b - a}') |"
		echo "| samples of one series in the backend from inside the outage (${win} s) | $got of $((win / interval)) |"
		echo
	} >>"$report"
fi
if [[ -n $rw_pid ]]; then
	stop "$rw_pid"
	stop "$recv_pid"
fi

if [[ $phases == *node* ]]; then
	log "node: node_exporter scraped by Prometheus next to a default agent, $minutes min"
	ne_port=$(free_port)
	"$node_exporter" --web.listen-address="127.0.0.1:$ne_port" >"$work/ne.log" 2>&1 &
	ne_pid=$!
	pids+=("$ne_pid")
	wait_http "http://127.0.0.1:$ne_port/metrics" "$ne_pid" "node_exporter"
	scrape_port=$(free_port)
	start_prom scrape "$scrape_port" "127.0.0.1:$ne_port"
	scrape_pid=$prom_pid
	scrape_url=http://127.0.0.1:$scrape_port
	start_agent node
	node_pid=$agent_pid
	node_url=$agent_url
	app0=$(metric "$scrape_url" prometheus_tsdb_head_samples_appended_total)
	kapp0=$(metric "$node_url" kscope_self_tsdb_samples_appended_total)
	s0=$(date +%s)
	measure $((minutes * 60)) "$ne_pid" "$scrape_pid" "$node_pid"
	secs=$(($(date +%s) - s0))
	app1=$(metric "$scrape_url" prometheus_tsdb_head_samples_appended_total)
	kapp1=$(metric "$node_url" kscope_self_tsdb_samples_appended_total)
	ne_series=$(promql "$scrape_url" 'scrape_samples_scraped{job="node"}')
	sum_cpu=$(awk -v a="${cpu[$ne_pid]}" -v b="${cpu[$scrape_pid]}" 'BEGIN{printf "%.2f", a + b}')
	sum_rss=$(($(status_kb "$ne_pid" VmRSS) + $(status_kb "$scrape_pid" VmRSS)))
	{
		echo "## The agent against node_exporter and Prometheus"
		echo
		echo "Debian's prometheus-node-exporter (default collectors) scraped every 10 s by a Prometheus, and a default"
		echo "agent (10 s interval), side by side for $minutes min; disk use at the end."
		echo
		echo "| process | CPU (% of one core) | RSS (MB) | RSS peak (MB) | series | samples/s stored | disk (MB) |"
		echo "|---|---:|---:|---:|---:|---:|---:|"
		echo "| node_exporter | ${cpu[$ne_pid]} | $(mb "$(status_kb "$ne_pid" VmRSS)") | $(mb "${peak[$ne_pid]}") | ${ne_series} per scrape | - | - |"
		echo "| Prometheus scraping it | ${cpu[$scrape_pid]} | $(mb "$(status_kb "$scrape_pid" VmRSS)") | $(mb "${peak[$scrape_pid]}") | $(metric "$scrape_url" prometheus_tsdb_head_series) | $(awk -v a="$app0" -v b="$app1" -v s="$secs" 'BEGIN{printf "%.0f", (b - a) / s}') | $(du -sm "$work/scrape/data" | cut -f1) |"
		echo "| node_exporter + Prometheus | $sum_cpu | $(mb "$sum_rss") | - | - | - | - |"
		echo "| kscope agent | ${cpu[$node_pid]} | $(mb "$(status_kb "$node_pid" VmRSS)") | $(mb "${peak[$node_pid]}") | $(metric "$node_url" kscope_self_tsdb_head_series) | $(awk -v a="$kapp0" -v b="$kapp1" -v s="$secs" 'BEGIN{printf "%.0f", (b - a) / s}') | $(du -sm "$work/node/data" | cut -f1) |"
		echo
	} >>"$report"
	stop "$node_pid"
	stop "$scrape_pid"
	stop "$ne_pid"
fi

echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); took $(($(date +%s) - start_s)) s." >>"$report"
cp "$report" "$results"
cat "$report"
