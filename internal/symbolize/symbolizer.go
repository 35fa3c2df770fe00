package symbolize

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"weak"
)

const (
	// MaxProcesses bounds the processes a Symbolizer remembers.
	MaxProcesses = 4096
	// maxFiles bounds the cache keys of shared symbol tables (each table is
	// cached under its build id and its file identity). The cache holds
	// tables weakly: a table lives while a remembered process maps it, or
	// while it is one of the recentTables last used, so this only bounds
	// sharing, not correctness.
	maxFiles = 1024
	// recentTables is how many tables no remembered process maps are kept
	// for the next process that maps their files (short-lived processes
	// running the same programs).
	recentTables = 64
)

// Symbolizer resolves kernel and user addresses. The zero value is not
// usable; call New.
type Symbolizer struct {
	procFS string // "/proc"; a fixture root in tests

	mu     sync.Mutex
	kernel *kernelTable
	procs  *lru[uint32, *process]
	files  *lru[string, weak.Pointer[fileTable]]
	recent *lru[uint64, *fileTable] // by table id
}

// process is a snapshot of a process's executable mappings, sorted by
// start address. It is immutable: a refresh replaces it.
type process struct {
	maps []procMapping
}

type procMapping struct {
	mapping
	table *fileTable // nil when the file could not be read
}

// mapsBufs holds the buffers /proc/PID/maps is read into.
var mapsBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// New returns a Symbolizer reading /proc.
func New() *Symbolizer {
	return &Symbolizer{
		procFS: "/proc",
		procs:  newLRU[uint32, *process](MaxProcesses),
		files:  newLRU[string, weak.Pointer[fileTable]](maxFiles),
		recent: newLRU[uint64, *fileTable](recentTables),
	}
}

// Kernel symbolizes kernel addresses with /proc/kallsyms, read once. When
// kallsyms is unreadable or shows only zero addresses (kptr_restrict, not
// root), every frame is an unknown, module-less one (String "0xaddr").
func (s *Symbolizer) Kernel(addrs []uint64) []Frame {
	s.mu.Lock()
	if s.kernel == nil {
		s.kernel = &kernelTable{restricted: true}
		if f, err := os.Open(s.procFS + "/kallsyms"); err == nil {
			if kt, err := readKallsyms(f); err == nil {
				s.kernel = kt
			}
			f.Close()
		}
	}
	kt := s.kernel
	s.mu.Unlock()
	out := make([]Frame, len(addrs))
	for i, a := range addrs {
		if kt.restricted {
			out[i] = Frame{Offset: a}
			continue
		}
		out[i] = kt.lookup(a)
	}
	return out
}

// Remember snapshots the executable mappings of pid and loads the symbol
// tables of the files behind them, so that User resolves the process's
// addresses after it exits. Calling it again refreshes the snapshot (after
// an exec or dlopen). Files that cannot be read give Module+offset frames
// later; the error is about the process itself (gone, or not permitted).
func (s *Symbolizer) Remember(pid uint32) error {
	_, err := s.remember(pid)
	return err
}

// Forget drops what was remembered about pid.
func (s *Symbolizer) Forget(pid uint32) {
	s.mu.Lock()
	s.procs.remove(pid)
	s.mu.Unlock()
}

func (s *Symbolizer) remember(pid uint32) (*process, error) {
	dir := s.procFS + "/" + strconv.FormatUint(uint64(pid), 10)
	buf := mapsBufs.Get().(*bytes.Buffer)
	defer func() { mapsBufs.Put(buf) }()
	buf.Reset()
	f, err := os.Open(dir + "/maps")
	if err == nil {
		_, err = buf.ReadFrom(f)
		f.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("reading maps of pid %d: %w", pid, err)
	}
	maps := parseMaps(buf.Bytes())
	if buf.Cap() > 1<<20 {
		buf = new(bytes.Buffer) // not kept: a process with huge maps
	}
	p := &process{maps: make([]procMapping, len(maps))}
	for i, m := range maps {
		m.path = strings.Clone(m.path) // not the whole maps file
		p.maps[i].mapping = m
		if !m.anonymous() {
			p.maps[i].table = s.table(dir, &m)
		}
	}
	sort.Slice(p.maps, func(i, j int) bool { return p.maps[i].start < p.maps[j].start })
	s.mu.Lock()
	s.procs.put(pid, p)
	s.mu.Unlock()
	return p, nil
}

