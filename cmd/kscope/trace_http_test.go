package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
)

// kscope trace http --json: one object per exchange with the contract's
// fields, here both sides of a request this process makes to itself.
func TestTraceHTTPJSON(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusTeapot)
		io.WriteString(w, "short and stout\n")
	})}
	go srv.Serve(ln)
	defer srv.Close()
	cmd, stdout, stderr := startTrace(t, "http", "--json", "--pid", strconv.Itoa(os.Getpid()), "--count", "2")
	resp, err := http.Post("http://"+ln.Addr().String()+"/pot?fill=1", "text/plain", strings.NewReader("tea"))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	waitExit(t, cmd, stderr)

	lines := bytes.Split(bytes.TrimSpace(stdout.Bytes()), []byte("\n"))
	if len(lines) != 2 {
		t.Fatalf("want 2 lines, got %q", stdout.String())
	}
	roles := map[string]map[string]any{}
	for _, l := range lines {
		var ev map[string]any
		if err := json.Unmarshal(l, &ev); err != nil {
			t.Fatalf("not JSON: %q: %v", l, err)
		}
		for _, k := range []string{"time", "pid", "comm", "method", "path", "status", "latency_ns", "bytes_in", "bytes_out", "tls", "laddr", "raddr"} {
			if _, ok := ev[k]; !ok {
				t.Errorf("field %s missing in %s", k, l)
			}
		}
		if ev["type"] != "http" || ev["method"] != "POST" || ev["path"] != "/pot" || ev["status"] != float64(418) || ev["tls"] != false {
			t.Errorf("event %s", l)
		}
		roles[ev["role"].(string)] = ev
	}
	s, c := roles["server"], roles["client"]
	if s == nil || c == nil {
		t.Fatalf("want a server and a client event: %q", stdout.String())
	}
	if s["laddr"] != ln.Addr().String() || c["raddr"] != s["laddr"] || c["laddr"] != s["raddr"] {
		t.Errorf("addresses: server %v <- %v, client %v -> %v", s["laddr"], s["raddr"], c["laddr"], c["raddr"])
	}
	if s["bytes_in"] != c["bytes_out"] || s["bytes_out"] != c["bytes_in"] {
		t.Errorf("bytes: server in %v out %v, client out %v in %v", s["bytes_in"], s["bytes_out"], c["bytes_out"], c["bytes_in"])
	}
}
