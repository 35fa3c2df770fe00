package http

import (
	"bufio"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/uprobe"
)

// The functions probed for TLS plain text.
var (
	opensslFuncs = []struct{ sym, prog string }{
		{"SSL_read", "ssl_read"}, {"SSL_read_ex", "ssl_read_ex"},
		{"SSL_write", "ssl_write"}, {"SSL_write_ex", "ssl_write_ex"},
	}
	// Writes are reported at entry: only Read needs its returns probed.
	goFuncs = []struct {
		sym, prog string
		ret       bool
	}{
		{"crypto/tls.(*Conn).Read", "go_tls_read", true},
		{"crypto/tls.(*Conn).Write", "go_tls_write", false},
	}
)

// Where distributions keep the system's OpenSSL, probed at start so that
// programs started later are traced from their first call.
var libDirs = []string{"/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib64", "/lib64", "/usr/lib", "/usr/local/lib64", "/usr/local/lib"}

// fileID is an inode as last modified: uprobes attach to files, not to
// processes, and a file rewritten in place is another program.
type fileID struct {
	dev, ino uint64
	mtime    int64 // ns
}

// attacher puts the TLS uprobes on every libssl and every Go binary with
// crypto/tls that a traced process runs, once per file.
type attacher struct {
	progs  map[string]*ebpf.Program
	logger *slog.Logger
	pid    uint32 // only this process (0: all)
	// multi: the programs are loaded for uprobe_multi links (Linux 6.6+),
	// one link for all the addresses a program has in a file.
	multi bool

	mu     sync.Mutex
	seen   map[fileID]bool // examined, attached or not
	probed map[fileID]bool // attached
	links  bpfx.Links
	libs   int // libssl files probed
	gobins int // Go binaries probed
	closed bool

	execs chan uint32
	done  chan struct{}
	wg    sync.WaitGroup
}

func newAttacher(coll *ebpf.Collection, pid uint32, multi bool, logger *slog.Logger) *attacher {
	return &attacher{
		progs: coll.Programs, logger: logger, pid: pid, multi: multi,
		seen: map[fileID]bool{}, probed: map[fileID]bool{}, execs: make(chan uint32, 1024), done: make(chan struct{}),
	}
}

// scanAll probes the system's libssl and what every process (or the
// filtered one) that has a socket open maps now. A process without one is
// examined when it calls connect() or listen() on a TCP socket (the kernel
// side reports that once per process), as a program started later is
// when it execs: on a busy host most processes never touch the network,
// and reading a large Go binary's function table takes a while.
func (a *attacher) scanAll() {
	if a.pid == 0 {
		for _, dir := range libDirs {
			matches, _ := filepath.Glob(filepath.Join(dir, "libssl.so*"))
			for _, m := range matches {
				a.library(m)
			}
		}
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			if pid, err := strconv.Atoi(e.Name()); err == nil && hasSocket(pid) {
				a.process(pid, true)
			}
		}
		return
	}
	a.process(int(a.pid), true)
}

// hasSocket reports whether process pid has a socket open.
func hasSocket(pid int) bool {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd/"
	f, err := os.Open(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	for {
		names, err := f.Readdirnames(256)
		for _, n := range names {
			if target, err := os.Readlink(dir + n); err == nil && strings.HasPrefix(target, "socket:") {
				return true
			}
		}
		if err != nil {
			return false
		}
	}
}

// start watches for programs started later: each exec is examined at once
// (its executable) and again as its dynamic loader maps libraries.
func (a *attacher) start() {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		type later struct {
			pid uint32
			at  time.Time
		}
		var queue []later
		tick := time.NewTicker(25 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-a.done:
				return
			case pid := <-a.execs:
				a.process(int(pid), true)
				now := time.Now()
				for _, d := range []time.Duration{30 * time.Millisecond, 200 * time.Millisecond, time.Second} {
					queue = append(queue, later{pid, now.Add(d)})
				}
			case now := <-tick.C:
				kept := queue[:0]
				for _, l := range queue {
					if now.Before(l.at) {
						kept = append(kept, l)
						continue
					}
					a.process(int(l.pid), false)
				}
				queue = kept
			}
		}
	}()
}

