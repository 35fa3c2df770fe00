package pcapfilter

import (
	"errors"
	"os"
	"testing"

	"github.com/cilium/ebpf"
)

// FuzzCompile: the parser and compiler never panic, an error is always an
// *Error with a column inside the filter (or just past it), and as root
// every compiled program passes the verifier and runs.
func FuzzCompile(f *testing.F) {
	for _, s := range diffFilters {
		f.Add(s)
	}
	for _, s := range []string{"(((tcp)))", "port 1-2", "portrange 5-1", "ip[1:4] / ip[2] % 3 << 40 > 1",
		"not not not ip", "src or dst 1.2.3.4", "((tcp[0]+1)*2) != 3", "host ::ffff:1.2.3.4", "net 10.1.2"} {
		f.Add(s)
	}
	root := os.Geteuid() == 0
	pkts := [][]byte{make([]byte, 14), make([]byte, 80)}
	pkts[1][12], pkts[1][14], pkts[1][23] = 8, 0x45, 6
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Parse(s)
		if err == nil {
			_, err = Instructions(n, acceptRet, rejectRet)
		}
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("%q: error %v (%T) is not an *Error", s, err, err)
			}
			if pe.Col < 1 || pe.Col > len(s)+1 {
				t.Fatalf("%q: error column %d outside the filter", s, pe.Col)
			}
			return
		}
		if !root {
			return
		}
		prog, err := load(t, n)
		if err != nil {
			t.Fatalf("%q (%v): %+v", s, n, err)
		}
		defer prog.Close()
		for _, p := range pkts {
			if _, err := prog.Run(&ebpf.RunOptions{Data: p}); err != nil {
				t.Fatalf("%q: running: %v", s, err)
			}
		}
	})
}
