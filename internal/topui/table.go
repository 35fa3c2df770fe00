package topui

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// SortKey is what the table is sorted by.
type SortKey int

// Sort keys, in the order < and > cycle through them.
const (
	SortPID SortKey = iota
	SortComm
	SortCPU
	SortSyscalls
	SortRead
	SortWrite
	SortIO // read + write
	SortNet
	SortMem // resident memory
	nSortKeys
)

var sortNames = [nSortKeys]string{"pid", "comm", "cpu", "syscalls", "read", "write", "io", "net", "mem"}

func (k SortKey) String() string {
	if k >= 0 && k < nSortKeys {
		return sortNames[k]
	}
	return "sort(" + strconv.Itoa(int(k)) + ")"
}

// ParseSort parses a sort key name: cpu, syscalls, io, net, read, write,
// mem, pid or comm.
func ParseSort(s string) (SortKey, error) {
	for i, n := range sortNames {
		if s == n {
			return SortKey(i), nil
		}
	}
	return 0, fmt.Errorf("unknown sort key %q (want %s)", s, strings.Join(sortNames[:], ", "))
}

// Next and Prev cycle through the sort keys.
func (k SortKey) Next() SortKey { return (k + 1) % nSortKeys }
func (k SortKey) Prev() SortKey { return (k + nSortKeys - 1) % nSortKeys }

// ascending reports whether the key sorts up by default: names and pids
// do, rates go busiest first.
func (k SortKey) ascending() bool { return k == SortPID || k == SortComm }

func (k SortKey) value(r *Row) float64 {
	switch k {
	case SortPID:
		return float64(r.PID)
	case SortCPU:
		return r.CPU
	case SortSyscalls:
		return r.Syscalls
	case SortRead:
		return r.Read
	case SortWrite:
		return r.Write
	case SortIO:
		return r.IO()
	case SortNet:
		return r.Net()
	case SortMem:
		return float64(r.RSS)
	}
	return 0
}

// Sort orders rows by key, busiest (or lowest pid, or a to z) first, the
// other way round with reverse. Ties go by pid.
func Sort(rows []Row, key SortKey, reverse bool) {
	less := func(a, b *Row) bool {
		if key == SortComm {
			if a.Comm != b.Comm {
				return a.Comm < b.Comm
			}
		} else if va, vb := key.value(a), key.value(b); va != vb {
			if key.ascending() {
				return va < vb
			}
			return va > vb
		}
		return a.PID < b.PID
	}
	sort.SliceStable(rows, func(i, j int) bool {
		if reverse {
			return less(&rows[j], &rows[i])
		}
		return less(&rows[i], &rows[j])
	})
}

// Filter returns the rows whose comm contains text (any case) or whose
// pid contains it as digits; all rows when text is empty. It reuses dst.
func Filter(dst, rows []Row, text string) []Row {
	dst = dst[:0]
	if text == "" {
		return append(dst, rows...)
	}
	low := strings.ToLower(text)
	for _, r := range rows {
		if strings.Contains(strings.ToLower(r.Comm), low) || strings.Contains(strconv.FormatUint(uint64(r.PID), 10), text) {
			dst = append(dst, r)
		}
	}
	return dst
}

// column is one column of the process table.
type column struct {
	title string
	width int
	left  bool      // aligned left (text), else right (numbers)
	keys  []SortKey // the sort keys it shows
	cell  func(r *Row) string
}

var (
	colPID     = column{"PID", 7, false, []SortKey{SortPID}, func(r *Row) string { return strconv.FormatUint(uint64(r.PID), 10) }}
	colUser    = column{"USER", 9, true, nil, func(r *Row) string { return r.User }}
	colThreads = column{"THR", 4, false, nil, func(r *Row) string {
		if r.Threads == 0 {
			return "-"
		}
		return strconv.Itoa(r.Threads)
	}}
	colComm = column{"COMM", 16, true, []SortKey{SortComm}, func(r *Row) string { return r.Comm }}
	colCPU  = column{"CPU%", 6, false, []SortKey{SortCPU}, func(r *Row) string { return FormatPercent(r.CPU) }}
	colRSS  = column{"RSS", 7, false, []SortKey{SortMem}, func(r *Row) string {
		if !r.HasMem {
			return "-"
		}
		return FormatBytes(float64(r.RSS))
	}}
	colMem = column{"MEM%", 5, false, []SortKey{SortMem}, func(r *Row) string {
		if !r.HasMem || r.Mem < 0 {
			return "-"
		}
		return FormatPercent(r.Mem)
	}}
	colSyscalls = column{"SYSC/s", 8, false, []SortKey{SortSyscalls}, func(r *Row) string { return FormatCount(r.Syscalls) }}
	colRead     = column{"READ/s", 8, false, []SortKey{SortRead, SortIO}, func(r *Row) string { return FormatBytes(r.Read) }}
	colWrite    = column{"WRITE/s", 8, false, []SortKey{SortWrite, SortIO}, func(r *Row) string { return FormatBytes(r.Write) }}
	colRx       = column{"RX/s", 8, false, []SortKey{SortNet}, func(r *Row) string { return FormatBytes(r.Rx) }}
	colTx       = column{"TX/s", 8, false, []SortKey{SortNet}, func(r *Row) string { return FormatBytes(r.Tx) }}
)

// columns returns the columns that fit in width: USER and THR go first
// when it is narrow, then RSS, then MEM%.
func columns(width int) []column {
	tiers := [][]column{
		{colPID, colUser, colThreads, colComm, colCPU, colMem, colRSS, colSyscalls, colRead, colWrite, colRx, colTx},
		{colPID, colComm, colCPU, colMem, colRSS, colSyscalls, colRead, colWrite, colRx, colTx},
		{colPID, colComm, colCPU, colMem, colSyscalls, colRead, colWrite, colRx, colTx},
	}
	for _, cols := range tiers {
		if tableWidth(cols) <= width || width <= 0 {
			return cols
		}
	}
	return []column{colPID, colComm, colCPU, colSyscalls, colRead, colWrite, colRx, colTx}
}

// tableWidth is the width of a line of cols: each column plus one space
// between two, and the selection marker's column before PID.
func tableWidth(cols []column) int {
	w := 0
	for _, c := range cols {
		w += c.width + 1
	}
	return w
}

// headerLine renders the column titles, marking the sort column with ▼
// (busiest or first first) or ▲.
func headerLine(cols []column, key SortKey, reverse bool) string {
	var b strings.Builder
	b.WriteByte(' ')
	for i, c := range cols {
		if i > 0 {
			b.WriteByte(' ')
		}
		t := c.title
		for _, k := range c.keys {
			if k == key {
				if reverse {
					t += "▲"
				} else {
					t += "▼"
				}
			}
		}
		if c.left {
			b.WriteString(fit(t, c.width))
		} else {
			b.WriteString(right(t, c.width))
		}
	}
	return b.String()
}

// rowLine renders one process.
func rowLine(cols []column, r *Row) string {
	var b strings.Builder
	b.WriteByte(' ')
	for i, c := range cols {
		if i > 0 {
			b.WriteByte(' ')
		}
		if c.left {
			b.WriteString(fit(c.cell(r), c.width))
		} else {
			b.WriteString(right(c.cell(r), c.width))
		}
	}
	return b.String()
}
