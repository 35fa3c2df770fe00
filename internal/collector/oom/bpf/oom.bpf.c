// SPDX-License-Identifier: GPL-2.0-only
/*
 * oom: processes killed by the out-of-memory killer, with the victim's
 * memory as the kernel logged it, its cgroups and the task that ran the
 * killer.
 *
 * __oom_kill_process sends SIGKILL (SEND_SIG_PRIV) to the victim, then
 * marks it (oom:mark_victim), in the killing task's context. A victim is
 * also marked without a kill when it is exiting anyway and only gets access
 * to the memory reserves; like the kernel's oom_kill counters, only marks
 * right after the SIGKILL count. signal_generate notes that SIGKILL per
 * killing task, with the victim's task_struct: the victim's process, comm,
 * uid and cgroups come from it on every kernel. The memory sizes come from
 * the record, which has only the victim's pid before Linux 6.9 (72ba14deb40a
 * "mm: update mark_victim tracepoints fields", backported to some stable
 * kernels); they are 0 there.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "kscope.h"

char LICENSE[] SEC("license") = "GPL";

#define SIGKILL 9
#define SEND_SIG_PRIV 1

struct oom_event {
	struct event_header hdr; /* the victim (pid: its process, tid: the task marked) */
	__u64 memcg_id;          /* the victim's memory cgroup */
	__u64 total_vm_kb;       /* sizes as the record has them, 0 where it has not */
	__u64 anon_rss_kb;
	__u64 file_rss_kb;
	__u64 shmem_rss_kb;
	__u64 pgtables_kb;
	__u32 trigger_pid; /* the task that ran the killer */
	__u32 trigger_tid;
	__s16 oom_score_adj;
	__u16 _pad;
	__u32 _pad2;
	__u8 trigger_comm[TASK_COMM_LEN];
};

const struct oom_event *unused_oom_event __attribute__((unused));

/* A SIGKILL the kernel sent, by the sending task's tid. */
struct kill {
	__u64 task; /* struct task_struct * of the target */
	__u64 ts_ns;
	__u32 pid;  /* its pid (thread id) */
	__u32 _pad;
};

/* The mark follows the SIGKILL within microseconds; an older one is another kill's. */
#define KILL_TO_MARK_NS 1000000000ULL

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct kill);
} kills SEC(".maps");

/* [0]: OOM kills. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

SEC("raw_tracepoint/signal_generate")
int signal_generate(struct bpf_raw_tracepoint_args *ctx)
{
	/* TP_PROTO(int sig, struct kernel_siginfo *info, struct task_struct *task, int group, int result) */
	struct task_struct *task = (struct task_struct *)ctx->args[2];
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct kill k = {};

	if ((int)ctx->args[0] != SIGKILL || ctx->args[1] != SEND_SIG_PRIV)
		return 0;
	k.task = (__u64)task;
	k.ts_ns = bpf_ktime_get_ns();
	k.pid = BPF_CORE_READ(task, pid);
	bpf_map_update_elem(&kills, &tid, &k, BPF_ANY);
	return 0;
}

/* The id of the task's memory cgroup, in whichever hierarchy has memory. */
static __always_inline __u64 memcg_id(struct task_struct *task)
{
	struct cgroup_subsys_state *css = NULL;
	struct css_set *cgroups;

	if (!bpf_core_enum_value_exists(enum cgroup_subsys_id, memory_cgrp_id))
		return 0; /* built without memory cgroups */
	cgroups = BPF_CORE_READ(task, cgroups);
	bpf_probe_read_kernel(&css, sizeof(css),
			      &cgroups->subsys[bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id)]);
	if (!css)
		return 0;
	return BPF_CORE_READ(css, cgroup, kn, id);
}

/* The pid, uid and comm filters, applied to the victim. */
static __always_inline bool want_victim(__u32 tgid, __u32 uid, const __u8 *comm)
{
	if (filter_pid && tgid != filter_pid)
		return false;
	if (filter_uid_on && uid != filter_uid)
		return false;
	if (filter_comm_on) {
		for (int i = 0; i < TASK_COMM_LEN; i++) {
			if (comm[i] != filter_comm[i])
				return false;
			if (comm[i] == 0)
				break;
		}
	}
	return true;
}

SEC("tracepoint/oom/mark_victim")
int mark_victim(struct trace_event_raw_mark_victim *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid, zero = 0;
	struct task_struct *victim;
	struct oom_event *e;
	struct kill *k;
	__u64 *n;

	/* A kill: this task sent the victim SIGKILL just before. */
	k = bpf_map_lookup_elem(&kills, &tid);
	if (!k || k->pid != (__u32)ctx->pid || bpf_ktime_get_ns() - k->ts_ns > KILL_TO_MARK_NS)
		return 0;
	victim = (struct task_struct *)k->task;
	bpf_map_delete_elem(&kills, &tid);
	n = bpf_map_lookup_elem(&counts, &zero);
	if (n)
		*n += 1;

	e = reserve(sizeof(*e));
	if (!e)
		return 0;
	e->hdr.ts_ns = bpf_ktime_get_ns();
	e->hdr.cgroup_id = BPF_CORE_READ(victim, cgroups, dfl_cgrp, kn, id);
	e->hdr.pid = BPF_CORE_READ(victim, tgid);
	e->hdr.tid = BPF_CORE_READ(victim, pid);
	e->hdr.ppid = BPF_CORE_READ(victim, real_parent, tgid);
	e->hdr.start_ns = BPF_CORE_READ(victim, group_leader, start_time);
	e->hdr.pstart_ns = BPF_CORE_READ(victim, real_parent, group_leader, start_time);
	e->hdr.uid = BPF_CORE_READ(victim, cred, uid.val);
	BPF_CORE_READ_STR_INTO(&e->hdr.comm, victim, comm);
	if (!want_victim(e->hdr.pid, e->hdr.uid, e->hdr.comm)) {
		bpf_ringbuf_discard(e, BPF_RB_NO_WAKEUP);
		return drop();
	}
	e->memcg_id = memcg_id(victim);
	e->total_vm_kb = e->anon_rss_kb = e->file_rss_kb = e->shmem_rss_kb = e->pgtables_kb = 0;
	if (bpf_core_field_exists(ctx->total_vm)) {
		e->total_vm_kb = ctx->total_vm;
		e->anon_rss_kb = ctx->anon_rss;
		e->file_rss_kb = ctx->file_rss;
		e->shmem_rss_kb = ctx->shmem_rss;
	}
	if (bpf_core_field_exists(ctx->pgtables))
		e->pgtables_kb = ctx->pgtables;
	e->oom_score_adj = BPF_CORE_READ(victim, signal, oom_score_adj);
	e->trigger_pid = pid_tgid >> 32;
	e->trigger_tid = tid;
	bpf_get_current_comm(e->trigger_comm, sizeof(e->trigger_comm));
	e->_pad = 0;
	e->_pad2 = 0;
	submit(e, sizeof(*e));
	return 0;
}
