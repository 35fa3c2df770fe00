package bpfx

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseMountInfo(t *testing.T) {
	in := `22 1 0:21 / /sys rw,nosuid shared:7 - sysfs sysfs rw
35 22 0:30 / /sys/kernel/tracing rw,relatime shared:12 - tracefs tracefs rw
36 22 0:31 / /sys/fs/bpf rw,relatime - bpf bpf rw,mode=700
40 22 0:32 / /mnt/with\040space rw - tmpfs tmpfs rw
garbage line
`
	got, err := parseMountInfo(bufio.NewScanner(strings.NewReader(in)))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"/sys": "sysfs", "/sys/kernel/tracing": "tracefs", "/sys/fs/bpf": "bpf", "/mnt/with space": "tmpfs"}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %q want %q", k, got[k], v)
		}
	}
}

func TestPrivilegesFromStatus(t *testing.T) {
	tests := []struct {
		uid, capEff string
		missing     string
	}{
		{"0\t0\t0\t0", "000001ffffffffff", ""},
		{"65534\t65534\t65534\t65534", "0000000000000000", "CAP_BPF,CAP_PERFMON"},
		{"1000\t1000\t1000\t1000", "000000c000000000", ""},            // CAP_BPF+CAP_PERFMON
		{"1000\t1000\t1000\t1000", "0000008000000000", "CAP_PERFMON"}, // CAP_BPF only
		{"1000\t1000\t1000\t1000", "0000000000200000", ""},            // CAP_SYS_ADMIN
	}
	old := StatusPath
	defer func() { StatusPath = old }()
	for _, tt := range tests {
		StatusPath = filepath.Join(t.TempDir(), "status")
		os.WriteFile(StatusPath, []byte("Name:\tx\nUid:\t"+tt.uid+"\nCapEff:\t"+tt.capEff+"\n"), 0o644)
		p, err := CurrentPrivileges()
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(p.Missing(), ","); got != tt.missing {
			t.Errorf("uid %s caps %s: missing %q, want %q", tt.uid, tt.capEff, got, tt.missing)
		}
		if p.Root != (tt.uid[0] == '0') {
			t.Errorf("root = %v for uid %s", p.Root, tt.uid)
		}
	}
}
