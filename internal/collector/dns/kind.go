package dns

import "github.com/kscope/kscope/internal/event"

// KindName is the type of DNS events.
const KindName = "dns"

// The fields of a DNS event, in JSON order; the tracker fills Values by
// these indexes.
const (
	fQName = iota
	fQType
	fRCode
	fAnswers
	fLatency
	fTimeout
	fServer
	fServerPort
	fClientPort
	fID
	fTransport
	nFields
)

// Kind describes DNS events: one per query, with its answer or its timeout.
var Kind = mustKind()

func mustKind() *event.Kind {
	k, err := event.NewKind(KindName, "A DNS query and its answer, or its timeout", []event.Field{
		fQName:      {Name: "qname", Type: event.TypeString, Doc: "the name asked for, fully qualified (example.com.)"},
		fQType:      {Name: "qtype", Type: event.TypeString, Doc: "the type asked for: A, AAAA, MX, … or TYPEnnn"},
		fRCode:      {Name: "rcode", Type: event.TypeString, Doc: "the answer's response code (NOERROR, NXDOMAIN, SERVFAIL, …); empty on a timeout", Omit: true},
		fAnswers:    {Name: "answers", Type: event.TypeStrings, Doc: "the answer section: addresses for A and AAAA, TYPE data otherwise", Omit: true},
		fLatency:    {Name: "latency_ns", Type: event.TypeUint, Doc: "from the query leaving to the answer arriving, in the kernel"},
		fTimeout:    {Name: "timeout", Type: event.TypeBool, Doc: "no answer came within the collector's timeout", Omit: true},
		fServer:     {Name: "server", Type: event.TypeString, Doc: "the server's address"},
		fServerPort: {Name: "server_port", Type: event.TypeUint, Doc: "the server's port (53)"},
		fClientPort: {Name: "client_port", Type: event.TypeUint, Doc: "the client's port"},
		fID:         {Name: "id", Type: event.TypeUint, Doc: "the message id"},
		fTransport:  {Name: "transport", Type: event.TypeString, Doc: "udp or tcp"},
	})
	if err != nil {
		panic(err)
	}
	k.Summary = []string{"qname", "qtype", "rcode", "answers", "latency_ns", "server", "timeout"}
	k.Bad = "timeout"
	return k
}

func init() {
	if err := event.Register(Kind); err != nil {
		panic(err)
	}
}
