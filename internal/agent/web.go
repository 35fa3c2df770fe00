package agent

import (
	"errors"
	"fmt"
	"github.com/kscope/kscope/internal/export"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/exporter-toolkit/web"
	"go.yaml.in/yaml/v2"

	"github.com/kscope/kscope/internal/api"
)

// Options are the agent's settings that come from flags only.
type Options struct {
	// WebConfigFile is a web configuration file in the format of
	// Prometheus and node_exporter (--web.config.file): TLS, basic auth
	// with bcrypt hashes, client certificates, response headers. It is
	// read again on every request and connection, so changed passwords and
	// certificates apply without a restart. Empty: plain HTTP, no auth.
	WebConfigFile string
	// Exporters receive what the agent stores: metric samples, events and
	// profile windows (package export). The agent starts and stops them.
	Exporters []export.Exporter
}

// webSecurity is what a web configuration file turns on.
type webSecurity struct {
	tls, basicAuth, clientCerts bool
}

// authenticated reports whether a client must prove who it is.
func (s webSecurity) authenticated() bool { return s.basicAuth || s.clientCerts }

// loadWebConfig checks the web configuration file (its certificates and
// bcrypt hashes too) and says what it turns on.
func loadWebConfig(path string) (webSecurity, error) {
	if path == "" {
		return webSecurity{}, nil
	}
	if err := web.Validate(path); err != nil {
		return webSecurity{}, fmt.Errorf("reading the web configuration %s: %w", path, err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return webSecurity{}, fmt.Errorf("reading the web configuration: %w", err)
	}
	var c web.Config
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		return webSecurity{}, fmt.Errorf("reading the web configuration %s: %w", path, err)
	}
	t := c.TLSConfig
	return webSecurity{
		tls:         t.IsEnabled(),
		basicAuth:   len(c.Users) > 0,
		clientCerts: t.IsEnabled() && t.ClientAuth == "RequireAndVerifyClientCert",
	}, nil
}

// newServer is the HTTP server of handler on ln, with the Host
// allow-list when ln is a loopback address.
func (a *Agent) newServer(ln net.Listener, handler http.Handler) {
	a.server = &http.Server{
		Handler:           api.HostAllowList(a.cfg.Listen, ln.Addr(), handler),
		ReadHeaderTimeout: 10 * time.Second,
		// Failed TLS handshakes (scanners, clients without the CA) are
		// the clients' business: debug level.
		ErrorLog: slog.NewLogLogger(a.logger.Handler(), slog.LevelDebug),
	}
}

// serve serves on ln as the web configuration says: TLS, basic auth.
func (a *Agent) serve(ln net.Listener) {
	path := a.opts.WebConfigFile
	systemd := false
	flags := &web.FlagConfig{
		WebListenAddresses: &[]string{a.cfg.Listen},
		WebSystemdSocket:   &systemd,
		WebConfigFile:      &path,
	}
	srv := a.server
	logger := quiet(a.logger)
	go func() {
		if err := web.Serve(ln, srv, flags, logger); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.logger.Error("serving HTTP", "err", err)
		}
	}()
}

// warnExposure says loudly when anyone who can reach the listen address
// can read what the agent stores.
func (a *Agent) warnExposure(addr net.Addr) {
	if api.IsLoopback(addr) || a.web.authenticated() {
		return
	}
	a.logger.Warn("THE AGENT IS REACHABLE BEYOND THIS HOST WITHOUT AUTHENTICATION: anyone who can connect to "+addr.String()+
		" reads every process's command lines, connections and profiles; require basic auth or client certificates with --web.config.file, or listen on 127.0.0.1",
		"addr", addr.String(), "tls", a.web.tls)
}

// URL is the agent's base URL: https when the web configuration turns TLS on.
func (a *Agent) URL() string {
	scheme := "http"
	if a.web.tls {
		scheme = "https"
	}
	return scheme + "://" + a.Addr().String()
}

// ValidateWebConfig checks a web configuration file: its syntax, its
// bcrypt hashes, its certificates and keys. Empty is valid: plain HTTP.
func ValidateWebConfig(path string) error {
	_, err := loadWebConfig(path)
	return err
}
