package http

import (
	"io"
	"log/slog"
	"testing"
	"time"
	"unsafe"

	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/output"
	"github.com/kscope/kscope/internal/store"
)

// The messages of bench/http.sh's load: httpload's request and the Go
// server's answer to it.
const (
	benchReq  = "GET / HTTP/1.1\r\nHost: 127.0.0.1:38211\r\nUser-Agent: Go-http-client/1.1\r\nAccept-Encoding: gzip\r\n\r\n"
	benchResp = "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain; charset=utf-8\r\nDate: Sun, 06 Dec 2026 15:19:21 GMT\r\n\r\nhello, world\n"
)

// rawRecord builds a ring buffer record as bpf/http.bpf.c's data() writes
// it for a call that moved msg whole, at the turn of a connection: the
// capture of the message's start and the call's last bytes as its tail.
func rawRecord(sk uint64, dir uint8, ts uint64, lport, rport uint16, msg string) []byte {
	var r httpHttpChunk
	r.Hdr.TsNs, r.Hdr.Pid, r.Hdr.Tid, r.Hdr.Ppid, r.Hdr.Uid = ts, 4242, 4243, 1, 0
	r.Hdr.StartNs, r.Hdr.PstartNs, r.Hdr.CgroupId = 1e9, 1e8, 7
	copy(r.Hdr.Comm[:], "httpload")
	r.Began = ts
	r.Sk, r.Len, r.Fd = sk, uint32(len(msg)), 7
	r.Dir, r.Kind, r.Src = dir, kindData, srcSyscall
	r.Family, r.Lport, r.Rport = 2, lport, rport
	r.Laddr = [16]byte{127, 0, 0, 1}
	r.Raddr = [16]byte{127, 0, 0, 1}
	r.TailLen = 8
	copy(r.Tail[:], msg[len(msg)-8:])
	r.Cap = uint16(copy(r.Data[:], msg))
	b := unsafe.Slice((*byte)(unsafe.Pointer(&r)), headSize+int(r.Cap))
	return append([]byte(nil), b...)
}

// benchRecords is one exchange as both ends on the host report it: the
// client writes the request and reads the response (socket 2), the server
// reads the request and writes the response (socket 1); 4 records.
func benchRecords(ts uint64) [][]byte {
	return [][]byte{
		rawRecord(2, dirOut, ts, 40000, 8080, benchReq),
		rawRecord(1, dirIn, ts+1000, 8080, 40000, benchReq),
		rawRecord(1, dirOut, ts+20000, 8080, 40000, benchResp),
		rawRecord(2, dirIn, ts+25000, 40000, 8080, benchResp),
	}
}

// countSink counts events and does nothing else: the user-space cost of
// the collector alone.
type countSink struct{ n int }

func (s *countSink) Emit(event.Event) { s.n++ }
func (s *countSink) Flush()           {}

// benchCollector is a started collector's user-space side without BPF:
// records go in through handle, as the ring buffer reader hands them.
func benchCollector(sink event.Sink) *Collector {
	c := &Collector{cfg: collector.Config{Logger: slog.New(slog.DiscardHandler)}, red: map[redKey]*redVal{}, sink: sink}
	c.tr = newTracker(collector.NewClock(), c.emit)
	return c
}

// BenchmarkMessage measures the user-space path of one message (one ring
// buffer record): decode, copy, reorder, parse, pairing, the RED counters
// and the event, into a sink that only counts ("collector"), that prints
// JSON lines as `kscope trace http --json` does ("trace-json"), or into
// the agent's event store ("agent-store", SQLite writes included). Every 16
// records the queue is processed, as the reader does when the ring buffer
// is drained.
func BenchmarkMessage(b *testing.B) {
	for _, bc := range []struct {
		name string
		sink func() event.Sink
	}{
		{"collector", func() event.Sink { return &countSink{} }},
		{"trace-json", func() event.Sink { return output.NewWriter(io.Discard, true) }},
		{"agent-store", nil},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var events *store.Events
			if bc.sink == nil {
				// The agent's event store: JSON once, then a SQLite
				// insert on its writer goroutine, waited for at the end.
				var err error
				events, err = store.OpenEvents(b.TempDir(), time.Hour, 1<<20, slog.New(slog.DiscardHandler))
				if err != nil {
					b.Fatal(err)
				}
				bc.sink = func() event.Sink { return events }
			}
			const step = 100000 // ns between exchanges
			// 256 exchanges' records, their times shifted per round.
			var recs [][]byte
			for i := range 256 {
				recs = append(recs, benchRecords(uint64(i)*step)...)
			}
			c := benchCollector(bc.sink())
			base := uint64(0)
			offs := [4]uint64{0, 1000, 20000, 25000}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				j := i % len(recs)
				if j == 0 && i > 0 {
					base += uint64(len(recs)/4) * step
				}
				r := recs[j]
				raw := (*httpHttpChunk)(unsafe.Pointer(&r[0]))
				ts := base + uint64(j/4)*step + offs[j%4]
				raw.Hdr.TsNs, raw.Began = ts, ts
				c.handle(r)
				if i%16 == 15 {
					c.process(ts)
					c.sink.Flush()
				}
			}
			c.process(^uint64(0))
			if events != nil {
				if err := events.Close(); err != nil {
					b.Fatal(err)
				}
				if events.Dropped() > 0 || events.Failed() > 0 {
					b.Fatalf("event store dropped %d and failed %d events", events.Dropped(), events.Failed())
				}
			}
		})
	}
}

// TestBenchRecords checks that the benchmark's records make the exchanges
// they stand for, so that it measures the path events take.
func TestBenchRecords(t *testing.T) {
	var evs []event.HTTP
	sink := sinkFunc(func(e event.Event) { evs = append(evs, *e.(*event.HTTP)) })
	c := benchCollector(sink)
	for _, r := range benchRecords(1000) {
		c.handle(r)
	}
	c.process(^uint64(0))
	if len(evs) != 2 {
		t.Fatalf("%d events, want 2: %+v", len(evs), evs)
	}
	want := []struct {
		role      string
		lat       uint64
		in, out   uint64
		laddr, ra string
	}{
		{"server", 19000, uint64(len(benchReq)), uint64(len(benchResp)), "127.0.0.1:8080", "127.0.0.1:40000"},
		{"client", 25000, uint64(len(benchResp)), uint64(len(benchReq)), "127.0.0.1:40000", "127.0.0.1:8080"},
	}
	for i, w := range want {
		e := evs[i]
		if e.Role != w.role || e.Method != "GET" || e.Path != "/" || e.Host != "127.0.0.1:38211" || e.Status != 200 ||
			e.LatencyNS != w.lat || e.BytesIn != w.in || e.BytesOut != w.out || e.LAddr != w.laddr || e.RAddr != w.ra ||
			e.Comm != "httpload" || e.PID != 4242 || e.TLS {
			t.Errorf("event %d: %+v", i, e)
		}
	}
}

type sinkFunc func(event.Event)

func (f sinkFunc) Emit(e event.Event) { f(e) }
func (sinkFunc) Flush()               {}
