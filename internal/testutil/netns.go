package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

// NetPair is two network namespaces joined by a veth pair, made for one
// test and removed at its end: A holds the veth AName with address AAddr,
// B the veth BName with BAddr (both in 10.201.0.0/30, private to the
// namespaces, so no traffic leaves them).
type NetPair struct {
	A, B         string // namespace names under /run/netns
	AName, BName string // the veth ends
	AAddr, BAddr string
}

var netSeq atomic.Int64

// NewNetPair creates the namespaces and the veth pair with `ip`, and
// removes them (and everything in them: nft tables, sockets' routes) when
// the test ends.
func NewNetPair(t testing.TB) *NetPair {
	t.Helper()
	RequireRoot(t, "creating network namespaces")
	Tool(t, "ip", "creating network namespaces and veth pairs")
	id := strconv.Itoa(os.Getpid()) + "-" + strconv.FormatInt(netSeq.Add(1), 10)
	p := &NetPair{
		A: "kscope-a-" + id, B: "kscope-b-" + id,
		AName: "ksa" + id, BName: "ksb" + id,
		AAddr: "10.201.0.1", BAddr: "10.201.0.2",
	}
	if len(p.AName) > 15 {
		p.AName, p.BName = p.AName[:15], p.BName[:15]
	}
	for _, ns := range []string{p.A, p.B} {
		Run(t, "ip", "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	}
	Run(t, "ip", "link", "add", p.AName, "netns", p.A, "type", "veth", "peer", "name", p.BName, "netns", p.B)
	for _, s := range [][3]string{{p.A, p.AName, p.AAddr}, {p.B, p.BName, p.BAddr}} {
		Run(t, "ip", "-n", s[0], "addr", "add", s[2]+"/30", "dev", s[1])
		Run(t, "ip", "-n", s[0], "link", "set", s[1], "up")
		Run(t, "ip", "-n", s[0], "link", "set", "lo", "up")
	}
	return p
}

// Run runs a command and fails the test, with its output, if it fails.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// In runs fn on a thread inside the named namespace (/run/netns/NAME):
// sockets it creates live there. The thread is never returned to the
// runtime's pool, so it ends with its goroutine.
func In(ns string, fn func() error) error {
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open("/run/netns/" + ns)
		if err != nil {
			ch <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- fmt.Errorf("entering network namespace %s: %w", ns, err)
			return
		}
		ch <- fn()
	}()
	return <-ch
}
