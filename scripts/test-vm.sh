#!/usr/bin/env bash
# test-vm.sh — run kscope's privileged tests on Debian's stock kernel.
#
# Builds a static test binary (CGO_ENABLED=0 go test -c) for each package that
# has tests and runs each as the only process of a throw-away QEMU VM booting
# Debian's stock bookworm kernel (scripts/kernel-vm), with -test.v. There,
# kprobes, fentry/fexit and BPF LSM work, unlike on kscope's development
# machines. A skip for a missing kernel feature fails (KSCOPE_REQUIRE_ALL=1),
# and the feature probes are held to what that kernel truly supports.
#
# Usage:
#   scripts/test-vm.sh [options] [PACKAGE...]
#
#   default packages: ./internal/bpfx ./internal/doctor ./internal/agent ./internal/collector/...
#   (package patterns as for go list; packages without test files are skipped)
#
# Options:
#   -r REGEX   only run tests matching REGEX (-test.run)
#   -k PKG     kernel package for kernel-vm (default: Debian's stock kernel).
#              The expected features below are Debian 6.1's: set
#              KSCOPE_EXPECT_SUPPORTED / KSCOPE_EXPECT_UNSUPPORTED for another.
#   -M MODS    kernel modules to load in the guest first (kernel-vm -M;
#              default loop, for the block tests; -M '' loads none)
#   -q         do not stream test output; show it only for failed packages
#   -h         this help
#
# Environment: KSCOPE_EXPECT_SUPPORTED, KSCOPE_EXPECT_UNSUPPORTED override the
# expectations; KERNEL_VM_* are passed on to kernel-vm.
# Exit code: 0 when every package passed, 1 otherwise, 2 on bad usage.
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

# What Debian's stock bookworm kernel (6.1) does, found by running the probes
# there (internal/bpfx TestProbeFeatures). Not there: kprobe_multi (built
# without CONFIG_FPROBE: EOPNOTSUPP), uprobe_multi (6.6+: EINVAL) and tcx
# (6.6+). perf_event_hardware is in neither list: it depends on whether the
# VM has a PMU (not under TCG, maybe under KVM).
DEBIAN_SUPPORTED=tracepoint,raw_tracepoint,tp_btf,kprobe,kretprobe,fentry,fexit,uprobe,uretprobe,usdt,perf_event_software,ringbuf,xdp,cgroup_skb,cgroup_sock_addr,lsm,bpf_send_signal,task_iter
DEBIAN_UNSUPPORTED=kprobe_multi,uprobe_multi,tcx

# Debian builds the loop driver as a module; the block tests need it.
RUN="" KPKG="" MODS="loop" QUIET=0
while getopts "r:k:M:qh" o; do
	case "$o" in
	r) RUN="$OPTARG" ;;
	k) KPKG="$OPTARG" ;;
	M) MODS="$OPTARG" ;;
	q) QUIET=1 ;;
	h) usage 0 ;;
	*) usage 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || set -- ./internal/bpfx ./internal/doctor ./internal/agent ./internal/collector/... ./internal/probe/run

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VM="$ROOT/scripts/kernel-vm"
cd "$ROOT"

