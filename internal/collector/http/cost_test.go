package http_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kscope/kscope/internal/collector"
	khttp "github.com/kscope/kscope/internal/collector/http"
	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/testutil"
)

// A connection established after attach whose first bytes are no HTTP/1.x
// message is marked as not HTTP: an HTTP exchange later on it is not
// reported, while one on a connection that starts with it is.
func TestNotHTTPConnectionSkipped(t *testing.T) {
	_, sink := start(t, collector.Filter{PID: uint32(os.Getpid())})
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const response = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
	// The server reads a line or a request head, answers each request.
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if !strings.HasPrefix(line, "GET ") {
						continue
					}
					for line != "\r\n" {
						if line, err = r.ReadString('\n'); err != nil {
							return
						}
					}
					if _, err := io.WriteString(c, response); err != nil {
						return
					}
				}
			}()
		}
	}()
	exchange := func(first, path string) {
		t.Helper()
		c, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if first != "" {
			if _, err := io.WriteString(c, first); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, len(response))
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != response {
			t.Fatalf("response %q, %v", buf, err)
		}
	}
	// Its first write is a line of another protocol, alone on the wire
	// before the request.
	exchange("HELLO kscope\r\n", "/after-other")
	exchange("", "/first")
	// Both sides of /first: the server's and the client's.
	evs := waitPID(sink, uint32(os.Getpid()), 2, wait)
	deadline := time.Now().Add(wait)
	for len(paths(evs, "/first")) < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		evs = byPID(sink, uint32(os.Getpid()))
	}
	if n := len(paths(evs, "/first")); n != 2 {
		t.Fatalf("%d events of /first, want 2 (server and client): %+v", n, evs)
	}
	if got := paths(evs, "/after-other"); len(got) != 0 {
		t.Errorf("exchanges reported on a connection that began with another protocol: %+v", got)
	}
}

func paths(evs []event.HTTP, path string) []event.HTTP {
	var out []event.HTTP
	for _, e := range evs {
		if e.Path == path {
			out = append(out, e)
		}
	}
	return out
}

// A process without a socket when tracing starts is not examined then; its
// first connect() has it examined, and its TLS exchanges traced.
func TestExaminedAtConnect(t *testing.T) {
	srv, port := startServer(t, os.Args[0], true)
	// A binary of its own: uprobes attach to files, and the server's
	// file is probed at start.
	bin := filepath.Join(t.TempDir(), "connect-later")
	copyFile(t, os.Args[0], bin)
	cl := startStdinClient(t, bin, "https://127.0.0.1:"+strconv.Itoa(port), "GET /hello", "POST /echo 10")
	// Started, with no socket yet: its binary is not examined at start.
	c, sink := start(t, collector.Filter{})
	if examined, _ := khttp.Examined(c, bin); examined {
		t.Fatal("a process without a socket was examined at start")
	}
	// Its connect() has it examined and probed.
	cl.connect()
	waitProbed(t, c, bin, "after its connect()")
	rs := cl.requests()
	checkClientAndServer(t, sink, srv.pid(), cl.pid(), port, rs)
}

// stdinClient is a Go TLS client process that waits on stdin: connect()
// opens and closes a TCP connection, requests() makes the requests.
type stdinClient struct {
	t              *testing.T
	cmd            *exec.Cmd
	stdin          io.WriteCloser
	stdout, stderr bytes.Buffer
}

// startStdinClient starts bin as a client of base waiting on stdin, once
// it runs bin (it has exec'd).
func startStdinClient(t *testing.T, bin, base string, reqs ...string) *stdinClient {
	t.Helper()
	cl := &stdinClient{t: t}
	cl.cmd = exec.Command(bin, append([]string{base, "tls", "stdin"}, reqs...)...)
	cl.cmd.Env = append(os.Environ(), helperEnv+"=client")
	cl.cmd.Stdout, cl.cmd.Stderr = &cl.stdout, &cl.stderr
	var err error
	if cl.stdin, err = cl.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cl.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cl.stdin.Close()
		cl.cmd.Wait()
	})
	deadline := time.Now().Add(wait)
	for !execd(cl.cmd.Process.Pid, bin) {
		if time.Now().After(deadline) {
			t.Fatal("the client did not start")
		}
		time.Sleep(5 * time.Millisecond) // polling for a condition, with a deadline
	}
	return cl
}

func (cl *stdinClient) pid() uint32 { return uint32(cl.cmd.Process.Pid) }

func (cl *stdinClient) connect() { io.WriteString(cl.stdin, "connect\n") }

// requests has the client make its requests, and returns their results
// once it has exited.
func (cl *stdinClient) requests() []result {
	cl.t.Helper()
	io.WriteString(cl.stdin, "requests\n")
	cl.stdin.Close()
	if err := cl.cmd.Wait(); err != nil {
		cl.t.Fatalf("client: %v\n%s", err, cl.stderr.String())
	}
	var rs []result
	for dec := json.NewDecoder(&cl.stdout); ; {
		var r result
		if err := dec.Decode(&r); err == io.EOF {
			break
		} else if err != nil {
			cl.t.Fatal(err)
		}
		rs = append(rs, r)
	}
	return rs
}

// waitProbed waits until the collector has probed bin.
func waitProbed(t *testing.T, c collector.Collector, bin, when string) {
	t.Helper()
	for deadline := time.Now().Add(wait); ; {
		examined, probed := khttp.Examined(c, bin)
		if probed {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not probed %s: examined %v", bin, when, examined)
		}
		time.Sleep(5 * time.Millisecond) // polling for a condition, with a deadline
	}
}

// checkClientAndServer checks that the client's two exchanges rs show as
// two events on each side, each mirroring the other.
func checkClientAndServer(t *testing.T, sink *testutil.Capture, spid, cpid uint32, port int, rs []result) {
	t.Helper()
	if len(rs) != 2 {
		t.Fatalf("client results %+v", rs)
	}
	sevs := waitPID(sink, spid, 2, wait)
	cevs := waitPID(sink, cpid, 2, wait)
	if len(sevs) != 2 || len(cevs) != 2 {
		t.Fatalf("want 2 events each, got server %+v\nclient %+v", sevs, cevs)
	}
	for i, r := range rs {
		checkPair(t, sevs[i], cevs[i], r, port, true)
	}
}

// execd says whether process pid runs bin.
func execd(pid int, bin string) bool {
	exe, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	return err == nil && exe == bin
}
