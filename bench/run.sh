#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Probe-overhead benchmark: how much slower do syscall-heavy workloads run
# while kscope traces them, next to bpftrace and to a minimal ring-buffer
# tracer (bench/minimal)? See bench/README.md for what is measured and why.
#
#   sudo bash bench/run.sh            # or: make bench
#
# Knobs (environment):
#   BENCH_WORKLOADS   workloads to run, in order         (default "open exec")
#   BENCH_REPS        timed runs per tracer and workload  (default 3; medians)
#   BENCH_OPEN_ITERS  openat+close pairs per open run     (default 1000000)
#   BENCH_EXEC_ITERS  fork+exec of /bin/true per run      (default 5000)
#   BENCH_TRACERS     tracers to compare                  (default all:
#                     "kscope-json kscope-table bpftrace minimal minimal-level
#                     minimal-eager")
#   BENCH_BPF_STATS   1: one extra untimed pass per tracer with
#                     kernel.bpf_stats_enabled to report in-kernel ns/event
#                     (default 1)
#   BENCH_RESULTS     where to write the markdown report
#                     (default bench/results/latest.md)
#   BENCH_KSCOPE_REF  build kscope from this git commit (git archive) instead
#                     of the work tree, e.g. to compare before and after
#
# The benchmark reports numbers; it never fails because of them. It exits
# non-zero only when it cannot run (not root, a tool missing, a build fails).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)

workloads=${BENCH_WORKLOADS:-open exec}
reps=${BENCH_REPS:-3}
open_iters=${BENCH_OPEN_ITERS:-1000000}
exec_iters=${BENCH_EXEC_ITERS:-5000}
tracers=${BENCH_TRACERS:-kscope-json kscope-table bpftrace minimal minimal-level minimal-eager}
bpf_stats=${BENCH_BPF_STATS:-1}
results=${BENCH_RESULTS:-$here/results/latest.md}
kscope_ref=${BENCH_KSCOPE_REF:-}
ready_timeout=60 # seconds a tracer may take to attach
stop_timeout=60  # seconds a tracer may take to drain and exit after SIGINT
# The minimal tracer's wakeup threshold: an eighth of its 8 MiB ring, as
# kscope sets wakeup_bytes for its default ring (internal/collector/filter.go).
wakeup_bytes=$((1 << 20))

log() { printf '%s\n' "$*" >&2; }
die() {
	log "bench: $*"
	exit 1
}

# --- preflight -------------------------------------------------------------

[[ $(id -u) -eq 0 ]] || die "needs root to load BPF programs: sudo env PATH=\"\$PATH\" bash bench/run.sh"
for t in go gcc bpftrace awk sort; do
	command -v "$t" >/dev/null || die "$t not found in PATH"
done
[[ -x /bin/true ]] || die "/bin/true missing (exec workload target)"
[[ -d /sys/kernel/tracing/events/syscalls || -d /sys/kernel/debug/tracing/events/syscalls ]] ||
	log "bench: no syscalls tracepoints visible in tracefs yet; the tracers will try to mount it"

work=$(mktemp -d /tmp/kscope-bench.XXXXXX)
# bpftrace's output goes to a file, not /dev/null: its "Lost N events" lines
# and its ready line are printed on stdout. Keep that file in memory.
if [[ -d /dev/shm && -w /dev/shm ]]; then
	btdir=$(mktemp -d /dev/shm/kscope-bench.XXXXXX)
else
	btdir=$work
fi

tracer_pid=
workload_pid=
stats_restore=

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [[ -n $workload_pid ]] && kill -0 "$workload_pid" 2>/dev/null; then
		kill -KILL "$workload_pid" 2>/dev/null || true
	fi
	if [[ -n $tracer_pid ]] && kill -0 "$tracer_pid" 2>/dev/null; then
		kill -INT "$tracer_pid" 2>/dev/null || true
		for _ in $(seq 50); do
			kill -0 "$tracer_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$tracer_pid" 2>/dev/null || true
	fi
	if [[ -n $stats_restore ]]; then
		sysctl -q -w kernel.bpf_stats_enabled="$stats_restore" >/dev/null 2>&1 || true
	fi
	rm -rf "$work"
	[[ $btdir == "$work" ]] || rm -rf "$btdir"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- build -----------------------------------------------------------------