// table returns the symbol table of a mapped file, from the cache or read
// through /proc/PID/map_files (works for deleted files) or /proc/PID/root
// (the process's mount namespace). It returns nil when neither is readable.
// The table keeps the file open (see source) for the reads its lookups do.
func (s *Symbolizer) table(dir string, m *mapping) *fileTable {
	root := dir + "/root"
	mapFile := dir + "/map_files/" + strconv.FormatUint(m.start, 16) + "-" + strconv.FormatUint(m.end, 16)
	paths := []string{mapFile, root + m.path}
	f, err := os.Open(mapFile)
	if err != nil {
		paths = paths[1:]
		if f, err = os.Open(root + m.path); err != nil {
			return nil
		}
	}
	var statKey string
	if id, ok := statID(f); ok {
		statKey = fmt.Sprintf("st:%d:%d:%d:%d", id.dev, id.ino, id.mtime, id.size)
	}
	if statKey != "" {
		if t := s.cached(statKey); t != nil {
			f.Close()
			return t
		}
	}
	// Loading outside the lock: two goroutines may load the same file
	// once each; the first one cached is kept.
	src := openFiles.newSource(f, paths...)
	t, err := loadFileSafe(src, f.Name(), root)
	if err != nil && t == nil {
		src.close()
		return nil // not ELF or unreadable: Module+offset frames
	}
	t.own(src)
	if t.buildID != "" {
		if shared := s.cached("b:" + t.buildID); shared != nil {
			t.close()
			t = shared
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	wp := weak.Make(t)
	if t.buildID != "" {
		s.files.put("b:"+t.buildID, wp)
	}
	if statKey != "" {
		s.files.put(statKey, wp)
	}
	s.recent.put(t.id, t)
	return t
}

// cached returns the live table cached under key, or nil.
func (s *Symbolizer) cached(key string) *fileTable {
	s.mu.Lock()
	defer s.mu.Unlock()
	wp, ok := s.files.get(key)
	if !ok {
		return nil
	}
	t := wp.Value()
	if t == nil {
		s.files.remove(key)
		return nil
	}
	s.recent.put(t.id, t)
	return t
}

// loadFileSafe is loadFile that turns a panic of the ELF or pclntab
// readers on a malformed file into an error.
func loadFileSafe(r io.ReaderAt, name, root string) (t *fileTable, err error) {
	defer func() {
		if r := recover(); r != nil {
			t, err = nil, fmt.Errorf("reading %s: %v", name, r)
		}
	}()
	return loadFile(r, root)
}

// User symbolizes addresses of process pid. The first call for a pid
// snapshots it as Remember does; an address outside every remembered
// mapping triggers one refresh per call (the process may have loaded a
// library since). Addresses that resolve to no symbol give Module+offset
// frames; when the process was never seen and is gone, module-less frames.
func (s *Symbolizer) User(pid uint32, addrs []uint64) []Frame {
	s.mu.Lock()
	p, ok := s.procs.get(pid)
	s.mu.Unlock()
	refreshed := false
	if !ok {
		p, _ = s.remember(pid)
		refreshed = true
	}
	out := make([]Frame, len(addrs))
	for i, a := range addrs {
		m := p.find(a)
		if m == nil && !refreshed {
			refreshed = true
			if np, err := s.remember(pid); err == nil {
				p = np
				m = p.find(a)
			}
		}
		out[i] = m.frame(a)
	}
	return out
}

// find returns the mapping holding addr, or nil. A nil process finds none.
func (p *process) find(addr uint64) *procMapping {
	if p == nil {
		return nil
	}
	i := sort.Search(len(p.maps), func(i int) bool { return p.maps[i].end > addr })
	if i < len(p.maps) && p.maps[i].start <= addr {
		return &p.maps[i]
	}
	return nil
}

// frame symbolizes addr in the mapping m (nil: no mapping).
func (m *procMapping) frame(addr uint64) Frame {
	if m == nil {
		return Frame{Offset: addr}
	}
	f := Frame{Module: m.path}
	switch {
	case m.path == "":
		f.Module = "[anon]"
		f.Offset = addr
		return f
	case m.anonymous():
		f.Offset = addr - m.start
		return f
	}
	off := addr - m.start + m.offset
	f.Offset = off
	if m.table == nil {
		return f
	}
	f.BuildID = m.table.buildID
	if va, ok := m.table.vaddr(off); ok {
		f.Offset = va
		m.table.lookup(va, &f)
	}
	return f
}
