package main

import (
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzParseWhen checks --since/--until times: Unix seconds land on the
// millisecond they name, and a time it accepts prints (as query sends it)
// and parses back to itself.
func FuzzParseWhen(f *testing.F) {
	for _, s := range []string{"1700000000", "1700000000.5", "-1.25", "2026-01-02T03:04:05Z", "2026-01-02T03:04:05.123+02:00", "NaN", "Inf", "1e300", "9.3e15", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseWhen(s)
		v, perr := strconv.ParseFloat(s, 64)
		if perr == nil {
			finite := !math.IsNaN(v) && math.Abs(v) <= maxWhenSeconds
			if finite != (err == nil) {
				t.Fatalf("%q: %v, %v; want accepted %v", s, got, err, finite)
			}
			if err == nil && got.UnixMilli() != int64(math.Round(v*1000)) {
				t.Fatalf("%q: %d ms, want %v", s, got.UnixMilli(), math.Round(v*1000))
			}
		}
		if err != nil {
			return
		}
		if perr != nil {
			got = got.Truncate(time.Millisecond) // unixString sends milliseconds
		}
		back, err := parseWhen(unixString(got))
		if err != nil || !back.Equal(got) {
			t.Fatalf("%q: %v printed as %q parses back as %v, %v", s, got, unixString(got), back, err)
		}
	})
}

// FuzzParseSize checks --buffer sizes against an independent reading: a
// decimal count times its K, M or G suffix, a power of two from 4K to 1G.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"4096", "4K", "4k", "256M", "1G", "2G", "3K", "0", "-4K", "+8K", "K", "1048576k", ""} {
		f.Add(s)
	}
	sized := regexp.MustCompile(`^([+-]?[0-9]+)([kKmMgG]?)$`)
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseSize(s)
		ok := false
		want := new(big.Int)
		if m := sized.FindStringSubmatch(s); m != nil {
			want.SetString(m[1], 10)
			shift := map[string]uint{"": 0, "k": 10, "m": 20, "g": 30}[strings.ToLower(m[2])]
			want.Lsh(want, shift)
			ok = want.Cmp(big.NewInt(4096)) >= 0 && want.Cmp(big.NewInt(1<<30)) <= 0 && want.BitLen()-1 == int(want.TrailingZeroBits())
		}
		if ok != (err == nil) {
			t.Fatalf("%q: %d, %v; want accepted %v", s, n, err, ok)
		}
		if ok && int64(n) != want.Int64() {
			t.Fatalf("%q: %d, want %v", s, n, want)
		}
	})
}
