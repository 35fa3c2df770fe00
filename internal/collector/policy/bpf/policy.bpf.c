// SPDX-License-Identifier: GPL-2.0-only
/*
 * policy: kscope policy rules matched in the kernel.
 *
 * Each rule is one bit of a 64-bit mask. Every selector kind is a
 * dimension: a hash set or a longest-prefix trie maps the event's value to
 * the rules it satisfies (pos) and the rules its not_ lists exclude (neg),
 * and a rule without that selector passes the dimension whatever the value.
 * The rules an event matches are the AND of its dimensions, so the cost of
 * an event is a fixed number of map lookups, whatever the number of rules.
 *
 * exec is matched on sched_process_exec, in the new program's task after
 * the exec can no longer fail and before it returns to user space: a kill
 * there (bpf_send_signal(SIGKILL)) ends the task before the new program
 * runs one instruction. open is matched on the syscall's exit, where the
 * kernel has copied the path, so a path the caller had not touched yet is
 * readable; a kill there ends the task before it sees the descriptor.
 * connect is matched by cgroup/connect4 and connect6 programs, which deny
 * by returning 0 (the caller gets EPERM).
 *
 * Rules whose selectors need user space (globs, parent, args) are only
 * candidates here (user_stage): they are sent, never acted on.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "kscope.h"

char LICENSE[] SEC("license") = "GPL";

#define PATH_MAX_KEY 256
#define MAX_RULES 64
#define SIGKILL 9

enum {
	ON_EXEC = 1,
	ON_OPEN = 2,
	ON_CONNECT = 3,
};

enum {
	DIM_BINARY = 0,
	DIM_FILE = 1,
	DIM_PARENT = 2,
};

struct policy_event {
	struct event_header hdr;
	__u64 matched;   /* rules matched (candidates for user-stage rules) */
	__u64 acted;     /* rules whose kill or deny was carried out */
	__s32 act_ret;   /* bpf_send_signal's result, 0 for a deny */
	__s32 ret;       /* open: the syscall's result */
	__u32 flags;     /* open: the flags */
	__u8 on;         /* ON_* */
	__u8 family;     /* connect: 2 or 10 */
	__u8 proto;      /* connect: 6 or 17 */
	__u8 access;     /* open: access bits */
	__u16 dport;     /* connect: host order */
	__u16 _pad;
	__u8 daddr[16];  /* connect: 4 or 16 bytes, network order */
	char path[PATH_MAX_KEY];
};

/* Force BTF for bpf2go -type. */
const struct policy_event *unused_policy_event __attribute__((unused));

struct masks {
	__u64 pos;
	__u64 neg;
};

/* A path key: the hash sets use it with prefixlen 0, the tries with the
 * bits of dim and the path. A trie's data is at most 256 bytes, so a path
 * holds 254 bytes and its NUL. */
struct path_key {
	__u32 prefixlen;
	__u8 dim;
	char path[PATH_MAX_KEY - 1];
};

struct v4_key {
	__u32 prefixlen;
	__u8 addr[4];
};

struct v6_key {
	__u32 prefixlen;
	__u8 addr[16];
};

/* The compiled rules, written from Go before load. */
const volatile __u64 on_exec = 0, on_open = 0, on_connect = 0;
const volatile __u64 has_binary = 0, has_file = 0, has_uid = 0, has_comm = 0;
const volatile __u64 has_access = 0, has_cidr = 0, has_port = 0;
const volatile __u64 not_root = 0, proto_tcp = 0, proto_udp = 0;
const volatile __u64 access_rules[4] = {};
const volatile __u64 user_stage = 0, kill_rules = 0, deny_rules = 0;
const volatile __u64 has_parent = 0;
/* Some rule reads the binary of a process that is not exec'ing (open,
 * connect) or of a parent: keep the procs map. */
const volatile __u8 track_procs = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct path_key);
	__type(value, struct masks);
} paths SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 4096);
	__type(key, struct path_key);
	__type(value, struct masks);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} prefixes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} uids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, char[TASK_COMM_LEN]);
	__type(value, __u64);
} comms SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u16);
	__type(value, __u64);
} ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1024);
	__type(key, struct v4_key);
	__type(value, struct masks);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} cidrs4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1024);
	__type(key, struct v6_key);
	__type(value, struct masks);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} cidrs6 SEC(".maps");

/* Matches per rule, counted here so that a full ring buffer loses no count. */
__u64 match_count[MAX_RULES] = {};

