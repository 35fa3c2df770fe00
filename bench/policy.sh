#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# kscope policy overhead: exec, open and connect storms, untraced, under
# `kscope policy run` with 0, 10, 100 and 1,000 rules, and under a bpftrace
# script doing the same matching with a predicate (10, 100 and 1,000
# values). Reports numbers, asserts nothing (it is not a test).
#
#   sudo bash bench/policy.sh
#
# Needs root, go, gcc and bpftrace. Knobs: BENCH_STORMS (exec open connect), BENCH_REPS (3),
# BENCH_EXEC_ITERS (3000), BENCH_OPEN_ITERS (300000), BENCH_CONNECT_ITERS
# (20000), BENCH_RESULTS (bench/results/policy.md).
set -euo pipefail

cd "$(dirname "$0")/.."
reps=${BENCH_REPS:-3}
exec_iters=${BENCH_EXEC_ITERS:-3000}
open_iters=${BENCH_OPEN_ITERS:-300000}
connect_iters=${BENCH_CONNECT_ITERS:-20000}
results=${BENCH_RESULTS:-bench/results/policy.md}
port=9 # discard: nothing listens on loopback here, so connects are refused

tmp=$(mktemp -d /dev/shm/kscope-policy-bench.XXXXXX)
tracer=
stats_restore=$(cat /proc/sys/kernel/bpf_stats_enabled 2>/dev/null || echo 0)
cleanup() {
	# The tracer still running, if a run was interrupted.
	if [ -n "$tracer" ]; then kill -INT "$tracer" 2>/dev/null || true; fi
	sysctl -q -w kernel.bpf_stats_enabled="$stats_restore" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT
log() { echo "$*" >&2; }

log "bench: building kscope and the workloads in $tmp"
go build -o "$tmp/kscope" ./cmd/kscope
for w in exec_storm open_storm connect_storm; do
	gcc -O2 -Wall -o "$tmp/$w" "bench/workloads/$w.c"
done
touch "$tmp/target"

# rules EVENT N [PER]: N rules on EVENT that never match the storm, each
# naming PER exact values (paths, or ports for connect). N=0: one rule on
# another event, so only the process table's hooks run.
rules() {
	local on=$1 n=$2 per=${3:-1} f="$tmp/rules-$1-$2-${3:-1}.yaml"
	echo "rules:" >"$f"
	if [ "$n" -eq 0 ]; then
		printf '  - {name: other, on: ptrace, action: alert, match: {comm: [nothing-here]}}\n' >>"$f"
	fi
	for ((i = 0; i < n; i++)); do
		local vals=()
		for ((j = 0; j < per; j++)); do
			case $on in
			connect) vals+=("$((10000 + i * per + j))") ;;
			*) vals+=("/nonexistent/r$i/v$j") ;;
			esac
		done
		local list
		list=$(IFS=,; echo "${vals[*]}")
		case $on in
		exec) printf '  - {name: r%d, on: exec, action: alert, match: {binary: {path: [%s]}}}\n' "$i" "$list" ;;
		open) printf '  - {name: r%d, on: open, action: alert, match: {file: {path: [%s]}}}\n' "$i" "$list" ;;
		connect) printf '  - {name: r%d, on: connect, action: deny, match: {destination: {cidr: [127.0.0.0/8], ports: [%s]}}}\n' "$i" "$list" ;;
		esac >>"$f"
	done
	echo "$f"
}

# bt EVENT N: a bpftrace script matching N values with a predicate.
bt() {
	local on=$1 n=$2 f="$tmp/bt-$1-$2.bt" conds=()
	for ((i = 0; i < n; i++)); do
		case $on in
		exec | open) conds+=("str(\$p) == \"/nonexistent/r$i/v0\"") ;;
		connect) conds+=("\$port == $((10000 + i))") ;;
		esac
	done
	local pred
	pred=$(printf ' || %s' "${conds[@]}")
	pred=${pred# || }
	{
		echo 'BEGIN { printf("ready\n"); }'
		case $on in
		exec) echo "tracepoint:sched:sched_process_exec { \$p = args->filename; if ($pred) { printf(\"%d %s\\n\", pid, str(\$p)); } }" ;;
		open) echo "tracepoint:syscalls:sys_enter_openat { \$p = args->filename; if ($pred) { printf(\"%d %s\\n\", pid, str(\$p)); } }" ;;
		connect) echo "tracepoint:syscalls:sys_enter_connect { \$sa = (struct sockaddr_in *)args->uservaddr; \$port = (\$sa->sin_port >> 8) | ((\$sa->sin_port & 0xff) << 8); if ($pred) { printf(\"%d %d\\n\", pid, \$port); } }" ;;
		esac
	} >"$f"
	echo "$f"
}

storm() {
	case $1 in
	exec) "$tmp/exec_storm" /bin/true "$exec_iters" ;;
	open) "$tmp/open_storm" "$tmp/target" "$open_iters" ;;
	connect) "$tmp/connect_storm" "$port" "$connect_iters" ;;
	esac
}

iters() {
	case $1 in
	exec) echo "$exec_iters" ;;
	open) echo "$open_iters" ;;
	connect) echo "$connect_iters" ;;
	esac
}

