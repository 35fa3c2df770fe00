package profile

import (
	"bytes"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"
	"github.com/kscope/kscope/internal/testutil"
)

// sample profile: main -> hot_function (90 samples), main -> cold (10),
// and a kernel frame under a syscall.
func fixture() *Profile {
	main := Frame{Function: "main", File: "hot.c", Line: 20, Module: "/tmp/hot", Address: 0x401100}
	hot := Frame{Function: "hot_function", File: "hot.c", Line: 7, Module: "/tmp/hot", Address: 0x401020}
	cold := Frame{Function: "", Module: "/usr/lib/libfoo.so", Address: 0x7f0000001234, Offset: 0x1234}
	sched := Frame{Function: "schedule", Module: "[kernel]", Address: 0xffffffff81000000, Kernel: true}
	return &Profile{
		Types:    []ValueType{Samples, CPU},
		Period:   int64(time.Second / 99),
		Start:    time.Unix(1_700_000_000, 0),
		Duration: 10 * time.Second,
		Samples: []Sample{
			{PID: 42, Comm: "hot", Stack: []Frame{hot, main}, Values: []int64{60, 60 * 10101010}},
			{PID: 42, Comm: "hot", Stack: []Frame{cold, main}, Values: []int64{10, 10 * 10101010}},
			{PID: 42, Comm: "hot", Stack: []Frame{hot, main}, Values: []int64{30, 30 * 10101010}},
			{PID: 42, Comm: "hot", Stack: []Frame{sched, main}, Values: []int64{1, 10101010}},
		},
	}
}

func TestMergeTopTotal(t *testing.T) {
	p := fixture()
	p.Merge()
	if len(p.Samples) != 3 || p.Total(Samples) != 101 {
		t.Fatalf("%d samples, total %d", len(p.Samples), p.Total(Samples))
	}
	top := p.Top(Samples, 2)
	if len(top) != 2 || top[0].Function != "hot_function" || top[0].Value != 90 || top[1].Function != "libfoo.so+0x1234" {
		t.Errorf("top %+v", top)
	}
}

func TestPprof(t *testing.T) {
	p := fixture()
	p.Merge()
	var buf bytes.Buffer
	if err := WritePprof(&buf, p); err != nil {
		t.Fatal(err)
	}
	pp, err := profile.Parse(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if err := pp.CheckValid(); err != nil {
		t.Fatal(err)
	}
	if len(pp.SampleType) != 2 || pp.SampleType[1].Type != "cpu" || pp.SampleType[1].Unit != "nanoseconds" || pp.Period != p.Period {
		t.Errorf("sample types %v period %d", pp.SampleType, pp.Period)
	}
	names := map[string]bool{}
	for _, f := range pp.Function {
		names[f.Name] = true
	}
	for _, want := range []string{"hot_function", "main", "schedule", "libfoo.so+0x1234"} {
		if !names[want] {
			t.Errorf("no function %s in %v", want, names)
		}
	}
	if len(pp.Mapping) != 3 || pp.Sample[0].NumLabel["pid"][0] != 42 || pp.Sample[0].Label["comm"][0] != "hot" {
		t.Errorf("mappings %d, labels %v %v", len(pp.Mapping), pp.Sample[0].NumLabel, pp.Sample[0].Label)
	}

	// go tool pprof reads it and ranks hot_function first.
	gobin := testutil.Tool(t, "go", "for go tool pprof")
	file := filepath.Join(t.TempDir(), "cpu.pb.gz")
	os.WriteFile(file, buf.Bytes(), 0o600)
	out, err := exec.Command(gobin, "tool", "pprof", "-top", "-sample_index=cpu", file).CombinedOutput()
	if err != nil {
		t.Fatalf("go tool pprof: %v\n%s", err, out)
	}
	var first string
	lines := strings.Split(string(out), "\n")
	for i, l := range lines {
		if strings.Contains(l, "flat%") && i+1 < len(lines) {
			first = lines[i+1]
		}
	}
	if !strings.Contains(first, "hot_function") || !strings.Contains(first, "89.11%") {
		t.Errorf("pprof -top first line %q:\n%s", first, out)
	}
}

func TestFolded(t *testing.T) {
	p := fixture()
	var buf bytes.Buffer
	if err := WriteFolded(&buf, p.Fold(Samples)); err != nil {
		t.Fatal(err)
	}
	want := "hot;main;hot_function 90\nhot;main;libfoo.so+0x1234 10\nhot;main;schedule_[k] 1\n"
	if buf.String() != want {
		t.Errorf("folded:\n%s\nwant:\n%s", buf.String(), want)
	}
	back, err := ParseFolded(&buf)
	if err != nil || len(back) != 3 || back[0].Value != 90 || strings.Join(back[2].Frames, ";") != "hot;main;schedule_[k]" {
		t.Errorf("parse back: %v %+v", err, back)
	}
	for _, bad := range []string{"noval", "a;b x", "a;b -3"} {
		if _, err := ParseFolded(strings.NewReader(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	if got := clean("a;b\nc"); got != "a_b_c" {
		t.Errorf("clean: %q", got)
	}
}

func TestSVGAndHTML(t *testing.T) {
	stacks := fixture().Fold(Samples)
	var svg bytes.Buffer
	if err := WriteSVG(&svg, "cpu <test>", "samples", stacks); err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(bytes.NewReader(svg.Bytes()))
	rects := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("SVG is not XML: %v", err)
			}
			break
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "rect" {
			rects++
		}
	}
	// background + all, hot, main, and main's three children
	if rects != 1+6 || !strings.Contains(svg.String(), "hot_function (90 samples, 89.11%)") {
		t.Errorf("%d rects:\n%s", rects, svg.String())
	}
	var page bytes.Buffer
	if err := WriteHTML(&page, "cpu <test>", "samples", stacks); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page.String(), `"n":"hot_function","v":90`) || !strings.Contains(page.String(), "cpu &lt;test&gt;") {
		t.Errorf("html:\n%.500s", page.String())
	}
}

func FuzzParseFolded(f *testing.F) {
	f.Add("a;b;c 3\nd 1\n")
	f.Add("x y;z 0\n\n")
	f.Fuzz(func(t *testing.T, in string) {
		stacks, err := ParseFolded(strings.NewReader(in))
		if err != nil {
			return
		}
		var buf bytes.Buffer
		WriteFolded(&buf, stacks)
		again, err := ParseFolded(&buf)
		if err != nil || len(again) != len(stacks) {
			t.Fatalf("round trip: %v %d != %d", err, len(again), len(stacks))
		}
		for i := range stacks {
			if again[i].Value != stacks[i].Value {
				t.Fatalf("value %d != %d", again[i].Value, stacks[i].Value)
			}
		}
	})
}
