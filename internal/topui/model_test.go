package topui

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
)

// staticSource hands out one frame and records the detail calls.
type staticSource struct {
	frame    *Frame
	details  []uint32
	unfocus  int
	describe string
	gone     bool // Detail finds the process gone
}

func (s *staticSource) Describe() string                      { return s.describe }
func (s *staticSource) Frame(context.Context) (*Frame, error) { return s.frame, nil }
func (s *staticSource) Close() error                          { return nil }
func (s *staticSource) Unfocus() error                        { s.unfocus++; return nil }
func (s *staticSource) Detail(_ context.Context, pid uint32) (*Detail, error) {
	s.details = append(s.details, pid)
	if s.gone {
		return &Detail{PID: pid, Gone: true, OpenFiles: -1}, nil
	}
	return &Detail{PID: pid, Comm: "detail-comm", Cmdline: "prog --flag", Exe: "/bin/prog", User: "root", PPID: 1, Threads: 3, OpenFiles: 5,
		Syscalls: []SyscallRate{{"getppid", 1000, 5000}}, SyscallsSince: "since 00:00:00"}, nil
}

func keyMsg(s string) tea.KeyMsg {
	switch s {
	case "enter":
		return tea.KeyMsg{Type: tea.KeyEnter}
	case "esc":
		return tea.KeyMsg{Type: tea.KeyEsc}
	case "up":
		return tea.KeyMsg{Type: tea.KeyUp}
	case "down":
		return tea.KeyMsg{Type: tea.KeyDown}
	case "pgdown":
		return tea.KeyMsg{Type: tea.KeyPgDown}
	case "pgup":
		return tea.KeyMsg{Type: tea.KeyPgUp}
	case "tab":
		return tea.KeyMsg{Type: tea.KeyTab}
	case "backspace":
		return tea.KeyMsg{Type: tea.KeyBackspace}
	case "ctrl+c":
		return tea.KeyMsg{Type: tea.KeyCtrlC}
	}
	return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)}
}

func newTestModel(t *testing.T) (*Model, *staticSource) {
	t.Helper()
	rows := append([]Row(nil), testRows...)
	src := &staticSource{describe: "test source", frame: &Frame{At: time.Now(), Interval: time.Second, Rows: rows, Host: Host{CPUs: 2, Running: -1, RunqP99: -1}}}
	m := NewModel(context.Background(), src, Options{Interval: time.Second, Sort: SortCPU})
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 12})
	// Run the fetch command as Bubble Tea would.
	msg := m.Init()()
	m.Update(msg)
	return m, src
}

// press sends keys and runs the commands they return that are not ticks.
func press(m *Model, keys ...string) tea.Cmd {
	var last tea.Cmd
	for _, k := range keys {
		_, last = m.Update(keyMsg(k))
	}
	return last
}

func TestModelSortKeys(t *testing.T) {
	m, _ := newTestModel(t)
	if got := pids(m.rows); !equal(got, []uint32{200, 4000, 10, 51, 3}) {
		t.Fatalf("cpu order: %v", got)
	}
	for _, tc := range []struct {
		keys []string
		sort SortKey
		rev  bool
		want []uint32
	}{
		{[]string{"s"}, SortSyscalls, false, []uint32{200, 51, 4000, 10, 3}},
		{[]string{"i"}, SortIO, false, []uint32{51, 4000, 10, 200, 3}},
		{[]string{"n"}, SortNet, false, []uint32{200, 4000, 3, 10, 51}},
		{[]string{"n", "r"}, SortNet, true, []uint32{51, 10, 3, 4000, 200}},
		{[]string{"c", ">"}, SortSyscalls, false, []uint32{200, 51, 4000, 10, 3}},
		{[]string{"c", "<", "<"}, SortPID, false, []uint32{3, 10, 51, 200, 4000}},
		{[]string{"c", "tab", "tab"}, SortRead, false, []uint32{4000, 10, 200, 3, 51}},
		{[]string{"n", "r", "c"}, SortCPU, false, []uint32{200, 4000, 10, 51, 3}}, // a new key resets the direction
	} {
		press(m, tc.keys...)
		if m.sort != tc.sort || m.reverse != tc.rev || !equal(pids(m.rows), tc.want) {
			t.Errorf("keys %v: sort %v reverse %v rows %v; want %v %v %v", tc.keys, m.sort, m.reverse, pids(m.rows), tc.sort, tc.rev, tc.want)
		}
	}
}

