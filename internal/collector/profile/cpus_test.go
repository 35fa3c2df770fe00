package profile

import (
	"reflect"
	"testing"
)

func TestParseCPUList(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []int
		ok   bool
	}{
		{"0", []int{0}, true},
		{"0-1", []int{0, 1}, true},
		{"0-3,5,7-8", []int{0, 1, 2, 3, 5, 7, 8}, true},
		{"2", []int{2}, true},
		{"", nil, false},
		{"a", nil, false},
		{"3-1", nil, false},
		{"0-", nil, false},
		{"-1", nil, false},
		{"0,,1", nil, false},
		{"0-99999", nil, false},
	} {
		got, err := parseCPUList(tc.in)
		if (err == nil) != tc.ok || !reflect.DeepEqual(got, tc.want) && tc.ok {
			t.Errorf("parseCPUList(%q) = %v, %v; want %v (ok %v)", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func FuzzParseCPUList(f *testing.F) {
	for _, s := range []string{"0", "0-1", "0-3,5,7-8", "", "3-1", "0-65535"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cpus, err := parseCPUList(s)
		if err != nil {
			return
		}
		if len(cpus) == 0 || len(cpus) > maxCPUs {
			t.Fatalf("%q: %d CPUs", s, len(cpus))
		}
		for _, c := range cpus {
			if c < 0 || c >= maxCPUs {
				t.Fatalf("%q: CPU %d", s, c)
			}
		}
	})
}
