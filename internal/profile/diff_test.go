package profile

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestPprofRoundTrip(t *testing.T) {
	p := fixture()
	p.Merge()
	var buf bytes.Buffer
	if err := WritePprof(&buf, p); err != nil {
		t.Fatal(err)
	}
	q, err := ReadPprof(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(q.Types, p.Types) || q.Period != p.Period || !q.Start.Equal(p.Start) || q.Duration != p.Duration {
		t.Errorf("header: %+v, want %+v", q, p)
	}
	for _, typ := range p.Types {
		if got, want := q.Fold(typ), p.Fold(typ); !reflect.DeepEqual(got, want) {
			t.Errorf("%s folded after a round trip:\n%v\nwant\n%v", typ.Type, got, want)
		}
	}
	if q.Samples[0].PID != 42 || q.Samples[0].Comm != "hot" {
		t.Errorf("labels: pid %d comm %q", q.Samples[0].PID, q.Samples[0].Comm)
	}
}

func TestIsKernelModule(t *testing.T) {
	for m, want := range map[string]bool{
		"[kernel]": true, "[nf_tables]": true, "[vdso]": false, "[anon:x]": false,
		"/usr/bin/x": false, "": false, "[unknown]": false,
	} {
		if got := isKernelModule(m); got != want {
			t.Errorf("%q: %v", m, got)
		}
	}
}

func TestAddUnionsTypes(t *testing.T) {
	a := fixture()
	b := fixture()
	b.Types = append(b.Types, OffCPU)
	for i := range b.Samples {
		b.Samples[i].Values = append(b.Samples[i].Values, 1000)
	}
	b.Start = a.Start.Add(10 * time.Second)
	var sum Profile
	sum.Add(a)
	sum.Add(b)
	if len(sum.Types) != 3 || sum.Total(Samples) != 202 || sum.Total(OffCPU) != 4000 {
		t.Errorf("types %v, samples %d, off-CPU %d", sum.Types, sum.Total(Samples), sum.Total(OffCPU))
	}
	if !sum.Start.Equal(a.Start) || sum.Duration != 20*time.Second {
		t.Errorf("span %v + %v", sum.Start, sum.Duration)
	}
	for _, s := range sum.Samples {
		if len(s.Values) != 3 {
			t.Fatalf("sample with %d values", len(s.Values))
		}
	}
	sum.Filter(func(s *Sample) bool { return s.Values[2] > 0 })
	if len(sum.Samples) != 4 {
		t.Errorf("filter kept %d samples, want b's 4", len(sum.Samples))
	}
}

type jnode struct {
	Name     string  `json:"name"`
	Value    int64   `json:"value"`
	Base     *int64  `json:"base"`
	Children []jnode `json:"children"`
}

func TestTreeJSON(t *testing.T) {
	now := []Folded{{[]string{"a", "b"}, 3}, {[]string{"a", "c"}, 1}, {[]string{"x\"y"}, 2}}
	base := []Folded{{[]string{"a", "b"}, 1}, {[]string{"a", "d"}, 5}}
	var buf bytes.Buffer
	if err := WriteTreeJSON(&buf, now, base, true); err != nil {
		t.Fatal(err)
	}
	var root jnode
	if err := json.Unmarshal(buf.Bytes(), &root); err != nil {
		t.Fatalf("%v: %s", err, buf.String())
	}
	if root.Name != "all" || root.Value != 6 || root.Base == nil || *root.Base != 6 {
		t.Fatalf("root %+v", root)
	}
	a := root.Children[0]
	if a.Name != "a" || a.Value != 4 || *a.Base != 6 || len(a.Children) != 3 {
		t.Fatalf("a: %+v", a)
	}
	// d is only in the base: kept with value 0.
	if d := a.Children[2]; d.Name != "d" || d.Value != 0 || *d.Base != 5 {
		t.Errorf("d: %+v", d)
	}
	if root.Children[1].Name != `x"y` {
		t.Errorf("escaping: %q", root.Children[1].Name)
	}
	buf.Reset()
	WriteTreeJSON(&buf, now, nil, false)
	if strings.Contains(buf.String(), `"base"`) {
		t.Errorf("a tree without diff has base values: %s", buf.String())
	}
}

func TestDiffFolded(t *testing.T) {
	now := []Folded{{[]string{"a", "b"}, 3}, {[]string{"a", "c"}, 1}}
	base := []Folded{{[]string{"a", "b"}, 1}, {[]string{"a", "d"}, 5}}
	var buf bytes.Buffer
	WriteDiffFolded(&buf, now, base)
	want := "a;b 1 3\na;c 0 1\na;d 5 0\n"
	if buf.String() != want {
		t.Errorf("got\n%swant\n%s", buf.String(), want)
	}
}

func TestDiffHTML(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteDiffHTML(&buf, "t", "ns", []Folded{{[]string{"a", "grew"}, 9}}, []Folded{{[]string{"a", "shrank"}, 9}}); err != nil {
		t.Fatal(err)
	}
	s := buf.String()
	if !strings.Contains(s, "diff=true") || !strings.Contains(s, `"b":9`) || !strings.Contains(s, "grew") {
		t.Errorf("diff page:\n%.600s", s)
	}
}

func FuzzReadPprof(f *testing.F) {
	var buf bytes.Buffer
	p := fixture()
	WritePprof(&buf, p)
	f.Add(buf.Bytes())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ReadPprof(bytes.NewReader(data))
		if err != nil {
			return
		}
		// Merging keeps every total; writing and reading back keeps the
		// types and every folded stack.
		totals := map[ValueType]int64{}
		for _, typ := range p.Types {
			p.Fold(typ)
			totals[typ] = p.Total(typ)
		}
		p.Merge()
		for _, typ := range p.Types {
			if got := p.Total(typ); got != totals[typ] {
				t.Fatalf("%s: total %d after merging, %d before", typ.Type, got, totals[typ])
			}
		}
		var buf bytes.Buffer
		if err := WritePprof(&buf, p); err != nil {
			t.Fatalf("writing back: %v", err)
		}
		q, err := ReadPprof(&buf)
		if err != nil {
			t.Fatalf("reading back: %v", err)
		}
		if !reflect.DeepEqual(q.Types, p.Types) {
			t.Fatalf("types %v read back as %v", p.Types, q.Types)
		}
		for _, typ := range p.Types {
			if got, want := q.Fold(typ), p.Fold(typ); !reflect.DeepEqual(got, want) {
				t.Fatalf("%s folded after a round trip:\n%v\nwant\n%v", typ.Type, got, want)
			}
		}
	})
}
