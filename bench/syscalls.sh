#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Syscall-counting overhead: how much does every syscall cost while the
# kscope syscalls collector counts them, next to bpftrace counting them per
# comm and to the least an in-kernel counter can do (bench/minimal_counter)?
# The workload is a getppid storm (bench/workloads/getppid_storm.c): the
# cheapest syscall, in a loop on one thread, so the added cost per call shows.
#
#   sudo bash bench/syscalls.sh
#
# Rows, each run in turn, BENCH_REPS times, interleaved; medians reported:
#   untraced          nothing attached by this script
#   kscope            the syscalls collector alone (its test binary in
#                     KSCOPE_BENCH_HOLD mode): sys_enter + sys_exit raw
#                     tracepoints, per-syscall counters and duration
#                     histograms, per-process counts, errors by errno
#   bpftrace          tracepoint:raw_syscalls:sys_enter { @[comm] = count(); }
#   minimal           bench/minimal_counter: one raw tracepoint program on
#                     sys_enter, a per-CPU hash keyed by comm
#   minimal+noop-exit the same plus a program that does nothing on sys_exit:
#                     the floor of anything that times syscalls, as it needs
#                     both hooks
#   kscope-counts-only the collector configured with counts_only: true:
#                     sys_exit left unhooked (no durations, no errors), to
#                     show what the exit hook costs
#
# Knobs (environment):
#   BENCH_ITERS     getppid calls per run        (default 5000000)
#   BENCH_REPS      runs per row                 (default 3)
#   BENCH_ROWS      rows to run                  (default all, as above)
#   BENCH_BPF_STATS 1: one more untimed pass per traced row with
#                   kernel.bpf_stats_enabled, for the programs' own run time
#                   per call (default 1)
#   BENCH_RESULTS   report file                  (default bench/results/syscalls.md)
#
# Needs root, go, gcc and bpftrace (apt-get install -y bpftrace); bpftool is
# optional (it flags other processes' programs on syscall tracepoints, which
# slow every row, the untraced one included). It reports numbers and never
# fails because of them.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)

iters=${BENCH_ITERS:-5000000}
reps=${BENCH_REPS:-3}
rows=${BENCH_ROWS:-untraced kscope bpftrace minimal minimal+noop-exit kscope-counts-only}
bpf_stats=${BENCH_BPF_STATS:-1}
results=${BENCH_RESULTS:-$here/results/syscalls.md}
comm=getppid_storm
ready_timeout=60

log() { printf '%s\n' "$*" >&2; }
die() {
	log "bench: $*"
	exit 1
}

[[ $(id -u) -eq 0 ]] || die "needs root to load BPF programs: sudo env PATH=\"\$PATH\" bash bench/syscalls.sh"
for t in go gcc bpftrace awk; do
	command -v "$t" >/dev/null || die "$t not found in PATH${t/bpftrace/ (apt-get install -y bpftrace)}"
done

work=$(mktemp -d /tmp/kscope-bench-syscalls.XXXXXX)
tracer_pid=
stats_restore=
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [[ -n $tracer_pid ]] && kill -0 "$tracer_pid" 2>/dev/null; then
		kill -INT "$tracer_pid" 2>/dev/null || true
		sleep 1
		kill -KILL "$tracer_pid" 2>/dev/null || true
	fi
	[[ -z $stats_restore ]] || sysctl -q -w kernel.bpf_stats_enabled="$stats_restore" >/dev/null 2>&1 || true
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)
log "bench: building in $work"
gcc -O2 -Wall -Wextra -o "$work/$comm" "$here/workloads/getppid_storm.c"
(cd "$repo" && GOTOOLCHAIN=local go test -c -o "$work/syscalls.test" ./internal/collector/syscalls)
(cd "$repo" && GOTOOLCHAIN=local go build -o "$work/minimal_counter" ./bench/minimal_counter)
kscope_version="$(git -C "$repo" describe --always --dirty 2>/dev/null || echo unknown)"

