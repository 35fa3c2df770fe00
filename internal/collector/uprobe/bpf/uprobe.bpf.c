// SPDX-License-Identifier: GPL-2.0-only
/*
 * uprobe: calls of user-space functions and hits of USDT probes, with their
 * arguments, and for functions optionally the return value and latency.
 *
 * uprobe_entry runs at a function's entry (for Go functions: after the
 * stack-bound check, so a call that grows the stack counts once). Without
 * return probes it reports at once; with them it parks the call in
 * "pending" until uprobe_return (a uretprobe, C) or go_return (a uprobe on
 * each RET instruction, Go: uretprobes break Go's stack copying) reports it.
 *
 * A call is keyed so that recursion and thread migration keep calls apart:
 * C by thread and stack pointer (a uretprobe sees it 8 bytes higher, the
 * return address popped); Go by goroutine (the g pointer in R14) and the
 * distance from the top of the goroutine's stack (g.stack.hi), which stays
 * the same when the runtime moves the stack and when the goroutine moves to
 * another thread.
 *
 * usdt_probe decodes the arguments of a USDT probe site from the spec that
 * the attach cookie indexes in "usdt_specs".
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "kscope.h"

char LICENSE[] SEC("license") = "GPL";

#define MAX_ARGS 12
#define STR_LEN 128
#define MAX_SITES 1024

struct uprobe_event {
	struct event_header hdr;
	__u64 args[MAX_ARGS];
	__u64 ret;
	__u64 latency_ns;
	__u32 site;    /* USDT: the spec index (attach cookie) */
	__u16 nargs;
	__u8 has_ret;
	__u8 has_str;
	__u32 str_len; /* bytes of str, without the NUL */
	__u8 str_trunc;
	__u8 str_unavailable; /* the string could not be read: NULL or a bad pointer */
	__u8 _pad[2];
	char str[STR_LEN];
};

/* Force BTF for bpf2go -type. */
const struct uprobe_event *unused_uprobe_event __attribute__((unused));

enum arg_kind {
	ARG_CONST = 1,
	ARG_REG = 2,
	ARG_MEM = 3,
	ARG_GLOBAL = 4, /* memory at the probe's address + val */
};

struct usdt_arg {
	__s64 val;       /* constant, displacement, or offset from the probe */
	__u16 reg_off;   /* pt_regs offset + 1 of the base register; 0: none */
	__u16 idx_off;   /* pt_regs offset + 1 of the index register; 0: none */
	__u8 kind;
	__u8 size;       /* 1, 2, 4, 8 */
	__u8 is_signed;
	__u8 scale;
};

struct usdt_spec {
	struct usdt_arg args[MAX_ARGS];
	__u32 nargs;
	__u32 _pad;
};

/* Force BTF for bpf2go -type. */
const struct usdt_spec *unused_usdt_spec __attribute__((unused));

struct call_key {
	__u64 id; /* C: pid_tgid; Go: g */
	__u64 sp; /* C: stack pointer at entry; Go: g.stack.hi - sp */
};

/* Set from Go before load. */
const volatile __u32 nargs = 0;      /* argument registers to read (uprobe) */
const volatile __u8 go_abi = 0;      /* Go register ABI and goroutine keys */
const volatile __u32 str_arg = 0;    /* 1-based argument to read as a string; 0: none */
const volatile __u8 go_string = 0;   /* the string is Go's: pointer, then length in the next argument */
const volatile __u8 with_ret = 0;    /* report at return */
/* USDT: the attach cookie names the site's spec; without cookie support
 * (before 5.15) every site must share spec 0, and the verifier drops the
 * helper call. */
const volatile __u8 use_cookie = 1;

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct call_key);
	__type(value, struct uprobe_event);
} pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct uprobe_event);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_SITES);
	__type(key, __u32);
	__type(value, struct usdt_spec);
} usdt_specs SEC(".maps");

/* The integer argument registers: the C calling convention's six or Go's
 * ABIInternal's nine (kscope_arch.h). Read with constant offsets. */
