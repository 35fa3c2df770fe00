package topui

import (
	"context"
	"sync"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
)

// historyLen is how many frames of each process the sparklines keep.
const historyLen = 120

// Options configure the live view.
type Options struct {
	Interval time.Duration
	Sort     SortKey
	Reverse  bool
}

// Model is the Bubble Tea model of kscope top: a table of processes, or
// the detail view of one.
type Model struct {
	ctx  context.Context
	src  *lockedSource
	opts Options

	frame *Frame // shown
	rows  []Row  // frame's rows, filtered and sorted
	err   error  // the last fetch's

	sort      SortKey
	reverse   bool
	filter    string
	filtering bool // typing the filter

	sel    int    // selected row in rows
	selPID uint32 // the selected process
	follow bool   // the user moved the selection: it stays on selPID across refreshes
	offset int    // first row shown

	width, height int
	paused        bool

	detail     bool
	detailPID  uint32
	detailComm string // as the table showed it: the process may end
	det        *Detail
	detErr     error

	hist map[uint32]*history
	help help.Model
}

type history struct {
	cpu, sys, io, net []float64
}

func (h *history) add(r *Row) {
	push := func(s []float64, v float64) []float64 {
		if len(s) == historyLen {
			copy(s, s[1:])
			s = s[:historyLen-1]
		}
		return append(s, v)
	}
	h.cpu = push(h.cpu, r.CPU)
	h.sys = push(h.sys, r.Syscalls)
	h.io = push(h.io, r.IO())
	h.net = push(h.net, r.Net())
}

// lockedSource serializes the calls of the commands, which run in their
// own goroutines.
type lockedSource struct {
	mu sync.Mutex
	Source
}

func (s *lockedSource) frame(ctx context.Context) (*Frame, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Frame(ctx)
}

func (s *lockedSource) detail(ctx context.Context, pid uint32) (*Detail, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Detail(ctx, pid)
}

// unfocuser is a source that counts per syscall for the detail view
// until told to stop.
type unfocuser interface{ Unfocus() error }

func (s *lockedSource) unfocus() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok := s.Source.(unfocuser); ok {
		u.Unfocus()
	}
}

// NewModel returns the live view over src.
func NewModel(ctx context.Context, src Source, opts Options) *Model {
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	return &Model{
		ctx:     ctx,
		src:     &lockedSource{Source: src},
		opts:    opts,
		sort:    opts.Sort,
		reverse: opts.Reverse,
		width:   80,
		height:  24,
		hist:    map[uint32]*history{},
		help:    help.New(),
	}
}

// Messages.
type (
	frameMsg struct {
		f      *Frame
		err    error
		det    *Detail
		detErr error
		detPID uint32
	}
	detailMsg struct {
		pid uint32
		d   *Detail
		err error
	}
	tickMsg struct{}
)

// Init implements tea.Model: the first read now.
func (m *Model) Init() tea.Cmd { return m.fetch() }

// fetch reads a frame and, in the detail view, the process's details.
func (m *Model) fetch() tea.Cmd {
	ctx, src := m.ctx, m.src
	detail, pid := m.detail, m.detailPID
	return func() tea.Msg {
		f, err := src.frame(ctx)
		msg := frameMsg{f: f, err: err}
		if detail {
			msg.det, msg.detErr = src.detail(ctx, pid)
			msg.detPID = pid
		}
		return msg
	}
}

func (m *Model) fetchDetail(pid uint32) tea.Cmd {
	ctx, src := m.ctx, m.src
	return func() tea.Msg {
		d, err := src.detail(ctx, pid)
		return detailMsg{pid, d, err}
	}
}

func (m *Model) tick() tea.Cmd {
	return tea.Tick(m.opts.Interval, func(time.Time) tea.Msg { return tickMsg{} })
}

// Update implements tea.Model.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.clamp()
	case tickMsg:
		return m, m.fetch()
	case frameMsg:
		m.err = msg.err
		if msg.f != nil && !m.paused {
			m.setFrame(msg.f)
		}
		if m.detail && msg.detPID == m.detailPID && (msg.det != nil || msg.detErr != nil) && !m.paused {
			m.det, m.detErr = msg.det, msg.detErr
		}
		return m, m.tick()
	case detailMsg:
		if m.detail && msg.pid == m.detailPID {
			m.det, m.detErr = msg.d, msg.err
		}
	case tea.KeyMsg:
		return m.key(msg)
	}
	return m, nil
}

// setFrame shows f, keeps the sparkline history and follows the selected
// process.
func (m *Model) setFrame(f *Frame) {
	m.frame = f
	seen := make(map[uint32]bool, len(f.Rows))
	for i := range f.Rows {
		r := &f.Rows[i]
		seen[r.PID] = true
		h := m.hist[r.PID]
		if h == nil {
			h = &history{}
			m.hist[r.PID] = h
		}
		h.add(r)
	}
	for pid := range m.hist {
		if !seen[pid] && !(m.detail && pid == m.detailPID) {
			delete(m.hist, pid)
		}
	}
	m.refresh()
}