now_ms() { date +%s%3N; }

# start_tracer ROW starts the row's tracer and waits for its ready line.
start_tracer() {
	local row=$1 out=$work/$1.out err=$work/$1.err deadline
	: >"$out"
	: >"$err"
	case $row in
	untraced) return 0 ;;
	kscope) KSCOPE_BENCH_HOLD=$comm "$work/syscalls.test" >"$out" 2>"$err" & ;;
	kscope-counts-only) KSCOPE_BENCH_HOLD=$comm KSCOPE_BENCH_COUNTS_ONLY=1 "$work/syscalls.test" >"$out" 2>"$err" & ;;
	bpftrace)
		bpftrace -e 'BEGIN { printf("READY\n"); } tracepoint:raw_syscalls:sys_enter { @[comm] = count(); }' \
			>"$out" 2>"$err" &
		;;
	minimal) "$work/minimal_counter" -comm "$comm" >"$out" 2>"$err" & ;;
	minimal+noop-exit) "$work/minimal_counter" -comm "$comm" -noop-exit >"$out" 2>"$err" & ;;
	*) die "unknown row $row" ;;
	esac
	tracer_pid=$!
	deadline=$(($(now_ms) + ready_timeout * 1000))
	until grep -q -m1 -E '^(ready |READY$)' "$out" "$err" 2>/dev/null; do
		if ! kill -0 "$tracer_pid" 2>/dev/null; then
			sed 's/^/    /' "$err" >&2
			die "$row exited before it was ready"
		fi
		(($(now_ms) < deadline)) || die "$row not ready after ${ready_timeout}s"
		sleep 0.02
	done
}

# stop_tracer ROW stops it and sets counted to the calls it counted for
# the workload.
counted=
stop_tracer() {
	local row=$1 out=$work/$1.out
	counted=
	[[ $row == untraced ]] && return 0
	kill -INT "$tracer_pid"
	wait "$tracer_pid" || true
	tracer_pid=
	case $row in
	kscope*) counted=$(sed -n "s/^getppid calls counted: [0-9]*, \([0-9]*\) by comm.*/\1/p" "$out") ;;
	bpftrace) counted=$(sed -n "s/^@\[$comm\]: \([0-9]*\)/\1/p" "$out") ;;
	minimal*) counted=$(sed -n "s/^\([0-9]*\) calls counted for comm.*/\1/p" "$out") ;;
	esac
}