static __always_inline void arg_regs(struct pt_regs *ctx, __u64 r[9])
{
	if (go_abi) {
		r[0] = KSCOPE_GO_ARG1(ctx);
		r[1] = KSCOPE_GO_ARG2(ctx);
		r[2] = KSCOPE_GO_ARG3(ctx);
		r[3] = KSCOPE_GO_ARG4(ctx);
		r[4] = KSCOPE_GO_ARG5(ctx);
		r[5] = KSCOPE_GO_ARG6(ctx);
		r[6] = KSCOPE_GO_ARG7(ctx);
		r[7] = KSCOPE_GO_ARG8(ctx);
		r[8] = KSCOPE_GO_ARG9(ctx);
		return;
	}
	r[0] = KSCOPE_C_ARG1(ctx);
	r[1] = KSCOPE_C_ARG2(ctx);
	r[2] = KSCOPE_C_ARG3(ctx);
	r[3] = KSCOPE_C_ARG4(ctx);
	r[4] = KSCOPE_C_ARG5(ctx);
	r[5] = KSCOPE_C_ARG6(ctx);
	r[6] = 0;
	r[7] = 0;
	r[8] = 0;
}

/* Reads the string at ptr: a C string, or Go's ptr+len (len bytes). */
static __always_inline void read_str(struct uprobe_event *e, __u64 ptr, __u64 len, bool go)
{
	long n;

	e->has_str = 1;
	e->str_len = 0;
	e->str_trunc = 0;
	e->str_unavailable = 0;
	if (go) {
		/* Go's empty string may have a nil pointer. */
		if (!len)
			return;
		if (len > STR_LEN - 1) {
			e->str_trunc = 1;
			len = STR_LEN - 1;
		}
		len &= STR_LEN - 1;
		if (ptr && len && bpf_probe_read_user(e->str, len, (void *)ptr) == 0)
			e->str_len = len;
		else
			e->str_unavailable = 1;
		return;
	}
	n = ptr ? bpf_probe_read_user_str(e->str, STR_LEN, (void *)ptr) : -1;
	if (n > 0) {
		e->str_len = n - 1;
		/* A full buffer may have cut the string. */
		if (n == STR_LEN)
			e->str_trunc = 1;
	} else {
		/* Flagged and counted when sent, never an empty string. */
		e->str_trunc = 0;
		e->str_unavailable = 1;
	}
}

/* Sends e, counting a string argument that could not be read. */
static __always_inline void send(struct uprobe_event *e)
{
	if (e->has_str && e->str_unavailable)
		count(STAT_UNREADABLE);
	output(e, sizeof(*e));
}

/* The key of the current call: see the file comment. */
static __always_inline int call_key(struct pt_regs *ctx, struct call_key *k, __u64 sp)
{
	if (go_abi) {
		__u64 hi = 0;

		k->id = KSCOPE_GO_G(ctx);
		/* g.stack is {lo, hi}, the first field of runtime.g. */
		if (bpf_probe_read_user(&hi, sizeof(hi), (void *)(KSCOPE_GO_G(ctx) + 8)))
			return -1;
		k->sp = hi - sp;
		return 0;
	}
	k->id = bpf_get_current_pid_tgid();
	k->sp = sp;
	return 0;
}

SEC("uprobe")
int uprobe_entry(struct pt_regs *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 uid = (__u32)bpf_get_current_uid_gid(), zero = 0;
	struct uprobe_event *e;
	struct call_key k;
	struct pt_regs regs;
	__u64 r[9];

	if (!want_task(pid_tgid, uid))
		return drop();
	/* A copy on the stack: the registers are picked by computed offsets,
	 * which the verifier allows on the stack but not on ctx. */
	if (bpf_probe_read_kernel(&regs, sizeof(regs), ctx))
		return 0;
	e = bpf_map_lookup_elem(&scratch, &zero);
	if (!e)
		return 0;
	fill_header(&e->hdr, pid_tgid, uid);
	e->nargs = nargs;
	e->has_ret = 0;
	e->ret = 0;
	e->latency_ns = 0;
	e->site = 0;
	e->has_str = 0;
	e->str_unavailable = 0;
	e->str_len = 0;
	arg_regs(&regs, r);
	for (int i = 0; i < 9; i++)
		e->args[i] = i < nargs ? r[i] : 0;
	if (str_arg && str_arg < 9)
		read_str(e, r[str_arg - 1], go_string ? r[str_arg] : 0, go_string);
	if (!with_ret) {
		send(e);
		return 0;
	}
	if (call_key(ctx, &k, KSCOPE_SP(ctx)))
		return 0;
	if (bpf_map_update_elem(&pending, &k, e, BPF_ANY))
		count(STAT_LOST);
	return 0;
}

