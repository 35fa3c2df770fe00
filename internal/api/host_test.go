package api

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// serveHost serves "ok" behind HostAllowList on a real listener at addr.
func serveHost(t *testing.T, listen string) string {
	t.Helper()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	srv := &http.Server{Handler: HostAllowList(listen, ln.Addr(), ok)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func getHost(t *testing.T, addr, host string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/api/v1/query", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// On loopback, a request naming another host (a DNS-rebound page) is
// refused; the names of this host are served.
func TestHostAllowListLoopback(t *testing.T) {
	addr := serveHost(t, "127.0.0.1:0")
	_, port, _ := net.SplitHostPort(addr)
	for _, tt := range []struct {
		host string
		want int
	}{
		{"localhost:" + port, 200},
		{"LocalHost:" + port, 200},
		{"localhost", 200},
		{"127.0.0.1:" + port, 200},
		{"127.0.0.1", 200},
		{"[::1]:" + port, 200},
		{"evil.example:" + port, 421},
		{"evil.example", 421},
		{"localhost.evil.example:" + port, 421},
		{"127.0.0.1.nip.io:" + port, 421},
		{"10.0.0.1:" + port, 421},
	} {
		code, body := getHost(t, addr, tt.host)
		if code != tt.want {
			t.Errorf("Host %q: %d %q, want %d", tt.host, code, body, tt.want)
		}
		if code == 421 && !strings.Contains(body, "is not served: the agent listens on loopback") {
			t.Errorf("Host %q: body %q", tt.host, body)
		}
	}
}

// The listen address itself is allowed, also another loopback address.
func TestHostAllowListListenAddress(t *testing.T) {
	addr := serveHost(t, "127.0.0.2:0")
	if code, body := getHost(t, addr, addr); code != 200 {
		t.Errorf("Host %q: %d %q", addr, code, body)
	}
	if code, _ := getHost(t, addr, "127.0.0.3"); code != 421 {
		t.Errorf("Host 127.0.0.3: %d, want 421", code)
	}
}

// Beyond loopback every Host is served: authentication protects it there.
func TestHostAllowListBeyondLoopback(t *testing.T) {
	addr := serveHost(t, "0.0.0.0:0")
	_, port, _ := net.SplitHostPort(addr)
	if code, body := getHost(t, "127.0.0.1:"+port, "kscope.example.com:"+port); code != 200 {
		t.Errorf("%d %q", code, body)
	}
}

func TestHostName(t *testing.T) {
	for in, want := range map[string]string{
		"localhost:9464": "localhost", "[::1]:9464": "::1", "[::1]": "::1",
		"EXAMPLE.com": "example.com", "127.0.0.1": "127.0.0.1", "": "",
	} {
		if got := hostName(in); got != want {
			t.Errorf("hostName(%q) = %q, want %q", in, got, want)
		}
	}
}

// Whatever the Host, the check does not panic, and a request it lets
// through names one of the allowed hosts.
func FuzzHostAllowList(f *testing.F) {
	for _, s := range []string{"localhost:9464", "[::1]", "evil.example", "", "[", "]:", "127.0.0.1:", "LOCALHOST", "[::1%lo]:1", "\x00"} {
		f.Add(s)
	}
	bound := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9464}
	served := false
	h := HostAllowList("127.0.0.1:9464", bound, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { served = true }))
	f.Fuzz(func(t *testing.T, host string) {
		served = false
		r, err := http.NewRequest(http.MethodGet, "http://127.0.0.1:9464/", nil)
		if err != nil {
			t.Fatal(err)
		}
		r.Host = host
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		allowed := host == "" || map[string]bool{"localhost": true, "127.0.0.1": true, "::1": true}[hostName(host)]
		if served != allowed {
			t.Errorf("Host %q: served %v, allowed %v", host, served, allowed)
		}
		if !served && w.Code != http.StatusMisdirectedRequest {
			t.Errorf("Host %q: %d", host, w.Code)
		}
	})
}