# packages with test files, as import path and directory
mapfile -t PKGS < <(go list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}} {{.Dir}}{{end}}' "$@" | sed '/^$/d')
if [ ${#PKGS[@]} -eq 0 ]; then
	echo "test-vm: no package with tests in: $*" >&2
	exit 2
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/kscope-test-vm.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

VMARGS=(-e "KSCOPE_REQUIRE_ALL=1"
	-e "KSCOPE_EXPECT_SUPPORTED=${KSCOPE_EXPECT_SUPPORTED-$DEBIAN_SUPPORTED}"
	-e "KSCOPE_EXPECT_UNSUPPORTED=${KSCOPE_EXPECT_UNSUPPORTED-$DEBIAN_UNSUPPORTED}")
[ -z "$KPKG" ] || VMARGS+=(-k "$KPKG")
[ -z "$MODS" ] || VMARGS+=(-M "$MODS")
# The guest has only the test binary and busybox: tests that build C
# workloads with gcc or go build run on the host only (their names end in
# GCC or GoBuild), and so do the http collector's tests that run curl and
# python3. The guest is emulated (TCG): a short process there lives longer
# than the agent's collection interval and a query's shutdown takes longer
# than its bound, so the tests of those user-space behaviours run on the
# host only too. Tests whose names end in Netns build network namespaces,
# veth pairs and nftables rules with iproute2 and nft: host only as well.
# Tests whose names end in Docker run containers: host only (dockerd).
# The bpftrace tools corpus (/usr/sbin/*.bt) is on the host only, and so
# are the checks that read the source tree (go list, the generated objects
# of every target)
# and the tests that start Debian's prometheus, alertmanager or promtool,
# or compare with its tcpdump or tshark. Tests whose names end in
# OTelCollector start the OpenTelemetry Collector scripts/otelcol.sh
# builds on the host: host only.
TESTARGS=(-test.v -test.skip '^TestOnCPUCLeaf$|^TestDifferentialTcpdump$|^TestTshark$|GCC$|GoBuild$|Netns$|Docker$|^TestCurlOpenSSL$|^TestPythonServerOpenSSL$|^TestForkStormSeries$|^TestAgentHostileQueries$|^TestToolsCorpusVerifies$|^TestNoCollectorImports$|^TestHeaderLayout$|^TestObjectsForEveryTarget$|^TestRemoteWriteToPrometheus$|^TestRulesAlertmanager$|^TestRulesAPIMatchesPrometheus$|^TestShippedRulesPromtool$|OTelCollector$')
[ -z "$RUN" ] || TESTARGS+=(-test.run "$RUN")

# build everything first: a compile error should not cost a VM boot
for p in "${PKGS[@]}"; do
	pkg=${p%% *}
	bin="$WORK/$(echo "${pkg#github.com/kscope/kscope/}" | tr / -).test"
	echo "test-vm: building $pkg" >&2
	CGO_ENABLED=0 go test -c -o "$bin" "$pkg"
done

SUMMARY=() FAILED=0 P=0 F=0 S=0
for p in "${PKGS[@]}"; do
	pkg=${p%% *} dir=${p#* }
	short=${pkg#github.com/kscope/kscope/}
	bin="$WORK/$(echo "$short" | tr / -).test"
	log="$WORK/$(echo "$short" | tr / -).log"
	add=()
	[ -d "$dir/testdata" ] && add=(-a "$dir/testdata")
	echo "test-vm: running $short" >&2
	start=$(date +%s)
	rc=0
	if [ "$QUIET" = 1 ]; then
		"$VM" "${VMARGS[@]}" "${add[@]}" "$bin" "${TESTARGS[@]}" >"$log" 2>&1 || rc=$?
	else
		# with pipefail: kernel-vm's exit code, unless tee failed
		"$VM" "${VMARGS[@]}" "${add[@]}" "$bin" "${TESTARGS[@]}" 2>&1 | tee "$log" || rc=$?
	fi
	secs=$(($(date +%s) - start))
	kernel=$(sed -n 's/^kernel-vm: exit=[0-9]* (\([^ ]*\) .*/\1/p' "$log" | tail -1)
	P=$((P + $(grep -c -- '^--- PASS' "$log" || true))) F=$((F + $(grep -c -- '^--- FAIL' "$log" || true))) S=$((S + $(grep -c -- '^--- SKIP' "$log" || true)))
	counts="$(grep -c -- '^--- PASS' "$log" || true) passed, $(grep -c -- '^--- FAIL' "$log" || true) failed, $(grep -c -- '^--- SKIP' "$log" || true) skipped (top level)"
	if [ "$rc" = 0 ]; then
		SUMMARY+=("ok    $short  ${secs}s  kernel ${kernel:-?}  $counts")
	else
		FAILED=1
		SUMMARY+=("FAIL  $short  ${secs}s  kernel ${kernel:-?}  exit $rc  $counts")
		[ "$QUIET" = 0 ] || cat "$log"
	fi
	while read -r line; do
		SUMMARY+=("      ${line#*kscope-features: }")
	done < <(grep -o 'kscope-features: .*' "$log" | head -1 | sed 's/ unsupported=/\nunsupported=/')
done

echo
echo "test-vm summary:"
printf '  %s\n' "${SUMMARY[@]}"
echo "test-vm: $P passed, $F failed, $S skipped"
exit "$FAILED"
