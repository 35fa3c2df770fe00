package store

import (
	"context"
	"testing"
	"time"

	"github.com/kscope/kscope/internal/profile"
)

func window(start time.Time, samples ...profile.Sample) *profile.Profile {
	return &profile.Profile{
		Types:    []profile.ValueType{profile.Samples, profile.CPU},
		Period:   int64(time.Second / 19),
		Start:    start,
		Duration: 10 * time.Second,
		Samples:  samples,
	}
}

func stack(pid uint32, comm string, n int64, fns ...string) profile.Sample {
	s := profile.Sample{PID: pid, Comm: comm, Values: []int64{n, n * int64(time.Second/19)}}
	for _, f := range fns {
		s.Stack = append(s.Stack, profile.Frame{Function: f, Module: "/bin/" + comm})
	}
	return s
}

func TestProfiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	p, err := OpenProfiles(dir, time.Hour, logger)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().Add(-30 * time.Minute).Truncate(time.Second)
	for i := range 6 { // six 10 s windows
		w := window(t0.Add(time.Duration(i)*10*time.Second),
			stack(1, "web", int64(i+1), "handle", "main"),
			stack(2, "db", 10, "scan", "main"))
		if err := p.Put(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Put(ctx, window(t0)); err != nil || p.Stored() != 6 || p.Bytes() == 0 {
		t.Fatalf("stored %d windows (%d bytes), err %v; an empty window is not stored", p.Stored(), p.Bytes(), err)
	}
	all := ProfileQuery{Since: t0, Until: t0.Add(time.Minute)}
	for _, tt := range []struct {
		name       string
		q          ProfileQuery
		web, db    int64
		start, end time.Duration // the span of the windows taken
	}{
		{"all", all, 21, 60, 0, 60 * time.Second},
		{"pid", ProfileQuery{Since: all.Since, Until: all.Until, PID: 1}, 21, 0, 0, 60 * time.Second},
		{"comm", ProfileQuery{Since: all.Since, Until: all.Until, Comm: "db"}, 0, 60, 0, 60 * time.Second},
		// Windows overlapping the range are taken whole: 15 s to 25 s
		// takes the windows at 10 s and 20 s.
		{"range", ProfileQuery{Since: t0.Add(15 * time.Second), Until: t0.Add(25 * time.Second)}, 2 + 3, 20, 10 * time.Second, 30 * time.Second},
		{"before", ProfileQuery{Since: t0.Add(-time.Hour), Until: t0}, 0, 0, 0, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			prof, err := p.Query(ctx, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			var web, db int64
			for _, s := range prof.Samples {
				switch s.Comm {
				case "web":
					web += s.Values[0]
				case "db":
					db += s.Values[0]
				}
			}
			if web != tt.web || db != tt.db {
				t.Errorf("web %d db %d, want %d %d", web, db, tt.web, tt.db)
			}
			if tt.end > 0 && (!prof.Start.Equal(t0.Add(tt.start)) || prof.Duration != tt.end-tt.start) {
				t.Errorf("span %v + %v, want %v + %v", prof.Start.Sub(t0), prof.Duration, tt.start, tt.end-tt.start)
			}
			if len(prof.Samples) > 2 {
				t.Errorf("%d samples: windows not merged", len(prof.Samples))
			}
		})
	}
	// Retention: reopen with a 5 minute retention; everything is older.
	p.Close()
	if p, err = OpenProfiles(dir, 5*time.Minute, logger); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	prof, _ := p.Query(ctx, all)
	if p.Expired() != 6 || len(prof.Samples) != 0 {
		t.Errorf("expired %d windows, %d samples left", p.Expired(), len(prof.Samples))
	}
}
