package testutil

import (
	"bytes"
	"regexp"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// ClosedPort returns a loopback TCP port that refuses connections for the
// rest of the test: a socket bound to it (not listening) holds it, so no
// test running beside this one can take it meanwhile.
func ClosedPort(t testing.TB) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatalf("binding a port to hold: %v", err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return sa.(*unix.SockaddrInet4).Port
}

// Output collects what a process writes (set it as its Stdout or Stderr)
// and can be read while the process runs.
type Output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

// String returns everything written so far.
func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// Bytes returns a copy of everything written so far.
func (o *Output) Bytes() []byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	return bytes.Clone(o.buf.Bytes())
}

// WaitFor waits up to timeout for the output to match re, and returns the
// match and its submatches, or nil if it never matched.
func (o *Output) WaitFor(re *regexp.Regexp, timeout time.Duration) []string {
	for deadline := time.Now().Add(timeout); ; time.Sleep(10 * time.Millisecond) {
		if m := re.FindStringSubmatch(o.String()); m != nil {
			return m
		}
		if time.Now().After(deadline) {
			return nil
		}
	}
}
