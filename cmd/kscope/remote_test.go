package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/kscope/kscope/internal/agent"
	"github.com/kscope/kscope/internal/config"
	"github.com/kscope/kscope/internal/testutil"
)

// secureAgent starts an agent in this process that requires TLS and the
// user alice with password "secret"; it returns its URL and the
// directory holding the CA certificate (ca.crt).
func secureAgent(t *testing.T) (url, dir string) {
	t.Helper()
	testutil.RequireBPF(t)
	dir = t.TempDir()
	testutil.TLSCert(t, dir)
	hash, err := bcrypt.GenerateFromPassword([]byte("secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	web := filepath.Join(dir, "web.yml")
	writeFile(t, web, "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  alice: "+string(hash)+"\n")
	cfg := config.Default(nil)
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.Listen = "127.0.0.1:0"
	cfg.Interval = time.Second
	a, err := agent.StartWith(context.Background(), cfg, agent.Options{WebConfigFile: web}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return a.URL(), dir
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// kscope query, events and top reach an agent behind TLS and basic auth
// with the credentials of a client configuration file (--http.config.file
// or $KSCOPE_HTTP_CONFIG_FILE); without them they fail saying so.
func TestClientsWithWebConfig(t *testing.T) {
	url, dir := secureAgent(t)
	writeFile(t, filepath.Join(dir, "password"), "secret\n")
	good := filepath.Join(dir, "client.yml")
	writeFile(t, good, "basic_auth:\n  username: alice\n  password_file: password\ntls_config:\n  ca_file: ca.crt\n")
	noAuth := filepath.Join(dir, "noauth.yml")
	writeFile(t, noAuth, "tls_config:\n  ca_file: ca.crt\n")
	wrong := filepath.Join(dir, "wrong.yml")
	writeFile(t, wrong, "basic_auth:\n  username: alice\n  password: guess\ntls_config:\n  ca_file: ca.crt\n")
	broken := filepath.Join(dir, "broken.yml")
	writeFile(t, broken, "basic_auth:\n  username: alice\n  password: a\n  password_file: password\n")
	t.Setenv("KSCOPE_HTTP_CONFIG_FILE", "")

	if out := cli(t, "query", "--server", url, "--http.config.file", good, "vector(42)"); !strings.Contains(out, "42") {
		t.Errorf("query: %q", out)
	}
	if out := cli(t, "events", "--server", url, "--http.config.file", good, "--json"); out != "" {
		t.Errorf("events: %q", out)
	}
	for _, tt := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"query", "--server", url, "vector(1)"}, exitFailure, "has a certificate this client does not trust: give its CA as tls_config.ca_file in a client configuration file (--http.config.file or $KSCOPE_HTTP_CONFIG_FILE): tls: failed to verify certificate: x509: certificate signed by unknown authority"},
		{[]string{"query", "--server", url, "--http.config.file", noAuth, "vector(1)"}, exitFailure, "requires authentication and refused this request (401 Unauthorized): give credentials in a client configuration file with --http.config.file or $KSCOPE_HTTP_CONFIG_FILE"},
		{[]string{"events", "--server", url, "--http.config.file", wrong}, exitFailure, "401 Unauthorized"},
		{[]string{"query", "--server", url, "--http.config.file", broken, "vector(1)"}, exitUsage, "--http.config.file: reading " + broken},
		{[]string{"query", "--server", url, "--http.config.file", filepath.Join(dir, "absent.yml"), "vector(1)"}, exitUsage, "absent.yml"},
	} {
		code, _, stderr := runCLI(tt.args...)
		if code != tt.code || !strings.Contains(stderr, tt.msg) {
			t.Errorf("kscope %s: exit %d %q, want %d %q", strings.Join(tt.args, " "), code, stderr, tt.code, tt.msg)
		}
	}

	// The environment names the file when the flag does not.
	t.Setenv("KSCOPE_HTTP_CONFIG_FILE", good)
	if out := cli(t, "query", "--server", url, "vector(43)"); !strings.Contains(out, "43") {
		t.Errorf("query with $KSCOPE_HTTP_CONFIG_FILE: %q", out)
	}
	t.Setenv("KSCOPE_HTTP_CONFIG_FILE", noAuth)
	if code, _, stderr := runCLI("query", "--server", url, "vector(1)"); code != exitFailure || !strings.Contains(stderr, "requires authentication") {
		t.Errorf("query with $KSCOPE_HTTP_CONFIG_FILE without credentials: %d %q", code, stderr)
	}

	// kscope top, a process of its own.
	code, out, stderr := topCLI(t, []string{"KSCOPE_SERVER=", "KSCOPE_HTTP_CONFIG_FILE="}, "--once", "--server", url, "--http.config.file", good)
	if code != 0 || !strings.Contains(out, "kscope top - agent "+url) {
		t.Errorf("top with credentials: exit %d %q %q", code, out, stderr)
	}
	code, _, stderr = topCLI(t, []string{"KSCOPE_SERVER=", "KSCOPE_HTTP_CONFIG_FILE=" + noAuth}, "--once", "--server", url)
	if code != exitFailure || !strings.Contains(stderr, "requires authentication") {
		t.Errorf("top without credentials: exit %d %q", code, stderr)
	}
}

// An unsafe data directory stops the agent with exit code 1 and the
// reason; a web configuration that does not load is a configuration
// error, exit code 2.
func TestAgentRefusesUnsafeSetup(t *testing.T) {
	if os.Geteuid() != 0 {
		testutil.Skip(t, "root (to chown a directory to another user)", nil)
	}
	base := t.TempDir()
	world := filepath.Join(base, "world")
	os.Mkdir(world, 0o777)
	os.Chmod(world, 0o777)
	others := filepath.Join(base, "others")
	os.Mkdir(others, 0o700)
	os.Chown(others, 65534, 65534)
	link := filepath.Join(base, "link")
	os.Symlink(filepath.Join(base, "target"), link)
	os.Mkdir(filepath.Join(base, "target"), 0o700)
	os.Lchown(link, 65534, 65534)
	badWeb := filepath.Join(base, "web.yml")
	writeFile(t, badWeb, "basic_auth_users:\n  alice: secret\n")
	for _, tt := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"--data-dir", world}, exitFailure, "data directory " + world + " is world-writable (mode 0777)"},
		{[]string{"--data-dir", others}, exitFailure, "data directory " + others + " is owned by user 65534, not by 0"},
		{[]string{"--data-dir", link}, exitFailure, "data directory " + link + " is a symlink owned by user 65534"},
		{[]string{"--data-dir", filepath.Join(base, "ok"), "--web.config.file", badWeb}, exitUsage, "--web.config.file: reading the web configuration " + badWeb},
	} {
		code, _, stderr := runCLI(append([]string{"agent", "--listen", "127.0.0.1:0"}, tt.args...)...)
		if code != tt.code || !strings.Contains(stderr, tt.msg) {
			t.Errorf("kscope agent %s: exit %d %q, want %d %q", strings.Join(tt.args, " "), code, stderr, tt.code, tt.msg)
		}
	}
	if ents, _ := os.ReadDir(world); len(ents) != 0 {
		t.Errorf("the agent wrote into %s", world)
	}
}