func TestModelFilter(t *testing.T) {
	m, _ := newTestModel(t)
	press(m, "/", "n", "g")
	if !m.filtering || m.filter != "ng" || !equal(pids(m.rows), []uint32{200}) {
		t.Fatalf("typing: filtering %v filter %q rows %v", m.filtering, m.filter, pids(m.rows))
	}
	if v := m.View(); !strings.Contains(v, "filter: ng█") || !strings.Contains(v, "1/5 processes") {
		t.Errorf("view while typing:\n%s", v)
	}
	// Keys are text while typing: "q" does not quit, "c" does not sort.
	if cmd := press(m, "backspace", "backspace", "q"); cmd != nil {
		t.Errorf("q while typing returned a command")
	}
	if m.filter != "q" || len(m.rows) != 0 {
		t.Errorf("after backspaces and q: %q, rows %v", m.filter, pids(m.rows))
	}
	press(m, "backspace", "4", "0", "enter")
	if m.filtering || m.filter != "40" || !equal(pids(m.rows), []uint32{4000}) {
		t.Errorf("kept filter: filtering %v filter %q rows %v", m.filtering, m.filter, pids(m.rows))
	}
	press(m, "esc")
	if m.filter != "" || len(m.rows) != 5 {
		t.Errorf("esc: filter %q rows %v", m.filter, pids(m.rows))
	}
	press(m, "/", "x", "esc")
	if m.filtering || m.filter != "" || len(m.rows) != 5 {
		t.Errorf("esc while typing: filtering %v filter %q", m.filtering, m.filter)
	}
}

func TestModelSelectionStaysOnTop(t *testing.T) {
	m, src := newTestModel(t)
	if m.sel != 0 || m.selPID != 200 {
		t.Fatalf("first frame: sel %d pid %d", m.sel, m.selPID)
	}
	// Untouched, the selection stays on the top row as the order changes.
	f := *src.frame
	f.Rows = append([]Row(nil), f.Rows...)
	f.Rows[0].CPU = 3
	m.Update(frameMsg{f: &f})
	if m.sel != 0 || m.selPID != 10 {
		t.Errorf("after re-sort: sel %d pid %d, want 0, 10", m.sel, m.selPID)
	}
	// A moved selection follows its process; a new sort goes back to the top.
	press(m, "down", "down")
	f.Rows[0].CPU = 0
	m.Update(frameMsg{f: &f})
	if m.selPID != 4000 || m.rows[m.sel].PID != 4000 {
		t.Errorf("moved selection: sel %d pid %d", m.sel, m.selPID)
	}
	press(m, "s")
	if m.sel != 0 || m.offset != 0 || m.selPID != 200 {
		t.Errorf("after s: sel %d offset %d pid %d, want the top", m.sel, m.offset, m.selPID)
	}
	press(m, "down", "r")
	if m.sel != 0 || m.selPID != 3 {
		t.Errorf("after r: sel %d pid %d, want the top (3)", m.sel, m.selPID)
	}
}

func TestModelSelectionFollowsProcess(t *testing.T) {
	m, src := newTestModel(t)
	press(m, "down", "down")
	if m.selPID != 10 {
		t.Fatalf("selected %d, want 10 (third by cpu)", m.selPID)
	}
	// Process 10 gets busy: it moves to the top, and the selection with it.
	f := *src.frame
	f.Rows = append([]Row(nil), f.Rows...)
	f.Rows[0].CPU = 3
	m.Update(frameMsg{f: &f})
	if m.sel != 0 || m.selPID != 10 {
		t.Errorf("after re-sort: sel %d pid %d, want 0, 10", m.sel, m.selPID)
	}
	press(m, "up")
	if m.sel != 0 {
		t.Errorf("up from the top: %d", m.sel)
	}
	press(m, "pgdown")
	if m.sel != 4 {
		t.Errorf("pgdown: %d, want the last row", m.sel)
	}
	press(m, "pgup", "G")
	if m.sel != 4 {
		t.Errorf("G: %d", m.sel)
	}
	press(m, "g")
	if m.sel != 0 {
		t.Errorf("g: %d", m.sel)
	}
}

