// SPDX-License-Identifier: GPL-2.0-only
/*
 * lsm: kscope policy's deny through BPF LSM hooks.
 *
 * A rule whose action is deny on open, exec, ptrace, module_load, bpf or
 * mount is matched here, in the LSM hook the kernel calls before it acts,
 * and an enforce-mode match makes the hook return -EPERM: the syscall fails
 * with EPERM and nothing is done (no file opened or truncated, no program
 * run, no module read). Audit-mode matches are reported and let through.
 *
 * The matching is policy.bpf.c's, included whole: the same selectors, the
 * same helpers, the same record. Go shares the rule maps, the process table,
 * the ring buffer and the stats with the main object (MapReplacements), sets
 * the same knobs (with on_mask holding only the rules this object acts on,
 * which the main object's on_mask leaves out) and loads only the lsm/
 * programs below. So a rule is matched exactly as on the tracepoint path;
 * only the hook differs.
 *
 * Each hook checks the syscall it runs in (the task's user registers: the
 * syscall number and its arguments as given), so a hook the kernel also
 * calls from elsewhere (file_open for an exec's binary, ptrace_access_check
 * for /proc/PID/mem) matches only what the tracepoint path matches, and
 * paths are the ones the caller passed, as there. The registers and syscall
 * numbers are the target's (x86-64 or arm64, bpf/include/kscope_arch.h);
 * arm64 has no open(2), only openat.
 *
 * One difference the hooks cannot avoid: an exec is matched before the new
 * program's credentials are computed, so euid, gid, capability and
 * namespace selectors see the caller's (a setuid binary's euid is not yet
 * the owner's), where sched_process_exec sees the new program's.
 */
#include "policy.bpf.c"

#define EPERM 1

/* The syscall numbers of the hooked syscalls. */
#if defined(__TARGET_ARCH_x86)
#define NR_OPEN 2
#define NR_PTRACE 101
#define NR_MOUNT 165
#define NR_INIT_MODULE 175
#define NR_OPENAT 257
#define NR_FINIT_MODULE 313
#define NR_MOVE_MOUNT 429
#define NR_OPENAT2 437
#elif defined(__TARGET_ARCH_arm64)
#define NR_MOUNT 40
#define NR_OPENAT 56
#define NR_INIT_MODULE 105
#define NR_PTRACE 117
#define NR_FINIT_MODULE 273
#define NR_MOVE_MOUNT 429
#define NR_OPENAT2 437
#else
#error "lsm.bpf.c: unsupported target"
#endif

/* The current task's registers at syscall entry; NULL outside syscall nr. */
static __always_inline struct pt_regs *sys_regs(long nr)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());

	if (!regs || (long)KSCOPE_SYSCALL_NR(regs) != nr)
		return 0;
	return regs;
}

/* Records the match (s->ok) and sends it; returns the hook's verdict:
 * -EPERM for an enforce-mode deny rule, 0 (let through) for audit. */
static __always_inline int lsm_verdict(struct scratch *s, struct proc *proc, __u8 on, __u8 sys)
{
	struct policy_event *e = &s->e;
	int verdict = 0;

	e->act_ret = 0;
	e->on = on;
	e->sys = sys;
	if (record_match(s, &deny_rules))
		verdict = -EPERM;
	e->ret = verdict;
	fill_chain(e, proc);
	send(e);
	return verdict;
}

SEC("lsm/file_open")
int BPF_PROG(policy_lsm_file_open, struct file *file)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 uid = (__u32)bpf_get_current_uid_gid();
	__u32 tgid = pid_tgid >> 32;
	const char *filename;
	struct policy_event *e;
	struct pt_regs *regs;
	struct proc *proc;
	struct scratch *s;
	__u32 flags;
	__u8 a;
	long n;

	if (!has_on(ON_OPEN))
		return 0;
	/* open, openat and openat2, as the tracepoint path: not an exec's
	 * binary, not a kernel-internal open. */
	if ((regs = sys_regs(NR_OPENAT))) {
		filename = (const char *)KSCOPE_SYSCALL_ARG2(regs);
		flags = KSCOPE_SYSCALL_ARG3(regs);
	} else if ((regs = sys_regs(NR_OPENAT2))) {
		/* struct open_how starts with the u64 flags, which the kernel
		 * has copied by now: the page is resident. */
		__u64 f;

		filename = (const char *)KSCOPE_SYSCALL_ARG2(regs);
		if (bpf_probe_read_user(&f, sizeof(f), (const void *)KSCOPE_SYSCALL_ARG3(regs))) {
			count(STAT_UNREADABLE);
			return 0;
		}
		flags = (__u32)f;
	}
