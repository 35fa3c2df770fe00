package bpfx_test

import (
	"bytes"
	"os"
	"sort"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/testutil"
)

func TestKernelHasMember(t *testing.T) {
	testutil.RequireBPF(t)
	if !bpfx.KernelHasMember("task_struct", "pid") {
		t.Error("task_struct has no pid")
	}
	if bpfx.KernelHasMember("task_struct", "no_such_member") || bpfx.KernelHasMember("no_such_type", "pid") {
		t.Error("found what does not exist")
	}
	// The probe agrees with the tracepoints' formats.
	for _, tt := range []struct{ typ, member, format string }{
		{"trace_event_raw_sched_process_exit", "group_dead", "sched/sched_process_exit"},
		{"trace_event_raw_mark_victim", "total_vm", "oom/mark_victim"},
	} {
		f, err := os.ReadFile("/sys/kernel/tracing/events/" + tt.format + "/format")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := bpfx.KernelHasMember(tt.typ, tt.member), bytes.Contains(f, []byte(" "+tt.member+";")); got != want {
			t.Errorf("%s.%s: probe says %v, format %v", tt.typ, tt.member, got, want)
		}
	}
}

func TestDumpAndPerCPUSums(t *testing.T) {
	testutil.RequireBPF(t)
	h, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Hash, KeySize: 4, ValueSize: 8, MaxEntries: 2048})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for k := uint32(0); k < 1000; k++ {
		if err := h.Put(k, uint64(k)*3); err != nil {
			t.Fatal(err)
		}
	}
	keys, vals, err := bpfx.Dump(h, []uint32(nil), []uint64(nil))
	if err != nil || len(keys) != 1000 {
		t.Fatalf("dump: %d keys, %v", len(keys), err)
	}
	for i, k := range keys {
		if vals[i] != uint64(k)*3 {
			t.Fatalf("key %d: %d", k, vals[i])
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	if keys[0] != 0 || keys[999] != 999 {
		t.Errorf("keys %d..%d", keys[0], keys[999])
	}

	a, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ncpu, _ := ebpf.PossibleCPU()
	per := make([]uint64, ncpu)
	for i := range per {
		per[i] = uint64(i + 1)
	}
	if err := a.Put(uint32(2), per); err != nil {
		t.Fatal(err)
	}
	p, err := bpfx.NewPerCPUSums(4)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]uint64, 4)
	if err := p.Read(a, out); err != nil {
		t.Fatal(err)
	}
	if want := uint64(ncpu * (ncpu + 1) / 2); out[2] != want || out[0] != 0 {
		t.Errorf("sums %v, want slot 2 = %d", out, want)
	}
}
