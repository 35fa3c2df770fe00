package policy

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Features answers whether a kernel feature works: nil, or why not. The
// names are internal/bpfx's feature names; kscope's CLI passes its probe.
type Features func(name string) error

// The bpfx feature names a plan asks about.
const (
	FeatSendSignal     = "bpf_send_signal"
	FeatCgroupSockAddr = "cgroup_sock_addr"
	FeatLSM            = "lsm"
)

// Plan is how one rule runs on this kernel.
type Plan struct {
	Rule *Rule
	// Stage is "kernel" when every selector is matched in the kernel,
	// "user" when some run in user space (globs, args): the kernel
	// then only narrows the candidates and the rule can only alert.
	Stage string
	// UserSelectors names the selectors that run in user space.
	UserSelectors []string
	// Action is what happens on a match: the rule's action or its
	// fallback. Enforce is false in audit mode: the action is reported,
	// not taken.
	Action  string
	Enforce bool
	// Path says how the action is carried out; Fallback why the rule's
	// own action is not the one taken ("" when it is).
	Path     string
	Fallback string
	// Missing are the syscalls of a syscall event this kernel does not
	// have (no tracepoint): init_module without module support, say.
	Missing []string
}

// FeatTracepoint is the Features name of a syscall's entry tracepoint.
func FeatTracepoint(syscall string) string { return "tracepoint:syscalls/sys_enter_" + syscall }

// WithTracepoints answers the FeatTracepoint names from tracefs (whether
// the tracepoint exists) and the rest with probe.
func WithTracepoints(probe Features) Features {
	return func(name string) error {
		tp, ok := strings.CutPrefix(name, "tracepoint:")
		if !ok {
			return probe(name)
		}
		for _, root := range []string{"/sys/kernel/tracing", "/sys/kernel/debug/tracing"} {
			if _, err := os.Stat(filepath.Join(root, "events", tp, "id")); err == nil {
				return nil
			}
		}
		return fmt.Errorf("no tracepoint %s", tp)
	}
}

// SyscallNames are the syscalls of each syscall event, by name.
var SyscallNames = map[string][]string{
	"ptrace":      {"ptrace"},
	"setuid":      {"setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "capset"},
	"module_load": {"init_module", "finit_module"},
	"bpf":         {"bpf"},
	"mount":       {"mount", "move_mount"},
	"kill":        {"kill", "tgkill"},
	"chmod":       {"chmod", "fchmod", "fchmodat", "fchmodat2"},
}

// Describe is the plan in one line, as policy check prints it.
func (p *Plan) Describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: on %s, runs in %s", p.Rule.Name, p.Rule.On, p.Stage)
	if len(p.UserSelectors) > 0 {
		fmt.Fprintf(&b, " (%s in user space)", strings.Join(p.UserSelectors, ", "))
	}
	fmt.Fprintf(&b, "; action %s", p.Rule.Action)
	if p.Fallback != "" {
		fmt.Fprintf(&b, " -> %s (fallback: %s)", p.Action, p.Fallback)
	}
	fmt.Fprintf(&b, ": %s", p.Path)
	if !p.Enforce {
		fmt.Fprintf(&b, "; audit: reports what %s would do and lets the operation through", p.Action)
	}
	if len(p.Rule.Match.Container) > 0 {
		b.WriteString("; container: " + ContainerMatching)
	}
	if len(p.Missing) > 0 {
		fmt.Fprintf(&b, "; not on this kernel: %s", strings.Join(p.Missing, ", "))
		if len(p.Missing) == len(SyscallNames[p.Rule.On]) {
			b.WriteString(" (the rule cannot match here)")
		}
	}
	return b.String()
}

// ContainerMatching says how a container selector is matched.
const ContainerMatching = "matched in the kernel on the container id in the task's cgroup names (a cgroup v1 controller's hierarchy on hybrid hosts, the cgroup v2 one otherwise); ids and id prefixes of 12 or more hex digits as given, names through the container runtime's API, kept current while the policy runs"

// userSelectors lists a rule's selectors that cannot run in the kernel.
func userSelectors(m *Match) (user []string) {
	if m.Binary.HasGlob() {
		user = append(user, "binary glob")
	}
	if m.File != nil && m.File.HasGlob() {
		user = append(user, "file glob")
	}
	if m.Parent.HasGlob() {
		user = append(user, "parent glob")
	}
	if m.Ancestor.HasGlob() {
		user = append(user, "ancestor glob")
	}
	if m.Cgroup.HasGlob() {
		user = append(user, "cgroup glob")
	}
	if m.Args != nil {
		user = append(user, "args")
	}
	return user
}