# Before building, which loads the machine itself.
load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)

log "bench: building workloads, kscope and the minimal tracer in $work"
gcc -O2 -Wall -Wextra -o "$work/open_storm" "$here/workloads/open_storm.c"
gcc -O2 -Wall -Wextra -o "$work/exec_storm" "$here/workloads/exec_storm.c"
if [[ -n $kscope_ref ]]; then
	mkdir "$work/src"
	git -C "$repo" archive "$kscope_ref" | tar -x -C "$work/src"
	(cd "$work/src" && GOTOOLCHAIN=local go build -o "$work/kscope" ./cmd/kscope)
	kscope_version="$(git -C "$repo" rev-parse --short "$kscope_ref")"
else
	(cd "$repo" && GOTOOLCHAIN=local go build -o "$work/kscope" ./cmd/kscope)
	kscope_version="$(git -C "$repo" describe --always --dirty 2>/dev/null || echo unknown)"
fi
(cd "$repo" && GOTOOLCHAIN=local go build -o "$work/minimal" ./bench/minimal)
echo "kscope benchmark target file" >"$work/target"

# --- one traced run --------------------------------------------------------

# Per-run results, set by start_tracer / stop_tracer / run_workload.
r_attach= # ms, as the tracer reports it (kscope -v, minimal)
r_ready=  # ms from launch to the ready signal
r_seen=   # events the tracer delivered
r_lost=   # events the tracer reports lost
r_cpu=    # tracer CPU seconds (user+sys, all threads) until SIGINT
r_elapsed= # ns the workload reports
r_irq_work= # IRQ work interrupts during the workload
r_others= r_others_changed= # other processes' BPF programs on syscall tracepoints
r_bpf_ns=  # in-kernel BPF run time summed over the tracer's programs
r_bpf_cnt= # BPF program runs summed over the tracer's programs

now_ms() { date +%s%3N; }

# to_ms converts a Go duration (850µs, 41.6ms, 1.2s) to milliseconds.
to_ms() {
	awk -v d="$1" 'BEGIN {
		if (match(d, /[0-9.]+/) == 0) { print ""; exit }
		v = substr(d, RSTART, RLENGTH); u = substr(d, RSTART + RLENGTH)
		if (u == "ns") v /= 1e6; else if (u == "µs" || u == "us") v /= 1e3
		else if (u == "s") v *= 1e3; else if (u == "m") v *= 6e4
		printf "%.1f", v
	}'
}

# cpu_seconds prints utime+stime of a process (all threads) in seconds.
cpu_seconds() {
	local tck
	tck=$(getconf CLK_TCK)
	awk -v tck="$tck" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / tck }' "/proc/$1/stat" 2>/dev/null || echo ""
}

# bpf_prog_stats sums run_time_ns and run_cnt over the BPF programs a process
# holds (kernel.bpf_stats_enabled must be on for them to count).
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