// refresh filters and sorts the frame's rows again. A selection the user
// moved stays on the same process while it is there; otherwise it stays
// in place (the top row, at first).
func (m *Model) refresh() {
	if m.frame == nil {
		m.rows = m.rows[:0]
		return
	}
	m.rows = Filter(m.rows, m.frame.Rows, m.filter)
	Sort(m.rows, m.sort, m.reverse)
	if m.follow && m.selPID != 0 {
		for i := range m.rows {
			if m.rows[i].PID == m.selPID {
				m.sel = i
				break
			}
		}
	}
	m.clamp()
}

// tableHeight is how many process rows fit.
func (m *Model) tableHeight() int {
	return max(m.height-headerLines-2, 1)
}

// clamp keeps the selection on a row and in view.
func (m *Model) clamp() {
	m.sel = min(max(m.sel, 0), max(len(m.rows)-1, 0))
	h := m.tableHeight()
	if m.sel < m.offset {
		m.offset = m.sel
	}
	if m.sel >= m.offset+h {
		m.offset = m.sel - h + 1
	}
	m.offset = max(min(m.offset, len(m.rows)-h), 0)
	if len(m.rows) > 0 {
		m.selPID = m.rows[m.sel].PID
	}
}

func (m *Model) move(to int) {
	m.sel, m.follow = to, true
	m.clamp()
}

// toTop shows the first rows again, after the order or the filter changed.
func (m *Model) toTop() {
	m.sel, m.offset, m.follow = 0, 0, false
	m.refresh()
}

func (m *Model) key(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	if k.Type == tea.KeyCtrlC {
		return m, tea.Quit
	}
	if m.filtering {
		switch {
		case key.Matches(k, keys.FilterClear):
			m.filtering, m.filter = false, ""
		case key.Matches(k, keys.FilterKeep):
			m.filtering = false
		case k.Type == tea.KeyBackspace:
			if r := []rune(m.filter); len(r) > 0 {
				m.filter = string(r[:len(r)-1])
			}
		case k.Type == tea.KeyRunes, k.Type == tea.KeySpace:
			m.filter += string(k.Runes)
		}
		m.toTop()
		return m, nil
	}
	switch {
	case key.Matches(k, keys.Quit):
		return m, tea.Quit
	case key.Matches(k, keys.Pause):
		m.paused = !m.paused
		return m, nil
	}
	if m.detail {
		if key.Matches(k, keys.Back) {
			m.detail, m.det, m.detErr = false, nil, nil
			src := m.src
			return m, func() tea.Msg { src.unfocus(); return nil }
		}
		return m, nil
	}
	switch {
	case key.Matches(k, keys.SortCPU):
		m.setSort(SortCPU)
	case key.Matches(k, keys.SortSyscalls):
		m.setSort(SortSyscalls)
	case key.Matches(k, keys.SortIO):
		m.setSort(SortIO)
	case key.Matches(k, keys.SortNet):
		m.setSort(SortNet)
	case key.Matches(k, keys.SortMem):
		m.setSort(SortMem)
	case key.Matches(k, keys.SortNext):
		m.setSort(m.sort.Next())
	case key.Matches(k, keys.SortPrev):
		m.setSort(m.sort.Prev())
	case key.Matches(k, keys.Reverse):
		m.reverse = !m.reverse
		m.toTop()
	case key.Matches(k, keys.Filter):
		m.filtering = true
	case key.Matches(k, keys.Clear):
		m.filter = ""
		m.toTop()
	case key.Matches(k, keys.Up):
		m.move(m.sel - 1)
	case key.Matches(k, keys.Down):
		m.move(m.sel + 1)
	case key.Matches(k, keys.PageUp):
		m.move(m.sel - m.tableHeight())
	case key.Matches(k, keys.PageDown):
		m.move(m.sel + m.tableHeight())
	case key.Matches(k, keys.Home):
		m.move(0)
	case key.Matches(k, keys.End):
		m.move(len(m.rows) - 1)
	case key.Matches(k, keys.Details):
		if len(m.rows) == 0 {
			return m, nil
		}
		m.detail, m.detailPID, m.detailComm, m.det, m.detErr = true, m.rows[m.sel].PID, m.rows[m.sel].Comm, nil, nil
		return m, m.fetchDetail(m.detailPID)
	}
	return m, nil
}

// setSort sorts by k, in its natural order, and shows the top.
func (m *Model) setSort(k SortKey) {
	m.sort, m.reverse = k, false
	m.toTop()
}
