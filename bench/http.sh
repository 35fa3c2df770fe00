#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# What HTTP tracing costs: requests/s of a local Go HTTP server (plain and
# TLS) under a keep-alive load generator, untraced and while each tracer
# runs, and what the http collector costs socket traffic that is not HTTP.
#
#   sudo bash bench/http.sh
#
# Rows, each run in turn, BENCH_REPS times, interleaved; medians reported:
#   untraced       nothing attached by this script
#   kscope-trace   kscope trace http --json > /dev/null: every exchange,
#                  server and client side, parsed and printed
#   kscope-agent   kscope agent --collectors http: the same exchanges into
#                  the event store and the RED metrics
#   bpftrace       bpftrace counting the same syscalls per comm (enter and
#                  exit of read, write, recvfrom, sendto, readv, writev,
#                  recvmsg, sendmsg) and, for TLS, OpenSSL's SSL_read and
#                  SSL_write entries and returns: the cost of the hooks alone,
#                  with no payload copied and nothing parsed
#
# Workloads (bench/httpload):
#   plain, tls     wrk (Debian's wrk; without it, httpload's own Go load
#                  generator) against `httpload serve` (Go net/http, and
#                  crypto/tls for tls), 64-byte responses. Both sides are
#                  traced: the server through syscalls (plain) or crypto/tls
#                  (tls), wrk through syscalls or OpenSSL.
#   pingpong       64-byte TCP round trips that are not HTTP: the cost the
#                  collector adds to every other socket read and write
#
# Knobs (environment):
#   BENCH_DURATION  seconds of load per run            (default 8)
#   BENCH_CONNS     connections                        (default 16)
#   BENCH_REPS      runs per row                       (default 3)
#   BENCH_PINGPONG  round trips per pingpong run       (default 200000)
#   BENCH_RESULTS   report file                        (default bench/results/http.md)
#
# CPU per request is the whole machine's busy time (/proc/stat) over the
# run divided by the requests served, so it includes the tracer's own user
# space. Needs root, go and bpftrace; wrk is optional. It reports numbers and
# never fails because of them.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
dur=${BENCH_DURATION:-8}
conns=${BENCH_CONNS:-16}
reps=${BENCH_REPS:-3}
pp=${BENCH_PINGPONG:-200000}
results=${BENCH_RESULTS:-$here/results/http.md}

[ "$(id -u)" = 0 ] || { echo "bench/http.sh: needs root" >&2; exit 1; }
command -v bpftrace >/dev/null || { echo "bench/http.sh: needs bpftrace" >&2; exit 1; }
work=$(mktemp -d /tmp/kscope-bench-http.XXXXXX)
tracer_pid= server_pid=
cleanup() {
	[ -z "$tracer_pid" ] || kill "$tracer_pid" 2>/dev/null || true
	[ -z "$server_pid" ] || kill "$server_pid" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

(cd "$repo" && GOTOOLCHAIN=local go build -o "$work/kscope" ./cmd/kscope && GOTOOLCHAIN=local go build -o "$work/httpload" ./bench/httpload)
libssl=$(ls /usr/lib/x86_64-linux-gnu/libssl.so.3 /usr/lib/x86_64-linux-gnu/libssl.so.1.1 2>/dev/null | head -1 || true)
loadgen=httpload
command -v wrk >/dev/null && loadgen=wrk

# busy: non-idle jiffies of all CPUs so far.
busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }
clk=$(getconf CLK_TCK)

# start_tracer ROW MODE: runs the row's tracer in the background and waits
# until it is attached.
start_tracer() {
	local row=$1 mode=$2 log="$work/tracer.log"
	: >"$log"
	case $row in
	untraced) tracer_pid=; return ;;
	kscope-trace)
		"$work/kscope" trace http --json -v >/dev/null 2>"$log" &
		tracer_pid=$!
		ready='msg=attached' ;;
	kscope-agent)
		"$work/kscope" agent --collectors http --data-dir "$work/agent-data" --listen 127.0.0.1:0 2>"$log" &
		tracer_pid=$!
		ready='kscope agent serving' ;;
	bpftrace)
		local probes="" sc
		for sc in read write recvfrom sendto readv writev recvmsg sendmsg; do
			probes+="tracepoint:syscalls:sys_enter_$sc,tracepoint:syscalls:sys_exit_$sc,"
		done
		if [ "$mode" = tls ] && [ -n "$libssl" ]; then
			probes+="uprobe:$libssl:SSL_read,uprobe:$libssl:SSL_write,uretprobe:$libssl:SSL_read,uretprobe:$libssl:SSL_write,"
		fi
		bpftrace -e "BEGIN { printf(\"ready\\n\"); } ${probes%,} { @[comm] = count(); }" >"$log" 2>&1 &
		tracer_pid=$!
		ready='^ready' ;;
	esac
	for _ in $(seq 300); do
		grep -q -- "$ready" "$log" && return
		kill -0 "$tracer_pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "bench/http.sh: $row did not start:" >&2
	cat "$log" >&2
	exit 1
}