#ifdef NR_OPEN
	else if ((regs = sys_regs(NR_OPEN))) {
		filename = (const char *)KSCOPE_SYSCALL_ARG1(regs);
		flags = KSCOPE_SYSCALL_ARG2(regs);
	}
#endif
	else
		return 0;
	s = get_scratch();
	if (!s)
		return 0;
	if (!on_rules(&s->ok, ON_OPEN))
		return 0;
	/* The access first: this hook runs on every open, and most opens
	 * are reads that write rules need not look at further. */
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
		if (!any(&s->ok))
			return 0;
	}
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
	/* The kernel has copied the path, so its pages are resident. */
	n = bpf_probe_read_user_str(s->key.path, sizeof(s->key.path), filename);
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
	e->flags = flags;
	e->access = a;
	e->argv_len = 0;
	__builtin_memcpy(e->path, s->key.path, sizeof(s->key.path));
	return lsm_verdict(s, proc, ON_OPEN, 0);
}

/*
 * exec: bprm_creds_for_exec runs once per execve, with the new program
 * opened and the old one still running; a deny fails the execve and the
 * caller goes on. The new program's comm (its filename's last component,
 * as the kernel sets it) and binary are matched, with the caller's
 * ancestry, as sched_process_exec does.
 */
SEC("lsm/bprm_creds_for_exec")
int BPF_PROG(policy_lsm_exec, struct linux_binprm *bprm)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 uid = (__u32)bpf_get_current_uid_gid();
	__u32 tgid = pid_tgid >> 32;
	struct policy_event *e;
	struct scratch *s;
	struct proc *old;
	int base = 0;
	long n;

	if (!has_on(ON_EXEC))
		return 0;
	s = get_scratch();
	if (!s)
		return 0;
	if (!on_rules(&s->ok, ON_EXEC))
		return 0;
	e = &s->e;
	fill_header(&e->hdr, pid_tgid, uid);
	n = bpf_probe_read_kernel_str(s->key.path, sizeof(s->key.path), bprm->filename);
	if (n <= 0)
		return 0;
	/* The comm the new program would have: the path's last component.
	 * From the end, so that the first '/' ends the loop: one path
	 * through it for the verifier. */
	for (int k = 0; k < PATH_MAX_KEY - 1; k++) {
		int i = n - 2 - k;

		if (i < 0)
			break;
		if (s->key.path[i & (PATH_MAX_KEY - 1)] == '/') {
			base = i + 1;
			break;
		}
	}
	/* Truncated to 15 bytes and zero-padded, as a comm. */
	__builtin_memset(e->hdr.comm, 0, sizeof(e->hdr.comm));
	bpf_probe_read_kernel_str(e->hdr.comm, sizeof(e->hdr.comm), &s->key.path[base & (PATH_MAX_KEY - 1)]);
	fill_creds(e);
	task_rules(s);
	if (!any(&s->ok))
		return 0;
	/* The process's ancestry with the new binary, as policy_exec makes it
	 * (here in scratch only: the exec may still fail). */
	old = bpf_map_lookup_elem(&procs, &tgid);
	if (old)
		__builtin_memcpy(&s->p, old, sizeof(s->p));
	else
		inherit(&s->p, e->hdr.ppid, e->hdr.pstart_ns, tgid, e->hdr.start_ns);
	s->p.bin = path_idx(&s->key, DIM_BINARY, n - 1);
	proc_pass(s, &s->p);
	cgroup_pass(s);
	if (!any(&s->ok))
		return 0;
	e->argv_len = 0;
	__builtin_memcpy(e->path, s->key.path, sizeof(s->key.path));
	return lsm_verdict(s, &s->p, ON_EXEC, 0);
}

/*
 * A syscall event: the task's selectors, as sys_event matches them, and
 * the same record. path and str are user strings to report (read as
 * sys_event reads them).
 */
