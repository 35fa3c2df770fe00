// SPDX-License-Identifier: GPL-2.0-only
/*
 * policy: kscope policy rules matched in the kernel.
 *
 * Each rule is one bit of a mask of MAX_RULES bits (W words, of which the
 * first nwords hold rules). Every selector kind is a dimension: a hash set
 * or a longest-prefix trie maps the event's value to the rules it satisfies
 * (pos) and the rules its not_ lists exclude (neg), and a rule without that
 * selector passes the dimension whatever the value. The rules an event
 * matches are the AND of its dimensions, so the cost of an event is a fixed
 * number of map lookups and of word-wise ANDs, whatever the number of
 * exact values the rules name.
 *
 * exec is matched on sched_process_exec, in the new program's task after
 * the exec can no longer fail and before it returns to user space: a kill
 * there (bpf_send_signal(SIGKILL)) ends the task before the new program
 * runs one instruction. open is matched on the syscall's exit, where the
 * kernel has copied the path, so a path the caller had not touched yet is
 * readable; a kill there ends the task before it sees the descriptor.
 * connect, bind and UDP sendmsg are matched by cgroup sock_addr programs,
 * which deny by returning 0 (the caller gets EPERM). ptrace, setuid,
 * module_load, bpf, mount, kill and chmod are matched at their syscalls'
 * entry tracepoints; a kill there ends the task on its way back to user
 * space, after the syscall.
 *
 * The procs map keeps each process's ancestry from the fork and exec chain
 * (up to MAX_ANC ancestors: pid, start time and what their binaries make of
 * the parent and ancestor selectors), so parent and ancestor rules are
 * matched here and every alert carries the chain.
 *
 * Container selectors are matched on the task's cgroup in one hierarchy
 * user space picks (ctr_hier: a cgroup v1 controller's on hybrid and v1
 * hosts, where Docker's containers are, the default hierarchy on cgroup v2
 * hosts): the id in the name of that cgroup or one of its CTR_LEVELS - 1
 * nearest ancestors (a bare 64-hex id, <runtime>-<id>.scope or
 * <runtime>-<id>) is looked up in a longest-prefix trie of container ids
 * and id prefixes.
 *
 * Rules whose selectors need user space (globs, args) are only candidates
 * here (user_stage): they are sent, never acted on.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "kscope.h"

char LICENSE[] SEC("license") = "GPL";

#define PATH_MAX_KEY 256
#define ARGV_KEY 256
#define MAX_RULES 1024
#define W (MAX_RULES / 64)
/* Entries of the pathmasks array: index 0 (no entry), then the exact paths
 * and the prefixes (internal/policy's CapPaths and CapPrefixes). */
#define PATHMASKS (1 + 4096 + 4096)
#define MAX_ANC 8
#define MAX_CGROUP_LEVEL 16
#define SIGKILL 9
#define NS_KINDS 7
#define CTR_LEVELS 4
#define CTR_NAME 128
#define CTR_ID 64

/* The events, as internal/policy numbers them (policy.EventIndex). */
enum {
	ON_EXEC = 1,
	ON_OPEN = 2,
	ON_CONNECT = 3,
	ON_BIND = 4,
	ON_SENDMSG = 5,
	ON_PTRACE = 6,
	ON_SETUID = 7,
	ON_MODULE_LOAD = 8,
	ON_BPF = 9,
	ON_MOUNT = 10,
	ON_KILL = 11,
	ON_CHMOD = 12,
	ON_MAX = 16,
};

/* The syscalls of the syscall events, as the record's sys names them. */
enum {
	SYS_PTRACE = 1,
	SYS_SETUID,
	SYS_SETGID,
	SYS_SETREUID,
	SYS_SETREGID,
	SYS_SETRESUID,
	SYS_SETRESGID,
	SYS_CAPSET,
	SYS_INIT_MODULE,
	SYS_FINIT_MODULE,
	SYS_BPF,
	SYS_MOUNT,
	SYS_MOVE_MOUNT,
	SYS_KILL,
	SYS_TGKILL,
	SYS_CHMOD,
	SYS_FCHMOD,
	SYS_FCHMODAT,
	SYS_FCHMODAT2,
};

enum {
	DIM_BINARY = 0,
	DIM_FILE = 1,
	DIM_PARENT = 2,
	DIM_ANCESTOR = 3,
};

/* An ancestor in a record: a process is its pid and start time. */
struct anc_id {
	__u32 pid;
	__u32 _pad;
	__u64 start_ns;
};

/* A set of rules: bit i of word i / 64 is rule i. */
struct bits {
	__u64 w[W];
};

struct policy_event {
	struct event_header hdr;
	struct bits matched; /* rules matched (candidates for user-stage rules); none: an exec record for the ancestry */
	struct bits acted;   /* rules whose kill or deny was carried out */
	__u64 args[4];   /* syscall events: the syscall's first arguments */
	__s32 act_ret;   /* bpf_send_signal's result, 0 for a deny */
	__s32 ret;       /* open: the syscall's result */
	__u32 flags;     /* open: the flags */
	__u32 argv_len;  /* exec: bytes of argv */
	__u8 on;         /* ON_* */
	__u8 family;     /* sock_addr events: 2 or 10 */
	__u8 proto;      /* sock_addr events: 6 or 17 */
	__u8 access;     /* open: access bits */
	__u16 dport;     /* sock_addr events: host order */
	__u8 depth;      /* ancestors known, at most MAX_ANC */
	__u8 sys;        /* syscall events: SYS_* */
	__u32 euid;      /* the task's effective uid */
	__u32 gid;       /* the task's real gid */
	__u64 caps;      /* the task's effective capabilities */
	__u8 ns;         /* the kinds of its namespaces that are not the host's: bit i is NS_* i */
	__u8 _pad2[7];
	struct anc_id anc[MAX_ANC]; /* nearest first */
	__u8 daddr[16];  /* sock_addr events: 4 or 16 bytes, network order */
	char path[PATH_MAX_KEY]; /* exec: the binary; open, chmod: the path; mount: the target */
	char argv[ARGV_KEY];     /* exec: NUL-separated argv; mount: the file system type */
};

/* Force BTF for bpf2go -type. */
const struct policy_event *unused_policy_event __attribute__((unused));

struct masks {
	struct bits pos;
	struct bits neg;
};

/* A path key: the hash sets use it with prefixlen 0, the tries with the
 * bits of dim and the path. A trie's data is at most 256 bytes, so a path
 * holds 254 bytes and its NUL. */
struct path_key {
	__u32 prefixlen;
	__u8 dim;
	char path[PATH_MAX_KEY - 1];
};

