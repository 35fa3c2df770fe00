#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# kscope top's overhead: what every syscall and every file write costs while
# the top collector counts per process in the kernel, next to bpftrace doing
# the same per-pid counting, and what `kscope top` itself uses (CPU, RSS)
# while it runs.
#
#   sudo bash bench/top.sh
#
# Part 1, per-event overhead. Two workloads (bench/workloads, gcc -O2), each
# printing its own elapsed time:
#   getppid storm   getppid(2) in a loop: the cheapest syscall, so what
#                   every syscall pays shows (sys_enter)
#   write storm     pwrite(2) of 64 bytes at offset 0 of a regular file:
#                   sys_enter plus the pwrite64 exit, whose fd is looked up
#                   in the task's file table
# run under each row, in turn, BENCH_REPS times, interleaved; medians:
#   untraced   nothing attached by this script
#   kscope     the top collector alone (its test binary in KSCOPE_BENCH_HOLD
#              mode): CPU time at sched_switch, syscalls at sys_enter, file
#              bytes at the read/write exits (regular files only), network
#              bytes at sock_send_length/sock_recv_length, one hash entry per
#              process
#   bpftrace   bench/top.bt: the same counters per pid (@sys, @read_bytes,
#              @write_bytes, @tx_bytes, @rx_bytes, @cpu_ns), without the
#              regular-file check, which bpftrace cannot do at a syscall exit
# After the timed runs, one shorter untimed pass per workload with
# kernel.bpf_stats_enabled=1 gives kscope's programs' own run time per call.
#
# Part 2, kscope top itself: `kscope top --interval 1s` in a tmux
# pseudo-terminal for BENCH_TOP_SECONDS, its CPU (utime+stime from
# /proc/PID/stat) and RSS (VmRSS at the end, VmHWM) in three settings:
# standalone on the host as it is, standalone during a getppid storm, and
# against a kscope agent (--server; the agent's own cost is not counted).
#
# Knobs (environment):
#   BENCH_ITERS        getppid calls per run           (default 3000000)
#   BENCH_WRITE_ITERS  pwrite calls per run            (default 1000000)
#   BENCH_REPS         runs per row                    (default 3)
#   BENCH_TOP_SECONDS  seconds per kscope top setting  (default 20)
#   BENCH_RESULTS      report file                     (default bench/results/top.md)
#
# Needs root, go, gcc, bpftrace and tmux. It reports numbers and never fails
# because of them.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)

iters=${BENCH_ITERS:-3000000}
witers=${BENCH_WRITE_ITERS:-1000000}
reps=${BENCH_REPS:-3}
top_secs=${BENCH_TOP_SECONDS:-20}
results=${BENCH_RESULTS:-$here/results/top.md}
rows="untraced kscope bpftrace"
ready_timeout=60

log() { printf '%s\n' "$*" >&2; }
die() {
	log "bench: $*"
	exit 1
}

[[ $(id -u) -eq 0 ]] || die "needs root to load BPF programs: sudo env PATH=\"\$PATH\" bash bench/top.sh"
for t in go gcc bpftrace tmux awk curl; do
	command -v "$t" >/dev/null || die "$t not found in PATH"
done

work=$(mktemp -d /tmp/kscope-bench-top.XXXXXX)
tracer_pid=
stats_restore=
sock=kscope-bench-top-$$
agent_pid=
storm_pid=
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [[ -n $tracer_pid ]] && kill -0 "$tracer_pid" 2>/dev/null; then
		kill -INT "$tracer_pid" 2>/dev/null || true
		sleep 1
		kill -KILL "$tracer_pid" 2>/dev/null || true
	fi
	[[ -z $storm_pid ]] || kill "$storm_pid" 2>/dev/null || true
	[[ -z $agent_pid ]] || kill "$agent_pid" 2>/dev/null || true
	tmux -L "$sock" kill-server 2>/dev/null || true
	[[ -z $stats_restore ]] || sysctl -q -w kernel.bpf_stats_enabled="$stats_restore" >/dev/null 2>&1 || true
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)
log "bench: building in $work"
gcc -O2 -Wall -Wextra -o "$work/getppid_storm" "$here/workloads/getppid_storm.c"
gcc -O2 -Wall -Wextra -o "$work/write_storm" "$here/workloads/write_storm.c"
(cd "$repo" && GOTOOLCHAIN=local go test -c -o "$work/top.test" ./internal/collector/top)
(cd "$repo" && GOTOOLCHAIN=local go build -o "$work/kscope" ./cmd/kscope)
kscope_version="$(git -C "$repo" describe --always --dirty 2>/dev/null || echo unknown)"

