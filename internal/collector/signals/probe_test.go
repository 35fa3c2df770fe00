package signals

import (
	"bytes"
	"os"
	"testing"

	"github.com/kscope/kscope/internal/testutil"
)

func TestKernelHasMember(t *testing.T) {
	testutil.RequireBPF(t)
	if !kernelHasMember("task_struct", "pid") {
		t.Error("task_struct has no pid")
	}
	if kernelHasMember("task_struct", "no_such_member") || kernelHasMember("no_such_type", "pid") {
		t.Error("found what does not exist")
	}
	// The probe agrees with the tracepoint's format.
	for _, tt := range []struct{ typ, member, format string }{
		{"trace_event_raw_sched_process_exit", "group_dead", "sched/sched_process_exit"},
		{"trace_event_raw_mark_victim", "total_vm", "oom/mark_victim"},
	} {
		f, err := os.ReadFile("/sys/kernel/tracing/events/" + tt.format + "/format")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := kernelHasMember(tt.typ, tt.member), bytes.Contains(f, []byte(" "+tt.member+";")); got != want {
			t.Errorf("%s.%s: probe says %v, format %v", tt.typ, tt.member, got, want)
		}
	}
}
