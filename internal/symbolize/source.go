package symbolize

import (
	"container/list"
	"errors"
	"io"
	"os"
	"sync"
	"syscall"
)

// maxOpenFiles bounds the file descriptors the symbol tables keep open,
// process-wide. Past it the least recently read file is closed; its next
// read reopens it (see source).
const maxOpenFiles = 256

// fileID identifies a file's contents: a reopened path must be the same
// file, unchanged.
type fileID struct {
	dev, ino uint64
	size     int64
	mtime    int64 // ns
}

func statID(f *os.File) (fileID, bool) {
	fi, err := f.Stat()
	if err != nil {
		return fileID{}, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false
	}
	return fileID{dev: uint64(st.Dev), ino: st.Ino, size: fi.Size(), mtime: fi.ModTime().UnixNano()}, true
}

// source is a file that a symbol table reads lazily, with pread, for the
// names and line tables it does not keep in memory. Its descriptor is one
// of at most maxOpenFiles that sources keep open: the least recently read
// is closed when more are needed, and reopened on its next read through
// paths (/proc/PID/map_files/..., /proc/PID/root/...) if one still leads
// to the same file (same device, inode, size and mtime). A file that can
// no longer be reopened (deleted, and its process gone) then reads as an
// error: its frames lose their names.
//
// A source is closed when the table owning it is garbage (runtime.AddCleanup)
// or dropped (close).
type source struct {
	pool  *filePool
	paths []string
	id    fileID

	// Guarded by pool.mu.
	f    *os.File
	elem *list.Element // in pool.lru while f is open
	dead bool
}

// filePool is the set of open sources, least recently read last.
type filePool struct {
	max int
	mu  sync.Mutex
	lru list.List // of *source
}

var openFiles = &filePool{max: maxOpenFiles}

// newSource adopts the open file f, reopened later through paths.
func (p *filePool) newSource(f *os.File, paths ...string) *source {
	s := &source{pool: p, paths: paths, f: f}
	s.id, _ = statID(f)
	p.mu.Lock()
	s.elem = p.lru.PushFront(s)
	victims := p.evictLocked(s)
	p.mu.Unlock()
	closeAll(victims)
	return s
}

// file returns s's open file, reopening it if the pool closed it.
func (s *source) file() (*os.File, error) {
	p := s.pool
	p.mu.Lock()
	if s.dead {
		p.mu.Unlock()
		return nil, os.ErrClosed
	}
	if s.f == nil {
		f, err := s.reopen()
		if err != nil {
			p.mu.Unlock()
			return nil, err
		}
		s.f = f
	}
	if s.elem == nil {
		s.elem = p.lru.PushFront(s)
	} else {
		p.lru.MoveToFront(s.elem)
	}
	f := s.f
	victims := p.evictLocked(s)
	p.mu.Unlock()
	closeAll(victims)
	return f, nil
}

var errReopen = errors.New("file no longer reachable")

func (s *source) reopen() (*os.File, error) {
	for _, path := range s.paths {
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		if id, ok := statID(f); ok && id == s.id {
			return f, nil
		}
		f.Close()
	}
	return nil, errReopen
}

// evictLocked unlinks the least recently read sources (never keep) past
// the pool's bound and returns their files to close outside the lock.
func (p *filePool) evictLocked(keep *source) []*os.File {
	var out []*os.File
	for p.lru.Len() > p.max {
		e := p.lru.Back()
		v := e.Value.(*source)
		if v == keep {
			break
		}
		p.lru.Remove(e)
		v.elem = nil
		if v.f != nil {
			out = append(out, v.f)
			v.f = nil
		}
	}
	return out
}

func closeAll(fs []*os.File) {
	for _, f := range fs {
		f.Close() // a pread in progress on f finishes first
	}
}

// ReadAt reads from the file, reopening it if needed. A read that races
// with the pool closing the file is retried once.
func (s *source) ReadAt(b []byte, off int64) (int, error) {
	for try := 0; ; try++ {
		f, err := s.file()
		if err != nil {
			return 0, err
		}
		n, err := f.ReadAt(b, off)
		if try == 0 && errors.Is(err, os.ErrClosed) {
			continue
		}
		return n, err
	}
}

// close releases s's descriptor for good.
func (s *source) close() {
	p := s.pool
	p.mu.Lock()
	s.dead = true
	if s.elem != nil {
		p.lru.Remove(s.elem)
		s.elem = nil
	}
	f := s.f
	s.f = nil
	p.mu.Unlock()
	if f != nil {
		f.Close()
	}
}

// open reports the number of open descriptors (for tests).
func (p *filePool) open() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for e := p.lru.Front(); e != nil; e = e.Next() {
		if e.Value.(*source).f != nil {
			n++
		}
	}
	return n
}

// readFull reads len(b) bytes at off or fails.
func readFull(r io.ReaderAt, b []byte, off int64) error {
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}
