package main

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kscope/kscope/internal/testutil"
)

// topWorkload is a child of the top tests, run until its stdin closes:
// "spin" keeps two threads busy, "getppid-storm" calls getppid in a loop,
// "tcp-send" sends KSCOPE_N bytes to KSCOPE_ADDR over TCP, reads the
// answer to its end and says "done N" with the bytes received.
func topWorkload(mode string) {
	go func() {
		io.ReadAll(os.Stdin)
		os.Exit(0)
	}()
	switch mode {
	case "tcp-send":
		n, _ := strconv.Atoi(os.Getenv("KSCOPE_N"))
		var d net.Dialer
		d.SetMultipathTCP(false)
		c, err := d.Dial("tcp4", os.Getenv("KSCOPE_ADDR"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		c.Write(make([]byte, n))
		c.(*net.TCPConn).CloseWrite()
		got, _ := io.Copy(io.Discard, c)
		c.Close()
		fmt.Printf("done %d\n", got)
		select {}
	case "spin":
		go func() {
			for x := 0; ; x++ {
			}
		}()
		for x := 0; ; x++ {
		}
	case "getppid-storm":
		for {
			syscall.RawSyscall(syscall.SYS_GETPPID, 0, 0, 0)
		}
	}
}

// namedWorkload starts a workload child under a unique command name (a
// symlink to the test binary: the kernel names a process after the file
// it executes), and stops it when the test ends.
func namedWorkload(t *testing.T, mode, prefix string) (*exec.Cmd, string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("%s%d", prefix, os.Getpid()%100000)
	link := filepath.Join(t.TempDir(), name)
	if err := os.Symlink(self, link); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(link)
	cmd.Env = append(os.Environ(), "KSCOPE_WORKLOAD="+mode)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			stdin.Close()
			cmd.Wait()
		})
	}
	t.Cleanup(stop)
	return cmd, name
}

// stopWorkload ends a workload child now.
func stopWorkload(cmd *exec.Cmd) {
	cmd.Process.Kill()
	cmd.Wait()
}

// tmuxSession is kscope top running in a pseudo-terminal: a tmux server
// of the test's own (-L), one 160x40 window.
type tmuxSession struct {
	t    *testing.T
	sock string
}

func startTmux(t *testing.T, env []string, args ...string) *tmuxSession {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		testutil.Skip(t, "tmux (Debian package tmux)", err)
	}
	s := &tmuxSession{t: t, sock: fmt.Sprintf("kscope-top-test-%d-%d", os.Getpid(), time.Now().UnixNano())}
	// The command line runs under sh; when kscope exits, its code is
	// printed and the pane stays for the test to read.
	var q []string
	for _, a := range append(append([]string{"env", "-u", "KSCOPE_SERVER"}, env...), append([]string{kscopeBinary(t), "top"}, args...)...) {
		q = append(q, "'"+strings.ReplaceAll(a, "'", `'\''`)+"'")
	}
	script := strings.Join(q, " ") + `; echo "EXIT=$?"; sleep 600`
	s.tmux("new-session", "-d", "-s", "top", "-x", "160", "-y", "40", script)
	t.Cleanup(func() { exec.Command("tmux", "-L", s.sock, "kill-server").Run() })
	return s
}

