package uprobe

import "github.com/kscope/kscope/internal/collector"

func init() {
	collector.Register(collector.Spec{
		Name:     "uprobe",
		Doc:      "Calls of one function or USDT probe of a user program, with arguments",
		Targeted: true,
		Events:   []string{KindUprobe, KindUSDT},
		Outputs:  collector.EventOutput,
		Trace: []collector.TraceKind{
			{Kind: KindUprobe, Short: "Trace calls of a function in a program or library: arguments, return value, latency", Fields: "probe, args, str, ret, latency_ns"},
			{Kind: KindUSDT, Short: "Trace a USDT probe of a program or library, with its arguments", Fields: "probe, binary, args, str"},
		},
	})
}
