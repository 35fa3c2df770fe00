package block

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestParseUevent(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"MAJOR=254\nMINOR=0\nDEVNAME=vda\nDEVTYPE=disk\nDISKSEQ=9\n", "vda"},
		{"MAJOR=259\nMINOR=1\nDEVNAME=nvme0n1p1\nDEVTYPE=partition\nPARTN=1\n", "nvme0n1p1"},
		{"DEVNAME=loop0", "loop0"},
		{"MAJOR=7\nMINOR=0\n", ""},
		{"DEVNAME=bad\x01name\n", ""},
		{"", ""},
	} {
		if got := parseUevent([]byte(tc.in)); got != tc.want {
			t.Errorf("parseUevent(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

const partitions = `major minor  #blocks  name

 254        0  268435456 vda
 254        1     1024 vda1
   7        0     1024 loop0
 259        0  500107608 nvme0n1
`

func TestParsePartitions(t *testing.T) {
	for _, tc := range []struct {
		major, minor uint32
		want         string
	}{
		{254, 0, "vda"}, {254, 1, "vda1"}, {7, 0, "loop0"}, {259, 0, "nvme0n1"}, {7, 1, ""}, {0, 0, ""},
	} {
		if got := parsePartitions([]byte(partitions), tc.major, tc.minor); got != tc.want {
			t.Errorf("parsePartitions(%d:%d) = %q, want %q", tc.major, tc.minor, got, tc.want)
		}
	}
}

// fixture builds a sysfs and procfs tree: vda (254:0) with partition vda1
// (254:1), and /proc/partitions also listing loop3 (7:3), absent from sysfs.
func fixture(t *testing.T) (sysfs, procfs string) {
	root := t.TempDir()
	sysfs, procfs = filepath.Join(root, "sys"), filepath.Join(root, "proc")
	disk := filepath.Join(sysfs, "devices/virtual/block/vda")
	part := filepath.Join(disk, "vda1")
	for _, f := range []struct{ path, data string }{
		{filepath.Join(disk, "dev"), "254:0\n"},
		{filepath.Join(disk, "uevent"), "MAJOR=254\nMINOR=0\nDEVNAME=vda\nDEVTYPE=disk\n"},
		{filepath.Join(part, "dev"), "254:1\n"},
		{filepath.Join(part, "partition"), "1\n"},
		{filepath.Join(part, "uevent"), "MAJOR=254\nMINOR=1\nDEVNAME=vda1\nDEVTYPE=partition\n"},
		{filepath.Join(procfs, "partitions"), partitions + "   7        3     1024 loop3\n"},
	} {
		if err := os.MkdirAll(filepath.Dir(f.path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f.path, []byte(f.data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	links := filepath.Join(sysfs, "dev/block")
	if err := os.MkdirAll(links, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{"254:0": "../../devices/virtual/block/vda", "254:1": "../../devices/virtual/block/vda/vda1"} {
		if err := os.Symlink(target, filepath.Join(links, name)); err != nil {
			t.Fatal(err)
		}
	}
	return sysfs, procfs
}

func TestDevNames(t *testing.T) {
	sysfs, procfs := fixture(t)
	d := newDevNames(sysfs, procfs)
	now := time.Unix(1000, 0)
	d.now = func() time.Time { return now }
	for _, tc := range []struct {
		dev  uint32
		want string
	}{
		{mkdev(254, 0), "vda"},     // sysfs
		{mkdev(254, 1), "vda1"},    // sysfs
		{mkdev(7, 3), "loop3"},     // /proc/partitions only
		{mkdev(8, 16), "8:16"},     // nobody knows it
		{mkdev(0, 0), "0:0"},       // no disk
		{mkdev(4095, 1), "4095:1"}, // the largest major
	} {
		if got := d.name(tc.dev); got != tc.want {
			t.Errorf("name(%d:%d) = %q, want %q", devMajor(tc.dev), devMinor(tc.dev), got, tc.want)
		}
	}
	if _, ok := d.cache[mkdev(8, 16)]; ok {
		t.Error("an unknown device was cached")
	}

	// A device that goes away keeps its name; an unknown one is found
	// once it appears.
	os.Remove(filepath.Join(sysfs, "dev/block/254:0"))
	os.WriteFile(filepath.Join(procfs, "partitions"), []byte("major minor  #blocks  name\n   8       16  10 sdb\n"), 0o644)
	now = now.Add(2 * nameRefresh)
	if got := d.name(mkdev(254, 0)); got != "vda" {
		t.Errorf("removed vda: %q", got)
	}
	if got := d.name(mkdev(8, 16)); got != "sdb" {
		t.Errorf("new sdb: %q", got)
	}
}

func TestWholeDisk(t *testing.T) {
	sysfs, _ := fixture(t)
	for _, tc := range []struct {
		major, minor uint32
		want         uint32
	}{{254, 0, mkdev(254, 0)}, {254, 1, mkdev(254, 0)}} {
		got, err := wholeDisk(sysfs, tc.major, tc.minor)
		if err != nil || got != tc.want {
			t.Errorf("wholeDisk(%d:%d) = %d:%d, %v; want %d:%d", tc.major, tc.minor,
				devMajor(got), devMinor(got), err, devMajor(tc.want), devMinor(tc.want))
		}
	}
	if _, err := wholeDisk(sysfs, 0, 42); err == nil {
		t.Error("wholeDisk(0:42) of a device that does not exist: no error")
	}
}

func TestStatusName(t *testing.T) {
	for status, want := range map[uint16]string{10: "EIO", 2: "ETIMEDOUT", 1: "EOPNOTSUPP", 19: "EINVAL", 200: "blk_status_200"} {
		if got := statusName(status); got != want {
			t.Errorf("statusName(%d) = %q, want %q", status, got, want)
		}
	}
}

func TestOpName(t *testing.T) {
	for op, want := range map[uint32]string{0: "read", 1: "write", 2: "flush", 3: "discard", 4: "other", 99: "other"} {
		if got := opName(op); got != want {
			t.Errorf("opName(%d) = %q, want %q", op, got, want)
		}
	}
}

func FuzzParseUevent(f *testing.F) {
	f.Add([]byte("MAJOR=254\nMINOR=0\nDEVNAME=vda\n"))
	f.Add([]byte("DEVNAME=\xff\xfe"))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkName(t, parseUevent(b))
	})
}

func FuzzParsePartitions(f *testing.F) {
	f.Add([]byte(partitions), uint32(254), uint32(1))
	f.Add([]byte("1 2 3 \x00\n"), uint32(1), uint32(2))
	f.Fuzz(func(t *testing.T, b []byte, major, minor uint32) {
		checkName(t, parsePartitions(b, major, minor))
	})
}

// checkName holds a parsed name to what a label value may be.
func checkName(t *testing.T, name string) {
	for _, r := range name {
		if r < ' ' || r == 0x7f {
			t.Fatalf("name %q has a control character", name)
		}
	}
	if name != "" && name != cleanName(name) {
		t.Fatalf("name %q is not clean", name)
	}
}
