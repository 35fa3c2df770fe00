#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# kscope's footprint: what `kscope trace` costs in memory and start-up time,
# the peak RSS of `kscope profile`, and the agent's RSS and CPU over a fixed
# period on a quiet and on a churny host, next to the floor (bench/minimal)
# and bpftrace, in one run.
#
#   sudo bash bench/footprint.sh
#
# Phases (BENCH_PHASES, default "trace profile agent"):
#
# trace    For each kind (BENCH_KINDS, default "exec open") and each build,
#          BENCH_REPS times, rows interleaved: start `kscope trace KIND --json
#          -v` and read its load-and-attach time (the `took=` of its
#          "attached" line) and the time from launch to that line; one second
#          later its RSS (VmRSS) split into anonymous memory, pages of files
#          (the kscope binary, libc) and BPF maps mapped into the process
#          (the ring buffer), and VmHWM. The same for
#          bench/minimal (one program, an 8 MiB ring, a Go reader: the floor
#          of a Go ring-buffer tracer) and a bpftrace one-liner printing the
#          same event. Medians.
# profile  `kscope profile --all` for BENCH_PROFILE_SECONDS (default 10) at
#          99 Hz writing a pprof file, and bpftrace's profile:hz:99 with
#          stacks, each under GNU time: peak RSS, CPU. Medians of BENCH_REPS.
# agent    The default agent for BENCH_MINUTES (default 10) quiet, then as
#          long churny (bench/workloads/fork_storm.c, BENCH_CHURN forks/s,
#          default 800): CPU (% of one core), RSS at the end and its peak
#          sampled every 5 s, split as above, and the Go heap in use.
#
# BENCH_BEFORE=REF also builds kscope at git commit REF (git archive) and
# runs its rows next to the work tree's in the trace and profile phases, and
# its agent side by side with the work tree's, at the same time, in the agent
# phase, so a change is measured before and after in one run.
#
# Knobs: BENCH_PHASES, BENCH_KINDS, BENCH_REPS (default 5),
# BENCH_PROFILE_SECONDS, BENCH_MINUTES, BENCH_CHURN, BENCH_BEFORE,
# BENCH_RESULTS (default bench/results/footprint.md).
# Needs root, go, gcc, curl, bpftrace and GNU time. It reports numbers and
# never fails because of them.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
phases=${BENCH_PHASES:-trace profile agent}
kinds=${BENCH_KINDS:-exec open}
reps=${BENCH_REPS:-5}
prof_s=${BENCH_PROFILE_SECONDS:-10}
minutes=${BENCH_MINUTES:-10}
churn=${BENCH_CHURN:-800}
before=${BENCH_BEFORE:-}
results=${BENCH_RESULTS:-$here/results/footprint.md}

log() { printf 'bench: %s\n' "$*" >&2; }
die() {
	log "$*"
	exit 1
}
[ "$(id -u)" = 0 ] || die "needs root: sudo env PATH=\"\$PATH\" bash bench/footprint.sh"
for t in go gcc curl awk bpftrace; do
	command -v "$t" >/dev/null || die "$t not found in PATH"
done
[ -x /usr/bin/time ] || die "GNU time (/usr/bin/time) not found"

work=$(mktemp -d /tmp/kscope-bench-footprint.XXXXXX)
tracer_pid=
churn_pid=
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	for p in $tracer_pid $churn_pid; do
		kill -INT "$p" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)
start_s=$(date +%s)
log "building in $work"
(cd "$repo" && GOTOOLCHAIN=local go build -o "$work/kscope" ./cmd/kscope)
(cd "$repo" && GOTOOLCHAIN=local go build -o "$work/minimal" ./bench/minimal)
gcc -O2 -o "$work/fork_storm" "$here/workloads/fork_storm.c"
builds=after
if [[ -n $before ]]; then
	mkdir "$work/src-before"
	git -C "$repo" archive "$before" | tar -x -C "$work/src-before"
	(cd "$work/src-before" && GOTOOLCHAIN=local go build -o "$work/kscope-before" ./cmd/kscope)
	builds="before after"
