#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Process and connection churn against the agent's per-process and
# per-endpoint kernel maps: bench/workloads/fork_churn.c makes RATE
# short-lived processes a second (each with one TCP connection from a
# loopback address of its own, so two endpoints never seen again), for
# MINUTES minutes. Every SAMPLE seconds the script records, from the
# agent's /metrics, the fill of each kernel map (kscope_self_map_entries
# over kscope_self_map_max_entries), the updates full maps dropped
# (kscope_self_map_drops_total; the process collector's lost counts from
# kscope_self_ringbuf_lost_total), and kscope_processes next to the live
# processes in /proc.
#
#   sudo bash bench/churn.sh
#
# Knobs (environment):
#   BENCH_MINUTES     how long the churn runs              (default 60)
#   BENCH_RATE        forks a second                       (default 800)
#   BENCH_SAMPLE      seconds between samples              (default 30)
#   BENCH_INTERVAL    the agent's --interval               (default 10s)
#   BENCH_COLLECTORS  the agent's --collectors             (default process,tcp,procnet,syscalls)
#   BENCH_RESULTS     report file                          (default bench/results/churn.md)
#
# The script reports numbers and never fails because of them.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
minutes=${BENCH_MINUTES:-60}
rate=${BENCH_RATE:-800}
sample=${BENCH_SAMPLE:-30}
interval=${BENCH_INTERVAL:-10s}
collectors=${BENCH_COLLECTORS:-process,tcp,procnet,syscalls}
results=${BENCH_RESULTS:-$here/results/churn.md}

[ "$(id -u)" = 0 ] || { echo "bench/churn.sh: needs root" >&2; exit 1; }
work=$(mktemp -d /tmp/kscope-bench-churn.XXXXXX)
agent_pid=
churn_pid=
cleanup() {
	[ -z "$churn_pid" ] || kill "$churn_pid" 2>/dev/null || true
	[ -z "$agent_pid" ] || kill "$agent_pid" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

(cd "$repo" && GOTOOLCHAIN=local go build -o "$work/kscope" ./cmd/kscope)
gcc -O2 -pthread -o "$work/fork_churn" "$here/workloads/fork_churn.c"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
"$work/kscope" agent --data-dir "$work/data" --listen "127.0.0.1:$port" --interval "$interval" \
	--collectors "$collectors" 2>"$work/agent.log" &
agent_pid=$!
for _ in $(seq 300); do
	curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
	sleep 0.1
done
curl -sf "http://127.0.0.1:$port/healthz" >/dev/null || { cat "$work/agent.log" >&2; exit 1; }
sleep 12 # the first map walk (every 10 s)

# live_procs: processes alive in /proc as kscope_processes counts them
# (zombies out; a zombie leader whose other threads run is rare, and out).
# Comm may hold spaces: the state is the field after the last ')'.
live_procs() {
	cat /proc/[0-9]*/stat 2>/dev/null | awk '{ s = $0; sub(/.*\) /, "", s); split(s, f, " "); if (f[1] != "Z" && f[1] != "X") n++ } END { print n + 0 }'
}

# sample ELAPSED: one table row.
sample_row() {
	local m
	m=$(curl -s "http://127.0.0.1:$port/metrics")
	awk -v t="$1" -v live="$(live_procs)" '
		function lab(s, k,   r) { r = s; if (!sub(".*" k "=\"", "", r)) return ""; sub("\".*", "", r); return r }
		/^kscope_self_map_entries\{/     { e[lab($1, "collector") "/" lab($1, "map")] = $2 }
		/^kscope_self_map_max_entries\{/ { x[lab($1, "collector") "/" lab($1, "map")] = $2 }
		/^kscope_self_map_drops_total\{/ { d[lab($1, "collector") "/" lab($1, "map")] = $2 }
		/^kscope_self_ringbuf_lost_total\{/ { l[lab($1, "collector")] = $2 }
		/^kscope_process_forks_total\{kind="process"\}/ { forks = $2 }
		/^kscope_processes / { procs = $2 }
		/^kscope_processes_resync_drift / { drift = $2 }
		function fill(k) { return (k in x) && x[k] > 0 ? sprintf("%d/%d", e[k], x[k]) : "-" }
		END {
			printf "| %s | %d | %s | %d | %s | %s | %d | %s | %d | %s | %d | %d | %d | %d |\n", t, forks,
				fill("process/procs"), d["process/procs"],
				fill("tcp/endpoints"), fill("tcp/conns"), d["tcp/endpoints"] + d["tcp/conns"],
				fill("procnet/procs"), l["procnet"], fill("syscalls/procs"), l["syscalls"],
				procs, drift, live
		}' <<<"$m"
}

{
	echo "| elapsed | forks (kscope) | process procs | process drops | tcp endpoints | tcp conns | tcp drops | procnet procs | procnet lost | syscalls procs | syscalls lost | kscope_processes | resync drift | /proc live |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
} >"$work/table"
sample_row "0s" >>"$work/table"
cport=$(free_port)
"$work/fork_churn" "$rate" $((minutes * 60)) "$cport" >"$work/forks" &
churn_pid=$!
start=$(date +%s)
while kill -0 "$churn_pid" 2>/dev/null; do
	sleep "$sample"
	sample_row "$(($(date +%s) - start))s" | tee -a "$work/table"
done
wait "$churn_pid" || true
churn_pid=
forks=$(cat "$work/forks")
secs=$(($(date +%s) - start))
sleep 25 # two collections and a map walk after the churn
sample_row "${secs}s + 25s" >>"$work/table"
recounts=$(grep -c 'live processes recounted' "$work/agent.log" || true)

{
	echo "# Process and connection churn: kernel map fill and drops"
	echo
	echo "$(date -u +%Y-%m-%d), $(uname -r), $(nproc) CPUs, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), pid_max $(cat /proc/sys/kernel/pid_max)."
	echo "\`bash bench/churn.sh\` with BENCH_MINUTES=$minutes BENCH_RATE=$rate: $forks forks in $secs s"
	echo "($(awk -v f="$forks" -v s="$secs" 'BEGIN{printf "%.0f", f / s}')/s), each with one TCP connection from its own loopback address;"
	echo "agent collectors $collectors, interval $interval. Map fill is entries/capacity as the agent last"
	echo "counted it (every 10 s); drops and lost are cumulative (lost: kscope_self_ringbuf_lost_total)."
	echo "kscope_processes is recounted from /proc every minute: resync drift is what the last recount changed"
	echo "(it changed it $recounts times in the run). /proc live is counted by this script at the sample, not at"
	echo "the agent's read, and other processes on the host come and go in between."
	echo
	cat "$work/table"
} | tee "$results"
