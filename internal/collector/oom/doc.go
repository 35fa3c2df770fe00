// Package oom reports processes killed by the kernel's out-of-memory killer:
// the counter kscope_oom_kills_total and one event (type "oom") per kill.
//
// A kill is an oom:mark_victim that follows the killer's SIGKILL to the
// victim, in the same task; marks of tasks that were exiting anyway are not
// kills (the kernel's oom_kill counters skip them too). The event's header
// is the victim (pid: its process, tid: the task the killer chose, uid,
// comm, cgroup v2 id); memcg_id is its memory cgroup's id, in cgroup v2 or
// in cgroup v1's memory hierarchy; sizes are in bytes as the kernel logged
// them (0 where the tracepoint lacks them, before Linux 6.9); the trigger is
// the task whose allocation ran the killer. The pid, uid and comm filters
// apply to the victim's events; the counter counts every kill.
package oom
