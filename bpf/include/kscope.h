/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Shared by every kscope BPF program: the event header, the in-kernel filter
 * knobs set from Go before load, the per-CPU stats counters and the ring
 * buffer submit policy. Each collector compiles exactly one .bpf.c file that
 * includes this header, so the globals below exist once per object.
 */
#ifndef __KSCOPE_H
#define __KSCOPE_H

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
/* Wake the reader only once this many bytes wait; it polls on a deadline too. */
const volatile __u64 wakeup_bytes = 1;

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
	h->uid = uid;
	bpf_get_current_comm(h->comm, sizeof(h->comm));
}

/* Submit flags: wake the reader only when enough data is waiting. */
static __always_inline __u64 wakeup_flags(void)
{
	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

/* Copies size bytes of rec into the ring buffer, counting a loss when full. */
static __always_inline void output(void *rec, __u64 size)
{
	if (bpf_ringbuf_output(&events, rec, size, wakeup_flags()))
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

static __always_inline void submit(void *rec)
{
	bpf_ringbuf_submit(rec, wakeup_flags());
}

#endif /* __KSCOPE_H */
