package policy

import (
	"github.com/kscope/kscope/internal/event"
)

// AlertKind is the kind of the events a rule's match produces: "alert".
var AlertKind = mustKind()

func mustKind() *event.Kind {
	k, err := event.NewKind("alert", "A policy rule matched: the rule, its action and the action's outcome", []event.Field{
		{Name: "rule", Type: event.TypeString, Doc: "the rule's name"},
		{Name: "severity", Type: event.TypeString, Doc: "the rule's severity"},
		{Name: "on", Type: event.TypeString, Doc: "the event the rule is on: exec, open or connect"},
		{Name: "action", Type: event.TypeString, Doc: "the action taken or, in audit mode, that would have been: alert, kill or deny"},
		{Name: "mode", Type: event.TypeString, Doc: "enforce or audit"},
		{Name: "outcome", Type: event.TypeString, Doc: "what happened: alerted, killed, denied, kill failed: ERRNO, or would kill / would deny in audit mode"},
		{Name: "binary", Type: event.TypeString, Doc: "exec: the new program; else the process's binary when known", Omit: true},
		{Name: "file", Type: event.TypeString, Doc: "open: the path opened", Omit: true},
		{Name: "access", Type: event.TypeStrings, Doc: "open: the access modes asked for (read, write, create, truncate)", Omit: true},
		{Name: "destination", Type: event.TypeString, Doc: "connect: ADDR:PORT (IPv6 in brackets)", Omit: true},
		{Name: "protocol", Type: event.TypeString, Doc: "connect: tcp or udp", Omit: true},
	})
	if err != nil {
		panic(err)
	}
	// Narrower columns than NewKind's: most cells are short words.
	widths := map[string]int{"rule": 20, "severity": 8, "on": 7, "action": 6, "mode": 7, "outcome": 10,
		"binary": 28, "file": 28, "access": 12, "destination": 22}
	for i, c := range k.Columns {
		if w, ok := widths[c.Field]; ok {
			k.Columns[i].Width = w
		}
	}
	if err := event.Register(k); err != nil {
		panic(err)
	}
	return k
}

// Alert is the content of an alert event, after the header.
type Alert struct {
	Rule, Severity, On, Action, Mode, Outcome string
	Binary, File                              string
	Access                                    []string
	Destination, Protocol                     string
}

// Event returns the alert as an event with header h (its type is set).
func (a *Alert) Event(h event.Header) *event.Dynamic {
	e := event.NewDynamic(AlertKind)
	h.Type = AlertKind.Name
	e.Header = h
	e.Set("rule", event.StringValue(a.Rule))
	e.Set("severity", event.StringValue(a.Severity))
	e.Set("on", event.StringValue(a.On))
	e.Set("action", event.StringValue(a.Action))
	e.Set("mode", event.StringValue(a.Mode))
	e.Set("outcome", event.StringValue(a.Outcome))
	e.Set("binary", event.StringValue(a.Binary))
	e.Set("file", event.StringValue(a.File))
	if len(a.Access) > 0 {
		e.Set("access", event.StringsValue(a.Access))
	}
	e.Set("destination", event.StringValue(a.Destination))
	e.Set("protocol", event.StringValue(a.Protocol))
	return e
}