# bpf_prog_stats PID sums run_time_ns and run_cnt over the programs PID holds.
bpf_prog_stats() {
	local f
	for f in /proc/"$1"/fdinfo/*; do
		cat "$f" 2>/dev/null || true
		echo "--"
	done | awk '
		/^prog_id:/ { id = $2 } /^run_time_ns:/ { ns = $2 } /^run_cnt:/ { has = 1 }
		/^--$/ { if (has && !(id in seen)) { seen[id] = 1; tns += ns } id = ""; has = 0 }
		END { printf "%d\n", tns }'
}

# Other processes' programs on syscall tracepoints make every syscall take
# the slow path and run them: note it.
others() {
	command -v bpftool >/dev/null || return 0
	bpftool perf show 2>/dev/null | awk -v me="${tracer_pid:-0}" '$1 == "pid" && $2 != me && ($NF ~ /^sys_/ || $NF == "sys_enter" || $NF == "sys_exit") { n++ } END { print n + 0 }'
}

raw=$work/raw.tsv # row rep elapsed_ns counted others
: >"$raw"
t0=$(now_ms)
for rep in $(seq "$reps"); do
	for row in $rows; do
		start_tracer "$row"
		o=$(others)
		elapsed=$("$work/$comm" "$iters")
		stop_tracer "$row"
		printf '%s\t%s\t%s\t%s\t%s\n' "$row" "$rep" "$elapsed" "${counted:-}" "${o:-}" >>"$raw"
		log "  run $rep: $row $((elapsed / iters)) ns/call${counted:+, counted $counted}"
	done
done

# The programs' own run time per call, with the kernel's accounting on.
bpfraw=$work/bpf.tsv
: >"$bpfraw"
if [[ $bpf_stats == 1 && -r /proc/sys/kernel/bpf_stats_enabled ]]; then
	stats_restore=$(</proc/sys/kernel/bpf_stats_enabled)
	sysctl -q -w kernel.bpf_stats_enabled=1 >/dev/null
	n=$((iters / 5))
	for row in $rows; do
		[[ $row == untraced || $row == bpftrace ]] && continue # bpftrace's programs are not in its fdinfo as such
		start_tracer "$row"
		"$work/$comm" "$n" >/dev/null
		ns=$(bpf_prog_stats "$tracer_pid")
		stop_tracer "$row"
		printf '%s\t%s\t%s\n' "$row" "$n" "$ns" >>"$bpfraw"
	done
	sysctl -q -w kernel.bpf_stats_enabled="$stats_restore" >/dev/null
	stats_restore=
fi
took_s=$((($(now_ms) - t0) / 1000))

cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
report() {
	echo "# kscope syscalls collector overhead"
	echo
	echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "- kernel: $(uname -r) ($(uname -m)); CPU: ${cpu_model:-unknown}, $(nproc) CPUs"
	echo "- kscope: $kscope_version; $(bpftrace --version 2>/dev/null | head -n1)"
	echo "- load average at start: $load_at_start"
	echo "- workload: $iters × getppid on one thread; $reps runs per row, interleaved, medians; took ${took_s}s"
	echo
	echo "| row | ns/call | added ns/call | slowdown | calls counted (workload) |"
	echo "|---|---:|---:|---:|---:|"
	awk -F'\t' -v iters="$iters" -v order="$rows" '
		function median(s,   a, n, i, j, t) {
			n = split(s, a, " ")
			if (n == 0) return ""
			for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j > 0 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
			return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
		}
		{ el[$1] = el[$1] " " $3; if ($4 != "") cnt[$1] = cnt[$1] " " $4; if ($5 + 0 > 0) oth = $5 }
		END {
			base = median(el["untraced"]) / iters
			n = split(order, names, " ")
			for (i = 1; i <= n; i++) {
				k = names[i]
				if (el[k] == "") continue
				per = median(el[k]) / iters
				c = median(cnt[k])
				printf "| %s | %.0f | %s | %s | %s |\n", k, per,
					k == "untraced" ? "–" : sprintf("%.0f", per - base),
					k == "untraced" ? "1.00×" : sprintf("%.2f×", per / base),
					k == "untraced" ? "–" : (c == "" ? "?" : sprintf("%.0f", c))
			}
			if (oth) printf "\nOther processes had %d BPF programs on syscall tracepoints during the runs: every syscall, untraced ones included, took the tracepoint slow path and ran them.\n", oth
		}' "$raw"
	if [[ -s $bpfraw ]]; then
		echo
		echo "The programs' own run time per call (one run of $((iters / 5)) calls with kernel.bpf_stats_enabled=1; it leaves out the cost of reaching them):"
		echo
		echo "| row | BPF ns/call |"
		echo "|---|---:|"
		awk -F'\t' '{ printf "| %s | %.0f |\n", $1, $3 / $2 }' "$bpfraw"
	fi
	echo
	cat <<'EOF'
ns/call is the workload's own time per getppid; added ns/call and slowdown
compare it with the untraced median. calls counted is what each tracer
reports for the workload's comm (kscope: kscope_process_syscalls_total
summed over the getppid_storm processes of the run, at its one Collect);
it should be at least the calls made.
EOF
}

mkdir -p "$(dirname "$results")"
report | tee "$results"
log "bench: wrote $results"