# start_tracer NAME KIND starts a tracer for KIND (open|exec) in the
# background with its event output discarded, and waits for its ready
# signal. Returns non-zero if it exits or does not get ready in time.
start_tracer() {
	local name=$1 kind=$2 start deadline
	local out=$work/$name.out err=$work/$name.err
	: >"$out"
	: >"$err"
	r_attach= r_ready= r_seen= r_lost= r_cpu= r_bpf_ns= r_bpf_cnt=
	start=$(now_ms)
	case $name in
	kscope-json)
		"$work/kscope" trace "$kind" --json -v >/dev/null 2>"$err" &
		;;
	kscope-table)
		"$work/kscope" trace "$kind" -v >/dev/null 2>"$err" &
		;;
	minimal | minimal-level | minimal-eager)
		local mode=${name#minimal-}
		[[ $mode == minimal ]] && mode=batch
		"$work/minimal" -hook "$kind" -wakeup "$mode" -wakeup-bytes "$wakeup_bytes" >"$out" 2>"$err" &
		;;
	bpftrace)
		out=$btdir/bpftrace.out
		: >"$out"
		# bpftrace prints "Attaching N probes..." before it attaches; BEGIN
		# runs once every probe is attached, so its READY line is the signal.
		bpftrace -e "BEGIN { printf(\"READY\\n\"); } $(bpftrace_script "$kind")" >"$out" 2>"$err" &
		;;
	*) die "unknown tracer $name" ;;
	esac
	tracer_pid=$!
	deadline=$((start + ready_timeout * 1000))
	while :; do
		case $name in
		kscope-*) grep -q 'msg=attached' "$err" && break ;;
		minimal*) grep -q '^ready ' "$err" && break ;;
		bpftrace) grep -q -m1 '^READY$' "$out" && break ;;
		esac
		if ! kill -0 "$tracer_pid" 2>/dev/null; then
			wait "$tracer_pid" || true
			tracer_pid=
			log "bench: $name ($kind) exited before it was ready:"
			sed 's/^/    /' "$err" >&2
			return 1
		fi
		if (($(now_ms) > deadline)); then
			log "bench: $name ($kind) not ready after ${ready_timeout}s"
			stop_tracer "$name" >/dev/null 2>&1 || true
			return 1
		fi
		sleep 0.01
	done
	r_ready=$(($(now_ms) - start))
	case $name in
	kscope-*) r_attach=$(to_ms "$(sed -n 's/.*msg=attached.* took=\([^ ]*\).*/\1/p' "$err" | head -n1)") ;;
	minimal*) r_attach=$(to_ms "$(sed -n 's/^ready .*took=\([^ ]*\).*/\1/p' "$err" | head -n1)") ;;
	esac
}

# stop_tracer NAME sends SIGINT, waits for the tracer to drain and exit, and
# reads its counters.
stop_tracer() {
	local name=$1 pid=$tracer_pid rc=0 deadline
	r_cpu=$(cpu_seconds "$pid")
	if [[ $bpf_stats_now == 1 ]]; then
		read -r r_bpf_ns r_bpf_cnt < <(bpf_prog_stats "$pid")
	fi
	kill -INT "$pid"
	deadline=$(($(now_ms) + stop_timeout * 1000))
	while kill -0 "$pid" 2>/dev/null; do
		if (($(now_ms) > deadline)); then
			log "bench: $name did not exit ${stop_timeout}s after SIGINT; killing it"
			kill -KILL "$pid" 2>/dev/null || true
			break
		fi
		sleep 0.02
	done
	wait "$pid" || rc=$?
	tracer_pid=
	local err=$work/$name.err
	case $name in
	kscope-*)
		# "N events shown, N lost (buffer full), N filtered"
		read -r r_seen r_lost < <(sed -n 's/^\([0-9]*\) events shown, \([0-9]*\) lost.*/\1 \2/p' "$err" | tail -n1) || true
		;;
	minimal*)
		read -r r_seen r_lost < <(sed -n 's/^\([0-9]*\) records read, \([0-9]*\) lost.*/\1 \2/p' "$work/$name.out") || true
		;;
	bpftrace)
		local out=$btdir/bpftrace.out
		# One line per event for open ("pid tid ..."); two for exec, entry
		# ("E ...", with argv) and exit ("X ..."): count the exits.
		case $cur_kind in
		open) r_seen=$(grep -a -c -E '^[0-9]+ [0-9]+ ' "$out" || true) ;;
		exec) r_seen=$(grep -a -c '^X ' "$out" || true) ;;
		esac
		r_lost=$(awk '/^Lost [0-9]+ events/ { n += $2 } END { print n + 0 }' "$out")
		rm -f "$out"
		;;
	esac
	if ((rc != 0 && rc != 130)); then
		log "bench: $name exited with status $rc:"
		sed 's/^/    /' "$err" >&2
	fi
	: "${r_seen:=?}" "${r_lost:=?}"
}

# bpftrace_script KIND prints a bpftrace program that records the same
# fields kscope prints for KIND.
bpftrace_script() {
	case $1 in
	open)
		cat <<'EOF'
tracepoint:syscalls:sys_enter_openat { @f[tid] = args->filename; @fl[tid] = args->flags; }
tracepoint:syscalls:sys_exit_openat /@f[tid]/ {
	printf("%d %d %s %s %d %d\n", pid, tid, comm, str(@f[tid]), @fl[tid], args->ret);
	delete(@f[tid]); delete(@fl[tid]);
}
EOF
		;;
	exec)
		# argv must be read at entry (exec replaces the memory it lives in).
		cat <<'EOF'
