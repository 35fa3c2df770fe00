package http

import "github.com/kscope/kscope/internal/collector"

func init() {
	collector.Register(collector.Spec{
		Name:    Name,
		Doc:     "HTTP/1.x exchanges, plain and TLS, without touching the programs (off by default: it hooks every socket read and write, bench/results/http.md)",
		Default: false,
		Events:  []string{"http"},
		Outputs: collector.EventOutput | collector.MetricOutput,
		Trace: []collector.TraceKind{{
			Kind:   "http",
			Short:  "Trace HTTP/1.x requests and responses, plain and TLS (OpenSSL, Go crypto/tls): one event per exchange (--failed: status 400 and up, or no response)",
			Fields: "role, method, path, host, status, latency_ns, bytes_in, bytes_out, tls, laddr, raddr",
		}},
		New: collector.Plain(New),
	})
}