static __always_inline int report_return(struct pt_regs *ctx, __u64 sp)
{
	struct uprobe_event *e;
	struct call_key k;
	__u64 now;

	if (call_key(ctx, &k, sp))
		return 0;
	e = bpf_map_lookup_elem(&pending, &k);
	if (!e)
		return 0;
	now = bpf_ktime_get_ns();
	e->latency_ns = now - e->hdr.ts_ns;
	e->hdr.ts_ns = now;
	e->ret = KSCOPE_RC(ctx);
	e->has_ret = 1;
	send(e);
	bpf_map_delete_elem(&pending, &k);
	return 0;
}

SEC("uretprobe")
int uprobe_return(struct pt_regs *ctx)
{
	/* As at entry: x86-64's RET has popped the return address. */
	return report_return(ctx, KSCOPE_RET_SP(ctx));
}

SEC("uprobe")
int go_return(struct pt_regs *ctx)
{
	/* At the RET: the stack pointer is back where it was at entry. */
	return report_return(ctx, KSCOPE_SP(ctx));
}

/* The value of the pt_regs slot at off+1 (0: none). */
static __always_inline __u64 reg_at(struct pt_regs *ctx, __u16 off1)
{
	__u64 v = 0;

	if (!off1 || off1 > sizeof(struct pt_regs))
		return 0;
	bpf_probe_read_kernel(&v, sizeof(v), (void *)ctx + ((off1 - 1) & 0xff));
	return v;
}

SEC("uprobe")
int usdt_probe(struct pt_regs *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 uid = (__u32)bpf_get_current_uid_gid(), zero = 0, site;
	struct uprobe_event *e;
	struct usdt_spec *spec;

	if (!want_task(pid_tgid, uid))
		return drop();
	site = use_cookie ? (__u32)bpf_get_attach_cookie(ctx) : 0;
	spec = bpf_map_lookup_elem(&usdt_specs, &site);
	if (!spec)
		return 0;
	e = bpf_map_lookup_elem(&scratch, &zero);
	if (!e)
		return 0;
	fill_header(&e->hdr, pid_tgid, uid);
	e->site = site;
	e->nargs = spec->nargs;
	e->has_ret = 0;
	e->ret = 0;
	e->latency_ns = 0;
	e->has_str = 0;
	e->str_unavailable = 0;
	e->str_len = 0;
	for (int i = 0; i < MAX_ARGS; i++) {
		struct usdt_arg *a = &spec->args[i];
		__u64 v = 0, addr;
		int shift;

		if (i >= spec->nargs)
			break;
		switch (a->kind) {
		case ARG_CONST:
			v = a->val;
			break;
		case ARG_REG:
			v = reg_at(ctx, a->reg_off);
			break;
		case ARG_MEM:
		case ARG_GLOBAL:
			if (a->kind == ARG_GLOBAL)
				addr = PT_REGS_IP(ctx) + a->val;
			else
				addr = reg_at(ctx, a->reg_off) + reg_at(ctx, a->idx_off) * a->scale + a->val;
			if (bpf_probe_read_user(&v, sizeof(v), (void *)addr)) {
				/* The last bytes of a mapping: read just the size. */
				v = 0;
				switch (a->size) {
				case 1: bpf_probe_read_user(&v, 1, (void *)addr); break;
				case 2: bpf_probe_read_user(&v, 2, (void *)addr); break;
				case 4: bpf_probe_read_user(&v, 4, (void *)addr); break;
				}
			}
			break;
		}
		/* Keep the argument's size, extending its sign if it has one. */
		shift = 64 - 8 * (a->size & 0xf);
		if (shift > 0 && shift < 64) {
			if (a->is_signed)
				v = (__u64)(((__s64)(v << shift)) >> shift);
			else
				v = (v << shift) >> shift;
		}
		e->args[i] = v;
	}
	if (str_arg && str_arg <= MAX_ARGS)
		read_str(e, e->args[(str_arg - 1) & 0xf], 0, false);
	send(e);
	return 0;
}