# stop_tracer: SIGINT (kscope prints its summary line), then SIGTERM if the
# tracer has not exited within 15 s.
stop_tracer() {
	[ -n "$tracer_pid" ] || return 0
	kill -INT "$tracer_pid" 2>/dev/null || true
	for _ in $(seq 150); do
		kill -0 "$tracer_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -TERM "$tracer_pid" 2>/dev/null || true
	wait "$tracer_pid" 2>/dev/null || true
	tracer_pid=
}

# load URL: prints "requests seconds".
load() {
	if [ "$loadgen" = wrk ]; then
		wrk -t1 -c"$conns" -d"${dur}s" "$1" | awk '/requests in/{r=$1; s=$4; sub(/s,?$/,"",s); print r, s}'
	else
		"$work/httpload" load -url "$1" -c "$conns" -d "${dur}s" | awk '{print $2, $4}'
	fi
}

rows=(untraced kscope-trace kscope-agent bpftrace)
declare -A rps cpu events lost ppns
for mode in plain tls; do
	scheme=http
	flag=
	[ "$mode" = tls ] && scheme=https flag=-tls
	coproc SERVER { exec "$work/httpload" serve $flag; }
	server_pid=$SERVER_PID
	read -r port <&"${SERVER[0]}"
	url="$scheme://127.0.0.1:$port/"
	for rep in $(seq "$reps"); do
		for row in "${rows[@]}"; do
			start_tracer "$row" "$mode"
			b0=$(busy)
			read -r n secs < <(load "$url")
			b1=$(busy)
			stop_tracer
			rps[$mode,$row]+="$(awk -v n="$n" -v s="$secs" 'BEGIN{printf "%.0f", n/s}') "
			cpu[$mode,$row]+="$(awk -v b=$((b1 - b0)) -v c="$clk" -v n="$n" 'BEGIN{printf "%.2f", 1e6*b/c/n}') "
			if [ "$row" = kscope-trace ]; then
				events[$mode]+="$(awk '/events shown/{print $1}' "$work/tracer.log") "
				lost[$mode]+="$(awk '/events shown/{print $4}' "$work/tracer.log") "
			fi
			echo "bench/http.sh: $mode rep $rep $row: $n requests in ${secs}s" >&2
		done
	done
	exec {SERVER[1]}>&-
	wait "$server_pid" 2>/dev/null || true
	server_pid=
done
for rep in $(seq "$reps"); do
	for row in untraced kscope-trace bpftrace; do
		start_tracer "$row" plain
		ppns[$row]+="$("$work/httpload" pingpong -n "$pp" | awk '{print $4}') "
		stop_tracer
	done
done

median() { tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{a[NR]=$1} END{if (NR==0) print "-"; else print a[int((NR+1)/2)]}'; }

{
	echo "# HTTP tracing overhead"
	echo
	echo "Generated by \`bench/http.sh\` on $(date -u +%Y-%m-%d), $(uname -r), $(nproc) CPUs;"
	echo "load: $loadgen, $conns connections, ${dur}s per run, median of $reps runs."
	echo
	for mode in plain tls; do
		base=$(echo "${rps[$mode,untraced]}" | median)
		basecpu=$(echo "${cpu[$mode,untraced]}" | median)
		echo "## $mode"
		echo
		echo "| row | requests/s | vs untraced | CPU µs per request | added µs per request |"
		echo "| --- | ---: | ---: | ---: | ---: |"
		for row in "${rows[@]}"; do
			r=$(echo "${rps[$mode,$row]}" | median)
			c=$(echo "${cpu[$mode,$row]}" | median)
			awk -v row="$row" -v r="$r" -v b="$base" -v c="$c" -v bc="$basecpu" \
				'BEGIN{printf "| %s | %d | %.2f | %.1f | %+.1f |\n", row, r, r/b, c, c-bc}'
		done
		echo
		echo "kscope-trace events per run (two per request: server and client side): $(echo "${events[$mode]}" | xargs), lost: $(echo "${lost[$mode]}" | xargs)."
		echo
	done
	base=$(echo "${ppns[untraced]}" | median)
	echo "## Other socket traffic (not HTTP)"
	echo
	echo "| row | ns per 64-byte TCP round trip | added ns |"
	echo "| --- | ---: | ---: |"
	for row in untraced kscope-trace bpftrace; do
		p=$(echo "${ppns[$row]}" | median)
		awk -v row="$row" -v p="$p" -v b="$base" 'BEGIN{printf "| %s | %d | %+d |\n", row, p, p-b}'
	done
	echo
	echo "A round trip is two writes and two reads on sockets (one each per side)."
} | tee "$results"