# start_tracer KIND FILE: starts kscope policy run or bpftrace and waits
# for its ready line.
start_tracer() {
	local kind=$1 file=$2 err="$tmp/err" out="$tmp/out"
	: >"$err"
	: >"$out"
	case $kind in
	kscope) "$tmp/kscope" policy run "$file" >/dev/null 2>"$err" & ;;
	bpftrace) bpftrace "$file" >"$out" 2>"$err" & ;;
	esac
	tracer=$!
	for ((t = 0; t < 600; t++)); do
		case $kind in
		kscope) grep -q 'rules loaded' "$err" && return 0 ;;
		bpftrace) grep -q '^ready' "$out" && return 0 ;;
		esac
		kill -0 "$tracer" 2>/dev/null || { log "bench: $kind exited:"; cat "$err" >&2; tracer=; return 1; }
		sleep 0.1
	done
	log "bench: $kind not ready"
	stop_tracer
	return 1
}

# stop_tracer: SIGINT, repeated every 2 s (bpftrace misses one that comes
# right after its BEGIN probe printed, before its handler is installed),
# then SIGKILL after 20 s (bpftrace still compiling a large script).
stop_tracer() {
	local t state
	for ((t = 0; t < 200; t++)); do
		state=$(awk '/^State:/ {print $2}' /proc/"$tracer"/status 2>/dev/null || true)
		[ -z "$state" ] || [ "$state" = Z ] && break
		((t % 20 == 0)) && kill -INT "$tracer" 2>/dev/null
		sleep 0.1
	done
	kill -KILL "$tracer" 2>/dev/null || true
	wait "$tracer" 2>/dev/null || true
	tracer=
}

# bpf_prog_stats PID sums run_time_ns and run_cnt over the BPF programs a
# process holds (kernel.bpf_stats_enabled must be on for them to count).
bpf_prog_stats() {
	local f
	for f in /proc/"$1"/fdinfo/*; do
		cat "$f" 2>/dev/null || true
		echo "--"
	done | awk '
		/^prog_id:/ { id = $2 } /^run_time_ns:/ { ns = $2 } /^run_cnt:/ { cnt = $2; has = 1 }
		/^--$/ { if (has && !(id in seen)) { seen[id] = 1; tns += ns; tcnt += cnt } id = ""; has = 0 }
		END { printf "%d %d\n", tns, tcnt }'
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# measure EVENT LABEL KIND FILE: the median elapsed ns of reps runs.
measure() {
	local on=$1 label=$2 kind=$3 file=$4 runs=()
	for ((r = 0; r < reps; r++)); do
		if [ "$kind" != none ]; then
			start_tracer "$kind" "$file" || { echo "$on|$label|failed"; return; }
		fi
		runs+=("$(storm "$on")")
		[ "$kind" != none ] && stop_tracer
	done
	# One more run with the programs' run time counted: the cost in the
	# kernel, which the machine's load does not inflate as it does wall time.
	local stats="|"
	if [ "$kind" != none ] && [ -r /proc/sys/kernel/bpf_stats_enabled ]; then
		sysctl -q -w kernel.bpf_stats_enabled=1 >/dev/null
		if start_tracer "$kind" "$file"; then
			storm "$on" >/dev/null
			stats=$(bpf_prog_stats "$tracer" | tr ' ' '|')
			stop_tracer
		fi
		sysctl -q -w kernel.bpf_stats_enabled="$stats_restore" >/dev/null
	fi
	echo "$on|$label|$(printf '%s\n' "${runs[@]}" | median)|$stats"
}

raw="$tmp/raw"
: >"$raw"
for on in ${BENCH_STORMS:-exec open connect}; do
	log "bench: $on storm"
	measure "$on" untraced none - >>"$raw"
	for n in 0 10 100 1000; do
		measure "$on" "kscope, $n rules" kscope "$(rules "$on" "$n")" >>"$raw"
	done
	for n in 10 100 1000; do
		measure "$on" "bpftrace, $n values" bpftrace "$(bt "$on" "$n")" >>"$raw"
	done
done

{
	echo "# kscope policy overhead"
	echo
	echo "$(date -u +%Y-%m-%dT%H:%MZ), $(uname -r), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'),"
	echo "kscope $(git rev-parse --short HEAD), $(bpftrace --version), load average at the end $(cut -d' ' -f1-3 /proc/loadavg)."
	echo "Median of $reps runs; iterations: exec $exec_iters, open $open_iters, connect $connect_iters."
	echo "BPF ns/iteration: the tracer's programs' run time (kernel.bpf_stats_enabled, one more run)"
	echo "divided by the storm's iterations; it counts the whole machine's events, so other"
	echo "processes' add to it. BPF ns/run: per program run."
	echo
	echo "| storm | tracer | elapsed | slowdown | overhead/event | BPF ns/iteration | BPF ns/run |"
	echo "|---|---|---|---|---|---|---|"
	while IFS='|' read -r on label ns bns bcnt; do
		base=$(awk -F'|' -v on="$on" '$1 == on && $2 == "untraced" {print $3}' "$raw")
		if [ "$ns" = failed ]; then
			echo "| $on | $label | failed | | | | |"
			continue
		fi
		awk -v on="$on" -v label="$label" -v ns="$ns" -v base="$base" -v n="$(iters "$on")" -v bns="$bns" -v bcnt="$bcnt" 'BEGIN {
			b1 = b2 = ""
			if (bcnt > 0) { b1 = sprintf("%.0f", bns / n); b2 = sprintf("%.0f", bns / bcnt) }
			printf "| %s | %s | %.3f s | %.3f× | %.0f ns | %s | %s |\n", on, label, ns / 1e9, ns / base, (ns - base) / n, b1, b2 }'
	done <"$raw"
} | tee "$results"
log "bench: wrote $results"
