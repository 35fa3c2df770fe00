package store

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/kscope/kscope/internal/event"
)

// Counts come from every stored event of the range, not from a page of
// them: 7,000 events are counted exactly, per type and step, with the
// same filters as Query.
func TestCountEvents(t *testing.T) {
	e, err := OpenEvents(t.TempDir(), time.Hour, 10000, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	base := time.Now().Add(-30 * time.Minute).Truncate(time.Second)
	// 6,000 exits: 1,000 in each of the first six 10 s steps; every
	// third is comm "bash". 1,000 execs in step 2, their filename
	// alternating "/bin/sh" and "/bin/BaSh".
	for i := range 6000 {
		comm := "zsh"
		if i%3 == 0 {
			comm = "bash"
		}
		e.Emit(exitEvent(base.Add(time.Duration(i)*10*time.Millisecond), uint32(i), comm, 0))
	}
	for i := range 1000 {
		fn := "/bin/sh"
		if i%2 == 1 {
			fn = "/bin/BaSh"
		}
		e.Emit(&event.Exec{Header: event.Header{Time: base.Add(20*time.Second + time.Duration(i)*time.Millisecond), Type: "exec", PID: uint32(i), Comm: "sh"}, Filename: fn})
	}
	waitStored(t, e, 7000)

	ctx := context.Background()
	all := Query{Since: base, Until: base.Add(80 * time.Second)}
	for _, tc := range []struct {
		name string
		q    Query
		want map[string][]uint64
	}{
		{"all", all, map[string][]uint64{
			"exit": {1000, 1000, 1000, 1000, 1000, 1000, 0, 0},
			"exec": {0, 0, 1000, 0, 0, 0, 0, 0},
		}},
		{"type", Query{Type: "exec", Since: all.Since, Until: all.Until}, map[string][]uint64{
			"exec": {0, 0, 1000, 0, 0, 0, 0, 0},
		}},
		{"match", Query{Since: all.Since, Until: all.Until, Match: []string{"comm=bash"}}, map[string][]uint64{
			"exit": {334, 333, 333, 334, 333, 333, 0, 0},
		}},
		{"regex", Query{Since: all.Since, Until: all.Until, Match: []string{"comm=~b.*"}}, map[string][]uint64{
			"exit": {334, 333, 333, 334, 333, 333, 0, 0},
		}},
		{"text", Query{Since: all.Since, Until: all.Until, Text: "bAsH"}, map[string][]uint64{
			"exit": {334, 333, 333, 334, 333, 333, 0, 0},
			"exec": {0, 0, 500, 0, 0, 0, 0, 0},
		}},
	} {
		c, err := e.CountEvents(ctx, tc.q, 10*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if c.Steps != 8 || !c.Start.Equal(base) || c.Step != 10*time.Second {
			t.Errorf("%s: %d steps from %v of %v", tc.name, c.Steps, c.Start, c.Step)
		}
		if len(c.ByType) != len(tc.want) {
			t.Errorf("%s: types %v, want %v", tc.name, c.ByType, tc.want)
		}
		for typ, want := range tc.want {
			if !slices.Equal(c.ByType[typ], want) {
				t.Errorf("%s: %s %v, want %v", tc.name, typ, c.ByType[typ], want)
			}
		}
	}
	// The text filter applies to Query too.
	res, err := e.Query(ctx, Query{Type: "exec", Text: "/BIN/bash", Limit: MaxLimit})
	if err != nil || len(res.Events) != 500 {
		t.Errorf("text query: %d events, %v; want 500", len(res.Events), err)
	}
	for _, bad := range []struct {
		q    Query
		step time.Duration
	}{
		{Query{Since: base}, time.Second},
		{all, 0},
		{all, time.Millisecond},
		{Query{Since: all.Since, Until: all.Until, Match: []string{"a=~("}}, time.Second},
	} {
		if _, err := e.CountEvents(ctx, bad.q, bad.step); err == nil {
			t.Errorf("%+v step %v: no error", bad.q, bad.step)
		}
	}
}
