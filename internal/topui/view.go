package topui

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/lipgloss"
)

// headerLines is the number of lines above the table's column titles.
const headerLines = 4

var (
	styleTitle    = lipgloss.NewStyle().Bold(true)
	styleColumns  = lipgloss.NewStyle().Reverse(true)
	styleSelected = lipgloss.NewStyle().Reverse(true).Bold(true)
	styleExited   = lipgloss.NewStyle().Faint(true)
	styleError    = lipgloss.NewStyle().Foreground(lipgloss.Color("9"))
	styleDim      = lipgloss.NewStyle().Faint(true)
	styleLabel    = lipgloss.NewStyle().Bold(true)
)

// View implements tea.Model.
func (m *Model) View() string {
	var lines []string
	if m.detail {
		lines = m.detailView()
	} else {
		lines = m.tableView()
	}
	for i, l := range lines {
		lines[i] = cut(l, m.width)
	}
	return strings.Join(lines, "\n")
}

// cut shortens a styled line to w columns.
func cut(s string, w int) string {
	if lipgloss.Width(s) <= w {
		return s
	}
	return lipgloss.NewStyle().MaxWidth(w).Render(s)
}

func (m *Model) title() string {
	t := "kscope top · " + m.src.Describe() + " · every " + FormatDuration(m.opts.Interval)
	if m.frame != nil {
		t += " · " + m.frame.At.Format("15:04:05")
	}
	if m.paused {
		t += " · PAUSED"
	}
	return styleTitle.Render(t)
}

// status is the fourth header line: the last error, or what the source
// lacks and the fallbacks it took.
func (m *Model) status() string {
	if m.err != nil {
		return styleError.Render("error: " + m.err.Error())
	}
	if m.frame == nil {
		return ""
	}
	var parts []string
	for _, s := range m.frame.Host.Missing {
		parts = append(parts, "missing: "+s)
	}
	parts = append(parts, m.frame.Host.Notes...)
	return styleDim.Render(strings.Join(parts, " · "))
}

func (m *Model) tableView() []string {
	lines := []string{m.title()}
	if m.frame == nil {
		lines = append(lines, "", "measuring for "+FormatDuration(m.opts.Interval)+"…", m.status())
	} else {
		lines = append(lines, hostLines(&m.frame.Host)...)
		lines = append(lines, m.status())
	}
	cols := columns(m.width)
	lines = append(lines, styleColumns.Render(fit(headerLine(cols, m.sort, m.reverse), max(m.width, tableWidth(cols)))))
	h := m.tableHeight()
	for i := m.offset; i < len(m.rows) && i < m.offset+h; i++ {
		r := &m.rows[i]
		l := rowLine(cols, r)
		switch {
		case i == m.sel:
			l = styleSelected.Render(fit(l, max(m.width, tableWidth(cols))))
		case r.Exited:
			l = styleExited.Render(l)
		}
		lines = append(lines, l)
	}
	for len(lines) < headerLines+1+h {
		lines = append(lines, "")
	}
	return append(lines, m.footer())
}

func (m *Model) footer() string {
	dir := "▼"
	if m.reverse {
		dir = "▲"
	}
	parts := []string{"sort " + m.sort.String() + dir}
	if m.filtering {
		parts = append(parts, "filter: "+m.filter+"█")
	} else if m.filter != "" {
		parts = append(parts, "filter: "+m.filter)
	}
	if m.frame != nil {
		parts = append(parts, strconv.Itoa(len(m.rows))+"/"+strconv.Itoa(len(m.frame.Rows))+" processes")
	}
	status := strings.Join(parts, " · ") + " │ "
	bindings := tableHelp
	if m.filtering {
		bindings = filterHelp
	}
	return styleDim.Render(status) + m.helpView(bindings, m.width-lipgloss.Width(status))
}

// helpView lists bindings in at most width columns.
func (m *Model) helpView(bindings []key.Binding, width int) string {
	h := m.help
	h.Width = max(width, 10)
	return h.ShortHelpView(bindings)
}

// row returns the current frame's row of pid.
func (m *Model) row(pid uint32) (*Row, bool) {
	if m.frame == nil {
		return nil, false
	}
	for i := range m.frame.Rows {
		if m.frame.Rows[i].PID == pid {
			return &m.frame.Rows[i], true
		}
	}
	return nil, false
}