tracepoint:syscalls:sys_enter_execve {
	printf("E %d %d %s %s ", pid, tid, comm, str(args->filename)); join(args->argv);
}
tracepoint:syscalls:sys_exit_execve { printf("X %d %d %s %d\n", pid, tid, comm, args->ret); }
EOF
		;;
	esac
}

declare -A kind_iters=([open]=$open_iters [exec]=$exec_iters)
declare -A kind_target=([open]=$work/target [exec]=/bin/true)

have_bpftool=0
command -v bpftool >/dev/null && have_bpftool=1

# other_probes PID prints how many BPF programs of processes other than PID
# are attached to syscall tracepoints (empty without bpftool): other tracers
# on the machine add their cost to every run.
other_probes() {
	((have_bpftool)) || return 0
	bpftool perf show 2>/dev/null | awk -v me="$1" '$1 == "pid" && $2 != me && $NF ~ /^sys_/ { n++ } END { print n + 0 }'
}

# irq_work_count prints the IRQ work interrupts taken so far, summed over
# CPUs. A BPF program that asks for a reader wakeup (bpf_ringbuf_submit
# without BPF_RB_NO_WAKEUP) queues IRQ work, a self-interrupt: this counts
# reader wakeups, plus a little background.
irq_work_count() {
	awk '$1 == "IWI:" { for (i = 2; i <= NF; i++) if ($i ~ /^[0-9]+$/) n += $i } END { print n + 0 }' /proc/interrupts
}

# run_workload KIND ITERATIONS runs the workload in the foreground and sets
# r_elapsed to the ns it reports, r_irq_work to the IRQ work interrupts
# taken meanwhile, and r_others / r_others_changed to what other_probes saw
# before and after it.
run_workload() {
	local kind=$1 iters=$2 before after iwi
	before=$(other_probes "${tracer_pid:-0}")
	iwi=$(irq_work_count)
	"$work/${kind}_storm" "${kind_target[$kind]}" "$iters" >"$work/workload.out" &
	workload_pid=$!
	wait "$workload_pid" || die "${kind}_storm failed"
	workload_pid=
	r_elapsed=$(<"$work/workload.out")
	r_irq_work=$(($(irq_work_count) - iwi))
	after=$(other_probes "${tracer_pid:-0}")
	r_others=$before r_others_changed=0
	if [[ -n $before ]]; then
		((after > before)) && r_others=$after
		[[ $before == "$after" ]] || r_others_changed=1
	fi
}

# --- measurements ----------------------------------------------------------

# workload tracer rep elapsed_ns seen lost attach_ms ready_ms cpu_s others changed irq_work
raw=$work/raw.tsv
bpfraw=$work/bpf.tsv # workload tracer iterations bpf_ns bpf_runs
: >"$raw"
: >"$bpfraw"
bpf_stats_now=0
declare -A skip=()

# kscope_supports KIND: whether this kscope can trace KIND yet.
kscope_supports() {
	local err=$work/probe.err
	if timeout 20 "$work/kscope" trace "$1" --duration 1ms >/dev/null 2>"$err"; then
		return 0
	fi
	log "bench: kscope trace $1 does not work here, skipping its kscope runs: $(head -n1 "$err")"
	return 1
}

others_note() {
	[[ -n $r_others && $r_others != 0 ]] || return 0
	printf ' (%s BPF programs of other processes on syscall tracepoints%s)' "$r_others" \
		"$( ((r_others_changed)) && echo ', changed during the run')"
}

t0=$(now_ms)
busy_note=
if awk -v l="${load_at_start%% *}" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
	busy_note="the machine was busy (1-minute load ${load_at_start%% *} on $(nproc) CPUs): expect noise"
	log "bench: warning: $busy_note"
fi
if [[ $(other_probes 0) != 0 && -n $(other_probes 0) ]]; then
	log "bench: warning: other processes have BPF programs on syscall tracepoints; they add to every run"
fi
for kind in $workloads; do
	[[ -n ${kind_iters[$kind]:-} ]] || die "unknown workload $kind (want open or exec)"
	if ! kscope_supports "$kind"; then
		skip[$kind]=1
	fi
done

