package http_test

import (
	"bufio"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kscope/kscope/internal/collector"
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