/* A port prefix: the ports whose top prefixlen bits are port's (network
 * order, as the trie compares bytes from the first). */
struct port_key {
	__u32 prefixlen;
	__u8 port[2];
};

/* An id table key: a real uid, effective uid or real gid (ID_*). */
struct id_key {
	__u32 kind;
	__u32 id;
};

enum {
	ID_UID = 0,
	ID_EUID = 1,
	ID_GID = 2,
};

struct v4_key {
	__u32 prefixlen;
	__u8 addr[4];
};

struct v6_key {
	__u32 prefixlen;
	__u8 addr[16];
};

/* A cgroup selector's entry: a cgroup v2 id, and whether it names the
 * cgroup alone (exact) or it and everything below it. */
struct cgroup_key {
	__u64 id;
	__u64 exact;
};

/* A container id or id prefix: the first prefixlen / 8 hex digits of id. */
struct ctr_key {
	__u32 prefixlen;
	char id[CTR_ID];
};

/* The hierarchy whose cgroup names hold containers' ids (ctr_hier). */
enum {
	CTR_NONE = 0,
	CTR_DFL = 1, /* cgroup v2: task->cgroups->dfl_cgrp */
	CTR_CPUSET,
	CTR_CPU,
	CTR_CPUACCT,
	CTR_IO,
	CTR_MEMORY,
	CTR_DEVICES,
	CTR_FREEZER,
	CTR_PIDS,
};

/* The kernel's cgroup v1 controller ids: their values are the running
 * kernel's, relocated at load (CO-RE), as they depend on its config. */
enum cgroup_subsys_id___kscope {
	cpuset_cgrp_id___kscope,
	cpu_cgrp_id___kscope,
	cpuacct_cgrp_id___kscope,
	io_cgrp_id___kscope,
	memory_cgrp_id___kscope,
	devices_cgrp_id___kscope,
	freezer_cgrp_id___kscope,
	pids_cgrp_id___kscope,
};

/* The compiled rules, written from Go before load: one set of rules each. */
const volatile struct bits on_mask[ON_MAX] = {};
const volatile struct bits has_binary = {}, has_file = {}, has_uid = {}, has_comm = {};
const volatile struct bits has_access = {}, has_cidr = {}, has_port = {};
const volatile struct bits not_root = {}, proto_tcp = {}, proto_udp = {};
const volatile struct bits access_rules[4] = {};
const volatile struct bits user_stage = {}, kill_rules = {}, deny_rules = {};
const volatile struct bits has_parent = {}, has_ancestor = {}, has_cgroup = {};
const volatile struct bits has_container = {};
/* The hierarchy of container selectors: CTR_*. */
const volatile __u32 ctr_hier = CTR_NONE;
const volatile struct bits has_euid = {}, has_gid = {}, has_cap = {}, has_ns = {};
/* The rules each capability passes, by number. */
const volatile struct bits cap_rules[64] = {};
/* The rules each namespace kind passes when it is not the host's, and the
 * host's namespaces (their inode numbers), in internal/policy's order:
 * pid, mnt, net, user, uts, ipc, cgroup. */
const volatile struct bits ns_rules[NS_KINDS] = {};
const volatile __u32 host_ns[NS_KINDS] = {};
/* The words of the masks that hold rules: the rules loaded, rounded up. */
const volatile __u32 nwords = W;
/* The events some rule is on: bit ON_* set. */
const volatile __u32 on_events = 0;
/* What some rule selects on (USE_*), so that the rest is skipped. */
const volatile __u32 uses = 0;

enum {
	USE_CGROUP = 1, /* a cgroup selector in the kernel, positive or not_ */
	USE_CREDS = 2,  /* euid, gid, capability or namespace: read before matching */
	USE_CAP = 4,
	USE_NS = 8,
	USE_IDS = 16,   /* uid, euid or gid */
	/* A selector of the dimension, positive or not_: a dimension no rule
	 * selects on passes every rule, and is skipped. */
	USE_NOTROOT = 32,
	USE_COMM = 64,
	USE_BINARY = 128,
	USE_PARENT = 256,
	USE_ANCESTOR = 512,
	USE_ACCESS = 1024,
	USE_FILE = 2048,
	USE_CIDR = 4096,
	USE_PORT = 8192,
	USE_CONTAINER = 16384,
};

/* Exact paths and path prefixes map to an entry of pathmasks: their
 * masks, a prefix's with its shorter prefixes' merged in. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct path_key);
	__type(value, __u32);
} paths SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 4096);
	__type(key, struct path_key);
	__type(value, __u32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} prefixes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PATHMASKS);
	__type(key, __u32);
	__type(value, struct masks);
} pathmasks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct id_key);
	__type(value, struct bits);
} ids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, char[TASK_COMM_LEN]);
	__type(value, struct masks);
} comms SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1024);
	__type(key, struct port_key);
	__type(value, struct masks);
	__uint(map_flags, BPF_F_NO_PREALLOC);
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

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct cgroup_key);
	__type(value, struct masks);
} cgroups SEC(".maps");

/* Container ids (prefixlen 512) and id prefixes of 12 or more digits: a
 * prefix's masks include its shorter prefixes', as for path prefixes. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1024);
	__type(key, struct ctr_key);
	__type(value, struct masks);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} containers SEC(".maps");

/* Matches per rule, counted here so that a full ring buffer loses no count. */
__u64 match_count[MAX_RULES] = {};

/* A path's entries in pathmasks: its exact entry's and its longest
 * prefix's, 0 for none. */
struct pidx {
	__u32 exact;
	__u32 prefix;
};

/* A process in the procs map: who it is and what its binary is in the
 * parent selectors (par) and the ancestor selectors (anc) when it is an
 * ancestor. */
struct anc {
	__u32 pid;
	__u32 seeded; /* from /proc: start_ns is /proc's, in clock ticks */
	__u64 start_ns;
	struct pidx par;
	struct pidx anc;
};

/*
 * A process: its binary in the binary selectors (bin), itself as an
 * ancestor (self), and its ancestors, nearest first (depth of them).
 * An exec recomputes bin and self from the new binary; a fork gives the
 * child its parent's binary and the parent as its nearest ancestor. The
 * processes already running when kscope starts are seeded from /proc.
 */
struct proc {
	struct pidx bin;
	__u32 depth;
	__u32 _pad;
	struct anc self;
	struct anc chain[MAX_ANC];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 32768);
	__type(key, __u32); /* tgid */
	__type(value, struct proc);
} procs SEC(".maps");