func TestModelScrolls(t *testing.T) {
	m, src := newTestModel(t)
	var rows []Row
	for i := range 50 {
		rows = append(rows, Row{PID: uint32(i + 1), Comm: "p", CPU: float64(50 - i)})
	}
	m.Update(frameMsg{f: &Frame{At: time.Now(), Rows: rows, Host: src.frame.Host}})
	h := m.tableHeight()
	for range h + 3 {
		press(m, "down")
	}
	if m.sel != h+3 || m.offset != 4 {
		t.Errorf("sel %d offset %d after %d downs with %d rows shown", m.sel, m.offset, h+3, h)
	}
	v := m.View()
	if strings.Contains(v, "\n       1 ") || !strings.Contains(v, "      "+strconv.Itoa(h+4)+" ") {
		t.Errorf("view does not show the selected row:\n%s", v)
	}
	if n := strings.Count(v, "\n") + 1; n != 12 {
		t.Errorf("view is %d lines, want the terminal's 12", n)
	}
}

func TestModelDetail(t *testing.T) {
	m, src := newTestModel(t)
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 30})
	cmd := press(m, "enter")
	if !m.detail || m.detailPID != 200 || cmd == nil {
		t.Fatalf("enter: detail %v pid %d", m.detail, m.detailPID)
	}
	m.Update(cmd())
	if len(src.details) != 1 || src.details[0] != 200 || m.det == nil {
		t.Fatalf("detail fetched for %v", src.details)
	}
	v := m.View()
	for _, want := range []string{"PID 200", "comm detail-comm", "user root", "ppid 1", "threads 3", "open files 5", "exe  /bin/prog", "cmd  prog --flag", "getppid", "1.0k/s", "CPU%", "50.0"} {
		if !strings.Contains(v, want) {
			t.Errorf("detail view lacks %q:\n%s", want, v)
		}
	}
	// A refresh in the detail view fetches the detail too.
	m.Update(m.fetch()())
	if len(src.details) != 2 {
		t.Errorf("refresh fetched details %v", src.details)
	}
	// Sort keys do nothing here; esc goes back and stops the focus.
	press(m, "s")
	if m.sort != SortCPU {
		t.Errorf("sort changed in the detail view")
	}
	cmd = press(m, "esc")
	if m.detail || cmd == nil {
		t.Fatalf("esc: still in detail")
	}
	cmd()
	if src.unfocus != 1 {
		t.Errorf("unfocus called %d times", src.unfocus)
	}
}

// A process that ended keeps the comm the table showed.
func TestModelDetailOfEndedProcess(t *testing.T) {
	m, src := newTestModel(t)
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 30})
	src.gone = true
	m.Update(press(m, "down", "enter")())
	m.Update(frameMsg{f: &Frame{At: time.Now(), Host: src.frame.Host}}) // it left the table
	v := m.View()
	for _, want := range []string{"PID 4000", "comm postgres", "not in /proc", "not active in the last interval", "none counted yet"} {
		if !strings.Contains(v, want) {
			t.Errorf("view lacks %q:\n%s", want, v)
		}
	}
}

func TestModelPauseAndQuit(t *testing.T) {
	m, src := newTestModel(t)
	press(m, "p")
	if !m.paused || !strings.Contains(m.View(), "PAUSED") {
		t.Errorf("p: not paused")
	}
	f := *src.frame
	f.Rows = []Row{{PID: 99, Comm: "new"}}
	m.Update(frameMsg{f: &f})
	if len(m.rows) != 5 {
		t.Errorf("paused view changed: %v", pids(m.rows))
	}
	press(m, "p")
	m.Update(frameMsg{f: &f})
	if len(m.rows) != 1 {
		t.Errorf("unpaused view did not update: %v", pids(m.rows))
	}
	for _, k := range []string{"q", "ctrl+c"} {
		cmd := press(m, k)
		if cmd == nil {
			t.Fatalf("%s: no command", k)
		}
		if _, ok := cmd().(tea.QuitMsg); !ok {
			t.Errorf("%s: not a quit", k)
		}
	}
}

func TestModelWaitsForFirstFrame(t *testing.T) {
	src := &staticSource{describe: "counting"}
	m := NewModel(context.Background(), src, Options{Interval: 2 * time.Second})
	m.Update(m.Init()())
	if v := m.View(); !strings.Contains(v, "measuring for 2.0s") || !strings.Contains(v, "kscope top · counting") {
		t.Errorf("before the first frame:\n%s", v)
	}
	press(m, "enter") // nothing to select
	if m.detail {
		t.Errorf("detail view without rows")
	}
}
