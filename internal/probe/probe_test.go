package probe

import (
	"os"
	"testing"

	"github.com/kscope/kscope/internal/probe/check"
)

// TestLoad runs both stages over a script of ours and reports the first
// stage's error as is.
func TestLoad(t *testing.T) {
	src, err := os.ReadFile("testdata/syscount.bt")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Load("syscount.bt", src, &check.Config{Params: []string{"1234"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(s.Program.Probes); got != 4 {
		t.Errorf("got %d probes, want 4", got)
	}
	if m := s.Info.Maps["by_comm"]; m == nil || m.Value.String() != "count()" || len(m.Keys) != 1 || m.Keys[0].String() != "string" {
		t.Errorf("@by_comm: got %v", m)
	}
	for _, tc := range []struct{ src, want string }{
		{"BEGIN { printf(\"x\") ", "x.bt:1:21: expected ';' or '}' after the statement, found end of input\nBEGIN { printf(\"x\") \n                    ^"},
		{"BEGIN {\n\tprintff(\"x\");\n}", "x.bt:2:2: unknown function printff(); did you mean printf?\n\tprintff(\"x\");\n\t^"},
	} {
		_, err := Load("x.bt", []byte(tc.src), nil)
		if err == nil || err.Error() != tc.want {
			t.Errorf("loading %q:\n got %v\nwant %s", tc.src, err, tc.want)
		}
	}
}

// BenchmarkLoad parses and checks a 65-line script (the front end's part
// of the compile time of `kscope run`).
func BenchmarkLoad(b *testing.B) {
	src, err := os.ReadFile("testdata/language.bt")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Load("language.bt", src, nil); err != nil {
			b.Fatal(err)
		}
	}
}
