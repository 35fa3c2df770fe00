#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# What `kscope net filter` costs and how fast it drops, between two network
# namespaces joined by a veth pair (no traffic leaves the host):
#
#   sudo bash bench/filter.sh
#
# Drop rate: bench/filter/blast sends minimal UDP frames (60 bytes) from
# namespace A through an AF_PACKET socket (qdisc bypassed, sendmmsg of 64)
# for BENCH_DURATION seconds, and each row drops them on B's side:
#   xdp            kscope net filter, hook xdp: one drop rule (udp port 9),
#                  attached in the veth's native (driver) mode
#   xdp-generic    the same, attached in generic mode (--xdp-mode generic)
#   tc-ingress     the same filter on tc-ingress (tcx)
#   nft-ingress    nftables, netdev ingress hook on B's veth: udp dport 9 drop
#   nft-prerouting nftables, inet prerouting at raw priority: udp dport 9 drop
# The rate is the packets the row's own counter dropped per second. On a
# veth the receive side runs in the sender's softirq on the same CPU, so
# the rate is the whole path's: a cheaper drop lets the sender go faster.
#
# Throughput: iperf3 TCP from A to B for BENCH_DURATION seconds with no
# filter, and with a filter of 1,000 rules on B (none matching iperf3's
# traffic, so every packet is looked up and passes by the default) on xdp
# (native, and generic) and on tc-ingress.
#
# Knobs (environment):
#   BENCH_DURATION  seconds per run        (default 5)
#   BENCH_REPS      runs per row           (default 3; medians reported)
#   BENCH_RESULTS   report file            (default bench/results/filter.md)
#
# Needs root, go, clang (or cc), nft and iperf3 (Debian's). It reports numbers
# and never fails because of them.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
dur=${BENCH_DURATION:-5}
reps=${BENCH_REPS:-3}
results=${BENCH_RESULTS:-$here/results/filter.md}

[ "$(id -u)" = 0 ] || { echo "bench/filter.sh: needs root" >&2; exit 1; }
for t in nft iperf3 ip; do
	command -v $t >/dev/null || { echo "bench/filter.sh: needs $t" >&2; exit 1; }
done
cc=$(command -v clang-14 || command -v clang || command -v cc)
work=$(mktemp -d /tmp/kscope-bench-filter.XXXXXX)
A=kscope-bench-a-$$ B=kscope-bench-b-$$ VA=kbfa$$ VB=kbfb$$
pins=/sys/fs/bpf/kscope-bench-$$
iperf_pid=
stats_was=$(cat /proc/sys/kernel/bpf_stats_enabled)
cleanup() {
	echo "$stats_was" >/proc/sys/kernel/bpf_stats_enabled
	[ -z "$iperf_pid" ] || kill "$iperf_pid" 2>/dev/null || true
	wait 2>/dev/null || true
	[ ! -x "$work/kscope" ] || "$work/kscope" net filter remove --pin-dir "$pins" --netns "$B" >/dev/null 2>&1 || true
	rm -rf "$pins"
	ip netns del "$A" 2>/dev/null || true
	ip netns del "$B" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

echo "building kscope and blast" >&2
(cd "$repo" && go build -o "$work/kscope" ./cmd/kscope)
"$cc" -O2 -o "$work/blast" "$here/filter/blast.c"
mkdir -p "$pins"

ip netns add "$A"
ip netns add "$B"
ip link add "$VA" netns "$A" type veth peer name "$VB" netns "$B"
ip -n "$A" addr add 10.202.0.1/30 dev "$VA"
ip -n "$B" addr add 10.202.0.2/30 dev "$VB"
for ns in "$A" "$B"; do ip -n "$ns" link set lo up; done
ip -n "$A" link set "$VA" up
ip -n "$B" link set "$VB" up
macB=$(ip netns exec "$B" cat /sys/class/net/"$VB"/address)
ks() { "$work/kscope" "$@" --pin-dir "$pins" --netns "$B"; }

# BPF run time of the pinned filter's program (kernel.bpf_stats_enabled is
# turned on for the benchmark and restored after).
prog_id() { ks net filter list --json | grep -o '"program_id": [0-9]*' | grep -o '[0-9]*$'; }
prog_stats() {
	command -v bpftool >/dev/null || { echo "0 0"; return; }
	bpftool -j prog show id "$1" | awk '{
		t = c = 0
		if (match($0, /"run_time_ns":[0-9]+/)) t = substr($0, RSTART + 14, RLENGTH - 14)
		if (match($0, /"run_cnt":[0-9]+/)) c = substr($0, RSTART + 10, RLENGTH - 10)
		print t + 0, c + 0
	}'
}
ns_per_run() { awk -v t0="$1" -v c0="$2" -v t1="$3" -v c1="$4" 'BEGIN {if (c1 > c0) printf "%.0f", (t1 - t0) / (c1 - c0); else print "–"}'; }

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# dropped_now ROW: the row's own drop counter.
dropped_now() {
	case $1 in
	xdp | xdp-generic | tc-ingress)
		ks net filter stats bench --json | awk '/"dropped":/ {gsub(/[^0-9]/, ""); s += $0} END {print s + 0}' ;;
	nft-*)
		ip netns exec "$B" nft list ruleset | awk 'match($0, /packets [0-9]+/) {split(substr($0, RSTART, RLENGTH), a, " "); s += a[2]} END {print s + 0}' ;;
	esac
}