/* An open between syscall entry and exit. */
struct pending_open {
	__u64 filename;
	__u64 how; /* openat2's struct open_how, read at exit; 0: flags hold */
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
	struct proc p;
	struct bits ok;  /* the rules still matching */
	struct bits pos; /* a dimension's rules passed */
	struct bits neg; /* a dimension's rules excluded */
	struct ctr_key ck;
	char cname[CTR_NAME];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch SEC(".maps");

/* The bit-set operations, on the first nwords words. */
#define EACH_WORD(i) for (int i = 0; i < W && i < nwords; i++)

/* Whether some rule is on event on. */
static __always_inline int has_on(__u32 on)
{
	return on < 32 && (on_events & (1U << on));
}

/* ok = the rules on event on; whether there is any. */
static __always_inline int on_rules(struct bits *ok, __u32 on)
{
	__u64 any = 0;

	if (on >= ON_MAX)
		return 0;
	EACH_WORD(i) {
		ok->w[i] = on_mask[on].w[i];
		any |= ok->w[i];
	}
	return any != 0;
}

/* Whether a set has a rule. */
static __always_inline int any(const struct bits *b)
{
	__u64 x = 0;

	EACH_WORD(i)
		x |= b->w[i];
	return x != 0;
}

static __always_inline void zero(struct bits *b)
{
	EACH_WORD(i)
		b->w[i] = 0;
}

/* ok &= ~c */
static __always_inline void and_not(struct bits *ok, const volatile struct bits *c)
{
	EACH_WORD(i)
		ok->w[i] &= ~c->w[i];
}

/* ok &= c */
static __always_inline void and_c(struct bits *ok, const volatile struct bits *c)
{
	EACH_WORD(i)
		ok->w[i] &= c->w[i];
}

/* ok &= (pos | ~has) & ~neg: a dimension's verdict. */
static __always_inline void and_dim(struct bits *ok, const struct bits *pos, const struct bits *neg,
				    const volatile struct bits *has)
{
	EACH_WORD(i)
		ok->w[i] &= (pos->w[i] | ~has->w[i]) & ~neg->w[i];
}

/* and_dim of one table entry, m (NULL: the value is not in the table). */
static __always_inline void and_entry(struct bits *ok, const struct masks *m, const volatile struct bits *has)
{
	if (m) {
		and_dim(ok, &m->pos, &m->neg, has);
		return;
	}
	and_not(ok, has);
}

/* pos, neg |= the masks of a path's entries. */
static __always_inline void or_path(struct scratch *s, const struct pidx *x)
{
	__u32 idx[2] = {x->exact, x->prefix};

	for (int j = 0; j < 2; j++) {
		struct masks *m;

		if (!idx[j])
			continue;
		m = bpf_map_lookup_elem(&pathmasks, &idx[j]);
		if (!m)
			continue;
		EACH_WORD(i) {
			s->pos.w[i] |= m->pos.w[i];
			s->neg.w[i] |= m->neg.w[i];
		}
	}
}

/* ok &= the rules id (an ID_* kind) passes, given the rules that name that kind. */
static __always_inline void and_id(struct bits *ok, __u32 kind, __u32 id, const volatile struct bits *has)
{
	struct id_key k = {.kind = kind, .id = id};
	struct bits *m = bpf_map_lookup_elem(&ids, &k);

	if (m) {
		EACH_WORD(i)
			ok->w[i] &= m->w[i] | ~has->w[i];
		return;
	}
	and_not(ok, has);
}

/*
 * Fills the record's credentials from the current task (subjective cred,
 * as bpf_get_current_uid_gid reads it): the effective uid, the real gid,
 * the effective capabilities and which namespaces are not the host's.
 */
static __always_inline void fill_creds(struct policy_event *e)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	const struct cred *cred = BPF_CORE_READ(task, cred);
	struct nsproxy *nsp = BPF_CORE_READ(task, nsproxy);
	struct pid *pid = BPF_CORE_READ(task, thread_pid);
	struct upid up = {};
	__u32 inum[NS_KINDS];
	unsigned int level;
	__u8 ns = 0;

	e->euid = BPF_CORE_READ(cred, euid.val);
	e->gid = bpf_get_current_uid_gid() >> 32;
	/* kernel_cap_t is a u64 since Linux 6.3 (f122a08b197d) and two u32s,
	 * low word first, before: the same eight bytes on little-endian. */
	e->caps = 0;
	bpf_core_read(&e->caps, sizeof(e->caps), &cred->cap_effective);
	/* The task's own pid namespace: the deepest level of its pid. */
	level = BPF_CORE_READ(pid, level);
	bpf_core_read(&up, sizeof(up), &pid->numbers[level & 31]);
	inum[0] = BPF_CORE_READ(up.ns, ns.inum);
	inum[1] = BPF_CORE_READ(nsp, mnt_ns, ns.inum);
	inum[2] = BPF_CORE_READ(nsp, net_ns, ns.inum);
	inum[3] = BPF_CORE_READ(cred, user_ns, ns.inum);
	inum[4] = BPF_CORE_READ(nsp, uts_ns, ns.inum);
	inum[5] = BPF_CORE_READ(nsp, ipc_ns, ns.inum);
	inum[6] = BPF_CORE_READ(nsp, cgroup_ns, ns.inum);
	for (int i = 0; i < NS_KINDS; i++) {
		if (inum[i] && inum[i] != host_ns[i])
			ns |= 1 << i;
	}
	e->ns = ns;
}

/* Some rule selects on what fill_creds reads: then it is read before
 * matching, else only for a record that is sent. */
#define CRED_RULES (uses & USE_CREDS)

/* ok &= the rules the current task passes by its credentials, comm,
 * capabilities and namespaces; e's header (and creds, with CRED_RULES)
 * are filled. */
