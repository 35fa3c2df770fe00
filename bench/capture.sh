#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# What `kscope net capture` costs against tcpdump at the same packet rate,
# between two network namespaces joined by a veth pair (no traffic leaves
# the host):
#
#   sudo bash bench/capture.sh
#
# iperf3 (Debian's) sends UDP datagrams of 64 bytes from namespace A to B
# at BENCH_RATES packets per second for BENCH_DURATION seconds while one
# capturer runs on B's veth, writing to /dev/null:
#   kscope   kscope net capture -w /dev/null FILTER (tcx, pcap filter in eBPF)
#   tcpdump  tcpdump -w /dev/null FILTER (AF_PACKET, the filter in cBPF)
# with FILTER "udp" (every datagram is captured) and "tcp port 1" (none is:
# the cost of looking). CPU is the capturer's user and system time over the
# run (from /proc/PID/stat), as a share of one CPU and per captured packet;
# the kernel's side (the tcx program and the perf copy; AF_PACKET's tap and
# copy) runs in the sender's softirq and is not in it: kscope's BPF time
# per packet is shown apart (kernel.bpf_stats_enabled, restored after).
#
# Knobs (environment):
#   BENCH_DURATION  seconds per run        (default 5)
#   BENCH_REPS      runs per row           (default 3; medians reported)
#   BENCH_RATES     packets per second     (default "20000 100000")
#   BENCH_RESULTS   report file            (default bench/results/capture.md)
#
# Needs root, go, iperf3 and tcpdump. It reports numbers and never fails
# because of them.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
dur=${BENCH_DURATION:-5}
reps=${BENCH_REPS:-3}
rates=${BENCH_RATES:-20000 100000}
results=${BENCH_RESULTS:-$here/results/capture.md}

[ "$(id -u)" = 0 ] || { echo "bench/capture.sh: needs root" >&2; exit 1; }
for t in iperf3 tcpdump ip; do
	command -v $t >/dev/null || { echo "bench/capture.sh: needs $t" >&2; exit 1; }
done
work=$(mktemp -d /tmp/kscope-bench-capture.XXXXXX)
A=kscope-bench-ca-$$ B=kscope-bench-cb-$$ VA=kbca$$ VB=kbcb$$
srv_pid= cap_pid=
stats_was=$(cat /proc/sys/kernel/bpf_stats_enabled)
cleanup() {
	echo "$stats_was" >/proc/sys/kernel/bpf_stats_enabled
	[ -z "$cap_pid" ] || kill "$cap_pid" 2>/dev/null || true
	[ -z "$srv_pid" ] || kill "$srv_pid" 2>/dev/null || true
	wait 2>/dev/null || true
	ip netns del "$A" 2>/dev/null || true
	ip netns del "$B" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

echo "building kscope" >&2
(cd "$repo" && go build -o "$work/kscope" ./cmd/kscope)
ip netns add "$A"
ip netns add "$B"
ip link add "$VA" netns "$A" type veth peer name "$VB" netns "$B"
ip -n "$A" addr add 10.203.0.1/30 dev "$VA"
ip -n "$B" addr add 10.203.0.2/30 dev "$VB"
for ns in "$A" "$B"; do ip -n "$ns" link set lo up; done
ip -n "$A" link set "$VA" up
ip -n "$B" link set "$VB" up
ip netns exec "$B" iperf3 -s -B 10.203.0.2 >/dev/null 2>&1 &
srv_pid=$!
for _ in $(seq 100); do ip netns exec "$A" iperf3 -c 10.203.0.2 -t 1 -u -b 1M >/dev/null 2>&1 && break; sleep 0.1; done

ticks=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# kscope's filter programs' run time and count, summed (bpftool).
bpf_stats() {
	command -v bpftool >/dev/null || { echo "0 0"; return; }
	bpftool -j prog show | tr '}' '\n' | awk '/"capture_/ {
		if (match($0, /"run_time_ns":[0-9]+/)) t += substr($0, RSTART + 14, RLENGTH - 14)
		if (match($0, /"run_cnt":[0-9]+/)) c += substr($0, RSTART + 10, RLENGTH - 10)
	} END {print t + 0, c + 0}'
}

echo 1 >/proc/sys/kernel/bpf_stats_enabled
declare -A cpu per_pkt pkts bpfns
for rep in $(seq "$reps"); do
	for rate in $rates; do
		for filter in "udp" "tcp port 1"; do
			for tool in kscope tcpdump; do
				row="$tool|$rate|$filter"
				log="$work/cap.log"
				: >"$log"
				if [ "$tool" = kscope ]; then
					"$work/kscope" net capture --netns "$B" -i "$VB" -w /dev/null "$filter" 2>"$log" &
				else
					ip netns exec "$B" tcpdump -i "$VB" -w /dev/null -n "$filter" 2>"$log" &
				fi
				cap_pid=$!
				for _ in $(seq 600); do grep -q "listening on" "$log" && break; sleep 0.1; done
				read -r t0 c0 < <(bpf_stats)
				before=$(cpu_ticks "$cap_pid")
				# 64-byte datagrams: the rate in bits per second of payload.
				ip netns exec "$A" iperf3 -c 10.203.0.2 -u -l 64 -b $((rate * 64 * 8)) -t "$dur" >/dev/null 2>&1 || true
				after=$(cpu_ticks "$cap_pid")
				read -r t1 c1 < <(bpf_stats)
				kill -INT "$cap_pid"
				wait "$cap_pid" 2>/dev/null || true
				cap_pid=
				n=$(awk '/packets captured/ {print $1}' "$log")
				n=${n:-0}
				cpu[$row]+="$(awk -v d=$((after - before)) -v t="$ticks" -v s="$dur" 'BEGIN {printf "%.1f", 100 * d / t / s}') "
				per_pkt[$row]+="$(awk -v d=$((after - before)) -v t="$ticks" -v n="$n" 'BEGIN {if (n > 0) printf "%.2f", 1e6 * d / t / n; else print "-"}') "
				pkts[$row]+="$n "
				if [ "$tool" = kscope ]; then
					bpfns[$row]+="$(awk -v t=$((t1 - t0)) -v c=$((c1 - c0)) 'BEGIN {if (c > 0) printf "%.0f", t / c; else print "-"}') "
				fi
				echo "$row run $rep: $n packets, cpu ticks $((after - before))" >&2
			done
		done
	done
done

{
	echo "# kscope net capture against tcpdump"
	echo
	echo "$(date -u +%Y-%m-%d), $(uname -r), $(nproc) CPUs; ${dur}s per run, median of $reps; UDP datagrams of 64 bytes from iperf3 over a veth; both write pcap(ng) to /dev/null."
	echo
	echo "| rate (packets/s) | filter | tool | packets captured | CPU (% of one) | CPU µs per captured packet | BPF ns per packet (kscope's programs) |"
	echo "| ---: | --- | --- | ---: | ---: | ---: | ---: |"
	for rate in $rates; do
		for filter in "udp" "tcp port 1"; do
			for tool in kscope tcpdump; do
				row="$tool|$rate|$filter"
				b="-"
				[ "$tool" = tcpdump ] || b=$(echo ${bpfns[$row]} | tr ' ' '\n' | median)
				echo "| $rate | \`$filter\` | $tool | $(echo ${pkts[$row]} | tr ' ' '\n' | median) | $(echo ${cpu[$row]} | tr ' ' '\n' | median) | $(echo ${per_pkt[$row]} | tr ' ' '\n' | median) | $b |"
			done
		done
	done
} >"$results"
cat "$results"
