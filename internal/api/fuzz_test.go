package api

import (
	"encoding/json"
	"math"
	"math/big"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
)

// FuzzParseTime checks parseTime against a round trip: a time it accepts
// prints as RFC 3339 and parses back to the same instant, and Unix seconds
// land on the same second.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"1700000000", "1700000000.123", "-1.5", "2026-01-02T03:04:05Z", "2026-01-02T03:04:05.123456789+02:00", "1e20", "1e15", "NaN", "-Inf", "0x10"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseTime(s)
		if err != nil {
			return
		}
		if v, err := strconv.ParseFloat(s, 64); err == nil {
			if sec := math.Trunc(v); got.Unix() != int64(sec) && got.Unix() != int64(sec)+int64(math.Copysign(1, v)) {
				t.Fatalf("%q: %v is second %d, want %v", s, got, got.Unix(), sec)
			}
		}
		if y := got.Year(); y < 0 || y > 9999 {
			return // beyond RFC 3339
		}
		back, err := parseTime(got.Format(time.RFC3339Nano))
		if err != nil || !back.Equal(got) {
			t.Fatalf("%q: %v printed as %q parses back as %v, %v", s, got, got.Format(time.RFC3339Nano), back, err)
		}
	})
}

// FuzzParseDuration checks parseDuration: seconds scale by 10^9 without
// overflow or a sign flip, and a Prometheus duration prints and parses
// back to itself.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"1", "0.5", "-2", "1m30s", "1h", "1y", "9223372036.854775807", "9.3e9", "NaN", "+Inf", "5d", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseDuration(s)
		if v, perr := strconv.ParseFloat(s, 64); perr == nil {
			ns := v * 1e9
			inRange := ns > -(1<<63) && ns < 1<<63
			if inRange != (err == nil) {
				t.Fatalf("%q: %v, %v; in range %v", s, d, err, inRange)
			}
			if err == nil && math.Abs(float64(d)-ns) > 1+math.Abs(ns)*1e-15 {
				t.Fatalf("%q: %d ns, want %g", s, d, ns)
			}
			return
		}
		if err != nil {
			return
		}
		back, err := parseDuration(model.Duration(d).String())
		if err != nil || back != d {
			t.Fatalf("%q: %v printed as %q parses back as %v, %v", s, d, model.Duration(d), back, err)
		}
	})
}

// FuzzLimitParam checks limitParam against an independent reading: it
// accepts exactly the decimal integers from 0 to the largest int.
func FuzzLimitParam(f *testing.F) {
	for _, s := range []string{"", "0", "10", "+7", "007", "-1", "1e3", " 5", "9223372036854775807", "9223372036854775808"} {
		f.Add(s)
	}
	decimal := regexp.MustCompile(`^[+-]?[0-9]+$`)
	f.Fuzz(func(t *testing.T, s string) {
		r, err := http.NewRequest("GET", "/api/v1/series?"+url.Values{"limit": {s}}.Encode(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if e := form(r); e != nil {
			t.Fatalf("%q: %v", s, e.err)
		}
		n, e := limitParam(r)
		if s == "" {
			if n != 0 || e != nil {
				t.Fatalf("empty limit: %d, %v", n, e)
			}
			return
		}
		want, ok := new(big.Int), false
		if decimal.MatchString(s) {
			want.SetString(s, 10)
			ok = want.Sign() >= 0 && want.IsInt64()
		}
		if ok != (e == nil) {
			t.Fatalf("%q: %d, %v; want accepted %v", s, n, e, ok)
		}
		if ok && int64(n) != want.Int64() {
			t.Fatalf("%q: %d, want %v", s, n, want)
		}
	})
}

// FuzzAppendValue checks the API's own JSON encoder against Prometheus's:
// an instant vector encodes to valid JSON that decodes as Prometheus's
// encoding of the same samples does.
func FuzzAppendValue(f *testing.F) {
	f.Add("job", "kscope", "mode", "a\"\\\x00\xff\u2028", int64(1700000000123), 1.5, 0.0)
	f.Add("__name__", "up", "le", "+Inf", int64(-1), math.Inf(-1), math.NaN())
	f.Add("a", "", "b", "", int64(math.MaxInt64), 1e300, -1e-300)
	f.Fuzz(func(t *testing.T, n1, v1, n2, v2 string, ts int64, f1, f2 float64) {
		ls := labels.New(labels.Label{Name: n1, Value: v1}, labels.Label{Name: n2, Value: v2})
		vec := promql.Vector{{T: ts, F: f1, Metric: ls}, {T: ts / 3, F: f2}}
		var got, want any
		b := appendValue(nil, vec)
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("invalid JSON %q: %v", b, err)
		}
		ref, err := json.Marshal(struct {
			ResultType string        `json:"resultType"`
			Result     promql.Vector `json:"result"`
		}{"vector", vec})
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(ref, &want); err != nil {
			t.Fatalf("Prometheus's JSON %q: %v", ref, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("ours  %s\nPrometheus's %s", b, ref)
		}
	})
}
