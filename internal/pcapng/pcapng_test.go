package pcapng

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket/pcapgo"

	"github.com/kscope/kscope/internal/testutil"
)

func write(t *testing.T) ([]byte, [][]byte) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, "kscope test", []Interface{{"eth0", LinkEthernet, 262144}, {"lo", LinkEthernet, 262144}})
	if err != nil {
		t.Fatal(err)
	}
	pkts := [][]byte{bytes.Repeat([]byte{1}, 60), bytes.Repeat([]byte{2}, 61), bytes.Repeat([]byte{3}, 63)}
	comments := []string{"pid 1 comm init", "", "pid 42 comm a\"b"}
	for i, p := range pkts {
		if err := w.WritePacket(i%2, time.Unix(100, int64(i)), len(p)+i, p, Direction(i%3), comments[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), pkts
}

func TestReadBack(t *testing.T) {
	b, pkts := write(t)
	r, err := pcapgo.NewNgReader(bytes.NewReader(b), pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range pkts {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if !bytes.Equal(data, want) || ci.InterfaceIndex != i%2 || ci.Length != len(want)+i || ci.Timestamp.UnixNano() != time.Unix(100, int64(i)).UnixNano() {
			t.Errorf("packet %d: %x %+v", i, data, ci)
		}
	}
	if r.NInterfaces() != 2 {
		t.Errorf("%d interfaces, want 2", r.NInterfaces())
	}
}

// TestTshark: tshark reads the comments and interfaces back.
func TestTshark(t *testing.T) {
	tshark := testutil.Tool(t, "tshark", "reading pcapng comments")
	b, _ := write(t)
	f := filepath.Join(t.TempDir(), "x.pcapng")
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tshark, "-r", f, "-T", "fields", "-e", "frame.comment", "-e", "frame.interface_name", "-e", "frame.len").CombinedOutput()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, out)
	}
	want := "pid 1 comm init\teth0\t60\n\tlo\t62\npid 42 comm a\"b\teth0\t65\n"
	var got []string
	for _, l := range strings.Split(string(out), "\n") {
		if l != "" && !strings.Contains(l, "Running as user") {
			got = append(got, l)
		}
	}
	if g := strings.Join(got, "\n") + "\n"; g != want {
		t.Errorf("tshark read\n%s\nwant\n%s", g, want)
	}
}
