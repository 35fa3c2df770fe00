package policy

import (
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/kscope/kscope/internal/event"
)

// AlertKind is the kind of the events a rule's match produces: "alert".
var AlertKind = mustKind()

func mustKind() *event.Kind {
	k, err := event.NewKind("alert", "A policy rule matched: the rule, its action and the action's outcome", []event.Field{
		{Name: "rule", Type: event.TypeString, Doc: "the rule's name"},
		{Name: "severity", Type: event.TypeString, Doc: "the rule's severity"},
		{Name: "on", Type: event.TypeString, Doc: "the event the rule is on: exec, open, connect, bind, sendmsg, ptrace, setuid, module_load, bpf, mount, kill or chmod"},
		{Name: "action", Type: event.TypeString, Doc: "the action taken or, in audit mode, that would have been: alert, kill or deny"},
		{Name: "mode", Type: event.TypeString, Doc: "enforce or audit"},
		{Name: "outcome", Type: event.TypeString, Doc: "what happened: alerted, killed, denied, kill failed: ERRNO, or would kill / would deny in audit mode"},
		{Name: "binary", Type: event.TypeString, Doc: "exec: the new program; else the process's binary when known", Omit: true},
		{Name: "file", Type: event.TypeString, Doc: "open: the path opened", Omit: true},
		{Name: "access", Type: event.TypeStrings, Doc: "open: the access modes asked for (read, write, create, truncate)", Omit: true},
		{Name: "destination", Type: event.TypeString, Doc: "connect: ADDR:PORT (IPv6 in brackets)", Omit: true},
		{Name: "protocol", Type: event.TypeString, Doc: "connect, bind, sendmsg: tcp or udp", Omit: true},
		{Name: "syscall", Type: event.TypeString, Doc: "syscall events: the syscall", Omit: true},
		{Name: "detail", Type: event.TypeString, Doc: "syscall events: the syscall's arguments that matter (target, signal, ids, mode, file system)", Omit: true},
		{Name: "target_pid", Type: event.TypeInt, Doc: "ptrace, kill: the target process", Omit: true},
		{Name: "euid", Type: event.TypeUint, Doc: "the task's effective uid"},
		{Name: "gid", Type: event.TypeUint, Doc: "the task's real gid"},
		{Name: "caps", Type: event.TypeStrings, Doc: "the task's effective capabilities (CAP_SYS_ADMIN…)", Omit: true},
		{Name: "namespaces", Type: event.TypeStrings, Doc: "the kinds of the task's namespaces that are not the host's (pid, mnt, net, user, uts, ipc, cgroup)", Omit: true},
		{Name: "container", Type: event.TypeString, Doc: "the process's container's name (its id when it has none), for the rules of a policy with a container selector", Omit: true},
		{Name: "container_id", Type: event.TypeString, Doc: "the process's container's id, likewise", Omit: true},
		{Name: "chain", Type: event.TypeString, Doc: "the process's ancestry by binary name, oldest first, ending with the process: nginx → sh → bash", Omit: true},
		{Name: "ancestors", Type: event.TypeStrings, Doc: "the binaries of the process's ancestors, nearest first (up to 8)", Omit: true},
		{Name: "ancestor_pids", Type: event.TypeInts, Doc: "their pids", Omit: true},
		{Name: "ancestor_start_ns", Type: event.TypeInts, Doc: "their start times (CLOCK_MONOTONIC ns): a pid and a start time name one process", Omit: true},
		{Name: "ancestor_argv", Type: event.TypeStrings, Doc: "their argv, space-separated", Omit: true},
	})
	if err != nil {
		panic(err)
	}
	// Narrower columns than NewKind's: most cells are short words.
	widths := map[string]int{"rule": 20, "severity": 8, "on": 7, "action": 6, "mode": 7, "outcome": 10,
		"binary": 28, "file": 28, "access": 12, "destination": 22, "chain": 40}
	// The credentials are in the JSON, not the table.
	k.Columns = slices.DeleteFunc(k.Columns, func(c event.Column) bool {
		return slices.Contains([]string{"euid", "gid", "caps", "namespaces", "container", "container_id"}, c.Field)
	})
	for i, c := range k.Columns {
		if w, ok := widths[c.Field]; ok {
			k.Columns[i].Width = w
		}
	}
	if err := event.Register(k); err != nil {
		panic(err)
	}
	return k
}

