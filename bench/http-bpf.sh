#!/usr/bin/env bash
# BPF run time per request of `kscope trace http`, per program: how often
# each program ran per request and for how long, from the kernel's own
# counters (kernel.bpf_stats_enabled, switched on for the load and put back
# as found). The load is bench/http.sh's: httpload against its own server,
# plain or TLS.
#
#   sudo bash bench/http-bpf.sh [plain|tls] [seconds]
#
# Programs are found through the tracer's file descriptors
# (/proc/PID/fdinfo: run_time_ns, run_cnt) and named with pidfd_getfd and
# BPF_OBJ_GET_INFO_BY_FD; kernel names are cut at 15 characters.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
mode=${1:-plain}
dur=${2:-5}
conns=${BENCH_CONNS:-16}

[ "$(id -u)" = 0 ] || { echo "bench/http-bpf.sh: needs root" >&2; exit 1; }
work=$(mktemp -d /tmp/kscope-bench-http-bpf.XXXXXX)
stats=$(cat /proc/sys/kernel/bpf_stats_enabled)
tracer_pid= server_pid=
cleanup() {
	echo "$stats" >/proc/sys/kernel/bpf_stats_enabled
	[ -z "$tracer_pid" ] || kill "$tracer_pid" 2>/dev/null || true
	[ -z "$server_pid" ] || kill "$server_pid" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

(cd "$repo" && GOTOOLCHAIN=local go build -o "$work/kscope" ./cmd/kscope && GOTOOLCHAIN=local go build -o "$work/httpload" ./bench/httpload)

# snap prints "id name run_time_ns run_cnt" for each BPF program pid holds.
snap() {
	python3 - "$1" <<'EOF'
import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
SYS_bpf, SYS_pidfd_open, SYS_pidfd_getfd, BPF_OBJ_GET_INFO_BY_FD = 321, 434, 438, 15
pid = int(sys.argv[1])
pidfd = libc.syscall(SYS_pidfd_open, pid, 0)
for fd in os.listdir(f"/proc/{pid}/fd"):
    try:
        if os.readlink(f"/proc/{pid}/fd/{fd}") != "anon_inode:bpf-prog":
            continue
        info = dict(l.split(":", 1) for l in open(f"/proc/{pid}/fdinfo/{fd}") if ":" in l)
    except OSError:
        continue
    name = "?"
    mine = libc.syscall(SYS_pidfd_getfd, pidfd, int(fd), 0)
    if mine >= 0:
        buf = ctypes.create_string_buffer(256)
        attr = ctypes.create_string_buffer(struct.pack("IIQ", mine, 256, ctypes.addressof(buf)), 128)
        if libc.syscall(SYS_bpf, BPF_OBJ_GET_INFO_BY_FD, attr, 16) == 0:
            name = buf.raw[64:80].split(b"\0")[0].decode()  # struct bpf_prog_info.name
        os.close(mine)
    print(info["prog_id"].strip(), name, info.get("run_time_ns", "0").strip(), info.get("run_cnt", "0").strip())
EOF
}

flag= scheme=http
[ "$mode" = tls ] && flag=-tls scheme=https
coproc SERVER { exec "$work/httpload" serve $flag; }
server_pid=$SERVER_PID
read -r port <&"${SERVER[0]}"
"$work/kscope" trace http --json -v >/dev/null 2>"$work/tracer.log" &
tracer_pid=$!
for _ in $(seq 600); do
	grep -q msg=attached "$work/tracer.log" && break
	kill -0 "$tracer_pid" 2>/dev/null || { cat "$work/tracer.log" >&2; exit 1; }
	sleep 0.1
done
echo 1 >/proc/sys/kernel/bpf_stats_enabled
snap "$tracer_pid" | sort >"$work/before"
read -r n secs < <("$work/httpload" load -url "$scheme://127.0.0.1:$port/" -c "$conns" -d "${dur}s" | awk '{print $2, $4}')
snap "$tracer_pid" | sort >"$work/after"
echo "$stats" >/proc/sys/kernel/bpf_stats_enabled
kill -INT "$tracer_pid"
wait "$tracer_pid" || true
tracer_pid=

echo "$mode: $n requests in ${secs}s, $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-16s %10s %8s %8s\n' program runs/req ns/run ns/req
join "$work/before" "$work/after" | awk -v n="$n" '
	{ dt = $6 - $3; dc = $7 - $4; if (dc > 0) { printf "%-16s %10.2f %8.0f %8.0f\n", $2, dc / n, dt / dc, dt / n; tot += dt } }
	END { printf "%-16s %10s %8s %8.0f\n", "total", "", "", tot / n }'
grep "events shown" "$work/tracer.log" || true