/*
 * What each process's binary makes of the rules, computed when it execs
 * (and seeded from /proc by user space for the processes already running):
 * the rules its binary passes as the process's binary (bin) and as a
 * parent's binary (parent). A fork inherits its parent's entry.
 */
struct proc {
	__u64 bin;
	__u64 parent;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32); /* tgid */
	__type(value, struct proc);
} procs SEC(".maps");

/* An open between syscall entry and exit. */
struct pending_open {
	__u64 filename;
	__u32 flags;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, struct pending_open);
} pending SEC(".maps");

struct scratch {
	struct path_key key;
	struct policy_event e;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch SEC(".maps");

/* The rules the current task's uid and comm pass. */
static __always_inline __u64 task_rules(__u32 uid, char *comm)
{
	__u64 ok = ~0ULL, *m;
	__u64 pass = 0;

	if (uid == 0)
		ok &= ~not_root;
	m = bpf_map_lookup_elem(&uids, &uid);
	pass = m ? *m : 0;
	ok &= pass | ~has_uid;
	m = bpf_map_lookup_elem(&comms, comm);
	pass = m ? *m : 0;
	ok &= pass | ~has_comm;
	return ok;
}

/* The rules key's path passes in dimension dim; key->path holds the path,
 * zero-padded, n its length without the NUL. */
static __always_inline __u64 path_rules(struct path_key *key, __u8 dim, long n, __u64 has)
{
	struct masks *m;
	__u64 pos = 0, neg = 0;

	key->dim = dim;
	key->prefixlen = 0;
	m = bpf_map_lookup_elem(&paths, key);
	if (m) {
		pos |= m->pos;
		neg |= m->neg;
	}
	key->prefixlen = (__u32)(n + 1) * 8;
	m = bpf_map_lookup_elem(&prefixes, key);
	if (m) {
		pos |= m->pos;
		neg |= m->neg;
	}
	return (pos | ~has) & ~neg;
}

/* The rules a process's binary passes: as its own binary, or as a parent's.
 * A process kscope has not seen exec passes the rules with only not_ lists,
 * as an unknown path does. */
static __always_inline __u64 proc_rules(__u32 tgid, bool parent)
{
	struct proc *p = bpf_map_lookup_elem(&procs, &tgid);

	if (parent)
		return p ? p->parent : ~has_parent;
	return p ? p->bin : ~has_binary;
}

/* Counts the matched rules, one by one. */
static __always_inline void count_matches(__u64 matched)
{
	for (__u32 i = 0; i < MAX_RULES; i++) {
		if (matched & (1ULL << i))
			__sync_fetch_and_add(&match_count[i], 1);
	}
}

static __always_inline struct scratch *get_scratch(void)
{
	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch, &zero);

	if (s)
		__builtin_memset(&s->key, 0, sizeof(s->key));
	return s;
}

/* Sends the scratch event; a full ring buffer is counted as lost. */
static __always_inline void send(struct policy_event *e)
{
	if (bpf_ringbuf_output(&events, e, sizeof(*e), 0))
		count(STAT_LOST);
}

SEC("tracepoint/sched/sched_process_exec")
int policy_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 uid = (__u32)bpf_get_current_uid_gid();
	struct policy_event *e;
	struct scratch *s;
	__u64 matched, bin;
	long n;

	if (!on_exec && !track_procs)
		return 0;
	s = get_scratch();
	if (!s)
		return 0;
	e = &s->e;
	fill_header(&e->hdr, pid_tgid, uid);
	n = bpf_probe_read_kernel_str(s->key.path, sizeof(s->key.path),
				      (void *)ctx + (ctx->__data_loc_filename & 0xFFFF));
	if (n <= 0)
		return 0;
	bin = path_rules(&s->key, DIM_BINARY, n - 1, has_binary);
	if (track_procs) {
		struct proc p = {.bin = bin};
		__u32 tgid = pid_tgid >> 32;

		p.parent = path_rules(&s->key, DIM_PARENT, n - 1, has_parent);
		bpf_map_update_elem(&procs, &tgid, &p, BPF_ANY);
	}
	matched = on_exec & task_rules(uid, (char *)e->hdr.comm) & bin;
	if (has_parent & matched)
		matched &= proc_rules(e->hdr.ppid, true);
	if (!matched)
		return 0;
	count_matches(matched & ~user_stage);
	e->matched = matched;
	e->acted = 0;
	e->act_ret = 0;
	e->on = ON_EXEC;
	if (matched & kill_rules & ~user_stage) {
		/* The new program has not run: SIGKILL ends it on the way out. */
		e->act_ret = bpf_send_signal(SIGKILL);
		e->acted = matched & kill_rules & ~user_stage;
	}
	__builtin_memcpy(e->path, s->key.path, sizeof(s->key.path));
	send(e);
	return 0;
}