static __always_inline void task_rules(struct scratch *s)
{
	struct policy_event *e = &s->e;
	struct masks *m;

	if ((uses & USE_NOTROOT) && e->hdr.uid == 0)
		and_not(&s->ok, &not_root);
	if (uses & USE_IDS) {
		and_id(&s->ok, ID_UID, e->hdr.uid, &has_uid);
		and_id(&s->ok, ID_EUID, e->euid, &has_euid);
		and_id(&s->ok, ID_GID, e->gid, &has_gid);
	}
	if (uses & USE_COMM) {
		/* The comms key is all 16 bytes, zero-padded, and older kernels'
		 * bpf_get_current_comm (Debian's 6.1) leaves what the scratch
		 * record held after the NUL. */
		int end = 0;

		for (int i = 0; i < TASK_COMM_LEN; i++) {
			if (!e->hdr.comm[i])
				end = 1;
			if (end)
				e->hdr.comm[i] = 0;
		}
		m = bpf_map_lookup_elem(&comms, e->hdr.comm);
		and_entry(&s->ok, m, &has_comm);
	}
	if (uses & USE_CAP) {
		zero(&s->pos);
		for (int c = 0; c < 64; c++) {
			if (!(e->caps & (1ULL << c)))
				continue;
			EACH_WORD(i)
				s->pos.w[i] |= cap_rules[c].w[i];
		}
		EACH_WORD(i)
			s->ok.w[i] &= s->pos.w[i] | ~has_cap.w[i];
	}
	if (uses & USE_NS) {
		zero(&s->pos);
		for (int k = 0; k < NS_KINDS; k++) {
			if (!(e->ns & (1 << k)))
				continue;
			EACH_WORD(i)
				s->pos.w[i] |= ns_rules[k].w[i];
		}
		EACH_WORD(i)
			s->ok.w[i] &= s->pos.w[i] | ~has_ns.w[i];
	}
}

/* A path's entries in dimension dim; key->path holds the path,
 * zero-padded, n its length without the NUL. */
static __always_inline struct pidx path_idx(struct path_key *key, __u8 dim, long n)
{
	struct pidx out = {};
	__u32 *x;

	key->dim = dim;
	key->prefixlen = 0;
	x = bpf_map_lookup_elem(&paths, key);
	if (x)
		out.exact = *x;
	key->prefixlen = (__u32)(n + 1) * 8;
	x = bpf_map_lookup_elem(&prefixes, key);
	if (x)
		out.prefix = *x;
	return out;
}

/* The current task's cgroup in the hierarchy ctr_hier names; NULL for
 * none. A controller the kernel lacks names none. */
static __always_inline struct cgroup *ctr_cgroup(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct css_set *cset = BPF_CORE_READ(task, cgroups);
	struct cgroup_subsys_state *css = 0;
	long id = -1;

	switch (ctr_hier) {
	case CTR_DFL:
		return BPF_CORE_READ(cset, dfl_cgrp);
#define CTR_CASE(c, e)                                                                      \
	case c:                                                                             \
		if (bpf_core_enum_value_exists(enum cgroup_subsys_id___kscope, e))          \
			id = bpf_core_enum_value(enum cgroup_subsys_id___kscope, e);        \
		break;
	CTR_CASE(CTR_CPUSET, cpuset_cgrp_id___kscope)
	CTR_CASE(CTR_CPU, cpu_cgrp_id___kscope)
	CTR_CASE(CTR_CPUACCT, cpuacct_cgrp_id___kscope)
	CTR_CASE(CTR_IO, io_cgrp_id___kscope)
	CTR_CASE(CTR_MEMORY, memory_cgrp_id___kscope)
	CTR_CASE(CTR_DEVICES, devices_cgrp_id___kscope)
	CTR_CASE(CTR_FREEZER, freezer_cgrp_id___kscope)
	CTR_CASE(CTR_PIDS, pids_cgrp_id___kscope)
#undef CTR_CASE
	}
	if (id < 0 || id >= 64)
		return 0;
	/* cset->subsys[id]: the array's length is the kernel's number of
	 * controllers, so the element is read by offset. */
	if (bpf_probe_read_kernel(&css, sizeof(css),
				  (void *)cset + bpf_core_field_offset(struct css_set, subsys) + id * sizeof(css)))
		return 0;
	if (!css)
		return 0;
	return BPF_CORE_READ(css, cgroup);
}

/* Whether name[0, n) is p: a constant string of n bytes. */
static __always_inline int name_is(const char *name, const char *p, int n)
{
	for (int i = 0; i < n; i++) {
		if (name[i] != p[i])
			return 0;
	}
	return 1;
}

/* Fills s->ck from the cgroup name in s->cname (len bytes): the id of a
 * bare 64-hex-digit name, <runtime>-<id>.scope (systemd's drivers) or
 * <runtime>-<id> (CRI-O's and Podman's cgroupfs drivers), the runtimes
 * internal/container's ParsePath knows; whether it is one. A monitor's
 * scope (crio-conmon-<id>.scope) names no container. */
static __always_inline int ctr_id(struct scratch *s, const char *kname, long len)
{
	const char *scope = ".scope";
	long off, suffix = 0;
	int ok = 0;

	if (len < CTR_ID || len >= CTR_NAME)
		return 0;
	if (len > CTR_ID + 6) {
		suffix = 6;
		for (int i = 0; i < 6; i++) {
			if (s->cname[(len - 6 + i) & (CTR_NAME - 1)] != scope[i]) {
				suffix = 0;
				break;
			}
		}
	}
	off = len - suffix - CTR_ID;
	switch (off) {
	case 0:
		ok = !suffix;
		break;
	case 5:
		ok = name_is(s->cname, "crio-", 5);
		break;
	case 7:
		ok = name_is(s->cname, "docker-", 7) || name_is(s->cname, "libpod-", 7);
		break;
	case 8:
		ok = suffix && name_is(s->cname, "nerdctl-", 8);
		break;
	case 11:
		ok = suffix && name_is(s->cname, "containerd-", 11);
		break;
	case 15:
		ok = suffix && name_is(s->cname, "cri-containerd-", 15);
		break;
	}
	if (!ok)
		return 0;
	s->ck.prefixlen = CTR_ID * 8;
	return !bpf_probe_read_kernel(s->ck.id, CTR_ID, kname + off);
}

/* ok &= the rules the task's container passes: the ids in the names of
 * its cgroup and the CTR_LEVELS - 1 cgroups above it in the containers'
 * hierarchy (a container's own nested cgroups, a container in a
 * container: every one found counts). */
static __noinline void container_pass(struct scratch *s)
{
	struct cgroup *cg;
	struct masks *m;
	__u64 some = 0;

	if (!(uses & USE_CONTAINER))
		return;
	/* None of the rules still matching has a container selector. */
	EACH_WORD(i)
		some |= s->ok.w[i] & has_container.w[i];
	if (!some)
		return;
	zero(&s->pos);
	zero(&s->neg);
	cg = ctr_cgroup();
	for (int l = 0; l < CTR_LEVELS && cg; l++) {
		const char *kname = BPF_CORE_READ(cg, kn, name);
		long n = bpf_probe_read_kernel_str(s->cname, sizeof(s->cname), kname);

		if (n > CTR_ID && ctr_id(s, kname, n - 1)) {
			m = bpf_map_lookup_elem(&containers, &s->ck);
			if (m) {
				EACH_WORD(i) {
					s->pos.w[i] |= m->pos.w[i];
					s->neg.w[i] |= m->neg.w[i];
				}
			}
		}
		/* The parent cgroup: its self css is the cgroup. */
		cg = (struct cgroup *)BPF_CORE_READ(cg, self.parent);
		if (cg)
			cg = (void *)cg - bpf_core_field_offset(struct cgroup, self);
	}
	and_dim(&s->ok, &s->pos, &s->neg, &has_container);
}

