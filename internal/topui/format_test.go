package topui

import (
	"math"
	"testing"
	"time"
)

func TestFormatBytes(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		want string
	}{
		{0, "0"},
		{0.4, "0"},
		{0.6, "1"},
		{1, "1"},
		{512, "512"},
		{1023, "1023"},
		{1023.6, "1.0K"},
		{1024, "1.0K"},
		{1536, "1.5K"},
		{99.9 * 1024, "99.9K"},
		{99.96 * 1024, "100K"},
		{1000 * 1024, "1000K"},
		{1023.4 * 1024, "1023K"},
		{1024 * 1024, "1.0M"},
		{12.34 * 1024 * 1024, "12.3M"},
		{3 << 30, "3.0G"},
		{5 << 40, "5.0T"},
		{math.Pow(1024, 6) * 2, "2048P"},
		{-2048, "-2.0K"},
		{math.NaN(), "?"},
		{math.Inf(1), "?"},
	} {
		if got := FormatBytes(tc.v); got != tc.want {
			t.Errorf("FormatBytes(%v) = %q, want %q", tc.v, got, tc.want)
		}
	}
}

func TestFormatCount(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		want string
	}{
		{0, "0"},
		{7, "7"},
		{950, "950"},
		{999.4, "999"},
		{999.6, "1.0k"},
		{12345, "12.3k"},
		{123456, "123k"},
		{1.25e6, "1.2M"},
		{54321, "54.3k"},
		{2e9, "2.0G"},
	} {
		if got := FormatCount(tc.v); got != tc.want {
			t.Errorf("FormatCount(%v) = %q, want %q", tc.v, got, tc.want)
		}
	}
}

func TestFormatPercent(t *testing.T) {
	for _, tc := range []struct {
		cpu  float64
		want string
	}{
		{0, "0.0"},
		{0.0004, "0.0"},
		{0.452, "45.2"},
		{1, "100.0"},
		{1.998, "199.8"},
		{9.99, "999.0"},
		{12.5, "1250"},
		{math.NaN(), "?"},
	} {
		if got := FormatPercent(tc.cpu); got != tc.want {
			t.Errorf("FormatPercent(%v) = %q, want %q", tc.cpu, got, tc.want)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{500, "500ns"},
		{850 * time.Microsecond, "850µs"},
		{12 * time.Millisecond, "12ms"},
		{time.Second, "1.0s"},
		{1500 * time.Millisecond, "1.5s"},
	} {
		if got := FormatDuration(tc.d); got != tc.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestSparkline(t *testing.T) {
	for _, tc := range []struct {
		vals  []float64
		width int
		want  string
	}{
		{nil, 5, ""},
		{[]float64{0, 0}, 5, "▁▁"},
		{[]float64{0, 1, 2, 4, 8}, 5, "▁▁▂▄█"},
		{[]float64{1, 2, 3, 4, 5, 6, 7, 8}, 8, "▁▂▃▄▅▆▇█"},
		{[]float64{8, 1, 2, 3, 4, 5, 6, 7, 8}, 8, "▁▂▃▄▅▆▇█"}, // the oldest left out
		{[]float64{3}, 0, ""},
	} {
		if got := Sparkline(tc.vals, tc.width); got != tc.want {
			t.Errorf("Sparkline(%v, %d) = %q, want %q", tc.vals, tc.width, got, tc.want)
		}
	}
}

func TestFitRight(t *testing.T) {
	if got := fit("héllo", 3); got != "hél" {
		t.Errorf("fit cut: %q", got)
	}
	if got := fit("ab", 4); got != "ab  " {
		t.Errorf("fit pad: %q", got)
	}
	if got := right("ab", 4); got != "  ab" {
		t.Errorf("right pad: %q", got)
	}
	if got := right("abcdef", 4); got != "abcd" {
		t.Errorf("right cut: %q", got)
	}
}