// exec queues a new program for examination; it never blocks the reader.
func (a *attacher) exec(pid uint32) bool {
	select {
	case a.execs <- pid:
		return true
	default:
		return false
	}
}

// process probes the executable of pid (when exe) and the libssl it maps.
func (a *attacher) process(pid int, exe bool) {
	root := "/proc/" + strconv.Itoa(pid)
	if exe {
		a.goBinary(root + "/exe")
	}
	f, err := os.Open(root + "/maps")
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Bytes()
		i := bytes.Index(line, []byte(" /"))
		if i < 0 || !bytes.Contains(line[i:], []byte("/libssl.so")) || bytes.HasSuffix(line, []byte(" (deleted)")) {
			continue
		}
		a.library(root + "/root" + string(line[i+1:]))
	}
}

// claim marks path's file as examined and reports whether it was new.
func (a *attacher) claim(path string) (fileID, bool) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return fileID{}, false
	}
	id := fileID{st.Dev, st.Ino, st.Mtim.Nano()}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.seen[id] || a.closed {
		return id, false
	}
	a.seen[id] = true
	return id, true
}

// library probes SSL_read, SSL_write and their _ex forms in an OpenSSL
// libssl (the _ex forms are 1.1.1+), entry and return.
func (a *attacher) library(path string) {
	id, ok := a.claim(path)
	if !ok {
		return
	}
	var ls []link.Link
	var probed []string
	for _, fn := range opensslFuncs {
		t, err := uprobe.ResolveSymbol(path, fn.sym, 0)
		if err != nil {
			continue
		}
		in, err := a.attach(t.Path, fn.prog, []uint64{t.Offset}, false)
		if err != nil {
			a.logger.Warn("probing OpenSSL", "file", path, "symbol", fn.sym, "err", err)
			continue
		}
		out, err := a.attach(t.Path, "ssl_ret", []uint64{t.Offset}, true)
		if err != nil {
			closeAll(in)
			a.logger.Warn("probing OpenSSL return", "file", path, "symbol", fn.sym, "err", err)
			continue
		}
		ls = append(append(ls, in...), out...)
		probed = append(probed, fn.sym)
	}
	if len(probed) == 0 {
		return
	}
	a.logger.Debug("probing OpenSSL", "file", path, "functions", probed)
	a.keep(id, ls, &a.libs)
}

// goBinary probes crypto/tls.(*Conn).Read and Write of a Go executable:
// after the stack check at entry and at every RET, never with a uretprobe.
func (a *attacher) goBinary(path string) {
	id, ok := a.claim(path)
	if !ok {
		return
	}
	if !hasGoTLS(path) {
		return
	}
	var ls []link.Link
	fail := func(err error) {
		closeAll(ls)
		a.logger.Warn("probing Go crypto/tls", "file", path, "err", err)
	}
	fast := goTargets(path)
	for _, fn := range goFuncs {
		t := fast[fn.sym]
		if t == nil {
			var err error
			if t, err = uprobe.ResolveSymbol(path, fn.sym, 0); err != nil {
				fail(err)
				return
			}
		}
		entry, err := t.EntryOffset()
		if err != nil {
			fail(err)
			return
		}
		var rets []uint64
		if fn.ret {
			rets, err = t.ReturnOffsets()
			if err == nil && len(rets) == 0 {
				err = errors.New("no RET instruction in " + fn.sym)
			}
			if err != nil {
				fail(err)
				return
			}
		}

		l, err := a.attach(t.Path, fn.prog, []uint64{entry}, false)
		if err != nil {
			fail(fmt.Errorf("%s: %w", fn.sym, err))
			return
		}
		ls = append(ls, l...)
		if len(rets) > 0 {
			l, err := a.attach(t.Path, "go_tls_ret", rets, false)
			if err != nil {
				fail(fmt.Errorf("%s RET: %w", fn.sym, err))
				return
			}
			ls = append(ls, l...)
		}
	}
	a.logger.Debug("probing Go crypto/tls", "file", path, "probes", len(ls))
	a.keep(id, ls, &a.gobins)
}

