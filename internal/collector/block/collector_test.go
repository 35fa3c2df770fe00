package block_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/collector/block"
	"github.com/kscope/kscope/internal/metrics"
	"github.com/kscope/kscope/internal/testutil"
)

// start runs a block collector until the test ends.
func start(t testing.TB, cfg collector.Config) *block.Collector {
	t.Helper()
	testutil.RequireBPF(t)
	c, err := collector.New(block.Name, cfg)
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
	return c.(*block.Collector)
}

func collect(t testing.TB, c *block.Collector) *metrics.Emitter {
	t.Helper()
	var e metrics.Emitter
	if err := c.Collect(&e); err != nil {
		t.Fatalf("collecting: %v", err)
	}
	return &e
}

// ioCounts is what one device and op did.
type ioCounts struct {
	ops, bytes, timed float64
}

func counts(e *metrics.Emitter, device, op string) ioCounts {
	var c ioCounts
	c.ops, _ = e.Sum("kscope_block_io_operations_total", "device", device, "op", op)
	c.bytes, _ = e.Sum("kscope_block_io_bytes_total", "device", device, "op", op)
	c.timed, _ = e.Sum("kscope_block_io_duration_seconds", "device", device, "op", op)
	return c
}

func (a ioCounts) sub(b ioCounts) ioCounts {
	return ioCounts{a.ops - b.ops, a.bytes - b.bytes, a.timed - b.timed}
}

// TestLoopDirectReads reads exactly n blocks with O_DIRECT from a loop
// device of its own and expects exactly n read requests of 4096 bytes on
// it: O_DIRECT reads issued one at a time are never merged.
func TestLoopDirectReads(t *testing.T) {
	for _, raw := range []bool{false, true} {
		name := "tp_btf"
		if raw {
			name = "raw_tracepoint"
		}
		t.Run(name, func(t *testing.T) {
			if raw {
				defer bpfx.ForceHook(block.Name, bpfx.FeatRawTracepoint)()
			}
			c := start(t, collector.Config{})
			if c.UsesBTF() == raw {
				t.Fatalf("tp_btf programs loaded: %v, want %v", c.UsesBTF(), !raw)
			}
			loop := newLoop(t, 1<<20)
			r := newDirectReader(t, loop.path)
			if got := block.DevName(loop.dev); got != loop.name {
				t.Fatalf("device name of %s: %q", loop.path, got)
			}

			const n = 64
			before := collect(t, c)
			for i := 0; i < n; i++ {
				r.read(t, i)
			}
			after := collect(t, c)

			got := counts(after, loop.name, "read").sub(counts(before, loop.name, "read"))
			if got != (ioCounts{n, n * 4096, n}) {
				t.Errorf("%s reads: %+v, want %d requests, %d bytes, %d timed", loop.name, got, n, n*4096, n)
			}
			for _, op := range []string{"write", "flush", "discard", "other"} {
				if d := counts(after, loop.name, op).sub(counts(before, loop.name, op)); d != (ioCounts{}) {
					t.Errorf("%s %s: %+v, want nothing", loop.name, op, d)
				}
			}
			// Every timed request took at least 1µs and less than 17 s.
			for _, s := range after.Find("kscope_block_io_duration_seconds", "device", loop.name, "op", "read") {
				h := s.Hist
				if h.Counts[len(h.Counts)-1] != 0 || h.Sum <= 0 {
					t.Errorf("duration histogram: %+v", h)
				}
			}
			queued, _ := after.Sum("kscope_block_io_queue_duration_seconds", "device", loop.name, "op", "read")
			if queued > n {
				t.Errorf("%v requests with a queue time, more than the %d made", queued, n)
			}
			t.Logf("%s: %d reads; %v of them with a queue time", loop.name, n, queued)
		})
	}
}

// TestPartitionReads reads from a partition of a loop device: the requests
// are issued on the disk's queue and count on the disk, which is also what
// WholeDisk resolves the partition to.
func TestPartitionReads(t *testing.T) {
	c := start(t, collector.Config{})
	loop, part := newPartitionedLoop(t, 4<<20)
	var st unix.Stat_t
	if err := unix.Stat(part, &st); err != nil {
		t.Fatal(err)
	}
	disk, err := block.WholeDisk(unix.Major(st.Rdev), unix.Minor(st.Rdev))
	if err != nil || disk != loop.dev {
		t.Fatalf("disk of %s (%d:%d): %d:%d, %v; want %s", part, unix.Major(st.Rdev), unix.Minor(st.Rdev),
			disk>>20, disk&(1<<20-1), err, loop.name)
	}
	r := newDirectReader(t, part)
	const n = 16
	before := collect(t, c)
	for i := 0; i < n; i++ {
		r.read(t, i)
	}
	after := collect(t, c)
	if got := counts(after, loop.name, "read").sub(counts(before, loop.name, "read")); got != (ioCounts{n, n * 4096, n}) {
		t.Errorf("%s reads on %s: %+v, want %d requests of 4096 bytes", filepath.Base(part), loop.name, got, n)
	}
	if ss := after.Find("kscope_block_io_operations_total", "device", filepath.Base(part)); len(ss) != 0 {
		t.Errorf("the partition has series of its own: %v", ss)
	}
}