for kind in $workloads; do
	cur_kind=$kind
	iters=${kind_iters[$kind]}
	log "bench: ${kind} storm, $iters iterations, $reps runs per tracer"
	for rep in $(seq "$reps"); do
		run_workload "$kind" "$iters"
		printf '%s\tuntraced\t%s\t%s\t\t\t\t\t\t%s\t%s\t%s\n' "$kind" "$rep" "$r_elapsed" \
			"$r_others" "$r_others_changed" "$r_irq_work" >>"$raw"
		log "  run $rep: untraced $((r_elapsed / 1000000)) ms$(others_note)"
		for tr in $tracers; do
			if [[ $tr == kscope-* && -n ${skip[$kind]:-} ]]; then
				continue
			fi
			if ! start_tracer "$tr" "$kind"; then
				continue
			fi
			run_workload "$kind" "$iters"
			stop_tracer "$tr"
			printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$kind" "$tr" "$rep" "$r_elapsed" \
				"$r_seen" "$r_lost" "$r_attach" "$r_ready" "$r_cpu" "$r_others" "$r_others_changed" "$r_irq_work" >>"$raw"
			log "  run $rep: $tr $((r_elapsed / 1000000)) ms, $r_seen seen, $r_lost lost${r_attach:+, attach $r_attach ms}$(others_note)"
		done
	done
done

# One untimed pass with the kernel's BPF run-time accounting on: it tells how
# much of the overhead is the BPF programs themselves. Kept apart because the
# accounting itself costs two clock reads per program run.
if [[ $bpf_stats == 1 ]] && [[ -r /proc/sys/kernel/bpf_stats_enabled ]]; then
	stats_restore=$(</proc/sys/kernel/bpf_stats_enabled)
	sysctl -q -w kernel.bpf_stats_enabled=1 >/dev/null
	bpf_stats_now=1
	for kind in $workloads; do
		cur_kind=$kind
		iters=$((${kind_iters[$kind]} / 5))
		log "bench: ${kind} storm, BPF run-time pass, $iters iterations"
		for tr in $tracers; do
			[[ $tr == kscope-table || $tr == minimal-level || $tr == minimal-eager ]] && continue # same programs as -json / minimal
			[[ $tr == kscope-* && -n ${skip[$kind]:-} ]] && continue
			start_tracer "$tr" "$kind" || continue
			run_workload "$kind" "$iters"
			stop_tracer "$tr"
			printf '%s\t%s\t%s\t%s\t%s\n' "$kind" "$tr" "$iters" "$r_bpf_ns" "$r_bpf_cnt" >>"$bpfraw"
		done
	done
	sysctl -q -w kernel.bpf_stats_enabled="$stats_restore" >/dev/null
	stats_restore=
	bpf_stats_now=0
fi
took_s=$((($(now_ms) - t0) / 1000))

# --- report ----------------------------------------------------------------

cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
report() {
	echo "# kscope probe overhead"
	echo
	echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "- kernel: $(uname -r) ($(uname -m))"
	echo "- CPU: ${cpu_model:-unknown}, $(nproc) CPUs"
	echo "- kscope: $kscope_version; $(bpftrace --version 2>/dev/null | head -n1)"
	echo "- load average at start: $load_at_start${busy_note:+ — $busy_note}"
	echo "- $reps runs per row, medians; benchmark took ${took_s}s"
	echo
	for kind in $workloads; do
		local iters=${kind_iters[$kind]}
		case $kind in
		open) echo "## open storm: ${iters} × openat+close of one file" ;;
		exec) echo "## exec storm: ${iters} × fork+execve(/bin/true)+wait" ;;
		esac
		echo
		echo "| tracer | elapsed | slowdown | overhead/event | events/s | events seen | lost | attach | ready after | tracer CPU | IRQ work |"
		echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
		awk -F'\t' -v kind="$kind" -v iters="$iters" -v order="untraced $tracers" '
			function median(s,   a, n, i, j, t) {
				n = split(s, a, " ")
				if (n == 0) return ""
				for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j > 0 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
				return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
			}
			function maxof(s,   a, n, i, m) { n = split(s, a, " "); m = a[1]; for (i = 2; i <= n; i++) if (a[i] + 0 > m + 0) m = a[i]; return m }
			function add(k, i, v) { if (v != "" && v != "?") col[k, i] = col[k, i] " " v }
			$1 == kind {
				for (i = 4; i <= 9; i++) add($2, i, $i)
				add($2, 12, $12)
				runs[$2]++
				if ($10 + 0 > 0) others[$2]++
				if ($11 + 0 > 0) changed[$2]++
			}
			END {
				base = median(col["untraced", 4])
				n = split(order, names, " ")
				for (t = 1; t <= n; t++) {
					k = names[t]
					if (!runs[k]) continue
					e = median(col[k, 4])
					seen = median(col[k, 5])
					if (seen != "") seen = sprintf("%.0f%s", seen, seen + 0 < iters ? " !" : "")
					lost = median(col[k, 6]); lmax = maxof(col[k, 6])
					if (lmax != "" && lmax + 0 > lost + 0) lost = lost " (max " lmax ")"
					att = median(col[k, 7]); rdy = median(col[k, 8]); cpu = median(col[k, 9])
					name = k
					if (others[k]) {
						name = k " †"
						note = note sprintf("\n† %s: %d of %d runs had BPF programs of other processes on syscall tracepoints%s.",
							k, others[k], runs[k], changed[k] ? sprintf(" (attached or detached during %d)", changed[k]) : "")
					}
					iwi = median(col[k, 12])
					printf "| %s | %.3f s | %s | %s | %.0f | %s | %s | %s | %s | %s | %s |\n", name, e / 1e9,
						k == "untraced" ? "1.00×" : sprintf("%.2f×", e / base),
						k == "untraced" ? "–" : sprintf("%.0f ns", (e - base) / iters),
						iters / (e / 1e9),
						k == "untraced" ? "–" : (seen == "" ? "?" : seen),
						k == "untraced" ? "–" : (lost == "" ? "?" : lost),
						att == "" ? "–" : sprintf("%.1f ms", att),
						rdy == "" ? "–" : sprintf("%.0f ms", rdy),
						cpu == "" ? "–" : sprintf("%.2f s", cpu),
						iwi == "" ? "–" : sprintf("%.0f", iwi)
				}
				if (note != "") print note
			}' "$raw"
		if [[ -n ${skip[$kind]:-} ]]; then
			echo
			echo "kscope rows missing: \`kscope trace $kind\` did not start on this build."
		fi
		if [[ -s $bpfraw ]] && grep -q "^$kind	" "$bpfraw"; then
			echo
			echo "In-kernel BPF cost (one run of $((iters / 5)) iterations with kernel.bpf_stats_enabled=1):"
			echo
			echo "| tracer | BPF programs run per event | BPF ns per event |"
			echo "|---|---:|---:|"
			awk -F'\t' -v kind="$kind" '$1 == kind && $4 != "" {
				printf "| %s | %.2f | %.0f ns |\n", $2, $5 / $3, $4 / $3 }' "$bpfraw"
		fi
		echo
	done
	cat <<'EOF'
Columns: elapsed is the workload's own wall time; slowdown and
overhead/event compare it with the untraced median; events/s is the
workload's rate under tracing; events seen is what the tracer delivered,
from every process on the machine, so it should be at least the iterations
("!" marks a median below them: events went missing without being counted
as lost); lost is what the tracer itself reports dropped (kscope: its exit
line; bpftrace: "Lost N events"; minimal: failed reserves); attach is the
tracer's own load+attach time; ready after is from launch to its ready
signal; tracer CPU is the tracer process's user+sys time until SIGINT;
IRQ work counts IRQ work interrupts on all CPUs during the workload (from
/proc/interrupts): one per reader wakeup a BPF program asks for, plus a
little background, which the untraced row shows.

minimal is the floor: one program on the syscall exit, an 8-byte record, a
reader that only counts. It wakes its reader once per MiB produced
(batch), as kscope.h does; minimal-level wakes it on every record while at
least 1 MiB waits; minimal-eager lets the kernel wake it whenever
it has caught up, which is what a submit without flags does.

Targets (bench/README.md): open storm ≤ 1.30× with 0 lost (bpftrace is
about 4×); attach ≤ 50 ms.
EOF
}

mkdir -p "$(dirname "$results")"
report | tee "$results"
log "bench: wrote $results"