func (m *Model) detailView() []string {
	lines := []string{m.title()}
	d := m.det
	pid := strconv.FormatUint(uint64(m.detailPID), 10)
	if d == nil {
		lines = append(lines, "PID "+pid)
		if m.detErr != nil {
			lines = append(lines, styleError.Render("error: "+m.detErr.Error()))
		}
		return append(lines, "", m.helpView(detailHelp, m.width))
	}
	r, live := m.row(m.detailPID)
	comm := d.Comm
	if comm == "" {
		comm = m.detailComm
	}
	var id []string
	id = append(id, "PID "+pid, "comm "+comm)
	if d.User != "" {
		id = append(id, "user "+d.User)
	}
	if d.PPID > 0 {
		id = append(id, "ppid "+strconv.Itoa(d.PPID))
	}
	if d.Threads > 0 {
		id = append(id, "threads "+strconv.Itoa(d.Threads))
	}
	if d.State != "" {
		id = append(id, "state "+d.State)
	}
	if d.OpenFiles >= 0 {
		id = append(id, "open files "+strconv.Itoa(d.OpenFiles))
	}
	if !d.Started.IsZero() {
		id = append(id, "started "+d.Started.Format("2006-01-02 15:04:05"))
	}
	if d.Gone {
		id = append(id, "not in /proc (ended, or on another host)")
	}
	lines = append(lines, styleLabel.Render(strings.Join(id, " · ")))
	if d.Exe != "" {
		lines = append(lines, "exe  "+d.Exe)
	}
	if d.Cmdline != "" {
		lines = append(lines, "cmd  "+d.Cmdline)
	}
	if m.detErr != nil {
		lines = append(lines, styleError.Render("error: "+m.detErr.Error()))
	}
	for _, p := range d.Problems {
		lines = append(lines, styleDim.Render(p))
	}
	lines = append(lines, "")

	spark := max(m.width-40, 10)
	h := m.hist[m.detailPID]
	if h == nil {
		h = &history{}
	}
	var cur Row
	if live {
		cur = *r
	}
	state := ""
	if !live && m.frame != nil {
		state = styleDim.Render(" (not active in the last interval)")
	}
	lines = append(lines,
		fmt.Sprintf("%-8s %9s  %s", "CPU%", FormatPercent(cur.CPU), Sparkline(h.cpu, spark))+state,
		fmt.Sprintf("%-8s %9s  %s", "SYSC/s", FormatCount(cur.Syscalls), Sparkline(h.sys, spark)),
		fmt.Sprintf("%-8s %9s  %s  read %s write %s", "FILE B/s", FormatBytes(cur.IO()), Sparkline(h.io, spark), FormatBytes(cur.Read), FormatBytes(cur.Write)),
		fmt.Sprintf("%-8s %9s  %s  rx %s tx %s", "NET B/s", FormatBytes(cur.Net()), Sparkline(h.net, spark), FormatBytes(cur.Rx), FormatBytes(cur.Tx)),
		"",
	)

	room := m.height - len(lines) - 2
	if len(d.Events) > 0 {
		room -= min(len(d.Events), 8) + 2
	}
	title := "Top syscalls: calls/s over the last interval"
	if d.SyscallsSince != "" {
		title += ", total " + d.SyscallsSince
	}
	lines = append(lines, styleLabel.Render(title))
	if len(d.Syscalls) == 0 {
		lines = append(lines, styleDim.Render("  none counted yet"))
	}
	for i, s := range d.Syscalls {
		if i >= max(room, 3) {
			lines = append(lines, styleDim.Render(fmt.Sprintf("  … %d more", len(d.Syscalls)-i)))
			break
		}
		lines = append(lines, fmt.Sprintf("  %-22s %9s/s  %9s", s.Name, FormatCount(s.Rate), FormatCount(s.Total)))
	}
	if len(d.Events) > 0 {
		lines = append(lines, "", styleLabel.Render("Recent events"))
		ev := d.Events
		if len(ev) > 8 {
			ev = ev[len(ev)-8:]
		}
		for _, e := range ev {
			lines = append(lines, "  "+e)
		}
	}
	for len(lines) < m.height-1 {
		lines = append(lines, "")
	}
	return append(lines[:min(len(lines), m.height-1)], m.helpView(detailHelp, m.width))
}

func secondsDuration(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
