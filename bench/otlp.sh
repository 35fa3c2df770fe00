#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# What OTLP export costs the agent: two agents side by side, at the same
# time (so that each sees the same host), with the same collectors (the
# defaults and the profile collector), one sending to an OpenTelemetry
# Collector over gRPC (otlp: metrics, events as logs, CPU profiles) and
# one not. Over BENCH_MINUTES (default 5): each agent's CPU (% of one
# core), its RSS at the end and its peak (sampled every 5 s), its Go heap,
# and for the exporting one what it sent (kscope_self_export_*).
#
#   sudo bash bench/otlp.sh
#
# The collector is the one the tests use (scripts/otelcol.sh builds it from
# deploy/otelcol/builder.yaml; its debug exporter at basic verbosity
# discards what it receives). Knobs: BENCH_MINUTES, BENCH_RESULTS (default
# bench/results/otlp.md). Needs root, go and curl. It reports numbers and
# never fails because of them.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
minutes=${BENCH_MINUTES:-5}
report=${BENCH_RESULTS:-$repo/bench/results/otlp.md}
work=$(mktemp -d /tmp/kscope-bench-otlp.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do
		kill -INT "$p" 2>/dev/null || true
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT
log() { echo "bench/otlp: $*" >&2; }
metric() { curl -s "$1/metrics" | awk -v m="$2" 'index($1, m) == 1 {v = $2} END {print v + 0}'; }

start=$(date +%s)
load0=$(cut -d' ' -f1-3 /proc/loadavg)
log "building kscope and the collector"
(cd "$repo" && go build -o "$work/kscope" ./cmd/kscope)
otelcol=$(bash "$repo/scripts/otelcol.sh")

grpc_port=$(free_port)
cat >"$work/otelcol.yaml" <<YAML
receivers:
  otlp:
    protocols:
      grpc: {endpoint: 127.0.0.1:$grpc_port}
exporters:
  debug: {verbosity: basic}
service:
  telemetry:
    metrics: {level: none}
  pipelines:
    metrics: {receivers: [otlp], exporters: [debug]}
    logs: {receivers: [otlp], exporters: [debug]}
    profiles: {receivers: [otlp], exporters: [debug]}
YAML
"$otelcol" --config="file:$work/otelcol.yaml" --feature-gates=service.profilesSupport >"$work/otelcol.log" 2>&1 &
pids+=($!)
deadline=$(($(date +%s) + 120))
until grep -q "Everything is ready" "$work/otelcol.log"; do
	(($(date +%s) < deadline)) || { cat "$work/otelcol.log" >&2; exit 1; }
	sleep 0.2
done

declare -A apid abase
for side in off on; do
	port=$(free_port)
	abase[$side]=http://127.0.0.1:$port
	printf 'collectors:\n  profile: true\n' >"$work/$side.yaml"
	[[ $side == on ]] && printf 'otlp:\n  endpoint: 127.0.0.1:%s\n  insecure: true\n' "$grpc_port" >>"$work/$side.yaml"
	"$work/kscope" agent --config "$work/$side.yaml" --data-dir "$work/data-$side" --listen "127.0.0.1:$port" >"$work/a-$side.out" 2>"$work/a-$side.err" &
	apid[$side]=$!
	pids+=($!)
done
for side in off on; do
	deadline=$(($(date +%s) + 120))
	until curl -sf "${abase[$side]}/healthz" >/dev/null 2>&1; do
		kill -0 "${apid[$side]}" 2>/dev/null || { cat "$work/a-$side.err" >&2; exit 1; }
		(($(date +%s) < deadline)) || { echo "agent ($side) not ready after 120 s" >&2; exit 1; }
		sleep 0.1
	done
done

log "$minutes min side by side"
clk=$(getconf CLK_TCK)
declare -A t0 peak
for side in off on; do
	t0[$side]=$(cpu_ticks "${apid[$side]}")
	peak[$side]=0
done
sent0=$(metric "${abase[on]}" 'kscope_self_export_samples_sent_total{exporter="otlp"}')
s0=$(date +%s.%N)
end=$(($(date +%s) + minutes * 60))
while (($(date +%s) < end)); do
	for side in off on; do
		kb=$(status_kb "${apid[$side]}" VmRSS)
		((kb > peak[$side])) && peak[$side]=$kb
	done
	sleep 5
done
s1=$(date +%s.%N)
rows=()
for side in off on; do
	pid=${apid[$side]}
	cpu=$(awk -v t=$(($(cpu_ticks "$pid") - t0[$side])) -v c="$clk" -v a="$s0" -v z="$s1" 'BEGIN{printf "%.2f", 100 * t / c / (z - a)}')
	heap=$(metric "${abase[$side]}" kscope_self_go_heap_bytes)
	series=$(metric "${abase[$side]}" kscope_self_tsdb_head_series)
	rows+=("| otlp $side | $cpu | $(mb "$(status_kb "$pid" VmRSS)") | $(mb "${peak[$side]}") | $(awk -v h="$heap" 'BEGIN{printf "%.1f", h / 1048576}') | $series |")
done
b=${abase[on]}
sent=$(metric "$b" 'kscope_self_export_samples_sent_total{exporter="otlp"}')
failed=$(metric "$b" 'kscope_self_export_requests_failed_total{exporter="otlp"}')
dropped_full=$(metric "$b" 'kscope_self_export_samples_dropped_total{exporter="otlp",reason="queue_full"}')
dropped_rej=$(metric "$b" 'kscope_self_export_samples_dropped_total{exporter="otlp",reason="rejected"}')
rate=$(awk -v n=$((${sent%.*} - ${sent0%.*})) -v a="$s0" -v z="$s1" 'BEGIN{printf "%.0f", n / (z - a)}')

mkdir -p "$(dirname "$report")"
{
	echo "# OTLP export: the agent's cost"
	echo
	echo "bench/otlp.sh, $(date -u '+%Y-%m-%d %H:%M UTC'), kscope $(cd "$repo" && git rev-parse --short HEAD 2>/dev/null || echo '?'), $(uname -r), $(nproc) CPUs;"
	echo "load average at the start $load0."
	echo
	echo "Two \`kscope agent\`s side by side for $minutes minutes, the default collectors and \`profile\`, one with"
	echo "\`otlp:\` (gRPC) to an OpenTelemetry Collector ($(basename "$otelcol"), debug exporter), one without."
	echo
	echo "| agent | CPU (% of one core) | RSS (MB) | RSS peak (MB) | Go heap in use (MB) | head series |"
	echo "|---|---:|---:|---:|---:|---:|"
	printf '%s\n' "${rows[@]}"
	echo
	echo "Sent over OTLP: $rate samples/s (data points, log records and profile samples; $sent since start),"
	echo "$failed requests failed, $dropped_full samples dropped for the queue, $dropped_rej rejected."
	echo
	echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); took $(($(date +%s) - start)) s."
} >"$report"
cat "$report"
