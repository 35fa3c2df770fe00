package api

import (
	"net"
	"net/http"
	"strings"
)

// HostAllowList answers only requests whose Host header names the agent
// when it listens on a loopback address: localhost, 127.0.0.1, [::1] or
// the listen address itself. A web page whose name an attacker resolves to
// 127.0.0.1 (DNS rebinding) then reaches the agent with its own name in
// Host and gets 421 Misdirected Request instead of the host's events.
// listen is the configured address and bound the address the listener
// got (its port may differ when listen asked for port 0). When the agent
// listens beyond loopback, every Host is served: there, authentication
// (--web.config.file) protects it.
func HostAllowList(listen string, bound net.Addr, next http.Handler) http.Handler {
	if !IsLoopback(bound) {
		return next
	}
	allowed := map[string]bool{"localhost": true, "127.0.0.1": true, "::1": true}
	if h, _, err := net.SplitHostPort(listen); err == nil && h != "" {
		allowed[strings.ToLower(h)] = true
	}
	if ta, ok := bound.(*net.TCPAddr); ok {
		allowed[ta.IP.String()] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// An HTTP/1.0 request may have no Host; browsers always send one.
		if r.Host != "" && !allowed[hostName(r.Host)] {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusMisdirectedRequest)
			w.Write([]byte("kscope agent: Host " + quoteHost(r.Host) + " is not served: the agent listens on loopback and answers only to localhost, 127.0.0.1 and [::1]\n"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// hostName is the lower-case host part of a Host header, without the port
// or the brackets of an IPv6 address.
func hostName(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return strings.ToLower(host)
}

// quoteHost bounds and quotes a client's Host for the error message.
func quoteHost(h string) string {
	if len(h) > 100 {
		h = h[:100] + "…"
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, c := range h {
		if c < 0x20 || c == 0x7f || c == '"' {
			c = '?'
		}
		b.WriteRune(c)
	}
	b.WriteByte('"')
	return b.String()
}

// IsLoopback reports whether addr is a loopback TCP address (127.0.0.0/8,
// ::1). The unspecified address (0.0.0.0, ::) is not: it listens on every
// interface.
func IsLoopback(addr net.Addr) bool {
	ta, ok := addr.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}