static __always_inline int lsm_sys(__u8 on, __u8 sys, __u64 a0, __u64 a1, __u64 a2, __u64 a3,
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
	e->args[0] = a0;
	e->args[1] = a1;
	e->args[2] = a2;
	e->args[3] = a3;
	e->argv_len = 0;
	e->path[0] = 0;
	if (path && bpf_probe_read_user_str(e->path, sizeof(e->path), path) < 0)
		e->path[0] = 0;
	e->argv[0] = 0;
	if (str) {
		long n = bpf_probe_read_user_str(e->argv, sizeof(e->argv), str);

		e->argv_len = n > 0 ? n : 0;
	}
	return lsm_verdict(s, proc, on, sys);
}

/* ptrace: PTRACE_ATTACH and PTRACE_SEIZE of another process, before the
 * tracer is attached. */
SEC("lsm/ptrace_access_check")
int BPF_PROG(policy_lsm_ptrace, struct task_struct *child, unsigned int mode)
{
	struct pt_regs *regs;
	__u64 req;

	if (!has_on(ON_PTRACE) || !(regs = sys_regs(NR_PTRACE)))
		return 0;
	req = KSCOPE_SYSCALL_ARG1(regs);
	if (req != 16 && req != 0x4206)
		return 0;
	return lsm_sys(ON_PTRACE, SYS_PTRACE, req, KSCOPE_SYSCALL_ARG2(regs), 0, 0, 0, 0);
}

/* finit_module: before the kernel reads the module's file, so the file's
 * contents never matter. */
SEC("lsm/kernel_read_file")
int BPF_PROG(policy_lsm_read_file, struct file *file, enum kernel_read_file_id id)
{
	struct pt_regs *regs;

	if (id != bpf_core_enum_value(enum kernel_read_file_id, READING_MODULE))
		return 0;
	if (!has_on(ON_MODULE_LOAD) || !(regs = sys_regs(NR_FINIT_MODULE)))
		return 0;
	return lsm_sys(ON_MODULE_LOAD, SYS_FINIT_MODULE, KSCOPE_SYSCALL_ARG1(regs), KSCOPE_SYSCALL_ARG3(regs), 0, 0,
		       0, (const char *)KSCOPE_SYSCALL_ARG2(regs));
}

/* init_module: before the kernel copies the image. */
SEC("lsm/kernel_load_data")
int BPF_PROG(policy_lsm_load_data, enum kernel_load_data_id id)
{
	struct pt_regs *regs;

	if (id != bpf_core_enum_value(enum kernel_load_data_id, LOADING_MODULE))
		return 0;
	if (!has_on(ON_MODULE_LOAD) || !(regs = sys_regs(NR_INIT_MODULE)))
		return 0;
	return lsm_sys(ON_MODULE_LOAD, SYS_INIT_MODULE, KSCOPE_SYSCALL_ARG2(regs), 0, 0, 0, 0,
		       (const char *)KSCOPE_SYSCALL_ARG3(regs));
}

/* bpf: BPF_MAP_CREATE and BPF_PROG_LOAD, before the kernel reads the
 * attributes. The hook's later arguments changed across kernels; only cmd
 * is read. */
SEC("lsm/bpf")
int BPF_PROG(policy_lsm_bpf, int cmd)
{
	if (cmd != 0 && cmd != 5)
		return 0;
	return lsm_sys(ON_BPF, SYS_BPF, cmd, 0, 0, 0, 0, 0);
}

/* mount: before the file system is mounted. */
SEC("lsm/sb_mount")
int BPF_PROG(policy_lsm_mount)
{
	struct pt_regs *regs;

	if (!has_on(ON_MOUNT) || !(regs = sys_regs(NR_MOUNT)))
		return 0;
	return lsm_sys(ON_MOUNT, SYS_MOUNT, KSCOPE_SYSCALL_ARG4(regs), 0, 0, 0, (const char *)KSCOPE_SYSCALL_ARG2(regs),
		       (const char *)KSCOPE_SYSCALL_ARG3(regs));
}

/* move_mount: before the mount is moved. */
SEC("lsm/move_mount")
int BPF_PROG(policy_lsm_move_mount)
{
	struct pt_regs *regs;

	if (!has_on(ON_MOUNT) || !(regs = sys_regs(NR_MOVE_MOUNT)))
		return 0;
	return lsm_sys(ON_MOUNT, SYS_MOVE_MOUNT, KSCOPE_SYSCALL_ARG5(regs), 0, 0, 0,
		       (const char *)KSCOPE_SYSCALL_ARG4(regs), 0);
}
