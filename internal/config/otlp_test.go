package config

import (
	"errors"
	"maps"
	"strings"
	"testing"
)

// otlp is {endpoint, protocol: grpc|http, headers, insecure}; grpc is the
// default protocol, header names are lower-cased.
func TestOTLP(t *testing.T) {
	for _, tc := range []struct {
		doc  string
		want *OTLP
	}{
		{"listen: a:1\n", nil},
		{"otlp:\n  endpoint: collector:4317\n", &OTLP{Endpoint: "collector:4317", Protocol: "grpc"}},
		{"otlp:\n  endpoint: http://127.0.0.1:4318\n  protocol: http\n  insecure: true\n  headers:\n    X-Scope-OrgID: team-a\n    authorization: Bearer x\n",
			&OTLP{Endpoint: "http://127.0.0.1:4318", Protocol: "http", Insecure: true, Headers: map[string]string{"x-scope-orgid": "team-a", "authorization": "Bearer x"}}},
		{"otlp: {endpoint: 'https://otel.example:443/otlp', protocol: http}\n", &OTLP{Endpoint: "https://otel.example:443/otlp", Protocol: "http"}},
	} {
		c, err := Parse("k.yaml", []byte(tc.doc), known)
		if err != nil {
			t.Errorf("%q: %v", tc.doc, err)
			continue
		}
		got := c.OTLP
		if (got == nil) != (tc.want == nil) || got != nil && (got.Endpoint != tc.want.Endpoint || got.Protocol != tc.want.Protocol || got.Insecure != tc.want.Insecure || !maps.Equal(got.Headers, tc.want.Headers)) {
			t.Errorf("%q: got %+v, want %+v", tc.doc, got, tc.want)
		}
	}
}

func TestOTLPErrors(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{"otlp: collector:4317\n", `k.yaml:1: otlp: want a mapping of endpoint, protocol, headers, insecure`},
		{"otlp:\n  protocol: grpc\n", `k.yaml:2: otlp.endpoint: missing: the receiver's host:port or URL`},
		{"otlp:\n  endpoint: collector\n", `k.yaml:2: otlp.endpoint: want host:port or a URL with a port: collector`},
		{"otlp:\n  endpoint: ftp://c:21\n", `k.yaml:2: otlp.endpoint: want an http:// or https:// URL, not ftp://`},
		{"otlp:\n  endpoint: http://c:1/?a=b\n", `k.yaml:2: otlp.endpoint: want a URL without a query or fragment`},
		{"otlp:\n  endpoint: c:1\n  protocol: grpcs\n", `k.yaml:3: otlp.protocol: want grpc or http, not "grpcs"`},
		{"otlp:\n  endpoint: c:1\n  insecure: yes please\n", `k.yaml:3: otlp.insecure: want true or false`},
		{"otlp:\n  endpoint: https://c:1\n  insecure: true\n", `k.yaml:2: otlp.insecure: an https:// endpoint is TLS; use http:// or drop insecure`},
		{"otlp:\n  endpoint: c:1\n  tls: {}\n", `k.yaml:3: otlp.tls: unknown key (known: endpoint, protocol, headers, insecure)`},
		{"otlp:\n  endpoint: c:1\n  headers: [a]\n", `k.yaml:3: otlp.headers: want a mapping of header names to values`},
		{"otlp:\n  endpoint: c:1\n  headers:\n    'a b': x\n", `k.yaml:4: otlp.headers.a b: not a valid header name`},
		{"otlp:\n  endpoint: c:1\n  headers:\n    grpc-timeout: 1s\n", `k.yaml:4: otlp.headers.grpc-timeout: not a valid header name`},
		{"otlp:\n  endpoint: c:1\n  headers:\n    A: x\n    a: y\n", `k.yaml:5: otlp.headers.a: duplicate header`},
	} {
		_, err := Parse("k.yaml", []byte(tc.doc), known)
		var ce *Error
		if !errors.As(err, &ce) {
			t.Errorf("%q: error %v is not a config.Error", tc.doc, err)
			continue
		}
		if !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q:\n got %s\nwant %s", tc.doc, err, tc.want)
		}
	}
}
