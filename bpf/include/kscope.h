/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Shared by every kscope BPF program: the event header, the in-kernel filter
 * knobs set from Go before load, the per-CPU stats counters and the ring
 * buffer submit policy. Each collector compiles exactly one .bpf.c file that
 * includes this header, so the globals below exist once per object.
 */
#ifndef __KSCOPE_H
#define __KSCOPE_H

#include "kscope_arch.h"

#define TASK_COMM_LEN 16

/* Indexes of the per-CPU stats array, mirrored in internal/bpfx. */
enum kscope_stat {
	STAT_LOST = 0,     /* ring buffer full or pending map full */
	STAT_FILTERED = 1, /* dropped in the kernel by a filter */
	STAT_MAX = 4,
};

struct event_header {
	__u64 ts_ns;     /* CLOCK_MONOTONIC */
	__u64 cgroup_id; /* cgroup v2 id */
	__u64 start_ns;  /* the process's start: its group leader's start_time, CLOCK_MONOTONIC */
	__u64 pstart_ns; /* the parent's start, likewise */
	__u32 pid;       /* tgid */
	__u32 tid;
	__u32 ppid;
	__u32 uid;
	__u8 comm[TASK_COMM_LEN];
};

/* Filters, rewritten from Go before load; the verifier prunes disabled ones. */
const volatile __u32 filter_pid = 0;
const volatile __u32 filter_uid = 0;
const volatile __u8 filter_uid_on = 0;
const volatile __u8 filter_comm[TASK_COMM_LEN] = {};
const volatile __u8 filter_comm_on = 0;
const volatile __u8 filter_failed = 0;
/* Wake the reader once per this many bytes produced; it polls on a deadline too. */
const volatile __u64 wakeup_bytes = 1 << 20;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22); /* resized from Go */
} events SEC(".maps");

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &idx);

	if (v)
		*v += 1;
}

/* True when the current task passes the pid, uid and comm filters. */
static __always_inline bool want_task(__u64 pid_tgid, __u32 uid)
{
	if (filter_pid && (__u32)(pid_tgid >> 32) != filter_pid)
		return false;
	if (filter_uid_on && uid != filter_uid)
		return false;
	if (filter_comm_on) {
		char comm[TASK_COMM_LEN];

		bpf_get_current_comm(comm, sizeof(comm));
		for (int i = 0; i < TASK_COMM_LEN; i++) {
			if (comm[i] != filter_comm[i])
				return false;
			if (comm[i] == 0)
				break;
		}
	}
	return true;
}

/* Counts a filtered event and returns 0, so callers can `return drop();`. */
static __always_inline int drop(void)
{
	count(STAT_FILTERED);
	return 0;
}

static __always_inline void fill_header(struct event_header *h, __u64 pid_tgid, __u32 uid)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	h->ts_ns = bpf_ktime_get_ns();
	h->cgroup_id = bpf_get_current_cgroup_id();
	h->pid = pid_tgid >> 32;
	h->tid = (__u32)pid_tgid;
	h->ppid = BPF_CORE_READ(task, real_parent, tgid);
	/* pid and start time together name one process even after pid reuse. */
	h->start_ns = BPF_CORE_READ(task, group_leader, start_time);
	h->pstart_ns = BPF_CORE_READ(task, real_parent, group_leader, start_time);
	h->uid = uid;
	bpf_get_current_comm(h->comm, sizeof(h->comm));
}

/* The current uid as bpf_get_current_uid_gid reports it, by direct loads. */
static __always_inline __u32 current_uid_btf(void)
{
	return bpf_get_current_task_btf()->cred->uid.val;
}

/*
 * fill_header with direct loads through BTF pointers instead of probe-read
 * helper calls; for programs that already need bpf_get_current_task_btf
 * (Linux 5.11+). CO-RE relocates the field offsets all the same.
 */
static __always_inline void fill_header_btf(struct event_header *h, __u64 pid_tgid, __u32 uid)
{
	struct task_struct *task = bpf_get_current_task_btf();

	h->ts_ns = bpf_ktime_get_ns();
	h->cgroup_id = bpf_get_current_cgroup_id();
	h->pid = pid_tgid >> 32;
	h->tid = (__u32)pid_tgid;
	h->ppid = task->real_parent->tgid;
	h->start_ns = task->group_leader->start_time;
	h->pstart_ns = task->real_parent->group_leader->start_time;
	h->uid = uid;
	/* Two loads instead of bpf_get_current_comm's copy loop. */
	*(__u64 *)&h->comm[0] = *(__u64 *)&task->comm[0];
	*(__u64 *)&h->comm[8] = *(__u64 *)&task->comm[8];
}

/*
 * Submit flags: wake the reader once per wakeup_bytes produced, when the
 * producer position crosses a multiple of it, and not otherwise; the reader
 * also polls on a deadline. Waking on every record costs the producer an
 * interrupt each time, and waking on every record while data waits does the
 * same as soon as the reader falls behind. prod counts this record already;
 * size is the record's, its 8-byte ring header included.
 */
static __always_inline __u64 wakeup_flags(__u64 prod, __u64 size)
{
	return prod / wakeup_bytes != (prod - size) / wakeup_bytes ? BPF_RB_FORCE_WAKEUP
								    : BPF_RB_NO_WAKEUP;
}

/* Copies size bytes of rec into the ring buffer, counting a loss when full. */
static __always_inline void output(void *rec, __u64 size)
{
	__u64 prod = bpf_ringbuf_query(&events, BPF_RB_PROD_POS) + size + 8;

	if (bpf_ringbuf_output(&events, rec, size, wakeup_flags(prod, size + 8)))
		count(STAT_LOST);
}

/* Reserves a record, counting a loss when the ring buffer is full. */
static __always_inline void *reserve(__u64 size)
{
	void *rec = bpf_ringbuf_reserve(&events, size, 0);

	if (!rec)
		count(STAT_LOST);
	return rec;
}

/* Submits a record of size bytes from reserve(). */
static __always_inline void submit(void *rec, __u64 size)
{
	__u64 prod = bpf_ringbuf_query(&events, BPF_RB_PROD_POS);

	bpf_ringbuf_submit(rec, wakeup_flags(prod, size + 8));
}

/*
 * Stats index for events sent with a string that could not be read from user
 * memory (flagged in the event, e.g. argv_unavailable). It follows enum
 * kscope_stat's numbering (below STAT_MAX); a macro, so objects that do not
 * use it are unchanged.
 */
#define STAT_UNREADABLE 2

#endif /* __KSCOPE_H */
