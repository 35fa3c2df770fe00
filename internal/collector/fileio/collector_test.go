package fileio_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/collector/fileio"
	"github.com/kscope/kscope/internal/metrics"
	"github.com/kscope/kscope/internal/testutil"
)

// TestMain turns the test binary into a workload child on request.
func TestMain(m *testing.M) {
	if os.Getenv("KSCOPE_TEST_FILEIO") == "1" {
		os.Exit(child())
	}
	os.Exit(m.Run())
}

// workload is what a child does between "ready" and "done": write K bytes
// to a new file in M pwrite calls, read them back in M pread calls, fail to
// open a missing file E times (ENOENT) and a path under a regular file N
// times (ENOTDIR). Opens: 1 successful, E+N failed.
type workload struct {
	dir        string
	k, m, e, n int
}

// env is the workload's environment. The Go runtime rereads the cgroup
// CPU limit from time to time (GODEBUG updatemaxprocs): off, so the only
// file reads are the workload's own.
func (w workload) env() []string {
	return append(os.Environ(), "GODEBUG=updatemaxprocs=0", "KSCOPE_TEST_FILEIO=1", "KSCOPE_TEST_DIR="+w.dir,
		fmt.Sprintf("KSCOPE_TEST_K=%d", w.k), fmt.Sprintf("KSCOPE_TEST_M=%d", w.m),
		fmt.Sprintf("KSCOPE_TEST_E=%d", w.e), fmt.Sprintf("KSCOPE_TEST_N=%d", w.n))
}

// child runs the workload with raw syscalls, talking to the parent over
// stdin and stdout (pipes, not regular files): "ready", wait for a byte,
// work, "done", wait for stdin to close.
func child() int {
	num := func(name string) int { n, _ := strconv.Atoi(os.Getenv(name)); return n }
	dir, k, m, e, n := os.Getenv("KSCOPE_TEST_DIR"), num("KSCOPE_TEST_K"), num("KSCOPE_TEST_M"), num("KSCOPE_TEST_E"), num("KSCOPE_TEST_N")
	fail := func(err error) int { fmt.Fprintln(os.Stderr, err); return 1 }
	os.Stdout.WriteString("ready\n")
	var b [1]byte
	if _, err := os.Stdin.Read(b[:]); err != nil {
		return fail(err)
	}
	data := filepath.Join(dir, "data")
	fd, err := unix.Open(data, unix.O_CREAT|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fail(err)
	}
	chunk := k / m
	buf := make([]byte, chunk)
	for i := 0; i < m; i++ {
		if w, err := unix.Pwrite(fd, buf, int64(i*chunk)); w != chunk || err != nil {
			return fail(fmt.Errorf("pwrite: %d, %v", w, err))
		}
	}
	for i := 0; i < m; i++ {
		if r, err := unix.Pread(fd, buf, int64(i*chunk)); r != chunk || err != nil {
			return fail(fmt.Errorf("pread: %d, %v", r, err))
		}
	}
	unix.Close(fd)
	for i := 0; i < e; i++ {
		if _, err := unix.Open(filepath.Join(dir, "missing"), unix.O_RDONLY, 0); !errors.Is(err, unix.ENOENT) {
			return fail(fmt.Errorf("opening missing: %v", err))
		}
	}
	for i := 0; i < n; i++ {
		if _, err := unix.Open(filepath.Join(data, "x"), unix.O_RDONLY, 0); !errors.Is(err, unix.ENOTDIR) {
			return fail(fmt.Errorf("opening under a file: %v", err))
		}
	}
	os.Stdout.WriteString("done\n")
	io.Copy(io.Discard, os.Stdin)
	return 0
}

// proc is a running child.
type proc struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
	pid string
}

// spawn starts a child and waits for it to be ready.
func spawn(t testing.TB, w workload) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = w.env()
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, in: in, out: bufio.NewReader(out), pid: strconv.Itoa(cmd.Process.Pid)}
	t.Cleanup(func() { p.in.Close(); p.cmd.Wait() })
	p.expect(t, "ready\n")
	return p
}

func (p *proc) expect(t testing.TB, line string) {
	t.Helper()
	got, err := p.out.ReadString('\n')
	if got != line || err != nil {
		t.Fatalf("child %s said %q (%v), want %q", p.pid, got, err, line)
	}
}

// run makes the child do its workload and waits until it has.
func (p *proc) run(t testing.TB) {
	t.Helper()
	if _, err := p.in.Write([]byte("g")); err != nil {
		t.Fatal(err)
	}
	p.expect(t, "done\n")
}

// exit ends the child and waits for it.
func (p *proc) exit(t testing.TB) {
	t.Helper()
	p.in.Close()
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("child %s: %v", p.pid, err)
	}
}