fi
kscope_bin() { if [[ $1 == before ]]; then echo "$work/kscope-before"; else echo "$work/kscope"; fi; }
version=$(git -C "$repo" describe --always --dirty 2>/dev/null || echo unknown)
# status_kb PID KEY: a /proc/PID/status field in kB.
# bpf_kb PID: kB of BPF maps mapped into PID (ring buffers, mmapable arrays),
# which the kernel counts in RssFile.
bpf_kb() { awk '/^[0-9a-f]+-[0-9a-f]+ / {m = ($6 == "anon_inode:bpf-map")} m && $1 == "Rss:" {s += $2} END {print s + 0}' "/proc/$1/smaps"; }
# rss_split PID: "anon files bpf" in kB, files without the BPF maps.
rss_split() {
	local b
	b=$(bpf_kb "$1")
	echo "$(status_kb "$1" RssAnon) $(($(status_kb "$1" RssFile) + $(status_kb "$1" RssShmem) - b)) $b"
}

# stop PID: SIGINT, then SIGTERM after 30 s.
stop() {
	local pid=$1 deadline=$(($(now_ms) + 30000))
	kill -INT "$pid" 2>/dev/null || true
	while kill -0 "$pid" 2>/dev/null && (($(now_ms) < deadline)); do
		sleep 0.05
	done
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

report=$work/report.md
{
	echo "# kscope footprint"
	echo
	echo "bench/footprint.sh, $(date -u '+%Y-%m-%d %H:%M') UTC, kscope $version${before:+ (before: $before)}, $(uname -r), $(nproc) CPUs,"
	echo "bpftrace $(bpftrace --version | awk '{print $2}'); load average at the start $load_at_start."
	echo
} >"$report"

if [[ $phases == *trace* ]]; then
	declare -A took ready rss anon file shmem hwm
	rows=""
	for b in $builds; do rows+="kscope-$b "; done
	rows+="minimal bpftrace"
	for kind in $kinds; do
		for rep in $(seq "$reps"); do
			for row in $rows; do
				: >"$work/t.out"
				: >"$work/t.err"
				t0=$(now_ms)
				case $row in
				kscope-*)
					"$(kscope_bin "${row#kscope-}")" trace "$kind" --json -v >/dev/null 2>"$work/t.err" &
					pat='msg=attached'
					;;
				minimal)
					"$work/minimal" -hook "$kind" >/dev/null 2>"$work/t.err" &
					pat='^ready '
					;;
				bpftrace)
					case $kind in
					open) bt='tracepoint:syscalls:sys_exit_openat { printf("%d %d %s %d\n", pid, tid, comm, args->ret); }' ;;
					*) bt='tracepoint:syscalls:sys_exit_execve { printf("%d %d %s %d\n", pid, tid, comm, args->ret); }' ;;
					esac
					bpftrace -e "BEGIN { printf(\"READY\\n\"); } $bt" >"$work/t.out" 2>"$work/t.err" &
					pat='^READY$'
					;;
				esac
				tracer_pid=$!
				deadline=$(($(now_ms) + 60000))
				until grep -q -E "$pat" "$work/t.out" "$work/t.err" 2>/dev/null; do
					kill -0 "$tracer_pid" 2>/dev/null || {
						cat "$work/t.err" >&2
						die "$row $kind exited before it was ready"
					}
					(($(now_ms) < deadline)) || die "$row $kind not ready after 60 s"
					sleep 0.005
				done
				t1=$(now_ms)
				sleep 1
				k=$kind/$row
				ready[$k]+="$((t1 - t0)) "
				tk=$(grep -o -m1 'took=[0-9.]*[mµ]*s' "$work/t.err" | sed 's/took=//' || true)
				# took= in ms, whatever unit Go printed.
				took[$k]+="$(awk -v t="${tk:--}" 'BEGIN{ if (t == "-") { print "-"; exit } u = t; sub(/[0-9.]+/, "", u); v = t + 0; if (u == "s") v *= 1000; else if (u == "µs") v /= 1000; printf "%.1f", v }') "
				rss[$k]+="$(status_kb "$tracer_pid" VmRSS) "
				read -r a f m < <(rss_split "$tracer_pid")
				anon[$k]+="$a "
				file[$k]+="$f "
				shmem[$k]+="$m "
				hwm[$k]+="$(status_kb "$tracer_pid" VmHWM) "
				stop "$tracer_pid"
				tracer_pid=
				log "trace $kind $row rep $rep: ready after $((t1 - t0)) ms, took ${tk:--}, RSS $(echo "${rss[$k]}" | awk '{print $NF}') kB"
			done
		done
	done
	{
		echo "## \`kscope trace\`: RSS and start-up"
		echo
		echo "Idle (no events), one second after the ready line; medians of $reps runs, rows interleaved."
		echo "RSS = anonymous memory + file pages + BPF maps. File pages are the executable's (and libc's) pages"
		echo "the process has touched (the kernel maps up to 64 KiB around each page fault), shared with every"
		echo "other process running the same binary; BPF maps are the ring buffer, mapped twice by its reader"
		echo "(its data pages wrap around) and so counted at twice its size. \`took\` is kscope's own load-and-attach time;"
		echo "\"ready after\" runs from launching the process, Go runtime and package initialisation included."
		echo
		echo "| kind | row | took (ms) | ready after (ms) | RSS (MB) | anon | files | BPF maps | VmHWM (MB) |"
		echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
		for kind in $kinds; do
			for row in $rows; do
				k=$kind/$row
				printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$kind" "$row" \
					"$(echo "${took[$k]}" | tr ' ' '\n' | grep -v -x -e '-' -e '' | median)" \
					"$(echo "${ready[$k]}" | tr ' ' '\n' | median)" \
					"$(mb "$(echo "${rss[$k]}" | tr ' ' '\n' | median)")" \
					"$(mb "$(echo "${anon[$k]}" | tr ' ' '\n' | median)")" \
					"$(mb "$(echo "${file[$k]}" | tr ' ' '\n' | median)")" \
					"$(mb "$(echo "${shmem[$k]}" | tr ' ' '\n' | median)")" \
					"$(mb "$(echo "${hwm[$k]}" | tr ' ' '\n' | median)")"
			done
		done
		echo
		echo "Targets (issue 13): \`kscope trace\` ≤ 20 MB RSS, ≤ 30 ms to attached."
		echo
	} >>"$report"