setup_row() {
	case $1 in
	xdp | xdp-generic | tc-ingress)
		cat >"$work/one.yaml" <<YAML
filters:
  - name: bench
    interface: $VB
    hook: ${1%-generic}
    rules:
      - {name: blast, action: drop, protocol: udp, ports: [9]}
YAML
		mode=native
		[ "$1" != xdp-generic ] || mode=generic
		[ "$1" != tc-ingress ] || mode=auto
		ks net filter apply --xdp-mode "$mode" "$work/one.yaml" >/dev/null ;;
	nft-ingress)
		ip netns exec "$B" nft -f - <<NFT
table netdev kscope_bench {
	chain in { type filter hook ingress device "$VB" priority 0; udp dport 9 counter drop; }
}
NFT
		;;
	nft-prerouting)
		ip netns exec "$B" nft -f - <<NFT
table inet kscope_bench {
	chain pre { type filter hook prerouting priority raw; udp dport 9 counter drop; }
}
NFT
		;;
	esac
}

teardown_row() {
	ks net filter remove >/dev/null 2>&1 || true
	ip netns exec "$B" nft delete table netdev kscope_bench 2>/dev/null || true
	ip netns exec "$B" nft delete table inet kscope_bench 2>/dev/null || true
}

echo 1 >/proc/sys/kernel/bpf_stats_enabled
declare -A drop_rate send_rate bpf_ns
rows="xdp xdp-generic tc-ingress nft-ingress nft-prerouting"
for rep in $(seq "$reps"); do
	for row in $rows; do
		setup_row "$row"
		id= t0=0 c0=0 t1=0 c1=0
		case $row in xdp | xdp-generic | tc-ingress) id=$(prog_id); read -r t0 c0 < <(prog_stats "$id") ;; esac
		before=$(dropped_now "$row")
		read -r sent secs < <(ip netns exec "$A" "$work/blast" "$VA" "$macB" 10.202.0.1 10.202.0.2 9 "$dur")
		after=$(dropped_now "$row")
		[ -z "$id" ] || read -r t1 c1 < <(prog_stats "$id")
		bpf_ns[$row]+="$(ns_per_run "$t0" "$c0" "$t1" "$c1") "
		teardown_row
		drop_rate[$row]+="$(awk -v d=$((after - before)) -v s="$secs" 'BEGIN {printf "%.0f", d / s}') "
		send_rate[$row]+="$(awk -v n="$sent" -v s="$secs" 'BEGIN {printf "%.0f", n / s}') "
		echo "drop $row run $rep: sent $sent in ${secs}s, dropped $((after - before))" >&2
	done
done

# 1,000 rules none of which matches iperf3's traffic.
{
	echo "filters:"
	echo "  - name: bench"
	echo "    interface: $VB"
	echo "    hook: HOOK"
	echo "    rules:"
	for i in $(seq 0 999); do
		case $((i % 4)) in
		0) echo "      - {name: r$i, action: drop, source: [10.$((100 + i / 256)).$((i % 256)).0/24]}" ;;
		1) echo "      - {name: r$i, action: drop, source: [\"2001:db8:$i::/48\"], protocol: tcp}" ;;
		2) echo "      - {name: r$i, action: drop, protocol: udp, ports: [$((10000 + i))-$((10000 + i + 50))]}" ;;
		3) echo "      - {name: r$i, action: rate-limit, destination: [192.0.2.$((i % 256))/32], protocol: tcp, ports: [$((20000 + i))], rate: 100/s}" ;;
		esac
	done
} >"$work/many.tmpl"