// start runs a fileio collector until the test ends.
func start(t testing.TB, cfg collector.Config) *fileio.Collector {
	t.Helper()
	testutil.RequireBPF(t)
	c, err := collector.New(fileio.Name, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background(), testutil.NewCapture()); err != nil {
		c.Close()
		t.Fatalf("starting: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("closing: %v", err)
		}
	})
	return c.(*fileio.Collector)
}

func collect(t testing.TB, c *fileio.Collector) *metrics.Emitter {
	t.Helper()
	var e metrics.Emitter
	if err := c.Collect(&e); err != nil {
		t.Fatalf("collecting: %v", err)
	}
	return &e
}

// counts is one process's values (or the sum over matching series).
type counts struct {
	readBytes, writeBytes, reads, writes, opens, enoent, enotdir, openErrors float64
}

func countsOf(e *metrics.Emitter, match ...string) counts {
	v := func(name string, extra ...string) float64 {
		s, _ := e.Sum(name, append(append([]string(nil), match...), extra...)...)
		return s
	}
	return counts{
		readBytes:  v("kscope_fileio_read_bytes_total"),
		writeBytes: v("kscope_fileio_write_bytes_total"),
		reads:      v("kscope_fileio_reads_total"),
		writes:     v("kscope_fileio_writes_total"),
		opens:      v("kscope_fileio_opens_total"),
		enoent:     v("kscope_fileio_open_errors_total", "errno", "ENOENT"),
		enotdir:    v("kscope_fileio_open_errors_total", "errno", "ENOTDIR"),
		openErrors: v("kscope_fileio_open_errors_total"),
	}
}

// growth sums, over every series of after, how much it grew since before
// (all of it for a new series), as sum(increase(...)) does: a plain sum
// drops when an ended process's series goes away.
func growth(before, after *metrics.Emitter) counts {
	prev := map[string]float64{}
	key := func(s metrics.Sample) string { return s.Desc.Name + "\x00" + strings.Join(s.Values, "\x00") }
	for _, s := range before.Samples {
		prev[key(s)] = s.Value
	}
	var inc metrics.Emitter
	for _, s := range after.Samples {
		d := s
		d.Value -= prev[key(s)]
		inc.Samples = append(inc.Samples, d)
	}
	return countsOf(&inc)
}

func (a counts) sub(b counts) counts {
	return counts{a.readBytes - b.readBytes, a.writeBytes - b.writeBytes, a.reads - b.reads, a.writes - b.writes,
		a.opens - b.opens, a.enoent - b.enoent, a.enotdir - b.enotdir, a.openErrors - b.openErrors}
}

// comm is the kernel's name for the test binary's processes.
func comm() string {
	c := filepath.Base(os.Args[0])
	if len(c) > 15 {
		c = c[:15]
	}
	return c
}

// everyone keeps every process in its own series.
const everyone = 1 << 20

func TestPerProcessExact(t *testing.T) {
	for _, variant := range []string{"dispatch", "regular_files", "any_fd"} {
		anyFD := variant == "any_fd"
		t.Run(variant, func(t *testing.T) {
			switch variant {
			case "regular_files":
				defer fileio.ForceTracepoints()()
			case "any_fd":
				defer fileio.ForceAnyFD()()
			}
			c := start(t, collector.Config{TopK: everyone})
			if c.Variant() != variant || c.AnyFD() != anyFD {
				t.Fatalf("variant %s (counting every fd: %v), want %s", c.Variant(), c.AnyFD(), variant)
			}
			// In the dispatcher's slots: no syscall tracepoint, only the
			// sched ones.
			for name, p := range c.Collection().Programs {
				if variant == "dispatch" && p.Type() == ebpf.TracePoint && name != "process_exec" && name != "process_exit" {
					t.Errorf("tracepoint program %s loaded with the dispatcher", name)
				}
			}
			w := workload{dir: t.TempDir(), k: 6000, m: 6, e: 5, n: 2}
			p := spawn(t, w)
			before := countsOf(collect(t, c), "pid", p.pid)
			p.run(t)
			e := collect(t, c)
			got := countsOf(e, "pid", p.pid).sub(before)
			want := counts{readBytes: 6000, writeBytes: 6000, reads: 6, writes: 6, opens: 1, enoent: 5, enotdir: 2, openErrors: 7}
			if anyFD {
				// The "g" read from stdin and the "done\n" written to stdout
				// count too; the Go runtime may add its own (eventfd).
				want.reads, want.readBytes, want.writes, want.writeBytes = 7, 6001, 7, 6005
				if got.reads < want.reads || got.readBytes < want.readBytes || got.writes < want.writes ||
					got.writeBytes < want.writeBytes || got.opens != want.opens || got.enoent != want.enoent ||
					got.enotdir != want.enotdir || got.openErrors != want.openErrors {
					t.Errorf("child %s: %+v, want at least %+v", p.pid, got, want)
				}
			} else if got != want {
				t.Errorf("child %s: %+v, want %+v", p.pid, got, want)
			}
			for _, s := range e.Find("kscope_fileio_reads_total", "pid", p.pid) {
				if s.Label("comm") != comm() {
					t.Errorf("comm %q, want %q", s.Label("comm"), comm())
				}
			}

			// The counts outlive the process until the next collection.
			last := countsOf(e, "pid", p.pid)
			p.exit(t)
			got = countsOf(collect(t, c), "pid", p.pid)
			if anyFD {
				last.reads++ // the read that found stdin closed
			}
			if got != last {
				t.Errorf("child %s after it ended: %+v, want %+v", p.pid, got, last)
			}
			if ss := collect(t, c).Find("kscope_fileio_opens_total", "pid", p.pid); len(ss) != 0 {
				t.Errorf("child %s still reported a collection after it ended: %v", p.pid, ss)
			}
		})
	}
}

