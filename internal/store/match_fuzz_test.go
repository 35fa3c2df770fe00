package store

import (
	"context"
	"testing"
	"time"
)

// FuzzParseMatch checks the events API's match conditions: a condition
// ParseMatch accepts prints back to itself and queries the real store
// without error, selecting the stored event exactly when the field's text
// (fieldText) says it should; one it rejects fails the query too.
func FuzzParseMatch(f *testing.F) {
	for _, s := range []string{"comm=bash", "pid=42", "comm!=bash", "comm=~ba.*", "pid!~4", "exit_code=-3",
		" comm =bash", "nope=1", "comm=", "=x", "comm", "Comm=bash", "comm=~(", "comm=~a!=b", "comm=a=~b", "comm=\x00"} {
		f.Add(s)
	}
	e, err := OpenEvents(f.TempDir(), time.Hour, 10, logger)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { e.Close() })
	e.Emit(exitEvent(time.Unix(1700000000, 0), 42, "bash", -3))
	for deadline := time.Now().Add(30 * time.Second); e.Stored() != 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			f.Fatalf("the event was not stored: stored %d, failed %d", e.Stored(), e.Failed())
		}
	}
	all, err := e.Query(context.Background(), Query{})
	if err != nil || len(all.Events) != 1 {
		f.Fatalf("query everything: %v, %v", all, err)
	}
	data := all.Events[0]

	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseMatch(s)
		res, qerr := e.Query(context.Background(), Query{Match: []string{s}})
		if err != nil {
			if qerr == nil {
				t.Fatalf("%q: ParseMatch fails (%v) but the query runs", s, err)
			}
			return
		}
		if !fieldRE.MatchString(c.field) || (c.re == nil) != (c.op == "=" || c.op == "!=") {
			t.Fatalf("%q: parsed as %+v", s, c)
		}
		back, err := ParseMatch(c.field + c.op + c.value)
		if err != nil || back.field != c.field || back.op != c.op || back.value != c.value {
			t.Fatalf("%q: %+v prints as %q and parses back as %+v, %v", s, c, c.field+c.op+c.value, back, err)
		}
		if qerr != nil {
			t.Fatalf("%q: query: %v", s, qerr)
		}
		text, ferr := fieldText(data, c.field)
		var match bool
		switch c.op {
		case "=":
			match = ferr == nil && text == c.value
		case "!=":
			match = !(ferr == nil && text == c.value)
		case "=~":
			match = ferr == nil && c.re.MatchString(text)
		case "!~":
			match = !(ferr == nil && c.re.MatchString(text))
		}
		if got := len(res.Events) == 1; got != match {
			t.Fatalf("%q on %s: selected %v, want %v", s, data, got, match)
		}
	})
}
