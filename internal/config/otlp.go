package config

import (
	"net"
	"net/url"
	"strings"

	"gopkg.in/yaml.v3"
)

// OTLP is where the agent sends its metrics, events (as logs) and CPU
// profiles over OTLP (the otlp section). Its keys are a contract.
type OTLP struct {
	// Endpoint is the receiver: host:port, or a URL (http:// is
	// plaintext, https:// is TLS). Over HTTP, a URL without a path gets
	// the signals' paths (/v1/metrics, /v1/logs,
	// /v1development/profiles); one with a path is their base.
	Endpoint string
	// Protocol is "grpc" (the default) or "http" (protobuf over HTTP).
	Protocol string
	// Headers are sent with every request (gRPC metadata or HTTP
	// headers): an API key, a tenant.
	Headers map[string]string
	// Insecure sends in plaintext, without TLS.
	Insecure bool
}

// OTLP protocols.
const (
	OTLPGRPC = "grpc"
	OTLPHTTP = "http"
)

// otlp reads otlp: {endpoint, protocol: grpc|http, headers, insecure}.
func (p *parser) otlp(n *yaml.Node, c *Config) {
	o := &OTLP{Protocol: OTLPGRPC}
	p.mapping(n, "otlp", []string{"endpoint", "protocol", "headers", "insecure"}, func(key string, v *yaml.Node) {
		path := "otlp." + key
		switch key {
		case "endpoint":
			o.Endpoint = p.str(v, path)
			if p.err == nil {
				if err := checkOTLPEndpoint(o.Endpoint); err != "" {
					p.fail(v, path, "%s", err)
				}
			}
		case "protocol":
			switch o.Protocol = p.str(v, path); o.Protocol {
			case OTLPGRPC, OTLPHTTP:
			default:
				p.fail(v, path, "want grpc or http, not %q", o.Protocol)
			}
		case "headers":
			o.Headers = p.headers(v, path)
		case "insecure":
			o.Insecure = p.boolean(v, path)
		}
	})
	if p.err != nil {
		return
	}
	switch {
	case o.Endpoint == "":
		p.fail(n, "otlp.endpoint", "missing: the receiver's host:port or URL")
	case o.Insecure && strings.HasPrefix(o.Endpoint, "https://"):
		p.fail(n, "otlp.insecure", "an https:// endpoint is TLS; use http:// or drop insecure")
	}
	if p.err == nil {
		c.OTLP = o
	}
}

// checkOTLPEndpoint returns what is wrong with an endpoint, "" if nothing.
func checkOTLPEndpoint(s string) string {
	if s == "" {
		return "want the receiver's host:port or URL"
	}
	host := s
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil {
			return "not a URL: " + err.Error()
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return "want an http:// or https:// URL, not " + u.Scheme + "://"
		}
		if u.RawQuery != "" || u.Fragment != "" {
			return "want a URL without a query or fragment"
		}
		host = u.Host
	}
	if _, port, err := net.SplitHostPort(host); err != nil || port == "" {
		return "want host:port or a URL with a port: " + s
	}
	return ""
}

// headers reads a mapping of header names to values.
func (p *parser) headers(n *yaml.Node, path string) map[string]string {
	if n.Kind != yaml.MappingNode {
		p.fail(n, path, "want a mapping of header names to values")
		return nil
	}
	h := map[string]string{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := join(path, k.Value)
		name := strings.ToLower(k.Value)
		switch {
		case !validHeaderName(k.Value):
			p.fail(k, key, "not a valid header name")
			return nil
		case h[name] != "":
			p.fail(k, key, "duplicate header")
			return nil
		}
		val := p.str(v, key)
		if p.err != nil {
			return nil
		}
		if strings.ContainsAny(val, "\r\n") {
			p.fail(v, key, "a header value holds no line break")
			return nil
		}
		h[name] = val
	}
	return h
}

// validHeaderName: a name HTTP and gRPC metadata both take, and not one
// of gRPC's own (grpc-*).
func validHeaderName(s string) bool {
	if s == "" || strings.HasPrefix(s, "grpc-") {
		return false
	}
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}