// TestErrors writes to a loop device whose backing memfd refuses writes:
// every request completes with BLK_STS_IOERR, errno EIO.
func TestErrors(t *testing.T) {
	c := start(t, collector.Config{})
	loop := newFailingLoop(t, 1<<20)
	fd, err := unix.Open(loop.path, unix.O_WRONLY|unix.O_DIRECT|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	buf, err := unix.Mmap(-1, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(buf)
	const n = 3
	before := collect(t, c)
	for i := 0; i < n; i++ {
		if _, err := unix.Pwrite(fd, buf, int64(i)*4096); !errors.Is(err, unix.EIO) {
			t.Fatalf("O_DIRECT write %d to %s: %v, want EIO", i, loop.path, err)
		}
	}
	after := collect(t, c)
	errs := func(e *metrics.Emitter) float64 {
		v, _ := e.Sum("kscope_block_io_errors_total", "device", loop.name, "op", "write", "errno", "EIO")
		return v
	}
	if got := errs(after) - errs(before); got != n {
		t.Errorf("%s write errors: %v, want %d", loop.name, got, n)
	}
	if got := counts(after, loop.name, "write").sub(counts(before, loop.name, "write")); got != (ioCounts{n, n * 4096, n}) {
		t.Errorf("%s writes: %+v, want %d completed requests of 4096 bytes", loop.name, got, n)
	}
}

// TestRealDiskDirectReads reads a file with O_DIRECT on the disk that holds
// the temporary directory, when that is a block device. The disk is shared
// with the rest of the system, so the counts are at least the reads made;
// they are exact when nothing else read from the disk meanwhile.
func TestRealDiskDirectReads(t *testing.T) {
	dir := t.TempDir()
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	disk, err := block.WholeDisk(unix.Major(st.Dev), unix.Minor(st.Dev))
	if err != nil {
		t.Logf("%s is on no block device (%d:%d: %v); TestLoopDirectReads covers a real one",
			dir, unix.Major(st.Dev), unix.Minor(st.Dev), err)
		return
	}
	c := start(t, collector.Config{})
	name := block.DevName(disk)

	const n = 32
	path := filepath.Join(dir, "data")
	data := make([]byte, n*4096)
	for i := range data {
		data[i] = byte(i * 7)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil { // on disk: O_DIRECT reads reach it
		t.Fatal(err)
	}
	f.Close()
	r := newDirectReader(t, path)

	var got ioCounts
	for attempt := 1; attempt <= 5; attempt++ {
		before := collect(t, c)
		for i := 0; i < n; i++ {
			r.read(t, i)
		}
		got = counts(collect(t, c), name, "read").sub(counts(before, name, "read"))
		if got.ops < n || got.bytes < n*4096 || got.timed < n {
			t.Fatalf("%s (disk of %s) reads: %+v, want at least %d requests of 4096 bytes", name, dir, got, n)
		}
		if got == (ioCounts{n, n * 4096, n}) {
			t.Logf("%s: exactly %d reads of 4096 bytes (attempt %d)", name, n, attempt)
			return
		}
	}
	t.Logf("%s: %+v in the last attempt, %d of them ours; other processes read from the disk too", name, got, n)
}

// TestTopK keeps one device-op pair and folds the rest into "other".
func TestTopK(t *testing.T) {
	c := start(t, collector.Config{TopK: 1})
	a, b := newLoop(t, 1<<20), newLoop(t, 1<<20)
	ra, rb := newDirectReader(t, a.path), newDirectReader(t, b.path)
	before := collect(t, c)
	for i := 0; i < 200; i++ { // more than any other disk does meanwhile
		ra.read(t, i%256)
	}
	for i := 0; i < 20; i++ {
		rb.read(t, i)
	}
	e := collect(t, c)
	series := map[string]bool{}
	for _, s := range e.Find("kscope_block_io_operations_total") {
		series[s.Label("device")+"/"+s.Label("op")] = true
	}
	if len(series) > 2 || !series["other/other"] {
		t.Errorf("series with K=1: %v, want one pair and other/other", series)
	}
	if !series[a.name+"/read"] {
		t.Errorf("the busiest pair %s/read is not kept: %v", a.name, series)
	}
	// As sum(increase(...)): a series that stops being kept goes away.
	prev := map[string]float64{}
	for _, s := range before.Find("kscope_block_io_operations_total") {
		prev[s.Label("device")+"/"+s.Label("op")] = s.Value
	}
	var grew float64
	for _, s := range e.Find("kscope_block_io_operations_total") {
		grew += s.Value - prev[s.Label("device")+"/"+s.Label("op")]
	}
	if grew < 220 {
		t.Errorf("all series together grew by %v, want at least 220", grew)
	}
}

// TestInflightMapFull fills the pending-request map: requests that find
// no room are counted lost, never attributed.
func TestInflightMapFull(t *testing.T) {
	*block.InflightEntries = 4
	defer func() { *block.InflightEntries = 0 }()
	c := start(t, collector.Config{})
	loop := newLoop(t, 1<<20)
	r := newDirectReader(t, loop.path)
	if err := c.FillInflight(); err != nil {
		t.Fatal(err)
	}
	const n = 32
	lostBefore := c.Stats().Lost
	before := collect(t, c)
	for i := 0; i < n; i++ {
		r.read(t, i)
	}
	got := counts(collect(t, c), loop.name, "read").sub(counts(before, loop.name, "read"))
	if lost := c.Stats().Lost - lostBefore; lost < n || got != (ioCounts{}) {
		t.Errorf("full map: %+v counted, %d lost; want nothing counted and at least %d lost", got, lost, n)
	}
}

// TestDescribe checks that every sample belongs to a described family.
func TestDescribe(t *testing.T) {
	c := start(t, collector.Config{})
	loop := newLoop(t, 1<<20)
	r := newDirectReader(t, loop.path)
	for i := 0; i < 4; i++ {
		r.read(t, i)
	}
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