/* ok &= the rules the current task's cgroup passes: an exact entry for its
 * own cgroup, a subtree entry for it or any cgroup above it; then its
 * container's (container_pass). */
static __always_inline void cgroup_pass(struct scratch *s)
{
	struct cgroup_key k = {.exact = 1};
	struct masks *m;

	container_pass(s);
	if (!(uses & USE_CGROUP))
		return;
	zero(&s->pos);
	zero(&s->neg);
	k.id = bpf_get_current_cgroup_id();
	for (int level = -1; level < MAX_CGROUP_LEVEL; level++) {
		if (level >= 0) {
			k.exact = 0;
			k.id = bpf_get_current_ancestor_cgroup_id(level);
			if (!k.id)
				break;
		}
		m = bpf_map_lookup_elem(&cgroups, &k);
		if (!m)
			continue;
		EACH_WORD(i) {
			s->pos.w[i] |= m->pos.w[i];
			s->neg.w[i] |= m->neg.w[i];
		}
	}
	and_dim(&s->ok, &s->pos, &s->neg, &has_cgroup);
}

/* ok &= the rules a process passes by its binary, its parent's and its
 * ancestors'. A process kscope does not know passes the rules with only
 * not_ lists, as an unknown path does. */
static __always_inline void proc_pass(struct scratch *s, struct proc *p)
{
	if (!p) {
		and_not(&s->ok, &has_binary);
		and_not(&s->ok, &has_parent);
		and_not(&s->ok, &has_ancestor);
		return;
	}
	if (uses & USE_BINARY) {
		zero(&s->pos);
		zero(&s->neg);
		or_path(s, &p->bin);
		and_dim(&s->ok, &s->pos, &s->neg, &has_binary);
	}
	if (uses & USE_PARENT) {
		zero(&s->pos);
		zero(&s->neg);
		if (p->depth > 0)
			or_path(s, &p->chain[0].par);
		and_dim(&s->ok, &s->pos, &s->neg, &has_parent);
	}
	if (uses & USE_ANCESTOR) {
		zero(&s->pos);
		zero(&s->neg);
		for (int a = 0; a < MAX_ANC; a++) {
			if (a >= p->depth)
				break;
			or_path(s, &p->chain[a].anc);
		}
		and_dim(&s->ok, &s->pos, &s->neg, &has_ancestor);
	}
}

/* Copies a process's ancestry into a record. */
static __always_inline void fill_chain(struct policy_event *e, struct proc *p)
{
	e->depth = 0;
	__builtin_memset(e->anc, 0, sizeof(e->anc));
	if (!p)
		return;
	for (int i = 0; i < MAX_ANC; i++) {
		if (i >= p->depth)
			break;
		e->anc[i].pid = p->chain[i].pid;
		e->anc[i].start_ns = p->chain[i].start_ns;
	}
	e->depth = p->depth > MAX_ANC ? MAX_ANC : p->depth;
}

/* Counts the rules matched in the kernel (not the user-stage candidates),
 * one by one. */
static __always_inline void count_matches(const struct bits *matched)
{
	EACH_WORD(i) {
		__u64 x = matched->w[i] & ~user_stage.w[i];

		if (!x)
			continue;
		for (__u32 j = 0; j < 64; j++) {
			if (x & (1ULL << j))
				__sync_fetch_and_add(&match_count[i * 64 + j], 1);
		}
	}
}

/* Records the match in e: matched, and acted = the rules of the action
 * set (kill or deny) the kernel takes; whether it takes any. */
