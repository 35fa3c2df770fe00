package remotewrite

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestParseName(t *testing.T) {
	for _, tc := range []struct {
		name string
		want entry
		ok   bool
	}{
		{"00000000000000000042-500.rw", entry{seq: 42, samples: 500}, true},
		{"00000000000000000000-0.rw", entry{}, true},
		{"00000000000000000007-3.rw2", entry{seq: 7, samples: 3, v2: true}, true},
		{"00000000000000000042-500.rw.tmp", entry{}, false},
		{"00000000000000000042.rw", entry{}, false},
		{"x-1.rw", entry{}, false},
		{"1--1.rw", entry{}, false},
		{"1-1.wal", entry{}, false},
	} {
		got, ok := parseName(tc.name)
		if ok != tc.ok || got != tc.want {
			t.Errorf("parseName(%q) = %+v, %v; want %+v, %v", tc.name, got, ok, tc.want, tc.ok)
		}
		if ok && got.name() != tc.name {
			t.Errorf("%+v names itself %q, not %q", got, got.name(), tc.name)
		}
	}
}

func FuzzParseName(f *testing.F) {
	f.Add("00000000000000000042-500.rw")
	f.Add("1-2.rw")
	f.Fuzz(func(t *testing.T, name string) {
		e, ok := parseName(name)
		if !ok {
			return
		}
		if back, ok := parseName(e.name()); !ok || back != e {
			t.Errorf("%q: %+v, printed %q, read back %+v", name, e, e.name(), back)
		}
	})
}

// Past its budget the queue deletes the oldest requests, never the one
// being sent, and counts their samples; a restart finds what is left, in
// order, and a temporary file left by a crash is removed.
func TestQueueBudget(t *testing.T) {
	dir := t.TempDir()
	q, err := openQueue(dir, 100)
	if err != nil {
		t.Fatal(err)
	}
	req := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 30) }
	for i := 1; i <= 3; i++ {
		if err := q.push(req(i), i, false); err != nil {
			t.Fatal(err)
		}
	}
	e, data, ok := q.peek() // request 1 is being sent
	if !ok || e.samples != 1 || !bytes.Equal(data, req(1)) {
		t.Fatalf("peek: %+v %v %v", e, data, ok)
	}
	for i := 4; i <= 5; i++ { // 4 evicts 2, 5 evicts 3
		if err := q.push(req(i), i, false); err != nil {
			t.Fatal(err)
		}
	}
	if n, b, reqs, dropped := q.stats(); n != 1+4+5 || b != 90 || reqs != 3 || dropped != 2+3 {
		t.Errorf("stats %d samples, %d bytes, %d requests, %d dropped; want 10, 90, 3, 5", n, b, reqs, dropped)
	}
	q.release() // not sent: it stays first
	if err := q.push(make([]byte, 101), 7, false); err == nil {
		t.Error("a request over the whole budget was queued")
	}
	if _, _, _, dropped := q.stats(); dropped != 2+3+7 {
		t.Errorf("dropped %d, want 12", dropped)
	}

	os.WriteFile(filepath.Join(dir, "00000000000000000009-9.rw.tmp"), []byte("partial"), 0o600)
	q, err = openQueue(dir, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []int{1, 4, 5} {
		e, data, ok := q.peek()
		if !ok || e.samples != want || !bytes.Equal(data, req(want)) {
			t.Fatalf("after a restart: %+v %v %v, want request %d", e, data, ok, want)
		}
		q.done(e)
	}
	if _, _, ok := q.peek(); ok {
		t.Error("the queue is not empty")
	}
	if des, _ := os.ReadDir(dir); len(des) != 0 {
		t.Errorf("files left: %v", des)
	}
	// Sequence numbers go on after a restart.
	if err := q.push(req(8), 8, false); err != nil {
		t.Fatal(err)
	}
	if e, _, _ := q.peek(); e.seq != 5 {
		t.Errorf("sequence %d after a restart, want 5", e.seq)
	}
}