// PlanRules plans every rule against the kernel's features. audit forces
// every rule into audit mode (kscope policy run --audit). Every selector
// runs somewhere today, so the error is nil; it is kept for selectors a
// kernel cannot run at all.
func PlanRules(rules []*Rule, feat Features, audit bool) ([]*Plan, error) {
	var plans []*Plan
	for _, r := range rules {
		p := &Plan{Rule: r, Stage: "kernel", Action: r.Action, Enforce: r.Mode == "enforce" && !audit}
		if user := userSelectors(&r.Match); len(user) > 0 {
			p.Stage, p.UserSelectors = "user", user
		}
		planAction(p, feat)
		for _, sc := range SyscallNames[r.On] {
			if why(feat, FeatTracepoint(sc)) != nil {
				p.Missing = append(p.Missing, sc)
			}
		}
		plans = append(plans, p)
	}
	return plans, nil
}

func why(feat Features, name string) error {
	if feat == nil {
		return fmt.Errorf("not probed")
	}
	return feat(name)
}

func planAction(p *Plan, feat Features) {
	r := p.Rule
	kill := func() {
		if err := why(feat, FeatSendSignal); err != nil {
			p.Action, p.Path = "alert", "an alert event"
			p.Fallback += fmt.Sprintf("bpf_send_signal does not work here (%v): alert only", err)
			return
		}
		p.Action = "kill"
		p.Path = "bpf_send_signal(SIGKILL) from the " + hookOf(r.On) + ", in the offending task"
		if slices.Contains(SyscallEvents, r.On) {
			p.Path += ": it dies on its way out of the syscall, which has run"
		}
	}
	if p.Stage == "user" {
		p.Action, p.Path = "alert", "an alert event, from user space"
		if r.Action != "alert" {
			p.Fallback = fmt.Sprintf("%s run in user space, which cannot act synchronously: alert only", strings.Join(p.UserSelectors, ", "))
		}
		return
	}
	switch r.Action {
	case "alert":
		p.Path = "an alert event from the " + hookOf(r.On)
	case "kill":
		kill()
	case "deny":
		if slices.Contains(SockEvents, r.On) {
			if err := why(feat, FeatCgroupSockAddr); err != nil {
				p.Action, p.Path = "alert", "an alert event"
				p.Fallback = fmt.Sprintf("cgroup sock_addr programs do not work here (%v): alert only", err)
				return
			}
			p.Path = "EPERM from the " + hookOf(r.On) + " on the cgroup"
			return
		}
		if !slices.Contains(LSMEvents, r.On) {
			p.Fallback = fmt.Sprintf("kscope has no BPF LSM deny of %s; taking kill instead. ", r.On)
		} else if err := why(feat, FeatLSM); err != nil {
			p.Fallback = fmt.Sprintf("deny of %s needs BPF LSM, which does not work here (%v); taking kill instead. ", r.On, err)
		} else {
			p.Path = "deny via BPF LSM (EPERM) from the " + lsmHooks[r.On]
			return
		}
		kill()
		p.Fallback = strings.TrimSuffix(p.Fallback, " ")
	}
}

// LSMEvents are the events whose deny runs in BPF LSM hooks where the
// kernel has BPF LSM.
var LSMEvents = []string{"exec", "open", "ptrace", "module_load", "bpf", "mount"}

// lsmHooks say where each LSM event's deny happens and what it prevents.
var lsmHooks = map[string]string{
	"exec":        "bprm_creds_for_exec hook: the execve fails and the new program never runs",
	"open":        "file_open hook: the open fails before a descriptor exists or the file is truncated (with O_CREAT a missing file has been created, empty)",
	"ptrace":      "ptrace_access_check hook: PTRACE_ATTACH or PTRACE_SEIZE fails, nothing is attached",
	"module_load": "kernel_read_file (finit_module) and kernel_load_data (init_module) hooks: the module is never read",
	"bpf":         "bpf hook: BPF_PROG_LOAD or BPF_MAP_CREATE fails, nothing is created",
	"mount":       "sb_mount and move_mount hooks: nothing is mounted or moved",
}

// LSM reports whether the plan's action is a deny in a BPF LSM hook.
func (p *Plan) LSM() bool {
	return p.Stage == "kernel" && p.Action == "deny" && slices.Contains(LSMEvents, p.Rule.On)
}

// Syscalls are the syscalls each syscall event is matched on.
var Syscalls = map[string][]string{
	"ptrace":      {"ptrace (PTRACE_ATTACH, PTRACE_SEIZE)"},
	"setuid":      {"setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "capset"},
	"module_load": {"init_module", "finit_module"},
	"bpf":         {"bpf (BPF_PROG_LOAD, BPF_MAP_CREATE)"},
	"mount":       {"mount", "move_mount"},
	"kill":        {"kill", "tgkill (a signal other than 0 to another process)"},
	"chmod":       {"chmod", "fchmod", "fchmodat", "fchmodat2 (modes with the setuid or setgid bit)"},
}

func hookOf(on string) string {
	switch on {
	case "exec":
		return "sched_process_exec tracepoint, before the new program runs an instruction"
	case "open":
		return "open/openat syscall exit, before the file descriptor reaches user space"
	case "connect", "bind", "sendmsg":
		return "cgroup/" + on + "4 and cgroup/" + on + "6 programs"
	}
	if sys, ok := Syscalls[on]; ok {
		return "entry tracepoint of " + strings.Join(sys, ", ")
	}
	return on
}
