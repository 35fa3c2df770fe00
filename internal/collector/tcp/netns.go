package tcp

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strconv"
	"time"

	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// rescanEvery is how often the walker looks for new network namespaces.
const rescanEvery = 30 * time.Second

// walkBudget bounds the time one walk spends in namespaces other than the
// collector's own. Walking a namespace costs about a scan of the kernel's
// whole established-socket hash table whatever its number of sockets
// (2 ms for 262144 buckets), so with many namespaces each walk continues
// where the previous one stopped: their byte counters then lag by a few
// walks, and their sockets by state are as of their last walk.
const walkBudget = 20 * time.Millisecond

// errGone says a namespace's file went away or now is another namespace's.
var errGone = errors.New("network namespace gone")

// nsWalker runs the TCP socket iterator in every network namespace that
// has a process or a name (ip netns). The kernel's iterator only visits the
// sockets of the namespace its creator was in, so a walk elsewhere enters
// the namespace on a locked thread just to create the iterator and comes
// back; reading it can then happen anywhere. Namespaces are found by their
// processes' /proc/PID/ns/net and in /run/netns, and the file is checked
// again before each walk, since a PID may be reused. No namespace file is
// kept open between walks: that would keep a namespace alive after its
// last process left.
type nsWalker struct {
	proc    string
	named   string   // where `ip netns` keeps named namespaces
	self    uint64   // inode of the collector's own namespace
	selfNS  *os.File // to come back to
	only    uint64   // walk only this namespace; 0: all
	budget  time.Duration
	paths   map[uint64]string // namespace inode -> a file of it
	order   []uint64          // the namespaces other than our own, in walk order
	next    int               // index in order the next walk starts at
	last    map[uint64][nStates]uint64
	scanned time.Time
	log     *slog.Logger
	warned  map[uint64]bool // namespaces a failed walk was logged for
}

func newNSWalker(only uint32, log *slog.Logger) (*nsWalker, error) {
	f, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return nil, fmt.Errorf("opening the network namespace: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		f.Close()
		return nil, fmt.Errorf("reading the network namespace: %w", err)
	}
	return &nsWalker{
		proc:   "/proc",
		named:  "/run/netns",
		self:   st.Ino,
		selfNS: f,
		only:   uint64(only),
		budget: walkBudget,
		last:   map[uint64][nStates]uint64{},
		log:    log,
		warned: map[uint64]bool{},
	}, nil
}

// Close releases the walker's namespace file.
func (w *nsWalker) Close() error { return w.selfNS.Close() }

// scan finds a file for every network namespace.
func (w *nsWalker) scan() {
	w.scanned = time.Now()
	d, err := os.Open(w.proc)
	if err != nil {
		w.log.Warn("listing processes for their network namespaces", "err", err)
		return
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		w.log.Warn("listing processes for their network namespaces", "err", err)
	}
	// Namespaces kept by `ip netns add` alone have no process; names come
	// first, being stable where PIDs are reused. A name whose namespace is
	// gone is an empty file, not an nsfs one.
	var files []string
	if names, err := os.ReadDir(w.named); err == nil {
		for _, e := range names {
			var fs unix.Statfs_t
			f := w.named + "/" + e.Name()
			if unix.Statfs(f, &fs) == nil && fs.Type == unix.NSFS_MAGIC {
				files = append(files, f)
			}
		}
	}
	for _, name := range names {
		if _, err := strconv.Atoi(name); err == nil {
			files = append(files, w.proc+"/"+name+"/ns/net")
		}
	}
	paths := make(map[uint64]string, len(w.paths)+1)
	for _, f := range files {
		var st unix.Stat_t
		if unix.Stat(f, &st) != nil {
			continue
		}
		if w.only != 0 && st.Ino != w.only {
			continue
		}
		if _, ok := paths[st.Ino]; !ok {
			paths[st.Ino] = f
		}
	}
	delete(paths, w.self)
	w.order = w.order[:0]
	for ino := range paths {
		w.order = append(w.order, ino)
	}
	slices.Sort(w.order)
	for ino := range w.last {
		if _, ok := paths[ino]; !ok && ino != w.self {
			w.forget(ino)
		}
	}
	w.paths = paths
}

// forget drops a namespace until a scan finds it again.
func (w *nsWalker) forget(ino uint64) {
	delete(w.paths, ino)
	delete(w.last, ino)
	delete(w.warned, ino)
}

// walk runs it in the collector's own namespace, then in the others, in
// turn, for as long as the budget lasts (at least one; all of them when
// all is set), and adds up the sockets by state each namespace had at its
// last walk. A namespace that
// cannot be walked is logged once and skipped; only a failure in the
// collector's own namespace is returned.
func (w *nsWalker) walk(it *link.Iter, all bool) ([nStates]uint64, error) {
	if time.Since(w.scanned) >= rescanEvery {
		w.scan()
	}
	var selfErr error
	if w.only == 0 || w.only == w.self {
		states, err := w.walkOne(it, w.self, "")
		if err != nil {
			selfErr = err
		} else {
			w.last[w.self] = states
		}
	}
	deadline := time.Now().Add(w.budget)
	for i := 0; i < len(w.order) && (i == 0 || all || time.Now().Before(deadline)); i++ {
		w.next %= len(w.order)
		ino := w.order[w.next]
		w.next++
		path, ok := w.paths[ino]
		if !ok {
			continue // gone since the scan
		}
		states, err := w.walkOne(it, ino, path)
		switch {
		case errors.Is(err, errGone):
			w.forget(ino)
		case err != nil:
			if !w.warned[ino] {
				w.warned[ino] = true
				w.log.Warn("walking TCP sockets, skipping the namespace", "netns", ino, "path", path, "err", err)
			}
			delete(w.last, ino)
		default:
			delete(w.warned, ino)
			w.last[ino] = states
		}
	}
	var total [nStates]uint64
	for _, states := range w.last {
		for i, n := range states {
			total[i] += n
		}
	}
	return total, selfErr
}

func (w *nsWalker) walkOne(it *link.Iter, ino uint64, path string) ([nStates]uint64, error) {
	var (
		rc  io.ReadCloser
		err error
	)
	if ino == w.self {
		rc, err = it.Open()
	} else {
		rc, err = w.openIn(it, ino, path)
	}
	if err != nil {
		return [nStates]uint64{}, err
	}
	defer rc.Close()
	// One record of nStates counts, written when the walk ends.
	var buf [nStates*8 + 1]byte
	n := 0
	for n < len(buf) {
		m, err := rc.Read(buf[n:])
		n += m
		if err == io.EOF || (err == nil && m == 0) {
			break
		}
		if err != nil {
			return [nStates]uint64{}, fmt.Errorf("reading the TCP socket iterator: %w", err)
		}
	}
	return parseStates(buf[:n])
}

// openIn creates the iterator from inside namespace ino, entered through
// the file path.
func (w *nsWalker) openIn(it *link.Iter, ino uint64, path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, errGone
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil || st.Ino != ino {
		return nil, errGone
	}
	type result struct {
		rc  io.ReadCloser
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// A thread that cannot come back is not unlocked: it ends with
		// the goroutine.
		runtime.LockOSThread()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- result{nil, fmt.Errorf("entering network namespace %d: %w", ino, err)}
			return
		}
		rc, err := it.Open()
		if unix.Setns(int(w.selfNS.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		ch <- result{rc, err}
	}()
	r := <-ch
	return r.rc, r.err
}