// attach puts prog at the file offsets offs of path (as return probes when
// ret): one uprobe_multi link, or one link per offset.
func (a *attacher) attach(path, prog string, offs []uint64, ret bool) ([]link.Link, error) {
	ex, err := link.OpenExecutable(path)
	if err != nil {
		return nil, err
	}
	p := a.progs[prog]
	if a.multi {
		opts := &link.UprobeMultiOptions{Addresses: offs}
		var l link.Link
		if ret {
			l, err = ex.UretprobeMulti(nil, p, opts)
		} else {
			l, err = ex.UprobeMulti(nil, p, opts)
		}
		if err != nil {
			return nil, err
		}
		return []link.Link{l}, nil
	}
	var ls []link.Link
	for _, off := range offs {
		var l link.Link
		if ret {
			l, err = ex.Uretprobe("", p, &link.UprobeOptions{Address: off})
		} else {
			l, err = ex.Uprobe("", p, &link.UprobeOptions{Address: off})
		}
		if err != nil {
			closeAll(ls)
			return nil, fmt.Errorf("at %#x: %w", off, err)
		}
		ls = append(ls, l)
	}
	return ls, nil
}

func closeAll(ls []link.Link) {
	for _, l := range ls {
		l.Close()
	}
}

func (a *attacher) keep(id fileID, ls []link.Link, n *int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		closeAll(ls)
		return
	}
	a.links.Add(ls...)
	a.probed[id] = true
	*n++
}

// goTargets finds the probed Go functions in the executable's symbol
// table in one pass; uprobe.ResolveSymbol, which also reads stripped
// binaries' function tables, takes over for any not found here.
func goTargets(path string) map[string]*uprobe.Target {
	out := map[string]*uprobe.Target{}
	f, err := elf.Open(path)
	if err != nil {
		return out
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		return out
	}
	for _, s := range syms {
		if elf.ST_TYPE(s.Info) != elf.STT_FUNC || s.Size == 0 {
			continue
		}
		for _, fn := range goFuncs {
			if s.Name != fn.sym {
				continue
			}
			for _, p := range f.Progs {
				if p.Type == elf.PT_LOAD && p.Flags&elf.PF_X != 0 && s.Value >= p.Vaddr && s.Value < p.Vaddr+p.Filesz {
					out[fn.sym] = &uprobe.Target{
						Binary: path, Path: path, Symbol: s.Name, Name: s.Name,
						Address: s.Value, Size: s.Size, Offset: s.Value - p.Vaddr + p.Off, Go: true,
					}
				}
			}
		}
	}
	return out
}

// hasGoTLS reports whether path is a Go executable with crypto/tls linked
// in: it has Go build information and names (*Conn).Write in its function
// table, which stripped binaries keep.
func hasGoTLS(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	if f.Section(".go.buildinfo") == nil {
		return false
	}
	s := f.Section(".gopclntab")
	if s == nil {
		// Position-independent Go binaries keep it in .data.rel.ro.
		s = f.Section(".data.rel.ro")
	}
	if s == nil {
		return false
	}
	return sectionContains(s.Open(), []byte("crypto/tls.(*Conn).Write\x00"))
}

// sectionContains reports whether r holds needle, read in blocks of 1 MiB
// rather than whole: a large binary's function table is tens of megabytes.
func sectionContains(r io.Reader, needle []byte) bool {
	buf := make([]byte, 1<<20)
	keep := 0 // bytes carried over from the last block
	for {
		n, err := io.ReadFull(r, buf[keep:])
		if bytes.Contains(buf[:keep+n], needle) {
			return true
		}
		if err != nil {
			return false
		}
		keep = min(len(needle)-1, keep+n)
		copy(buf, buf[len(buf)-keep:])
	}
}

// counts returns how many libssl files and Go binaries are probed.
func (a *attacher) counts() (libs, gobins int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.libs, a.gobins
}

// close stops watching and detaches every uprobe.
func (a *attacher) close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	a.mu.Unlock()
	close(a.done)
	a.wg.Wait()
	// Each detach waits for the kernel to quiesce: do them together.
	return a.links.CloseTogether()
}