func (s *tmuxSession) tmux(args ...string) string {
	s.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-L", s.sock}, args...)...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (s *tmuxSession) screen() string { return s.tmux("capture-pane", "-p", "-t", "top") }

// keys types keys (tmux key names), pausing after each so that an Escape
// is not read together with the next key as an Alt combination.
func (s *tmuxSession) keys(keys ...string) {
	for _, k := range keys {
		s.tmux("send-keys", "-t", "top", k)
		time.Sleep(150 * time.Millisecond)
	}
}

// typeText types text literally.
func (s *tmuxSession) typeText(text string) {
	s.tmux("send-keys", "-t", "top", "-l", text)
	time.Sleep(150 * time.Millisecond)
}

// waitFor polls the screen until ok accepts it.
func (s *tmuxSession) waitFor(what string, timeout time.Duration, ok func(screen string) bool) string {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	var scr string
	for time.Now().Before(deadline) {
		if scr = s.screen(); ok(scr) {
			return scr
		}
		time.Sleep(200 * time.Millisecond)
	}
	s.t.Fatalf("timed out waiting for %s; screen:\n%s", what, scr)
	return ""
}

var columnTitles = regexp.MustCompile(`^\s+PID USER\s+THR COMM\s+CPU%`)

// tableRows returns the process rows of the table view.
func tableRows(screen string) []string {
	lines := strings.Split(screen, "\n")
	for i, l := range lines {
		if columnTitles.MatchString(l) {
			var rows []string
			for _, r := range lines[i+1:] {
				if strings.TrimSpace(r) == "" || strings.Contains(r, "│") {
					break
				}
				rows = append(rows, r)
			}
			return rows
		}
	}
	return nil
}

// topRow reports whether the first row of the table is the process named
// comm.
// Columns counted from the right of a row (COMM may hold spaces).
const (
	colCPU      = 8
	colSyscalls = 5
)

// ranked is true when comm's row is shown with a non-zero value in the
// column fromRight and the rows are in that column's descending order. On
// a busy host other processes may outrank the workload: the order and the
// workload's presence are what the view owes.
func ranked(comm string, fromRight int) func(string) bool {
	return func(screen string) bool {
		found := false
		prev := math.Inf(1)
		for _, r := range tableRows(screen) {
			f := strings.Fields(r)
			if len(f) < fromRight+2 {
				return false
			}
			v := parseCell(f[len(f)-fromRight])
			if v > prev {
				return false
			}
			prev = v
			if strings.Contains(r, " "+comm+" ") {
				found = v > 0
			}
		}
		return found
	}
}

// parseCell reads a cell as the table prints it: 96.2, 1.7k, 2.7M, "-".
func parseCell(s string) float64 {
	mult := 1.0
	switch {
	case strings.HasSuffix(s, "k"), strings.HasSuffix(s, "K"):
		mult, s = 1e3, s[:len(s)-1]
	case strings.HasSuffix(s, "M"):
		mult, s = 1e6, s[:len(s)-1]
	case strings.HasSuffix(s, "G"):
		mult, s = 1e9, s[:len(s)-1]
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0
	}
	return v * mult
}

func contains(subs ...string) func(string) bool {
	return func(screen string) bool {
		for _, s := range subs {
			if !strings.Contains(screen, s) {
				return false
			}
		}
		return true
	}
}

// quit presses q and checks kscope exits 0 and leaves the alternate screen.
func (s *tmuxSession) quit() {
	s.t.Helper()
	s.keys("q")
	scr := s.waitFor("kscope to exit", 10*time.Second, contains("EXIT="))
	if !strings.Contains(scr, "EXIT=0") {
		s.t.Errorf("kscope top exited with an error:\n%s", scr)
	}
	if strings.Contains(scr, "kscope top ·") || strings.Contains(scr, "PID USER") {
		s.t.Errorf("the view is still on the screen after exit:\n%s", scr)
	}
	if alt := strings.TrimSpace(s.tmux("display-message", "-p", "-t", "top", "#{alternate_on}")); alt != "0" {
		s.t.Errorf("alternate screen still on after exit: %q", alt)
	}
}

// exerciseTop runs the keys of the live view against a terminal showing it:
// the CPU-bound child on top by CPU, the syscall storm on top by syscalls,
// the filter, the detail view and back, and quitting.
func exerciseTop(t *testing.T, s *tmuxSession, agent bool, diagnose func()) {
	wait := 20 * time.Second
	if agent {
		wait = 40 * time.Second // the agent's collections and irate's two samples
	}
	// Sorted by CPU (the default), the spinning child comes first.
	spin, spinName := namedWorkload(t, "spin", "kspin")
	scr := s.waitFor(spinName+" shown, by CPU", wait, ranked(spinName, colCPU))
	if !strings.Contains(scr, "kscope top · ") || !strings.Contains(scr, "CPU%▼") {
		t.Errorf("header or sort mark missing:\n%s", scr)
	}
	stopWorkload(spin)

	// s: sorted by syscalls, the storm comes first.
	storm, stormName := namedWorkload(t, "getppid-storm", "kstorm")
	// Cleanups run last first: this one while the storm still runs.
	t.Cleanup(func() {
		if t.Failed() && diagnose != nil {
			diagnose()
		}
	})
	s.keys("s")
	s.waitFor(stormName+" shown, by syscalls", wait, ranked(stormName, colSyscalls))
	if scr := s.screen(); !strings.Contains(scr, "SYSC/s▼") || !strings.Contains(scr, "sort syscalls▼") {
		t.Errorf("syscalls sort not shown:\n%s", scr)
	}

	// r reverses, c goes back to CPU, s again.
	s.keys("r")
	s.waitFor("reversed order", 5*time.Second, contains("SYSC/s▲"))
	s.keys("s")

	// /: filter by the storm's name.
	s.keys("/")
	s.typeText(stormName)
	s.keys("Enter")
	scr = s.waitFor("the filter to leave the storm alone", wait, func(scr string) bool {
		rows := tableRows(scr)
		return len(rows) == 1 && strings.Contains(rows[0], stormName) && strings.Contains(scr, "filter: "+stormName)
	})
	pid := strconv.Itoa(storm.Process.Pid)
	if rows := tableRows(scr); !strings.HasPrefix(strings.TrimSpace(rows[0]), pid+" ") {
		t.Errorf("filtered row %q is not pid %s", rows[0], pid)
	}

	// enter: the detail view of the storm.
	s.keys("Enter")
	exe, _ := os.Executable()
	s.waitFor("the detail view", wait, contains("PID "+pid, "comm "+stormName, "ppid "+strconv.Itoa(os.Getpid()),
		"exe  "+exe, "cmd  ", "Top syscalls", "getppid", "SYSC/s", "esc back"))
	if agent {
		s.waitFor("the exec event", wait, contains("Recent events", "exec", "filename="))
	}

	// esc: back to the table, still filtered; esc again clears the filter.
	s.keys("Escape")
	s.waitFor("the table again", 5*time.Second, func(scr string) bool {
		return len(tableRows(scr)) == 1 && strings.Contains(scr, "filter: "+stormName)
	})
	s.keys("Escape")
	s.waitFor("the filter cleared", 5*time.Second, func(scr string) bool { return len(tableRows(scr)) > 1 })

	// p: paused, and back.
	s.keys("p")
	s.waitFor("pause", 5*time.Second, contains("PAUSED"))
	s.keys("p")
	s.waitFor("unpause", 5*time.Second, func(scr string) bool { return !strings.Contains(scr, "PAUSED") })

	s.quit()
}

func TestTopStandaloneTUI(t *testing.T) {
	testutil.RequireBPF(t)
	s := startTmux(t, nil, "--interval", "1s")
	s.waitFor("the standalone view", 20*time.Second, contains("kscope top · standalone (BPF) · every 1.0s", "PID USER"))
	exerciseTop(t, s, false, nil)
}

func TestTopAgentTUI(t *testing.T) {
	a := startAgent(t, t.TempDir())
	s := startTmux(t, []string{"KSCOPE_SERVER=" + a.url}, "--interval", "1s")
	s.waitFor("the agent view", 20*time.Second, contains("kscope top · agent "+a.url, "PID USER"))
	exerciseTop(t, s, true, func() {
		_, out, errOut := topCLI(t, nil, "--once", "--server", a.url, "--sort", "syscalls", "--limit", "5")
		t.Logf("kscope top --once now:\n%s%s", out, errOut)
		t.Logf("agent's log:\n%s", lastLines(a.stderr.String(), 30))
	})
	a.stop(t)
}

// topCLI runs the kscope binary with stdout a pipe.
func topCLI(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(kscopeBinary(t), append([]string{"top"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	cmd.Run()
	return cmd.ProcessState.ExitCode(), o.String(), e.String()
}

// TestTopOnce: --once prints the table sorted by syscalls, --limit rows of
// it. Other processes on the host may make more syscalls than the test's
// storm, so the storm is looked for in the whole table, which must be in
// order, and not asserted to be first.
func TestTopOnce(t *testing.T) {
	testutil.RequireBPF(t)
	storm, name := namedWorkload(t, "getppid-storm", "kstonce")
	once := func(limit int) []string {
		t.Helper()
		code, out, errOut := topCLI(t, []string{"KSCOPE_SERVER="}, "--once", "--interval", "500ms", "--sort", "syscalls", "--limit", strconv.Itoa(limit))
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
		// The rates are over the time between the two reads: at least the
		// interval asked for, longer on a loaded host.
		m := regexp.MustCompile(`^kscope top - standalone \(BPF\) - [-0-9]+ [:0-9]+ - rates over (\S+)$`).FindStringSubmatch(lines[0])
		if m == nil {
			t.Fatalf("title line: %q", lines[0])
		}
		if d, err := time.ParseDuration(m[1]); err != nil || d < 500*time.Millisecond || d > time.Minute {
			t.Errorf("title line %q: want the rates over at least the 500ms interval", lines[0])
		}
		var table []string
		for i, l := range lines {
			if columnTitles.MatchString(l) {
				table = lines[i+1:]
				if !strings.Contains(l, "SYSC/s▼") {
					t.Errorf("column titles: %q", l)
				}
			}
		}
		return table
	}
	if table := once(3); len(table) != 3 {
		t.Fatalf("want 3 rows (--limit 3):\n%s", strings.Join(table, "\n"))
	}
	table := once(0)
	prev, found := math.Inf(1), false
	for _, row := range table {
		// Read from the right: USER is blank for a process that ended,
		// and a command may hold spaces. SYSC/s is followed by READ/s,
		// WRITE/s, RX/s and TX/s.
		f := strings.Fields(row)
		if len(f) < 8 {
			t.Fatalf("row %q", row)
		}
		v := parseCell(f[len(f)-5])
		if v > prev {
			t.Errorf("rows out of order: %q after a row with %.0f syscalls/s:\n%s", row, prev, strings.Join(table, "\n"))
		}
		prev = v
		if f[0] == strconv.Itoa(storm.Process.Pid) {
			found = true
			if !strings.Contains(row, " "+name+" ") || v < 1000 {
				t.Errorf("the storm's row %q: want comm %s and a getppid storm's rate", row, name)
			}
		}
	}
	if !found {
		t.Errorf("no row of the storm, pid %d:\n%s", storm.Process.Pid, strings.Join(table, "\n"))
	}
}

func TestTopOnceAgent(t *testing.T) {
	a := startAgent(t, t.TempDir())
	storm, name := namedWorkload(t, "getppid-storm", "kstagent")
	eventually(t, "the storm first by syscalls through the agent", func() error {
		code, out, errOut := topCLI(t, nil, "--once", "--server", a.url, "--sort", "syscalls", "--limit", "1")
		if code != 0 {
			return fmt.Errorf("exit %d: %s", code, errOut)
		}
		if !strings.Contains(out, "kscope top - agent "+a.url) || !regexp.MustCompile(`(?m)^\s+`+strconv.Itoa(storm.Process.Pid)+` root\s+\d+ `+name+` `).MatchString(out) {
			return fmt.Errorf("output:\n%s", out)
		}
		return nil
	})
	a.stop(t)
}

// The agent's procnet collector counts a process's TCP bytes exactly, and
// kscope top --server shows the process.
func TestTopAgentNet(t *testing.T) {
	a := startAgent(t, t.TempDir())
	const sent, recv = 654321, 12345
	var lc net.ListenConfig
	lc.SetMultipathTCP(false)
	ln, err := lc.Listen(t.Context(), "tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- -1
			return
		}
		n, _ := io.Copy(io.Discard, c)
		c.Write(make([]byte, recv))
		c.Close()
		got <- n
	}()
	child := workload(t, "tcp-send", "KSCOPE_N="+strconv.Itoa(sent), "KSCOPE_ADDR="+ln.Addr().String())
	stdin, _ := child.StdinPipe()
	out, _ := child.StdoutPipe()
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		child.Wait()
	}()
	line, _ := bufioLine(out)
	if n := <-got; n != sent || line != fmt.Sprintf("done %d", recv) {
		t.Fatalf("server received %d, child said %q", n, line)
	}
	pid := strconv.Itoa(child.Process.Pid)
	exp := []expectation{
		{query: `kscope_process_net_bytes_total{pid="` + pid + `",direction="sent"}`, want: sent},
		{query: `kscope_process_net_bytes_total{pid="` + pid + `",direction="received"}`, want: recv},
	}
	eventually(t, "exact network bytes of the child through PromQL", func() error { return checkQueries(t, a.url, exp, time.Time{}) })
	// A row once irate has two samples of the child's series.
	eventually(t, "the child in kscope top --once --server", func() error {
		code, stdout, errOut := topCLI(t, nil, "--once", "--server", a.url, "--sort", "pid")
		if code != 0 || !regexp.MustCompile(`(?m)^\s+`+pid+` `).MatchString(stdout) {
			return fmt.Errorf("exit %d, %s\n%s", code, errOut, stdout)
		}
		return nil
	})
	a.stop(t)
}

func bufioLine(r io.Reader) (string, error) {
	var b []byte
	var c [1]byte
	for {
		if _, err := r.Read(c[:]); err != nil {
			return string(b), err
		}
		if c[0] == '\n' {
			return string(b), nil
		}
		b = append(b, c[0])
	}
}

func TestTopUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"--sort", "rss"}, exitUsage, `unknown sort key "rss"`},
		{[]string{"--interval", "10ms"}, exitUsage, "want at least 100ms"},
		{[]string{"--limit", "5"}, exitUsage, "--limit needs --once"},
		{[]string{"--once", "--limit", "-1"}, exitUsage, "must not be negative"},
		{[]string{"extra"}, exitUsage, "takes no arguments"},
		// stdout is a pipe here, not a terminal.
		{nil, exitUsage, "stdout is not a terminal: use --once"},
		{[]string{"--once", "--server", "127.0.0.1:9"}, exitUsage, "want a URL like http://127.0.0.1:9464"},
		{[]string{"--once", "--server", "http://127.0.0.1:9"}, exitFailure, "cannot reach the kscope agent at http://127.0.0.1:9"},
	} {
		code, _, errOut := topCLI(t, []string{"KSCOPE_SERVER="}, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.msg) {
			t.Errorf("top %v: exit %d, %q; want %d, %q", tc.args, code, errOut, tc.code, tc.msg)
		}
	}
}

func TestTopNeedsPrivileges(t *testing.T) {
	testutil.RequireBPF(t)
	cmd := exec.Command("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--inh-caps=-all", kscopeBinary(t), "top", "--once")
	cmd.Env = append(os.Environ(), "KSCOPE_SERVER=")
	out, _ := cmd.CombinedOutput()
	if cmd.ProcessState.ExitCode() != exitFailure || !strings.Contains(string(out), "needs root or CAP_BPF+CAP_PERFMON") {
		t.Errorf("as nobody: exit %d: %s", cmd.ProcessState.ExitCode(), out)
	}
}
