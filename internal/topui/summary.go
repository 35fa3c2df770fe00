package topui

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// hostLines are the header lines about the whole machine.
func hostLines(h *Host) []string {
	cpu := FormatPercent(h.CPU) + "% of one CPU"
	if h.CPUs > 0 {
		cpu = FormatPercent(h.CPU/float64(h.CPUs)) + "% of " + strconv.Itoa(h.CPUs) + " CPUs"
	}
	l1 := fmt.Sprintf("CPU %s  syscalls %s/s  file r/w %s/%s B/s  net rx/tx %s/%s B/s",
		cpu, FormatCount(h.Syscalls), FormatBytes(h.Read), FormatBytes(h.Write), FormatBytes(h.Rx), FormatBytes(h.Tx))
	var l2 []string
	if h.Procs > 0 {
		l2 = append(l2, "processes "+strconv.Itoa(h.Procs))
	}
	if h.Running >= 0 {
		l2 = append(l2, "runnable "+strconv.Itoa(h.Running))
	}
	if len(h.Load) == 3 {
		l2 = append(l2, fmt.Sprintf("load %.2f %.2f %.2f", h.Load[0], h.Load[1], h.Load[2]))
	}
	if h.RunqP99 >= 0 {
		l2 = append(l2, "run-queue wait p99 "+FormatDuration(secondsDuration(h.RunqP99)))
	}
	l2 = append(l2, "lost "+FormatCount(float64(h.Lost)))
	return []string{l1, strings.Join(l2, "  ")}
}

// WriteBatch writes one frame as text, as `top -b -n 1` does: the source
// and time, the host lines, notes, then the table of processes sorted by
// key (at most limit rows; 0: all).
func WriteBatch(w io.Writer, source string, f *Frame, key SortKey, reverse bool, limit int) error {
	rows := append([]Row(nil), f.Rows...)
	Sort(rows, key, reverse)
	if limit > 0 && len(rows) > limit {
		rows = rows[:limit]
	}
	var b strings.Builder
	over := "the agent's last interval"
	if f.Interval > 0 {
		over = FormatDuration(f.Interval)
	}
	fmt.Fprintf(&b, "kscope top - %s - %s - rates over %s\n", source, f.At.Format("2006-01-02 15:04:05"), over)
	for _, l := range hostLines(&f.Host) {
		b.WriteString(l + "\n")
	}
	for _, n := range f.Host.Missing {
		b.WriteString("missing: " + n + "\n")
	}
	for _, n := range f.Host.Notes {
		b.WriteString("note: " + n + "\n")
	}
	b.WriteByte('\n')
	cols := columns(0)
	b.WriteString(strings.TrimRight(headerLine(cols, key, reverse), " ") + "\n")
	for i := range rows {
		b.WriteString(strings.TrimRight(rowLine(cols, &rows[i]), " ") + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
