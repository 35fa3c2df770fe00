package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/kscope/kscope/internal/testutil"
)

// logBuffer collects an agent's log lines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// webConfig writes a web configuration with TLS and the user alice
// (password "secret", bcrypt-hashed as htpasswd -B does).
func webConfig(t *testing.T) (path string, pool *tls.Config) {
	t.Helper()
	dir := t.TempDir()
	files := testutil.TLSCert(t, dir)
	hash, err := bcrypt.GenerateFromPassword([]byte("secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(dir, "web.yml")
	conf := "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  alice: " + string(hash) + "\n"
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, &tls.Config{RootCAs: files.Pool}
}

// Every endpoint of an agent started with a web configuration needs TLS
// and a valid user.
func TestWebConfigTLSAndBasicAuth(t *testing.T) {
	testutil.RequireBPF(t)
	path, tlsConf := webConfig(t)
	var logs logBuffer
	a, err := StartWith(context.Background(), testConfig(t), Options{WebConfigFile: path}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if !strings.HasPrefix(a.URL(), "https://127.0.0.1:") {
		t.Fatalf("URL %s", a.URL())
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConf}}
	get := func(path, user, pass string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, a.URL()+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return resp.StatusCode, string(b)
	}
	paths := []string{
		"/metrics", "/healthz", "/api/v1/query?query=vector(1)", "/api/v1/query_range?query=vector(1)&start=0&end=60&step=15",
		"/api/v1/series?match[]=up", "/api/v1/labels", "/api/v1/label/__name__/values", "/api/v1/metadata",
		"/api/v1/status/buildinfo", "/api/v1/events", "/api/v1/events/stream", "/api/v1/profile", "/api/v1/doctor",
		"/api/v1/status/agent", "/", "/index.html",
	}
	for _, p := range paths {
		if code, _ := get(p, "", ""); code != http.StatusUnauthorized {
			t.Errorf("%s without credentials: %d, want 401", p, code)
		}
		if code, _ := get(p, "alice", "wrong"); code != http.StatusUnauthorized {
			t.Errorf("%s with a wrong password: %d, want 401", p, code)
		}
		if code, _ := get(p, "mallory", "secret"); code != http.StatusUnauthorized {
			t.Errorf("%s with an unknown user: %d, want 401", p, code)
		}
	}
	for _, p := range []string{"/metrics", "/healthz", "/api/v1/query?query=vector(7)", "/api/v1/labels", "/api/v1/events", "/api/v1/status/agent", "/"} {
		if code, body := get(p, "alice", "secret"); code != http.StatusOK {
			t.Errorf("%s as alice: %d %.200s", p, code, body)
		}
	}
	if _, body := get("/api/v1/query?query=vector(7)", "alice", "secret"); !strings.Contains(body, `"7"`) {
		t.Errorf("query answer %s", body)
	}
	// Plain HTTP to the TLS port gets no API answer.
	resp, err := http.Get(strings.Replace(a.URL(), "https://", "http://", 1) + "/metrics")
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("plain HTTP answered %d %.100s", resp.StatusCode, b)
		}
	}
	// A client that does not trust the CA cannot connect.
	if _, err := http.Get(a.URL() + "/metrics"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("untrusted certificate accepted: %v", err)
	}
	if strings.Contains(logs.String(), "WITHOUT AUTHENTICATION") {
		t.Errorf("warned on loopback:\n%s", logs.String())
	}
}

// A web page reaching a loopback agent through DNS rebinding names its own
// host: refused.
func TestForeignHostRefused(t *testing.T) {
	testutil.RequireBPF(t)
	a, err := Start(context.Background(), testConfig(t), quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for host, want := range map[string]int{"attacker.example": 421, "localhost": 200, a.Addr().String(): 200} {
		req, _ := http.NewRequest(http.MethodGet, a.URL()+"/api/v1/events", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Host %s: %d, want %d", host, resp.StatusCode, want)
		}
	}
}

// Listening beyond loopback without authentication is loudly warned
// about; with basic auth it is not.
func TestWarnBeyondLoopbackWithoutAuth(t *testing.T) {
	testutil.RequireBPF(t)
	path, _ := webConfig(t)
	for _, tt := range []struct {
		web  string
		warn bool
	}{{"", true}, {path, false}} {
		var logs logBuffer
		cfg := testConfig(t)
		cfg.Listen = "0.0.0.0:0"
		a, err := StartWith(context.Background(), cfg, Options{WebConfigFile: tt.web}, slog.New(slog.NewTextHandler(&logs, nil)))
		if err != nil {
			t.Fatal(err)
		}
		a.Close()
		out := logs.String()
		warned := strings.Contains(out, "level=WARN") && strings.Contains(out, "THE AGENT IS REACHABLE BEYOND THIS HOST WITHOUT AUTHENTICATION")
		if warned != tt.warn {
			t.Errorf("web config %q: warned %v, want %v:\n%s", tt.web, warned, tt.warn, out)
		}
	}
}

// A broken web configuration is an error before anything starts.
func TestWebConfigInvalid(t *testing.T) {
	dir := t.TempDir()
	for name, conf := range map[string]string{
		"badhash.yml": "basic_auth_users:\n  alice: notahash\n",
		"nocert.yml":  "tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n",
		"unknown.yml": "basic_auth_user:\n  alice: x\n",
		"notyaml.yml": "tls_server_config: [\n",
		"keyonly.yml": "tls_server_config:\n  key_file: server.key\n",
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(conf), 0o600)
		if err := ValidateWebConfig(p); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %v, want an error naming the file", name, err)
		}
	}
	if err := ValidateWebConfig(filepath.Join(dir, "absent.yml")); err == nil {
		t.Error("a missing file is valid")
	}
	if err := ValidateWebConfig(""); err != nil {
		t.Errorf("no web configuration: %v", err)
	}
}