SEC("tracepoint/sched/sched_process_fork")
int policy_fork(struct trace_event_raw_sched_process_fork *ctx)
{
	__u32 parent = bpf_get_current_pid_tgid() >> 32;
	__u32 child = ctx->child_pid;
	struct proc *p;

	/* A thread's id never names a process here; its entry ages out. */
	p = bpf_map_lookup_elem(&procs, &parent);
	if (p)
		bpf_map_update_elem(&procs, &child, p, BPF_ANY);
	return 0;
}

static __always_inline int open_enter(const char *filename, __u32 flags)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid;
	struct pending_open p = {.filename = (__u64)filename, .flags = flags};

	if (!on_open)
		return 0;
	if (bpf_map_update_elem(&pending, &tid, &p, BPF_ANY))
		count(STAT_LOST);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_openat")
int policy_openat(struct trace_event_raw_sys_enter *ctx)
{
	return open_enter((const char *)ctx->args[1], (__u32)ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_enter_open")
int policy_open(struct trace_event_raw_sys_enter *ctx)
{
	return open_enter((const char *)ctx->args[0], (__u32)ctx->args[1]);
}

static __always_inline __u8 access_bits(__u32 flags)
{
	__u8 a = 0;

	switch (flags & 3) {
	case 0:
		a = 1; /* read */
		break;
	case 1:
		a = 2; /* write */
		break;
	case 2:
		a = 3;
		break;
	}
	if (flags & 0100)
		a |= 4; /* create */
	if (flags & 01000)
		a |= 8; /* truncate */
	return a;
}

static __always_inline int open_exit(long ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 uid = (__u32)bpf_get_current_uid_gid();
	__u32 tid = (__u32)pid_tgid;
	struct pending_open *p;
	struct policy_event *e;
	struct scratch *s;
	__u64 matched, acc = 0;
	__u64 filename;
	__u32 flags;
	__u8 a;
	long n;

	p = bpf_map_lookup_elem(&pending, &tid);
	if (!p)
		return 0;
	filename = p->filename;
	flags = p->flags;
	bpf_map_delete_elem(&pending, &tid);
	s = get_scratch();
	if (!s)
		return 0;
	e = &s->e;
	fill_header(&e->hdr, pid_tgid, uid);
	matched = on_open & task_rules(uid, (char *)e->hdr.comm);
	if (has_binary & matched)
		matched &= proc_rules(pid_tgid >> 32, false);
	if (has_parent & matched)
		matched &= proc_rules(e->hdr.ppid, true);
	if (!matched)
		return 0;
	a = access_bits(flags);
	if (a & 1)
		acc |= access_rules[0];
	if (a & 2)
		acc |= access_rules[1];
	if (a & 4)
		acc |= access_rules[2];
	if (a & 8)
		acc |= access_rules[3];
	matched &= acc | ~has_access;
	if (!matched)
		return 0;
	/* The kernel copied the path on entry, so its pages are resident. */
	n = bpf_probe_read_user_str(s->key.path, sizeof(s->key.path), (const char *)filename);
	if (n <= 0) {
		count(STAT_UNREADABLE);
		return 0;
	}
	matched &= path_rules(&s->key, DIM_FILE, n - 1, has_file);
	if (!matched)
		return 0;
	count_matches(matched & ~user_stage);
	e->matched = matched;
	e->acted = 0;
	e->act_ret = 0;
	e->on = ON_OPEN;
	e->ret = ret;
	e->flags = flags;
	e->access = a;
	if (matched & kill_rules & ~user_stage) {
		/* The descriptor is installed, but the task dies on its way out. */
		e->act_ret = bpf_send_signal(SIGKILL);
		e->acted = matched & kill_rules & ~user_stage;
	}
	__builtin_memcpy(e->path, s->key.path, sizeof(s->key.path));
	send(e);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_openat")
int policy_openat_exit(struct trace_event_raw_sys_exit *ctx)
{
	return open_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_open")
int policy_open_exit(struct trace_event_raw_sys_exit *ctx)
{
	return open_exit(ctx->ret);
}

/* Matches a connect; returns 0 to deny it (EPERM), 1 to let it through. */
static __always_inline int connect_check(struct bpf_sock_addr *ctx, struct masks *cidr, int *hit)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 uid = (__u32)bpf_get_current_uid_gid();
	struct policy_event *e;
	struct scratch *s;
	__u64 matched, pm = 0, *m;
	__u16 port;
	int verdict = 1;

	if (!on_connect)
		return 1;
	s = get_scratch();
	if (!s)
		return 1;
	e = &s->e;
	__builtin_memset(&e->hdr, 0, sizeof(e->hdr));
	e->hdr.ts_ns = bpf_ktime_get_ns();
	e->hdr.cgroup_id = bpf_get_current_cgroup_id();
	e->hdr.pid = pid_tgid >> 32;
	e->hdr.tid = (__u32)pid_tgid;
	e->hdr.uid = uid;
	bpf_get_current_comm(e->hdr.comm, sizeof(e->hdr.comm));
	matched = on_connect & task_rules(uid, (char *)e->hdr.comm);
	/* No parent here: the cgroup hook cannot read the task. */
	if (has_binary & matched)
		matched &= proc_rules(pid_tgid >> 32, false);
	if (cidr)
		matched &= (cidr->pos | ~has_cidr) & ~cidr->neg;
	else
		matched &= ~has_cidr;
	port = bpf_ntohs((__u16)ctx->user_port);
	m = bpf_map_lookup_elem(&ports, &port);
	if (m)
		pm = *m;
	matched &= pm | ~has_port;
	if (ctx->type == 1)
		matched &= proto_tcp;
	else if (ctx->type == 2)
		matched &= proto_udp;
	else
		matched = 0;
	if (!matched)
		return 1;
	count_matches(matched & ~user_stage);
	*hit = 1;
	e->matched = matched;
	e->acted = 0;
	e->act_ret = 0;
	e->on = ON_CONNECT;
	e->dport = port;
	e->proto = ctx->type == 1 ? 6 : 17;
	e->path[0] = 0;
	if (matched & deny_rules & ~user_stage) {
		e->acted = matched & deny_rules & ~user_stage;
		verdict = 0;
	}
	return verdict;
}

SEC("cgroup/connect4")
int policy_connect4(struct bpf_sock_addr *ctx)
{
	struct v4_key k = {.prefixlen = 32};
	struct scratch *s;
	__u32 addr = ctx->user_ip4, zero = 0;
	int verdict, hit = 0;

	__builtin_memcpy(k.addr, &addr, 4);
	verdict = connect_check(ctx, bpf_map_lookup_elem(&cidrs4, &k), &hit);
	s = bpf_map_lookup_elem(&scratch, &zero);
	if (hit && s) {
		s->e.family = 2;
		__builtin_memset(s->e.daddr, 0, sizeof(s->e.daddr));
		__builtin_memcpy(s->e.daddr, &addr, 4);
		send(&s->e);
	}
	return verdict;
}

SEC("cgroup/connect6")
int policy_connect6(struct bpf_sock_addr *ctx)
{
	struct v6_key k = {.prefixlen = 128};
	struct scratch *s;
	__u32 a[4], zero = 0;
	int verdict, hit = 0;

	a[0] = ctx->user_ip6[0];
	a[1] = ctx->user_ip6[1];
	a[2] = ctx->user_ip6[2];
	a[3] = ctx->user_ip6[3];
	__builtin_memcpy(k.addr, a, 16);
	if (a[0] == 0 && a[1] == 0 && a[2] == bpf_htonl(0xffff)) {
		/* An IPv4-mapped address on a dual-stack socket: an IPv4 peer. */
		struct v4_key k4 = {.prefixlen = 32};

		__builtin_memcpy(k4.addr, &a[3], 4);
		verdict = connect_check(ctx, bpf_map_lookup_elem(&cidrs4, &k4), &hit);
	} else {
		verdict = connect_check(ctx, bpf_map_lookup_elem(&cidrs6, &k), &hit);
	}
	s = bpf_map_lookup_elem(&scratch, &zero);
	if (hit && s) {
		s->e.family = 10;
		__builtin_memcpy(s->e.daddr, a, 16);
		send(&s->e);
	}
	return verdict;
}
