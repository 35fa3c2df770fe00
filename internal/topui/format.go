package topui

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// FormatBytes formats a byte count (or rate) in IEC units with at most
// four significant characters before the unit: 0, 512, 1.5K, 12.3M, 2.0G.
func FormatBytes(v float64) string {
	return scaled(v, 1024, []string{"", "K", "M", "G", "T", "P"})
}

// FormatCount formats a count (or rate) in SI units: 0, 950, 12.3k, 1.2M.
func FormatCount(v float64) string {
	return scaled(v, 1000, []string{"", "k", "M", "G", "T", "P"})
}

func scaled(v float64, base float64, units []string) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "?"
	}
	if v < 0 {
		return "-" + scaled(-v, base, units)
	}
	if v < 0.5 {
		return "0"
	}
	i := 0
	for v >= base-0.5 && i < len(units)-1 {
		v /= base
		i++
	}
	if i == 0 {
		return strconv.FormatFloat(math.Round(v), 'f', 0, 64)
	}
	// 1.0K..99.9K with a decimal, 100K..1023K without.
	if v < 99.95 {
		return strconv.FormatFloat(v, 'f', 1, 64) + units[i]
	}
	return strconv.FormatFloat(math.Round(v), 'f', 0, 64) + units[i]
}

// FormatPercent formats a CPU rate (1 = one CPU) as a percentage of one
// CPU, as top does: 0.0, 45.2, 199.8.
func FormatPercent(cpu float64) string {
	if math.IsNaN(cpu) {
		return "?"
	}
	p := cpu * 100
	if p >= 999.5 {
		return strconv.FormatFloat(p, 'f', 0, 64)
	}
	return strconv.FormatFloat(p, 'f', 1, 64)
}

// FormatDuration formats a short duration for the header: 850µs, 12ms, 1.5s.
func FormatDuration(d time.Duration) string {
	switch {
	case d < time.Microsecond:
		return strconv.FormatInt(int64(d), 10) + "ns"
	case d < time.Millisecond:
		return strconv.FormatFloat(float64(d)/1e3, 'f', 0, 64) + "µs"
	case d < time.Second:
		return strconv.FormatFloat(float64(d)/1e6, 'f', 0, 64) + "ms"
	}
	return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
}

// sparkBlocks are the eight heights of a sparkline.
var sparkBlocks = []rune("▁▂▃▄▅▆▇█")

// Sparkline draws the last width values, scaled to their maximum; zero is
// the lowest block, and an empty history is blank.
func Sparkline(vals []float64, width int) string {
	if width <= 0 {
		return ""
	}
	if len(vals) > width {
		vals = vals[len(vals)-width:]
	}
	var hi float64
	for _, v := range vals {
		hi = max(hi, v)
	}
	var b strings.Builder
	for _, v := range vals {
		i := 0
		if hi > 0 && v > 0 {
			i = int(math.Ceil(v/hi*float64(len(sparkBlocks)))) - 1
			i = min(max(i, 0), len(sparkBlocks)-1)
		}
		b.WriteRune(sparkBlocks[i])
	}
	return b.String()
}

// fit pads s with spaces or cuts it to exactly w columns, counting runes.
func fit(s string, w int) string {
	n := 0
	for i := range s {
		if n == w {
			return s[:i]
		}
		n++
	}
	return s + strings.Repeat(" ", w-n)
}

// right pads s on the left to w columns, or cuts it.
func right(s string, w int) string {
	n := len([]rune(s))
	if n >= w {
		return string([]rune(s)[:w])
	}
	return strings.Repeat(" ", w-n) + s
}
