package bpfx

import (
	"errors"
	"sync"

	"github.com/cilium/ebpf/link"
)

// Links is the set of links a collector attached. It closes them exactly
// once, the last attached first: a hook that feeds another's state goes
// before the one it feeds. The zero value is ready to use, and closing is
// safe at any point of a Start that failed half-way.
type Links struct {
	mu     sync.Mutex
	ls     []link.Link
	closed bool
	err    error
}

// Add keeps ls to be closed with the others. A link added after Close is
// closed at once, so a Start racing Close leaks nothing.
func (s *Links) Add(ls ...link.Link) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		for _, l := range ls {
			s.err = errors.Join(s.err, l.Close())
		}
		return
	}
	s.ls = append(s.ls, ls...)
}

// Len returns how many links are held.
func (s *Links) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ls)
}

// Close closes the links in reverse order of Add and returns their errors
// joined. Later calls close nothing and return the same error.
func (s *Links) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		errs := make([]error, 0, len(s.ls))
		for i := len(s.ls) - 1; i >= 0; i-- {
			errs = append(errs, s.ls[i].Close())
		}
		s.ls = nil
		s.err = errors.Join(errs...)
	}
	return s.err
}

// CloseTogether is Close for links that do not depend on each other: it
// closes them all at once, since detaching waits for an RCU grace period
// per link and one after another would add the waits up.
func (s *Links) CloseTogether() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		errs := make([]error, len(s.ls))
		var wg sync.WaitGroup
		for i, l := range s.ls {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = l.Close()
			}()
		}
		wg.Wait()
		s.ls = nil
		s.err = errors.Join(errs...)
	}
	return s.err
}