ip netns exec "$B" iperf3 -s -B 10.202.0.2 >/dev/null 2>&1 &
iperf_pid=$!
for _ in $(seq 100); do
	ip netns exec "$B" ss -ltn 2>/dev/null | grep -q 10.202.0.2:5201 && break
	sleep 0.1
done
# One rule that matches nothing either: what attaching to the hook costs by
# itself (an XDP program on a veth turns off the peer's GSO, so its packets
# are MTU-sized), apart from what 1,000 rules add.
head -6 "$work/many.tmpl" >"$work/one.tmpl"
declare -A gbps
trows="none xdp-1 xdp-1000 xdp-generic-1 xdp-generic-1000 tc-ingress-1 tc-ingress-1000"
for rep in $(seq "$reps"); do
	for row in $trows; do
		id= t0=0 c0=0 t1=0 c1=0
		if [ "$row" != none ]; then
			tmpl=$work/many.tmpl
			[ "${row##*-}" = 1 ] && tmpl=$work/one.tmpl
			hook=${row%-*} mode=auto
			[ "$hook" != xdp-generic ] || hook=xdp mode=generic
			sed "s/HOOK/$hook/" "$tmpl" >"$work/t.yaml"
			ks net filter apply --xdp-mode "$mode" "$work/t.yaml" >/dev/null
			id=$(prog_id)
			read -r t0 c0 < <(prog_stats "$id")
		fi
		bps=$(ip netns exec "$A" iperf3 -c 10.202.0.2 -t "$dur" -J | awk -F: '/"sum_received"/ {r = 1} r && /"bits_per_second"/ {gsub(/[ ,\t]/, "", $2); print $2; exit}')
		[ -z "$id" ] || read -r t1 c1 < <(prog_stats "$id")
		bpf_ns[$row]+="$(ns_per_run "$t0" "$c0" "$t1" "$c1") "
		ks net filter remove >/dev/null 2>&1 || true
		gbps[$row]+="$(awk -v b="$bps" 'BEGIN {printf "%.2f", b / 1e9}') "
		echo "iperf3 $row run $rep: $bps bit/s" >&2
	done
done

med() { tr ' ' '\n' <<<"$1" | grep . | median | sed 's/^$/–/'; }
{
	echo "# kscope net filter: drop rate and throughput"
	echo
	echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "- kernel: $(uname -r) ($(uname -m))"
	echo "- CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs"
	echo "- kscope: $(cd "$repo" && git describe --always --dirty 2>/dev/null || echo unknown); $(nft --version); $(iperf3 --version | head -1)"
	echo "- load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "- $reps runs of ${dur}s per row, medians"
	echo
	echo "## Drop rate: 60-byte UDP frames from an AF_PACKET sender, dropped on the veth's far side"
	echo
	echo "| row | dropped/s | sent/s | vs nft-prerouting | BPF ns/packet |"
	echo "|---|---:|---:|---:|---:|"
	base=$(med "${drop_rate[nft-prerouting]}")
	for row in $rows; do
		d=$(med "${drop_rate[$row]}")
		echo "| $row | $d | $(med "${send_rate[$row]}") | $(awk -v a="$d" -v b="$base" 'BEGIN {if (b > 0) printf "%.2f×", a / b; else print "–"}') | $(med "${bpf_ns[$row]}") |"
	done
	echo
	echo "## TCP throughput (iperf3, one stream, A → B)"
	echo
	echo "| row | Gbit/s | vs none | BPF ns/packet |"
	echo "|---|---:|---:|---:|"
	base=$(med "${gbps[none]}")
	for row in $trows; do
		g=$(med "${gbps[$row]}")
		echo "| $row | $g | $(awk -v a="$g" -v b="$base" 'BEGIN {if (b > 0) printf "%.2f×", a / b; else print "–"}') | $(med "${bpf_ns[$row]}") |"
	done
} >"$results"
cat "$results"