now_ms() { date +%s%3N; }

# start_tracer ROW starts the row's tracer and waits for its ready line.
start_tracer() {
	local row=$1 out=$work/$1.out err=$work/$1.err deadline
	: >"$out"
	: >"$err"
	case $row in
	untraced) return 0 ;;
	kscope) KSCOPE_BENCH_HOLD=getppid_storm,write_storm "$work/top.test" >"$out" 2>"$err" & ;;
	bpftrace) bpftrace "$here/top.bt" >"$out" 2>"$err" & ;;
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

# stop_tracer ROW stops it; sys_counted and write_counted get what it
# counted for the two workloads (syscalls of the getppid storm, bytes
# written by the write storm).
sys_counted=
write_counted=
stop_tracer() {
	local row=$1 out=$work/$1.out
	sys_counted=
	write_counted=
	[[ $row == untraced ]] && return 0
	kill -INT "$tracer_pid"
	wait "$tracer_pid" || true
	tracer_pid=
	case $row in
	kscope)
		sys_counted=$(sed -n 's/^counted for comm getppid_storm: syscalls \([0-9]*\) .*/\1/p' "$out")
		write_counted=$(sed -n 's/^counted for comm write_storm: syscalls [0-9]* write_bytes \([0-9]*\) .*/\1/p' "$out")
		;;
	bpftrace)
		sys_counted=$(sed -n "s/^@sys\[$gpid\]: \([0-9]*\)/\1/p" "$out")
		write_counted=$(sed -n "s/^@write_bytes\[$wpid\]: \([0-9]*\)/\1/p" "$out")
		;;
	esac
}

# run_storms runs both workloads; gns and wns get their elapsed times,
# gpid and wpid their pids.
gns= wns= gpid= wpid=
run_storms() {
	"$work/getppid_storm" "$1" >"$work/g.out" &
	gpid=$!
	wait "$gpid"
	gns=$(<"$work/g.out")
	"$work/write_storm" "$work/file" "$2" >"$work/w.out" &
	wpid=$!
	wait "$wpid"
	wns=$(<"$work/w.out")
}

raw=$work/raw.tsv # row rep getppid_ns write_ns sys_counted write_counted
: >"$raw"
t0=$(now_ms)
for rep in $(seq "$reps"); do
	for row in $rows; do
		start_tracer "$row"
		run_storms "$iters" "$witers"
		stop_tracer "$row"
		printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$row" "$rep" "$gns" "$wns" "${sys_counted:-}" "${write_counted:-}" >>"$raw"
		log "  run $rep: $row getppid $((gns / iters)) ns/call, pwrite $((wns / witers)) ns/call${sys_counted:+, counted $sys_counted calls, $write_counted bytes}"
	done
done

# bpf_prog_stats PID sums run_time_ns over the programs PID holds.
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