// Alert is the content of an alert event, after the header.
type Alert struct {
	Rule, Severity, On, Action, Mode, Outcome string
	Binary, File                              string
	Access                                    []string
	Destination, Protocol                     string
	Syscall, Detail                           string
	TargetPID                                 int64
	EUID, GID                                 uint32
	Caps, Namespaces                          []string
	Container, ContainerID                    string
	// Chain is Chain(Ancestors, the process's binary).
	Chain     string
	Ancestors []Ancestor
}

// Ancestor is one process of an alert's ancestry.
type Ancestor struct {
	PID     uint32
	StartNS uint64
	Binary  string
	Argv    []string
}

// Chain renders the ancestry by binary name, oldest first, ending with
// self (the process's own binary): "nginx → sh → bash". An ancestor
// whose binary is unknown shows as its pid.
func Chain(ancestors []Ancestor, self string) string {
	parts := make([]string, 0, len(ancestors)+1)
	for i := len(ancestors) - 1; i >= 0; i-- {
		a := ancestors[i]
		if a.Binary == "" {
			parts = append(parts, "pid "+itoa(int64(a.PID)))
			continue
		}
		parts = append(parts, path.Base(a.Binary))
	}
	if self != "" {
		parts = append(parts, path.Base(self))
	}
	return strings.Join(parts, " → ")
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// Event returns the alert as an event with header h (its type is set).
func (a *Alert) Event(h event.Header) *event.Dynamic {
	e := event.NewDynamic(AlertKind)
	h.Type = AlertKind.Name
	e.Header = h
	e.Set("rule", event.StringValue(a.Rule))
	e.Set("severity", event.StringValue(a.Severity))
	e.Set("on", event.StringValue(a.On))
	e.Set("action", event.StringValue(a.Action))
	e.Set("mode", event.StringValue(a.Mode))
	e.Set("outcome", event.StringValue(a.Outcome))
	e.Set("binary", event.StringValue(a.Binary))
	e.Set("file", event.StringValue(a.File))
	if len(a.Access) > 0 {
		e.Set("access", event.StringsValue(a.Access))
	}
	e.Set("destination", event.StringValue(a.Destination))
	e.Set("protocol", event.StringValue(a.Protocol))
	e.Set("syscall", event.StringValue(a.Syscall))
	e.Set("detail", event.StringValue(a.Detail))
	e.Set("target_pid", event.IntValue(a.TargetPID))
	e.Set("euid", event.UintValue(uint64(a.EUID)))
	e.Set("gid", event.UintValue(uint64(a.GID)))
	if len(a.Caps) > 0 {
		e.Set("caps", event.StringsValue(a.Caps))
	}
	if len(a.Namespaces) > 0 {
		e.Set("namespaces", event.StringsValue(a.Namespaces))
	}
	e.Set("container", event.StringValue(a.Container))
	e.Set("container_id", event.StringValue(a.ContainerID))
	e.Set("chain", event.StringValue(a.Chain))
	if len(a.Ancestors) > 0 {
		bins := make([]string, len(a.Ancestors))
		argv := make([]string, len(a.Ancestors))
		pids := make([]event.Int, len(a.Ancestors))
		starts := make([]event.Int, len(a.Ancestors))
		for i, x := range a.Ancestors {
			bins[i], argv[i] = x.Binary, strings.Join(x.Argv, " ")
			pids[i], starts[i] = event.Int{V: uint64(x.PID)}, event.Int{V: x.StartNS}
		}
		e.Set("ancestors", event.StringsValue(bins))
		e.Set("ancestor_pids", event.IntsValue(pids))
		e.Set("ancestor_start_ns", event.IntsValue(starts))
		e.Set("ancestor_argv", event.StringsValue(argv))
	}
	return e
}
