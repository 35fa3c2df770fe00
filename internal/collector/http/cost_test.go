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
	cmd := exec.Command(bin, "https://127.0.0.1:"+strconv.Itoa(port), "tls", "stdin", "GET /hello", "POST /echo 10")
	cmd.Env = append(os.Environ(), helperEnv+"=client")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	// Started, with no socket yet: its binary is not examined at start.
	deadline := time.Now().Add(wait)
	for !execd(cmd.Process.Pid, bin) {
		if time.Now().After(deadline) {
			t.Fatal("the client did not start")
		}
		time.Sleep(5 * time.Millisecond)
	}
	c, sink := start(t, collector.Filter{})
	if examined, _ := khttp.Examined(c, bin); examined {
		t.Fatal("a process without a socket was examined at start")
	}
	// Its connect() has it examined and probed.
	io.WriteString(stdin, "connect\n")
	for {
		examined, probed := khttp.Examined(c, bin)
		if probed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not probed after its connect(): examined %v", examined)
		}
		time.Sleep(5 * time.Millisecond)
	}
	io.WriteString(stdin, "requests\n")
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("client: %v\n%s", err, stderr.String())
	}
	var rs []result
	for dec := json.NewDecoder(&stdout); ; {
		var r result
		if err := dec.Decode(&r); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	if len(rs) != 2 {
		t.Fatalf("client results %+v", rs)
	}
	sevs := waitPID(sink, srv.pid(), 2, wait)
	cevs := waitPID(sink, uint32(cmd.Process.Pid), 2, wait)
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