static __always_inline int record_match(struct scratch *s, const volatile struct bits *action)
{
	__u64 acted = 0;

	count_matches(&s->ok);
	__builtin_memset(&s->e.matched, 0, sizeof(s->e.matched));
	__builtin_memset(&s->e.acted, 0, sizeof(s->e.acted));
	EACH_WORD(i) {
		s->e.matched.w[i] = s->ok.w[i];
		s->e.acted.w[i] = s->ok.w[i] & action->w[i] & ~user_stage.w[i];
		acted |= s->e.acted.w[i];
	}
	return acted != 0;
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

/*
 * Fills child (a new process, or one exec'ing that kscope did not know) from
 * its parent's entry: the parent's binary for now, the parent as its nearest
 * ancestor and the parent's ancestors after it.
 */
static __always_inline void inherit(struct proc *child, __u32 ptgid, __u64 pstart, __u32 tgid, __u64 start)
{
	struct proc *p = bpf_map_lookup_elem(&procs, &ptgid);

	__builtin_memset(child, 0, sizeof(*child));
	if (p) {
		if (p->self.seeded) {
			/* The exact start time, now that the task is at hand. */
			p->self.start_ns = pstart;
			p->self.seeded = 0;
		}
		child->bin = p->bin;
		child->self = p->self;
		child->chain[0] = p->self;
		for (int i = 1; i < MAX_ANC; i++)
			child->chain[i] = p->chain[i - 1];
		child->depth = p->depth < MAX_ANC ? p->depth + 1 : MAX_ANC;
	} else {
		/* An unknown parent: its binary has no entry, so it passes
		 * only not_ lists. */
		child->chain[0].pid = ptgid;
		child->chain[0].start_ns = pstart;
		child->depth = 1;
	}
	child->self.pid = tgid;
	child->self.start_ns = start;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(policy_fork, struct task_struct *parent, struct task_struct *child)
{
	struct scratch *s;
	__u32 tgid = child->tgid;

	/* A thread is not a process: it shares its process's entry. */
	if (child->pid != tgid)
		return 0;
	s = get_scratch();
	if (!s)
		return 0;
	inherit(&s->p, parent->tgid, parent->group_leader->start_time, tgid, child->start_time);
	bpf_map_update_elem(&procs, &tgid, &s->p, BPF_ANY);
	return 0;
}

SEC("tracepoint/sched/sched_process_exit")
int policy_exit(void *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;

	/* The process's last thread: its entry goes; its children keep theirs. */
	if ((__u32)pid_tgid == tgid)
		bpf_map_delete_elem(&procs, &tgid);
	return 0;
}

SEC("tracepoint/sched/sched_process_exec")
int policy_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 uid = (__u32)bpf_get_current_uid_gid();
	__u32 tgid = pid_tgid >> 32;
	struct task_struct *task;
	struct policy_event *e;
	struct scratch *s;
	struct proc *old;
	__u64 start, end, size;
	long n;

	s = get_scratch();
	if (!s)
		return 0;
	e = &s->e;
	fill_header(&e->hdr, pid_tgid, uid);
	n = bpf_probe_read_kernel_str(s->key.path, sizeof(s->key.path),
				      (void *)ctx + (ctx->__data_loc_filename & 0xFFFF));
	if (n <= 0)
		return 0;
	/* The process's ancestry stays; its binary is the new one. */
	old = bpf_map_lookup_elem(&procs, &tgid);
	if (old) {
		__builtin_memcpy(&s->p, old, sizeof(s->p));
		s->p.self.start_ns = e->hdr.start_ns;
		s->p.self.seeded = 0;
	} else
		inherit(&s->p, e->hdr.ppid, e->hdr.pstart_ns, tgid, e->hdr.start_ns);
	s->p.bin = path_idx(&s->key, DIM_BINARY, n - 1);
	s->p.self.par = path_idx(&s->key, DIM_PARENT, n - 1);
	s->p.self.anc = path_idx(&s->key, DIM_ANCESTOR, n - 1);
	bpf_map_update_elem(&procs, &tgid, &s->p, BPF_ANY);

	fill_creds(e);
	e->act_ret = 0;
	e->on = ON_EXEC;
	e->sys = 0;
	if (on_rules(&s->ok, ON_EXEC)) {
		task_rules(s);
		proc_pass(s, &s->p);
		cgroup_pass(s);
	}
	/* A record whose matched set is empty only names the process. */
	if (record_match(s, &kill_rules)) {
		/* The new program has not run: SIGKILL ends it on the way out. */
		e->act_ret = bpf_send_signal(SIGKILL);
	}
	fill_chain(e, &s->p);
	__builtin_memcpy(e->path, s->key.path, sizeof(s->key.path));
	/* argv: NUL-separated strings the kernel has just written to the new
	 * stack. Every exec is sent, matched or not: user space keeps the
	 * binaries and argv of the ancestors it names in alerts. */
	task = bpf_get_current_task_btf();
	start = BPF_CORE_READ(task, mm, arg_start);
	end = BPF_CORE_READ(task, mm, arg_end);
	size = end > start ? end - start : 0;
	if (size > ARGV_KEY)
		size = ARGV_KEY;
	e->argv_len = 0;
	if (size && !bpf_probe_read_user(e->argv, size, (const void *)start))
		e->argv_len = size;
	send(e);
	return 0;
}

static __always_inline int open_enter(const char *filename, __u32 flags, __u64 how)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid;
	struct pending_open p = {.filename = (__u64)filename, .how = how, .flags = flags};

	if (!has_on(ON_OPEN))
		return 0;
	if (bpf_map_update_elem(&pending, &tid, &p, BPF_ANY))
		count(STAT_LOST);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_openat")
int policy_openat(struct trace_event_raw_sys_enter *ctx)
{
	return open_enter((const char *)ctx->args[1], (__u32)ctx->args[2], 0);
}

SEC("tracepoint/syscalls/sys_enter_open")
int policy_open(struct trace_event_raw_sys_enter *ctx)
{
	return open_enter((const char *)ctx->args[0], (__u32)ctx->args[1], 0);
}

/* openat2(dfd, filename, how, size): the flags are how->flags, read at the
 * exit, once the kernel has copied the struct. */
SEC("tracepoint/syscalls/sys_enter_openat2")
int policy_openat2(struct trace_event_raw_sys_enter *ctx)
{
	return open_enter((const char *)ctx->args[1], 0, ctx->args[2]);
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
	__u32 tid = (__u32)pid_tgid, tgid = pid_tgid >> 32;
	struct pending_open *p;
	struct policy_event *e;
	struct proc *proc;
	struct scratch *s;
	__u64 filename, how;
	__u32 flags;
	__u8 a;
	long n;

	p = bpf_map_lookup_elem(&pending, &tid);
	if (!p)
		return 0;
	filename = p->filename;
	flags = p->flags;
	how = p->how;
	bpf_map_delete_elem(&pending, &tid);
	if (how) {
		/* struct open_how starts with the u64 flags; a successful call
		 * has copied it, so its page is resident. */
		__u64 f;

		if (bpf_probe_read_user(&f, sizeof(f), (const void *)how)) {
			if (ret >= 0)
				count(STAT_UNREADABLE);
			return 0;
		}
		flags = (__u32)f;
	}
	s = get_scratch();
	if (!s)
		return 0;
	e = &s->e;
	fill_header(&e->hdr, pid_tgid, uid);
	if (CRED_RULES)
		fill_creds(e);
	if (!on_rules(&s->ok, ON_OPEN))
		return 0;
	task_rules(s);
	if (!any(&s->ok))
		return 0;
	proc = bpf_map_lookup_elem(&procs, &tgid);
	proc_pass(s, proc);
	cgroup_pass(s);
	a = access_bits(flags);
	if (uses & USE_ACCESS) {
		zero(&s->pos);
		for (int j = 0; j < 4; j++) {
			if (!(a & (1 << j)))
				continue;
			EACH_WORD(i)
				s->pos.w[i] |= access_rules[j].w[i];
		}
		EACH_WORD(i)
			s->ok.w[i] &= s->pos.w[i] | ~has_access.w[i];
	}
	if (!any(&s->ok))
		return 0;
	/* The kernel copied the path on entry, so its pages are resident. */
	n = bpf_probe_read_user_str(s->key.path, sizeof(s->key.path), (const char *)filename);
	if (n <= 0) {
		count(STAT_UNREADABLE);
		return 0;
	}
	if (uses & USE_FILE) {
		struct pidx x = path_idx(&s->key, DIM_FILE, n - 1);

		zero(&s->pos);
		zero(&s->neg);
		or_path(s, &x);
		and_dim(&s->ok, &s->pos, &s->neg, &has_file);
	}
	if (!any(&s->ok))
		return 0;
	if (!CRED_RULES)
		fill_creds(e);
	e->act_ret = 0;
	e->on = ON_OPEN;
	e->sys = 0;
	e->ret = ret;
	e->flags = flags;
	e->access = a;
	e->argv_len = 0;
	if (record_match(s, &kill_rules)) {
		/* The descriptor is installed, but the task dies on its way out. */
		e->act_ret = bpf_send_signal(SIGKILL);
	}
	fill_chain(e, proc);
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

SEC("tracepoint/syscalls/sys_exit_openat2")
int policy_openat2_exit(struct trace_event_raw_sys_exit *ctx)
{
	return open_exit(ctx->ret);
}

/*
 * A syscall event at the syscall's entry: the task's selectors, then the
 * event's own condition (checked by the caller). path, when set, is a user
 * string to report (best effort: a page the task has not touched cannot be
 * read here); str likewise, into argv.
 */
static __always_inline int sys_event(__u8 on, __u8 sys, __u64 a0, __u64 a1, __u64 a2, __u64 a3,
				     const char *path, const char *str)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 uid = (__u32)bpf_get_current_uid_gid();
	__u32 tgid = pid_tgid >> 32;
	struct policy_event *e;
	struct proc *proc;
	struct scratch *s;

	if (!has_on(on))
		return 0;
	s = get_scratch();
	if (!s)
		return 0;
	if (!on_rules(&s->ok, on))
		return 0;
	e = &s->e;
	fill_header(&e->hdr, pid_tgid, uid);
	if (CRED_RULES)
		fill_creds(e);
	task_rules(s);
	if (!any(&s->ok))
		return 0;
	proc = bpf_map_lookup_elem(&procs, &tgid);
	proc_pass(s, proc);
	cgroup_pass(s);
	if (!any(&s->ok))
		return 0;
	if (!CRED_RULES)
		fill_creds(e);
	e->act_ret = 0;
	e->on = on;
	e->sys = sys;
	e->ret = 0;
	e->args[0] = a0;
	e->args[1] = a1;
	e->args[2] = a2;
	e->args[3] = a3;
	e->argv_len = 0;
	if (record_match(s, &kill_rules)) {
		/* SIGKILL is pending: the task dies on its way out of the syscall. */
		e->act_ret = bpf_send_signal(SIGKILL);
	}
	fill_chain(e, proc);
	e->path[0] = 0;
	if (path && bpf_probe_read_user_str(e->path, sizeof(e->path), path) < 0)
		e->path[0] = 0;
	e->argv[0] = 0;
	if (str) {
		long n = bpf_probe_read_user_str(e->argv, sizeof(e->argv), str);

		e->argv_len = n > 0 ? n : 0;
	}
	send(e);
	return 0;
}

#define ARG(i) ((__u64)ctx->args[i])

SEC("tracepoint/syscalls/sys_enter_ptrace")
int policy_ptrace(struct trace_event_raw_sys_enter *ctx)
{
	/* Attaching to another process: PTRACE_ATTACH, PTRACE_SEIZE. */
	if (ARG(0) != 16 && ARG(0) != 0x4206)
		return 0;
	return sys_event(ON_PTRACE, SYS_PTRACE, ARG(0), ARG(1), 0, 0, 0, 0);
}

/*
 * A program may not read past its tracepoint's arguments (the attach
 * fails with EACCES), so each reads only the ones its syscall has.
 */
#define SETID(name, sys, a1, a2)                                                           \
	SEC("tracepoint/syscalls/sys_enter_" #name)                                         \
	int policy_##name(struct trace_event_raw_sys_enter *ctx)                            \
	{                                                                                  \
		return sys_event(ON_SETUID, sys, ARG(0), a1, a2, 0, 0, 0);                  \
	}

SETID(setuid, SYS_SETUID, 0, 0)
SETID(setgid, SYS_SETGID, 0, 0)
SETID(setreuid, SYS_SETREUID, ARG(1), 0)
SETID(setregid, SYS_SETREGID, ARG(1), 0)
SETID(setresuid, SYS_SETRESUID, ARG(1), ARG(2))
SETID(setresgid, SYS_SETRESGID, ARG(1), ARG(2))

SEC("tracepoint/syscalls/sys_enter_capset")
int policy_capset(struct trace_event_raw_sys_enter *ctx)
{
	return sys_event(ON_SETUID, SYS_CAPSET, 0, 0, 0, 0, 0, 0);
}

SEC("tracepoint/syscalls/sys_enter_init_module")
int policy_init_module(struct trace_event_raw_sys_enter *ctx)
{
	return sys_event(ON_MODULE_LOAD, SYS_INIT_MODULE, ARG(1), 0, 0, 0, 0, (const char *)ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_enter_finit_module")
int policy_finit_module(struct trace_event_raw_sys_enter *ctx)
{
	return sys_event(ON_MODULE_LOAD, SYS_FINIT_MODULE, ARG(0), ARG(2), 0, 0, 0, (const char *)ctx->args[1]);
}

SEC("tracepoint/syscalls/sys_enter_bpf")
int policy_bpf(struct trace_event_raw_sys_enter *ctx)
{
	/* Creating a map or loading a program: BPF_MAP_CREATE, BPF_PROG_LOAD. */
	if (ARG(0) != 0 && ARG(0) != 5)
		return 0;
	return sys_event(ON_BPF, SYS_BPF, ARG(0), 0, 0, 0, 0, 0);
}

SEC("tracepoint/syscalls/sys_enter_mount")
int policy_mount(struct trace_event_raw_sys_enter *ctx)
{
	return sys_event(ON_MOUNT, SYS_MOUNT, ARG(3), 0, 0, 0, (const char *)ctx->args[1],
			 (const char *)ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_enter_move_mount")
int policy_move_mount(struct trace_event_raw_sys_enter *ctx)
{
	return sys_event(ON_MOUNT, SYS_MOVE_MOUNT, ARG(4), 0, 0, 0, (const char *)ctx->args[3], 0);
}

SEC("tracepoint/syscalls/sys_enter_kill")
int policy_kill(struct trace_event_raw_sys_enter *ctx)
{
	/* A signal (not 0, the existence check) to another process. */
	if (ARG(1) == 0 || (__u32)ARG(0) == bpf_get_current_pid_tgid() >> 32)
		return 0;
	return sys_event(ON_KILL, SYS_KILL, ARG(0), ARG(1), 0, 0, 0, 0);
}

SEC("tracepoint/syscalls/sys_enter_tgkill")
int policy_tgkill(struct trace_event_raw_sys_enter *ctx)
{
	if (ARG(2) == 0 || (__u32)ARG(0) == bpf_get_current_pid_tgid() >> 32)
		return 0;
	return sys_event(ON_KILL, SYS_TGKILL, ARG(0), ARG(2), 0, 0, 0, 0);
}

/* chmod: only modes with the setuid or setgid bit. */
#define SUID_BITS 06000

SEC("tracepoint/syscalls/sys_enter_chmod")
int policy_chmod(struct trace_event_raw_sys_enter *ctx)
{
	if (!(ARG(1) & SUID_BITS))
		return 0;
	return sys_event(ON_CHMOD, SYS_CHMOD, ARG(1), 0, 0, 0, (const char *)ctx->args[0], 0);
}

SEC("tracepoint/syscalls/sys_enter_fchmod")
int policy_fchmod(struct trace_event_raw_sys_enter *ctx)
{
	if (!(ARG(1) & SUID_BITS))
		return 0;
	return sys_event(ON_CHMOD, SYS_FCHMOD, ARG(1), ARG(0), 0, 0, 0, 0);
}

SEC("tracepoint/syscalls/sys_enter_fchmodat")
int policy_fchmodat(struct trace_event_raw_sys_enter *ctx)
{
	if (!(ARG(2) & SUID_BITS))
		return 0;
	return sys_event(ON_CHMOD, SYS_FCHMODAT, ARG(2), ARG(0), 0, 0, (const char *)ctx->args[1], 0);
}

SEC("tracepoint/syscalls/sys_enter_fchmodat2")
int policy_fchmodat2(struct trace_event_raw_sys_enter *ctx)
{
	if (!(ARG(2) & SUID_BITS))
		return 0;
	return sys_event(ON_CHMOD, SYS_FCHMODAT2, ARG(2), ARG(0), 0, 0, (const char *)ctx->args[1], 0);
}

/*
 * Matches a sock_addr event (connect, bind, sendmsg); returns 0 to deny it
 * (EPERM), 1 to let it through. The cgroup hooks cannot read the task, so
 * the header's parent and start times come from the procs map.
 */
static __always_inline int sock_check(struct bpf_sock_addr *ctx, __u8 on, struct masks *cidr, int *hit)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 uid = (__u32)bpf_get_current_uid_gid();
	__u32 tgid = pid_tgid >> 32;
	struct policy_event *e;
	struct proc *proc;
	struct scratch *s;
	struct port_key pk = {.prefixlen = 16};
	struct masks *pm;
	__u16 port;
	int verdict = 1;

	if (!has_on(on))
		return 1;
	s = get_scratch();
	if (!s)
		return 1;
	if (!on_rules(&s->ok, on))
		return 1;
	e = &s->e;
	__builtin_memset(&e->hdr, 0, sizeof(e->hdr));
	e->hdr.ts_ns = bpf_ktime_get_ns();
	e->hdr.cgroup_id = bpf_get_current_cgroup_id();
	e->hdr.pid = tgid;
	e->hdr.tid = (__u32)pid_tgid;
	e->hdr.uid = uid;
	bpf_get_current_comm(e->hdr.comm, sizeof(e->hdr.comm));
	if (CRED_RULES)
		fill_creds(e);
	task_rules(s);
	if (!any(&s->ok))
		return 1;
	proc = bpf_map_lookup_elem(&procs, &tgid);
	proc_pass(s, proc);
	cgroup_pass(s);
	if (uses & USE_CIDR)
		and_entry(&s->ok, cidr, &has_cidr);
	port = bpf_ntohs((__u16)ctx->user_port);
	if (uses & USE_PORT) {
		pk.port[0] = port >> 8;
		pk.port[1] = port & 0xff;
		pm = bpf_map_lookup_elem(&ports, &pk);
		and_entry(&s->ok, pm, &has_port);
	}
	if (ctx->type == 1)
		and_c(&s->ok, &proto_tcp);
	else if (ctx->type == 2)
		and_c(&s->ok, &proto_udp);
	else
		return 1;
	if (!any(&s->ok))
		return 1;
	if (!CRED_RULES)
		fill_creds(e);
	*hit = 1;
	e->act_ret = 0;
	e->on = on;
	e->sys = 0;
	e->dport = port;
	e->proto = ctx->type == 1 ? 6 : 17;
	e->argv_len = 0;
	e->path[0] = 0;
	fill_chain(e, proc);
	if (proc) {
		e->hdr.start_ns = proc->self.start_ns;
		if (proc->depth > 0) {
			e->hdr.ppid = proc->chain[0].pid;
			e->hdr.pstart_ns = proc->chain[0].start_ns;
		}
	}
	if (record_match(s, &deny_rules))
		verdict = 0;
	return verdict;
}

static __always_inline int sock4(struct bpf_sock_addr *ctx, __u8 on)
{
	struct v4_key k = {.prefixlen = 32};
	struct scratch *s;
	__u32 addr = ctx->user_ip4, zero = 0;
	int verdict, hit = 0;

	__builtin_memcpy(k.addr, &addr, 4);
	verdict = sock_check(ctx, on, bpf_map_lookup_elem(&cidrs4, &k), &hit);
	s = bpf_map_lookup_elem(&scratch, &zero);
	if (hit && s) {
		s->e.family = 2;
		__builtin_memset(s->e.daddr, 0, sizeof(s->e.daddr));
		__builtin_memcpy(s->e.daddr, &addr, 4);
		send(&s->e);
	}
	return verdict;
}

static __always_inline int sock6(struct bpf_sock_addr *ctx, __u8 on)
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
		verdict = sock_check(ctx, on, bpf_map_lookup_elem(&cidrs4, &k4), &hit);
	} else {
		verdict = sock_check(ctx, on, bpf_map_lookup_elem(&cidrs6, &k), &hit);
	}
	s = bpf_map_lookup_elem(&scratch, &zero);
	if (hit && s) {
		s->e.family = 10;
		__builtin_memcpy(s->e.daddr, a, 16);
		send(&s->e);
	}
	return verdict;
}

SEC("cgroup/connect4")
int policy_connect4(struct bpf_sock_addr *ctx)
{
	return sock4(ctx, ON_CONNECT);
}

SEC("cgroup/connect6")
int policy_connect6(struct bpf_sock_addr *ctx)
{
	return sock6(ctx, ON_CONNECT);
}

SEC("cgroup/bind4")
int policy_bind4(struct bpf_sock_addr *ctx)
{
	return sock4(ctx, ON_BIND);
}

SEC("cgroup/bind6")
int policy_bind6(struct bpf_sock_addr *ctx)
{
	return sock6(ctx, ON_BIND);
}

SEC("cgroup/sendmsg4")
int policy_sendmsg4(struct bpf_sock_addr *ctx)
{
	return sock4(ctx, ON_SENDMSG);
}

SEC("cgroup/sendmsg6")
int policy_sendmsg6(struct bpf_sock_addr *ctx)
{
	return sock6(ctx, ON_SENDMSG);
}
