package connect

import "github.com/kscope/kscope/internal/collector"

func init() {
	collector.Register(collector.Spec{
		Name:    Name,
		Doc:     "connect(2) on IPv4 and IPv6 sockets: addresses, ports, result and latency",
		Default: true,
		Events:  []string{"connect"},
		Outputs: collector.EventOutput,
		Trace: []collector.TraceKind{{
			Kind:   "connect",
			Short:  "Trace connect on IPv4/IPv6 TCP and UDP sockets: addresses, ports and result",
			Fields: "family, proto, saddr, sport, daddr, dport, ret, error, latency_ns",
		}},
		New: collector.Plain(New),
	})
}
