// SPDX-License-Identifier: GPL-2.0-only
/*
 * minimal: the least a ring-buffer tracer can do per event, as a floor for
 * the kscope benchmark. On syscall exit it reserves an 8-byte record
 * {pid, ret}, fills it and submits it; no filters, no pending map, no
 * strings. Only the program for the hook under test is loaded. How the
 * reader is woken is a knob, because on a busy hook it is most of the cost.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct min_event {
	__u32 pid; /* tgid */
	__s32 ret;
};

/* Force BTF for bpf2go -type. */
const struct min_event *unused_min_event __attribute__((unused));

/* How the reader is woken up; set from Go before load. */
enum wakeup_mode {
	/* No flag: the kernel wakes the reader when it has caught up. */
	WAKEUP_EAGER = 0,
	/*
	 * Level-triggered: force a wakeup on every submit while at least
	 * wakeup_bytes wait, none below. The reader also polls on a deadline.
	 */
	WAKEUP_LEVEL = 1,
	/*
	 * As kscope.h does: force a wakeup once per wakeup_bytes produced
	 * (when the producer position crosses a multiple of it), none
	 * otherwise. The reader also polls on a deadline.
	 */
	WAKEUP_BATCH = 2,
};

const volatile __u8 wakeup_mode = WAKEUP_EAGER;
const volatile __u64 wakeup_bytes = 1 << 20;

/* Records that did not fit in the ring buffer. */
__u64 lost = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 23); /* kscope's default */
} events SEC(".maps");

/* Submit flags for a record of size bytes (its 8-byte ring header included). */
static __always_inline __u64 wakeup_flags(__u64 size)
{
	__u64 avail, prod;

	switch (wakeup_mode) {
	case WAKEUP_LEVEL:
		avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
		return avail >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
	case WAKEUP_BATCH:
		/* The producer position already counts this record. */
		prod = bpf_ringbuf_query(&events, BPF_RB_PROD_POS);
		return prod / wakeup_bytes != (prod - size) / wakeup_bytes ?
			       BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
	default:
		return 0;
	}
}

static __always_inline int emit(long ret)
{
	struct min_event *e;

	/* Reserve first and bail out when the ring is full. */
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&lost, 1);
		return 0;
	}
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->ret = ret;
	/* 8 bytes of ring header; records are 8-byte aligned. */
	bpf_ringbuf_submit(e, wakeup_flags((sizeof(*e) + 8 + 7) & ~7ULL));
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_openat")
int sys_exit_openat(struct trace_event_raw_sys_exit *ctx)
{
	return emit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_execve")
int sys_exit_execve(struct trace_event_raw_sys_exit *ctx)
{
	return emit(ctx->ret);
}