# kscope's programs' own run time per workload call, with the kernel's
# accounting on (it costs two clock reads per program run, so apart).
bpfraw=$work/bpf.tsv
: >"$bpfraw"
if [[ -r /proc/sys/kernel/bpf_stats_enabled ]]; then
	stats_restore=$(</proc/sys/kernel/bpf_stats_enabled)
	sysctl -q -w kernel.bpf_stats_enabled=1 >/dev/null
	for w in getppid write; do
		start_tracer kscope
		before=$(bpf_prog_stats "$tracer_pid")
		if [[ $w == getppid ]]; then
			n=$((iters / 5))
			"$work/getppid_storm" "$n" >/dev/null
		else
			n=$((witers / 5))
			"$work/write_storm" "$work/file" "$n" >/dev/null
		fi
		after=$(bpf_prog_stats "$tracer_pid")
		stop_tracer kscope
		printf '%s\t%s\t%s\n' "$w" "$n" "$((after - before))" >>"$bpfraw"
	done
	sysctl -q -w kernel.bpf_stats_enabled="$stats_restore" >/dev/null
	stats_restore=
fi

# Part 2: kscope top itself.
# top_usage LABEL ARGS...: run kscope top ARGS in tmux for top_secs seconds
# and append "label cpu% rss_kib hwm_kib processes" to $usage.
usage=$work/usage.tsv
: >"$usage"
top_usage() {
	local label=$1 pane pid t1 t2 u1 u2 rss hwm procs
	shift
	tmux -L "$sock" new-session -d -s top -x 160 -y 40 "exec $work/kscope top $*"
	pane=$(tmux -L "$sock" list-panes -t top -F '#{pane_pid}')
	pid=$pane
	sleep 3 # loaded, first frames drawn
	[[ $(cat /proc/"$pid"/comm 2>/dev/null) == kscope ]] || die "kscope top is not running in tmux"
	u1=$(awk '{ print $14 + $15 }' /proc/"$pid"/stat)
	t1=$(now_ms)
	sleep "$top_secs"
	u2=$(awk '{ print $14 + $15 }' /proc/"$pid"/stat)
	t2=$(now_ms)
	rss=$(awk '/^VmRSS:/ { print $2 }' /proc/"$pid"/status)
	hwm=$(awk '/^VmHWM:/ { print $2 }' /proc/"$pid"/status)
	procs=$(tmux -L "$sock" capture-pane -p -t top | sed -n 's/.* \([0-9]*\)\/[0-9]* processes.*/\1/p')
	tmux -L "$sock" send-keys -t top q
	sleep 1
	tmux -L "$sock" kill-server 2>/dev/null || true
	printf '%s\t%s\t%s\t%s\t%s\n' "$label" "$(awk -v u=$((u2 - u1)) -v ms=$((t2 - t1)) 'BEGIN { printf "%.2f", u / 100 / (ms / 1000) * 100 }')" \
		"$rss" "$hwm" "${procs:-?}" >>"$usage"
	log "  kscope top, $label: $(tail -n1 "$usage" | cut -f2)% CPU, RSS $rss KiB"
}

top_usage "standalone, host as it is" --interval 1s
(while :; do "$work/getppid_storm" 100000000 >/dev/null; done) &
storm_pid=$!
top_usage "standalone, getppid storm running" --interval 1s
kill "$storm_pid" 2>/dev/null || true
wait "$storm_pid" 2>/dev/null || true
pkill -P "$storm_pid" 2>/dev/null || true
storm_pid=
port=$(awk 'BEGIN { srand(); print 20000 + int(rand() * 20000) }')
"$work/kscope" agent --listen "127.0.0.1:$port" --data-dir "$work/agent" --interval 1s >"$work/agent.log" 2>&1 &
agent_pid=$!
for _ in $(seq 100); do
	curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
	sleep 0.2
done
sleep 3
top_usage "--server (agent at 1s interval), host as it is" --interval 1s --server "http://127.0.0.1:$port"
kill "$agent_pid" 2>/dev/null || true
wait "$agent_pid" 2>/dev/null || true
agent_pid=
took_s=$((($(now_ms) - t0) / 1000))

cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
net_hooks=$(sed -n 's/^ready took=[^ ]* net="\(.*\)"/\1/p' "$work/kscope.err" | head -n1)
report() {
	echo "# kscope top overhead"
	echo
	echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "- kernel: $(uname -r) ($(uname -m)); CPU: ${cpu_model:-unknown}, $(nproc) CPUs"
	echo "- kscope: $kscope_version; $(bpftrace --version 2>/dev/null | head -n1); network bytes from ${net_hooks:-?}"
	echo "- load average at start: $load_at_start"
	echo "- workloads: $iters × getppid, $witers × pwrite of 64 bytes, one thread each; $reps runs per row, interleaved, medians; took ${took_s}s"
	echo
	echo "## Per event"
	echo
	echo "| row | getppid ns/call | added | slowdown | pwrite ns/call | added | slowdown | calls counted (getppid) | bytes counted (pwrite) |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
	awk -F'\t' -v gi="$iters" -v wi="$witers" -v order="$rows" '
		function median(s,   a, n, i, j, t) {
			n = split(s, a, " ")
			if (n == 0) return ""
			for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j > 0 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
			return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
		}
		{ g[$1] = g[$1] " " $3; w[$1] = w[$1] " " $4; if ($5 != "") sc[$1] = sc[$1] " " $5; if ($6 != "") wc[$1] = wc[$1] " " $6 }
		END {
			gb = median(g["untraced"]) / gi; wb = median(w["untraced"]) / wi
			n = split(order, names, " ")
			for (i = 1; i <= n; i++) {
				k = names[i]
				if (g[k] == "") continue
				gp = median(g[k]) / gi; wp = median(w[k]) / wi
				printf "| %s | %.0f | %s | %s | %.0f | %s | %s | %s | %s |\n", k,
					gp, k == "untraced" ? "–" : sprintf("%.0f", gp - gb), k == "untraced" ? "1.00×" : sprintf("%.2f×", gp / gb),
					wp, k == "untraced" ? "–" : sprintf("%.0f", wp - wb), k == "untraced" ? "1.00×" : sprintf("%.2f×", wp / wb),
					k == "untraced" ? "–" : (sc[k] == "" ? "?" : sprintf("%.0f", median(sc[k]))),
					k == "untraced" ? "–" : (wc[k] == "" ? "?" : sprintf("%.0f", median(wc[k])))
			}
		}' "$raw"
	echo
	echo "calls counted is the workload process's syscalls as each tracer counted"
	echo "them: the $iters getppid calls plus the few of its start and exit."
	echo "bytes counted is what it counted written by the write storm:"
	echo "$witers × 64 = $((witers * 64)) bytes, and its result line (its stdout is a file)."
	if [[ -s $bpfraw ]]; then
		echo
		echo "kscope's programs' own run time per workload call (one run of a fifth of the calls with kernel.bpf_stats_enabled=1; every program, for every process on the host, over the run; it leaves out the cost of reaching them):"
		echo
		echo "| workload | BPF ns/call |"
		echo "|---|---:|"
		awk -F'\t' '{ printf "| %s | %.0f |\n", $1, $3 / $2 }' "$bpfraw"
	fi
	echo
	echo "## kscope top itself"
	echo
	echo "\`kscope top --interval 1s\` in a 160×40 tmux pseudo-terminal, ${top_secs}s per setting:"
	echo
	echo "| setting | CPU (% of one CPU) | RSS at the end | peak RSS | processes shown |"
	echo "|---|---:|---:|---:|---:|"
	awk -F'\t' '{ printf "| %s | %s | %.1f MiB | %.1f MiB | %s |\n", $1, $2, $3 / 1024, $4 / 1024, $5 }' "$usage"
	echo
	cat <<'EOF'
Each refresh reads the whole per-process map (one batch lookup), the CPUs'
current tasks and, for every process shown, /proc/PID/status (user,
threads); then it draws the screen. Against an agent, each refresh is two
PromQL queries.
EOF
}

mkdir -p "$(dirname "$results")"
report | tee "$results"
log "bench: wrote $results"