fi

if [[ $phases == *profile* ]]; then
	declare -A prss pcpu
	prows=""
	for b in $builds; do prows+="kscope-$b "; done
	prows+="bpftrace"
	for rep in $(seq "$reps"); do
		for row in $prows; do
			case $row in
			kscope-*)
				/usr/bin/time -f '%M %U %S' -o "$work/p.time" "$(kscope_bin "${row#kscope-}")" profile --all --hz 99 \
					--duration "${prof_s}s" -o "$work/p.pb.gz" >/dev/null 2>"$work/p.err" || { cat "$work/p.err" >&2; die "$row failed"; }
				;;
			bpftrace)
				/usr/bin/time -f '%M %U %S' -o "$work/p.time" timeout -s INT "$prof_s" bpftrace \
					-e 'profile:hz:99 { @[kstack, ustack] = count(); }' >/dev/null 2>"$work/p.err" || true
				;;
			esac
			# The last line: GNU time first says when the command exited non-zero.
			read -r kb u s < <(tail -n 1 "$work/p.time")
			prss[$row]+="$kb "
			pcpu[$row]+="$(awk -v u="$u" -v s="$s" 'BEGIN{printf "%.2f", u + s}') "
			log "profile $row rep $rep: peak RSS $kb kB, CPU $u+$s s"
		done
	done
	{
		echo "## \`kscope profile\`: peak RSS"
		echo
		echo "\`profile --all --hz 99 --duration ${prof_s}s -o FILE.pb.gz\` (symbolization and the pprof file included) and"
		echo "\`bpftrace -e 'profile:hz:99 { @[kstack, ustack] = count(); }'\` for as long, on the host as it is;"
		echo "GNU time's maximum RSS (the process tree's largest), medians of $reps runs."
		echo
		echo "| row | peak RSS (MB) | CPU (s) |"
		echo "|---|---:|---:|"
		for row in $prows; do
			printf '| %s | %s | %s |\n' "$row" "$(mb "$(echo "${prss[$row]}" | tr ' ' '\n' | median)")" "$(echo "${pcpu[$row]}" | tr ' ' '\n' | median)"
		done
		echo
		echo "Target (issue 13): \`kscope profile\` peak RSS ≤ 30 MB."
		echo
	} >>"$report"
