#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# kscope's per-process CPU seconds and context switches next to the
# kernel's own figures and to perf, on the same workload: a shell that
# loops (CPU), sleeps now and then (voluntary switches) and stops itself
# (SIGSTOP) when done, so every figure is read with nothing running.
#
#   sudo bash bench/accuracy.sh
#
# Knobs (environment):
#   BENCH_LOOPS    iterations of the shell loop   (default 3000000)
#   BENCH_RESULTS  report file                    (default bench/results/accuracy.md)
#
# Sources: kscope agent --collectors process (/metrics); /proc/PID/stat
# utime+stime (clock ticks); /proc/PID/schedstat (se.sum_exec_runtime, ns);
# /proc/PID/status voluntary_ctxt_switches and nonvoluntary_ctxt_switches;
# perf stat --no-inherit -e task-clock,context-switches attached to the pid once it is
# known (the shell's start, before perf attaches, is in every figure but
# perf's).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
loops=${BENCH_LOOPS:-3000000}
results=${BENCH_RESULTS:-$here/results/accuracy.md}

[ "$(id -u)" = 0 ] || { echo "bench/accuracy.sh: needs root" >&2; exit 1; }
command -v perf >/dev/null || { echo "bench/accuracy.sh: needs perf" >&2; exit 1; }
work=$(mktemp -d /tmp/kscope-bench-accuracy.XXXXXX)
agent_pid= sh_pid= perf_pid=
cleanup() {
	for p in $perf_pid $sh_pid $agent_pid; do kill -9 "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

(cd "$repo" && GOTOOLCHAIN=local go build -o "$work/kscope" ./cmd/kscope)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$work/kscope" agent --data-dir "$work/data" --listen "127.0.0.1:$port" --interval 1s --topk 100000 \
	--collectors process 2>"$work/agent.log" &
agent_pid=$!
for _ in $(seq 300); do
	curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
	sleep 0.1
done
curl -sf "http://127.0.0.1:$port/healthz" >/dev/null || { cat "$work/agent.log" >&2; exit 1; }

mkfifo "$work/go"
sh -c 'read x <"$1"; i=0; while [ $i -lt "$2" ]; do i=$((i+1)); [ $((i % 20000)) = 0 ] && sleep 0.01; done; kill -STOP $$' \
	sh "$work/go" "$loops" &
sh_pid=$!
perf stat --no-inherit -e task-clock,context-switches -x, -o "$work/perf" -p "$sh_pid" &
perf_pid=$!
sleep 1 # perf attached
echo go >"$work/go"
start=$(date +%s.%N)
until [ "$(awk '{ s = $0; sub(/.*\) /, "", s); print substr(s, 1, 1) }' "/proc/$sh_pid/stat")" = T ]; do sleep 0.2; done
secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b - a}')

procs() {
	local st
	st=$(cat "/proc/$sh_pid/stat")
	ticks=$(awk '{ s = $0; sub(/.*\) /, "", s); split(s, f, " "); print f[12] + f[13] }' <<<"$st")
	runtime=$(awk '{print $1}' "/proc/$sh_pid/schedstat")
	vol=$(awk '/^voluntary_ctxt_switches/{print $2}' "/proc/$sh_pid/status")
	invol=$(awk '/^nonvoluntary_ctxt_switches/{print $2}' "/proc/$sh_pid/status")
}
kscope() {
	curl -s "http://127.0.0.1:$port/metrics" | awk -v p="pid=\"$sh_pid\"" '
		index($0, p) && /^kscope_process_cpu_seconds_total/ { cpu = $2 }
		index($0, p) && /^kscope_process_context_switches_total/ && /kind="voluntary"/ { v = $2 }
		index($0, p) && /^kscope_process_context_switches_total/ && /kind="involuntary"/ { iv = $2 }
		END { printf "%s %s %s\n", cpu, v, iv }'
}
# The last switch-out runs just after the state shows T.
for _ in $(seq 50); do
	procs
	read -r k_cpu k_vol k_invol < <(kscope)
	[ "$k_vol" = "$vol" ] && [ "$k_invol" = "$invol" ] && break
	sleep 0.2
done
kill -INT "$perf_pid"
wait "$perf_pid" 2>/dev/null || true
perf_pid=
p_clock=$(awk -F, '$3 == "task-clock" || $3 ~ /task-clock/ {print $1}' "$work/perf")
p_cs=$(awk -F, '$3 ~ /context-switches/ {print $1}' "$work/perf")

hz=$(getconf CLK_TCK)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b == 0) print "-"; else printf "%+.3f%%", 100 * (a - b) / b }'; }
steal() { awk '/^cpu /{print $9}' /proc/stat; }
{
	echo "# Accuracy: per-process CPU time and context switches"
	echo
	echo "$(date -u +%Y-%m-%d), $(uname -r), $(nproc) CPUs. \`bash bench/accuracy.sh\`: a shell loop of $loops"
	echo "iterations with a 10 ms sleep every 20,000, ${secs} s wall, then SIGSTOP; every figure read with it stopped."
	echo
	echo "| figure | kscope | reference | source of the reference | kscope vs reference |"
	echo "| --- | ---: | ---: | --- | ---: |"
	echo "| CPU seconds | $k_cpu | $(awk -v n="$runtime" 'BEGIN{printf "%.9f", n / 1e9}') | /proc/PID/schedstat (se.sum_exec_runtime) | $(ratio "$k_cpu" "$(awk -v n="$runtime" 'BEGIN{print n / 1e9}')") |"
	echo "| CPU seconds | $k_cpu | $(awk -v t="$ticks" -v h="$hz" 'BEGIN{printf "%.2f", t / h}') | /proc/PID/stat utime+stime (1/$hz s ticks) | $(ratio "$k_cpu" "$(awk -v t="$ticks" -v h="$hz" 'BEGIN{print t / h}')") |"
	echo "| CPU seconds | $k_cpu | $(awk -v c="$p_clock" 'BEGIN{printf "%.6f", c / 1000}') | perf stat task-clock (attached after the start) | $(ratio "$k_cpu" "$(awk -v c="$p_clock" 'BEGIN{print c / 1000}')") |"
	echo "| voluntary switches | $k_vol | $vol | /proc/PID/status voluntary_ctxt_switches | $(ratio "$k_vol" "$vol") |"
	echo "| involuntary switches | $k_invol | $invol | /proc/PID/status nonvoluntary_ctxt_switches | $(ratio "$k_invol" "$invol") |"
	echo "| all switches | $((${k_vol%.*} + ${k_invol%.*})) | $p_cs | perf stat context-switches (attached after the start) | $(ratio "$((${k_vol%.*} + ${k_invol%.*}))" "$p_cs") |"
} | tee "$results"
