package event

import "strconv"

// OOM is a process killed by the kernel's out-of-memory killer. The header
// describes the victim; the trigger is the task whose allocation ran the
// killer (under a cgroup's memory limit, often the victim itself). Sizes
// are as the kernel logged them at the kill, 0 where the kernel's
// oom:mark_victim tracepoint lacks them.
type OOM struct {
	Header
	TriggerPID    uint32 `json:"trigger_pid"`
	TriggerComm   string `json:"trigger_comm"`
	MemcgID       uint64 `json:"memcg_id"` // the victim's memory cgroup (v2, or v1's memory hierarchy)
	TotalVMBytes  uint64 `json:"total_vm_bytes"`
	AnonRSSBytes  uint64 `json:"anon_rss_bytes"`
	FileRSSBytes  uint64 `json:"file_rss_bytes"`
	ShmemRSSBytes uint64 `json:"shmem_rss_bytes"`
	PgtablesBytes uint64 `json:"pgtables_bytes"`
	OOMScoreAdj   int16  `json:"oom_score_adj"`
}

// Signal is a signal that ended its target process. The header describes
// the target (its last thread to exit); the sender is the task that
// generated the signal, with its si_code. SenderPID is 0 when the signal
// was generated before tracing started.
type Signal struct {
	Header
	Signal     string `json:"signal"`
	Signo      int32  `json:"signo"`
	Code       int32  `json:"code"`
	Fatal      bool   `json:"fatal"`
	CoreDumped bool   `json:"core_dumped"`
	SenderPID  uint32 `json:"sender_pid"`
	SenderTID  uint32 `json:"sender_tid"`
	SenderUID  uint32 `json:"sender_uid"`
	SenderComm string `json:"sender_comm"`
}

// SignalName returns the name of a Linux signal number as kill -l prints
// it: "SIGKILL" for 9, "SIGRTMIN+2" for 36, "SIG32" where there is no
// name, and "" for 0.
func SignalName(sig int32) string {
	switch {
	case sig == 0:
		return ""
	case sig > 0 && int(sig) < len(signalNames):
		return signalNames[sig]
	case sig == sigRTMin:
		return "SIGRTMIN"
	case sig == sigRTMax:
		return "SIGRTMAX"
	case sig > sigRTMin && sig <= sigRTMin+15:
		return "SIGRTMIN+" + strconv.Itoa(int(sig-sigRTMin))
	case sig > sigRTMin && sig < sigRTMax:
		return "SIGRTMAX-" + strconv.Itoa(int(sigRTMax-sig))
	}
	return "SIG" + strconv.Itoa(int(sig))
}

// The real-time signals as the C library numbers them (it keeps 32 and 33).
const sigRTMin, sigRTMax = 34, 64

var signalNames = [...]string{
	1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT", 7: "SIGBUS",
	8: "SIGFPE", 9: "SIGKILL", 10: "SIGUSR1", 11: "SIGSEGV", 12: "SIGUSR2", 13: "SIGPIPE",
	14: "SIGALRM", 15: "SIGTERM", 16: "SIGSTKFLT", 17: "SIGCHLD", 18: "SIGCONT", 19: "SIGSTOP",
	20: "SIGTSTP", 21: "SIGTTIN", 22: "SIGTTOU", 23: "SIGURG", 24: "SIGXCPU", 25: "SIGXFSZ",
	26: "SIGVTALRM", 27: "SIGPROF", 28: "SIGWINCH", 29: "SIGIO", 30: "SIGPWR", 31: "SIGSYS",
	32: "SIG32", 33: "SIG33",
}