fi

if [[ $phases == *agent* ]]; then
	# One agent per build, side by side at the same time, so that each
	# sees the same host (the same churn, the same other processes).
	declare -A apid abase
	for b in $builds; do
		port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
		abase[$b]=http://127.0.0.1:$port
		"$(kscope_bin "$b")" agent --data-dir "$work/data-$b" --listen "127.0.0.1:$port" >"$work/a-$b.out" 2>"$work/a-$b.err" &
		apid[$b]=$!
		tracer_pid="$tracer_pid ${apid[$b]}"
	done
	for b in $builds; do
		deadline=$(($(now_ms) + 120000))
		until curl -sf "${abase[$b]}/healthz" >/dev/null 2>&1; do
			kill -0 "${apid[$b]}" 2>/dev/null || {
				cat "$work/a-$b.err" >&2
				die "agent ($b) exited before it was ready"
			}
			(($(now_ms) < deadline)) || die "agent ($b) not ready after 120 s"
			sleep 0.1
		done
	done
	clk=$(getconf CLK_TCK)
		metric() { curl -s "$1/metrics" | awk -v m="$2" '$1 == m {v = $2} END {print v}'; }
	arows=()
	for state in quiet churny; do
		if [[ $state == churny ]]; then
			"$work/fork_storm" "$churn" &
			churn_pid=$!
		fi
		log "agent: $minutes min $state"
		declare -A t0 peak
		for b in $builds; do
			t0[$b]=$(cpu_ticks "${apid[$b]}")
			peak[$b]=0
		done
		s0=$(date +%s.%N)
		end=$(($(date +%s) + minutes * 60))
		while (($(date +%s) < end)); do
			for b in $builds; do
				kb=$(status_kb "${apid[$b]}" VmRSS)
				((kb > peak[$b])) && peak[$b]=$kb
			done
			sleep 5
		done
		s1=$(date +%s.%N)
		for b in $builds; do
			pid=${apid[$b]}
			t1=$(cpu_ticks "$pid")
			cpu=$(awk -v t=$((t1 - t0[$b])) -v c="$clk" -v a="$s0" -v z="$s1" 'BEGIN{printf "%.2f", 100 * t / c / (z - a)}')
			heap=$(metric "${abase[$b]}" kscope_self_go_heap_bytes)
			series=$(metric "${abase[$b]}" kscope_self_tsdb_head_series)
			read -r a f m < <(rss_split "$pid")
			row=$state
			[[ -n $before ]] && row="$state, kscope-$b"
			arows+=("| $row, $minutes min | $cpu | $(mb "$(status_kb "$pid" VmRSS)") | $(mb "${peak[$b]}") | $(mb "$a") | $(mb "$f") | $(mb "$m") | $(awk -v h="${heap:-0}" 'BEGIN{printf "%.1f", h / 1048576}') | ${series:--} |")
		done
		if [[ -n $churn_pid ]]; then
			kill "$churn_pid" 2>/dev/null || true
			wait "$churn_pid" 2>/dev/null || true
			churn_pid=
		fi
	done
	hwms=()
	for b in $builds; do
		hwms+=("$(mb "$(status_kb "${apid[$b]}" VmHWM)") MB${before:+ ($b)}")
		stop "${apid[$b]}"
	done
	tracer_pid=
	{
		echo "## The default agent"
		echo
		echo "\`kscope agent\` with its default collectors, $minutes minutes quiet then $minutes minutes with $churn forks/s"
		echo "(bench/workloads/fork_storm.c). RSS split as above at the end of each period; Go heap in use and"
		echo "the TSDB head's series from its /metrics.${before:+ The agents built before and after ran side by side, at the same time.}"
		echo
		echo "| host | CPU (% of one core) | RSS (MB) | RSS peak (MB) | anon | files | BPF maps | Go heap in use (MB) | head series |"
		echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
		printf '%s\n' "${arows[@]}"
		echo
		echo "VmHWM over both: ${hwms[*]}. Targets (issue 13): RSS ≤ 60 MB on a busy host, ≤ 0.5% of a core idle."
		echo
	} >>"$report"
fi

echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); took $(($(date +%s) - start_s)) s." >>"$report"
cp "$report" "$results"
cat "$report"
