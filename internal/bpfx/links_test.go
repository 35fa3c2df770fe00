package bpfx_test

import (
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/cilium/ebpf/link"

	"github.com/kscope/kscope/internal/bpfx"
)

// recorder is a link that notes when it is closed; the embedded nil
// link.Link supplies the methods Links never calls.
type recorder struct {
	link.Link
	name   string
	mu     *sync.Mutex
	closed *[]string
	err    error
}

func (r recorder) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	*r.closed = append(*r.closed, r.name)
	return r.err
}

// TestLinks: links close last added first, once however often Close is
// called, and a link added after Close is closed at once.
func TestLinks(t *testing.T) {
	var (
		mu     sync.Mutex
		closed []string
	)
	rec := func(name string, err error) link.Link {
		return recorder{name: name, mu: &mu, closed: &closed, err: err}
	}
	errB := errors.New("b refused")
	var s bpfx.Links
	s.Add(rec("a", nil), rec("b", errB))
	s.Add(rec("c", nil))
	if s.Len() != 3 {
		t.Errorf("Len = %d, want 3", s.Len())
	}
	for i := range 2 {
		if err := s.Close(); !errors.Is(err, errB) {
			t.Errorf("Close #%d = %v, want b's error", i+1, err)
		}
	}
	if want := []string{"c", "b", "a"}; !slices.Equal(closed, want) {
		t.Errorf("closed %v, want %v", closed, want)
	}
	s.Add(rec("late", nil))
	if want := []string{"c", "b", "a", "late"}; !slices.Equal(closed, want) || s.Len() != 0 {
		t.Errorf("closed %v with %d held, want %v and none", closed, s.Len(), want)
	}

	// Together: each closed once, in any order.
	closed = nil
	var tg bpfx.Links
	tg.Add(rec("x", nil), rec("y", nil), rec("z", nil))
	tg.CloseTogether()
	tg.CloseTogether()
	tg.Close()
	slices.Sort(closed)
	if want := []string{"x", "y", "z"}; !slices.Equal(closed, want) {
		t.Errorf("closed together %v, want %v", closed, want)
	}

	// The zero value closes to nothing, as after a Start that failed
	// before attaching.
	var empty bpfx.Links
	if err := empty.Close(); err != nil {
		t.Errorf("Close of no links = %v", err)
	}
}
