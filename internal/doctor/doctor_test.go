package doctor

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/kscope/kscope/internal/bpfx"
)

func fixture() *Report {
	return &Report{
		Kernel:     "6.1.0-test",
		BTF:        true,
		Privileges: bpfx.Privileges{Root: true, CapBPF: true, CapPerfmon: true, CapSysAdmin: true},
		Mounts: []bpfx.Mount{
			{FS: "tracefs", Path: "/sys/kernel/tracing", Mounted: true},
			{FS: "debugfs", Path: "/sys/kernel/debug", Mounted: true, ByUs: true},
			{FS: "bpf", Path: "/sys/fs/bpf", Error: "mounting bpf on /sys/fs/bpf: operation not permitted"},
		},
		Features: []bpfx.FeatureResult{
			{Name: "tracepoint", Supported: true},
			{Name: "kprobe", Error: "attaching kprobe vfs_read: operation not supported", Fallback: "fentry"},
			{Name: "ringbuf", Supported: true},
			{Name: "task_iter", Error: "loading task iterator program: invalid argument", Fallback: "procfs"},
		},
	}
}

func TestJudge(t *testing.T) {
	r := fixture()
	r.judge(nil, true)
	if !r.OK || r.Reason != "" || r.Err() != nil {
		t.Errorf("good host: ok=%v reason=%q", r.OK, r.Reason)
	}

	r = fixture()
	privErr := fmt.Errorf("%w (missing CAP_BPF)", bpfx.ErrPrivileges)
	r.judge(privErr, true)
	if r.OK || !errors.Is(r.Err(), bpfx.ErrPrivileges) || r.Reason != privErr.Error() {
		t.Errorf("unprivileged: ok=%v reason=%q err=%v", r.OK, r.Reason, r.Err())
	}

	r = fixture()
	r.BTF = false
	r.Features[0] = bpfx.FeatureResult{Name: "tracepoint", Error: "EPERM", Fallback: "raw_tracepoint"}
	r.Features[2] = bpfx.FeatureResult{Name: "ringbuf", Error: "EINVAL", Fallback: "none"}
	r.judge(nil, false)
	want := "no kernel BTF (/sys/kernel/btf/vmlinux is missing); " +
		"tracefs is not mounted and could not be mounted: mounting bpf on /sys/fs/bpf: operation not permitted; " +
		"tracepoint programs do not work: EPERM; ring buffers do not work: EINVAL"
	if r.OK || r.Reason != want || !errors.Is(r.Err(), bpfx.ErrNoTracefs) {
		t.Errorf("broken host: ok=%v\nreason %q\n  want %q", r.OK, r.Reason, want)
	}
}

func TestWriteTable(t *testing.T) {
	r := fixture()
	r.judge(nil, true)
	var b bytes.Buffer
	if err := r.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	want := `kernel      6.1.0-test
btf         yes
privileges  root yes, CAP_BPF yes, CAP_PERFMON yes, CAP_SYS_ADMIN yes
mount       tracefs on /sys/kernel/tracing: mounted
mount       debugfs on /sys/kernel/debug: mounted by kscope
mount       bpf on /sys/fs/bpf: not mounted: mounting bpf on /sys/fs/bpf: operation not permitted

FEATURE     SUPPORTED  FALLBACK  ERROR
tracepoint  yes
kprobe      no         fentry    attaching kprobe vfs_read: operation not supported
ringbuf     yes
task_iter   no         procfs    loading task iterator program: invalid argument

kscope can run here.
`
	if got := b.String(); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}

func TestWriteTableUnprivileged(t *testing.T) {
	r := &Report{Kernel: "6.1.0-test", Mounts: []bpfx.Mount{}, Features: []bpfx.FeatureResult{}}
	r.judge(bpfx.ErrPrivileges, false)
	var b bytes.Buffer
	if err := r.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	want := `kernel      6.1.0-test
btf         no (/sys/kernel/btf/vmlinux is missing)
privileges  root no, CAP_BPF no, CAP_PERFMON no, CAP_SYS_ADMIN no
`
	if got := b.String(); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}

func TestWriteJSON(t *testing.T) {
	r := fixture()
	r.judge(nil, true)
	var b bytes.Buffer
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	for _, want := range []string{
		`"kernel": "6.1.0-test"`,
		`"btf": true`,
		`"cap_perfmon": true`,
		`"mounted_by_kscope": true`,
		`{
      "name": "tracepoint",
      "supported": true
    }`,
		`"fallback": "fentry"`,
		`"ok": true`,
		`"reason": ""`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("JSON lacks %s:\n%s", want, got)
		}
	}
}