// TestTopK keeps one process per family and folds the rest into "other",
// whose sum with the kept series covers every process.
func TestTopK(t *testing.T) {
	c := start(t, collector.Config{TopK: 1})
	w := workload{dir: t.TempDir(), k: 4096, m: 4, e: 3}
	before := collect(t, c)
	a, b := spawn(t, w), spawn(t, workload{dir: t.TempDir(), k: 40960, m: 40, e: 3})
	a.run(t)
	b.run(t)
	e := collect(t, c)
	for _, d := range c.Describe() {
		ss := e.Find(d.Name)
		if len(ss) > 2 {
			t.Errorf("%s: %d series with K=1", d.Name, len(ss))
		}
		if len(e.Find(d.Name, "pid", "other")) != 1 {
			t.Errorf("%s: no other series", d.Name)
		}
	}
	got := growth(before, e)
	if got.writeBytes < 45056 || got.writes < 44 || got.openErrors < 6 || got.opens < 2 {
		t.Errorf("all series together grew by %+v, want at least both children's", got)
	}
}

// TestMapsFull fills the per-process and ended-process maps: what finds no
// room counts in "other" and as lost, and sums stay whole.
func TestMapsFull(t *testing.T) {
	t.Run("procs", func(t *testing.T) {
		*fileio.ProcsEntries = 1
		defer func() { *fileio.ProcsEntries = 0 }()
		c := start(t, collector.Config{TopK: everyone})
		// This process (or another) takes the only entry and keeps it.
		if _, err := os.ReadFile("/proc/self/stat"); err != nil {
			t.Fatal(err)
		}
		p := spawn(t, workload{dir: t.TempDir(), k: 8192, m: 2, e: 4})
		lost := c.Stats().Lost
		before := collect(t, c)
		p.run(t)
		e := collect(t, c)
		if got := countsOf(e, "pid", p.pid); got != (counts{}) {
			t.Errorf("child %s has its own series with a full map: %+v", p.pid, got)
		}
		if got := growth(before, e); got.writeBytes < 8192 || got.writes < 2 || got.openErrors < 4 {
			t.Errorf("all series together grew by %+v, want at least the child's", got)
		}
		if c.Stats().Lost == lost {
			t.Error("a full per-process map counted nothing lost")
		}
	})
	t.Run("exited", func(t *testing.T) {
		*fileio.ExitedEntries = 1
		defer func() { *fileio.ExitedEntries = 0 }()
		c := start(t, collector.Config{TopK: everyone})
		w := workload{dir: t.TempDir(), k: 8192, m: 2, e: 4}
		a, b := spawn(t, w), spawn(t, workload{dir: t.TempDir(), k: 8192, m: 2, e: 4})
		before := collect(t, c)
		lost := c.Stats().Lost
		a.run(t)
		b.run(t)
		a.exit(t)
		b.exit(t)
		got := growth(before, collect(t, c))
		if got.writeBytes < 16384 || got.writes < 4 || got.openErrors < 8 {
			t.Errorf("all series together grew by %+v, want at least both children's", got)
		}
		if c.Stats().Lost == lost {
			t.Error("a full ended-process map counted nothing lost")
		}
	})
}

// TestDescribe checks that every sample belongs to a described family.
func TestDescribe(t *testing.T) {
	c := start(t, collector.Config{TopK: 2})
	p := spawn(t, workload{dir: t.TempDir(), k: 10, m: 1, e: 1})
	p.run(t)
	described := map[*metrics.Desc]bool{}
	for _, d := range c.Describe() {
		described[d] = true
	}
	e := collect(t, c)
	if len(e.Samples) == 0 {
		t.Fatal("no samples")
	}
	for _, s := range e.Samples {
		if !described[s.Desc] {
			t.Errorf("sample of undescribed family %s", s.Desc.Name)
		}
	}
}

func TestCloseIdempotent(t *testing.T) {
	c := start(t, collector.Config{})
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	var e metrics.Emitter
	if err := c.Collect(&e); err != nil || len(e.Samples) != 0 {
		t.Errorf("collect after close: %d samples, %v", len(e.Samples), err)
	}
}
