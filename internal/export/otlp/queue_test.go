package otlp

import (
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"

	"github.com/kscope/kscope/internal/config"
	"github.com/kscope/kscope/internal/testutil"
)

// downEndpoint is a loopback port that refuses connections: held by a
// listener that closes every connection unanswered.
func downEndpoint(t *testing.T) string {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln.Addr().String()
}

// With the receiver down, the queue keeps at most its budget: the
// request being retried, then the newest that fit; the older ones are
// dropped and counted, exactly.
func TestQueueBudget(t *testing.T) {
	for _, protocol := range []string{config.OTLPGRPC, config.OTLPHTTP} {
		t.Run(protocol, func(t *testing.T) {
			probe, err := New(Options{Config: &config.OTLP{Endpoint: "a:1"}, Hostname: "test-host"})
			if err != nil {
				t.Fatal(err)
			}
			size := int64(len(probe.encodeMetrics(time.Now(), collection(0))[0].data))
			// room for 3 collections (each encodes to the same size, give
			// or take a digit of its values)
			x := newExporter(t, protocol, downEndpoint(t), Options{QueueBytes: 3*size + size/2})
			x.ReportMetrics(time.Now(), descs, collection(0))
			eventually(t, "the first request retried", time.Minute, func() error { // and out of the queue
				if got := selfMetrics(x); got["requests_failed_total"] < 1 {
					return fmt.Errorf("self metrics %v", got)
				}
				return nil
			})
			for i := 1; i <= 6; i++ {
				x.ReportMetrics(time.Now(), descs, collection(i))
			}
			got := selfMetrics(x)
			want := map[string]float64{"queue_samples": 4 * perCollection, "samples_dropped_total/queue_full": 3 * perCollection, "samples_sent_total": 0, "samples_dropped_total/rejected": 0}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s is %v, want %v (%v)", k, got[k], v, got)
				}
			}
			if got["queue_bytes"] > float64(3*size+size/2) || got["queue_bytes"] < float64(3*size-10) {
				t.Errorf("queue_bytes %v, want about 3 × %d", got["queue_bytes"], size)
			}
		})
	}
}

// Events wait for the next logs request up to MaxEvents; those past it
// are dropped and counted.
func TestEventBound(t *testing.T) {
	x := newExporter(t, config.OTLPGRPC, downEndpoint(t), Options{MaxEvents: 10, Flush: time.Hour})
	for range 15 {
		x.ReportEvent(execEvent(time.Now()))
	}
	got := selfMetrics(x)
	if got["queue_samples"] != 10 || got["samples_dropped_total/queue_full"] != 5 {
		t.Errorf("self metrics %v, want 10 samples queued and 5 dropped", got)
	}
}

// A receiver that refuses a request for good (HTTP 400) is not retried:
// the request's samples are counted as rejected.
func TestRejectedHTTP(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 64<<10)
				c.Read(buf)
				fmt.Fprint(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbad")
			}()
		}
	}()
	x := newExporter(t, config.OTLPHTTP, "http://"+ln.Addr().String(), Options{})
	x.ReportMetrics(time.Now(), descs, collection(0))
	waitSelf(t, x, "samples_dropped_total/rejected", perCollection)
	checkSelf(t, x, map[string]float64{
		"queue_samples": 0, "queue_bytes": 0, "queue_max_bytes": DefaultQueueBytes,
		"samples_sent_total": 0, "requests_failed_total": 1,
		"samples_dropped_total/queue_full": 0, "samples_dropped_total/rejected": perCollection,
	})
}

// A collection is encoded into requests of at most maxPoints points.
func TestMetricsSplit(t *testing.T) {
	x, err := New(Options{Config: &config.OTLP{Endpoint: "a:1"}, Hostname: "test-host"})
	if err != nil {
		t.Fatal(err)
	}
	var samples = collection(0)
	for len(samples) < maxPoints+3 {
		samples = append(samples, collection(len(samples))...)
	}
	reqs := x.encodeMetrics(time.Unix(1, 0), samples)
	var ns []int
	for _, r := range reqs {
		ns = append(ns, r.n)
		req := pmetricotlp.NewExportRequest()
		if err := req.UnmarshalProto(r.data); err != nil {
			t.Fatal(err)
		}
		if got := req.Metrics().DataPointCount(); got != r.n {
			t.Errorf("a request of %d points holds %d", r.n, got)
		}
	}
	if want := []int{maxPoints, len(samples) - maxPoints}; !slices.Equal(ns, want) {
		t.Errorf("requests of %v points, want %v", ns, want)
	}
}

// Stop sends what is waiting: events not yet flushed and queued
// requests.
func TestStopFlushesOTelCollector(t *testing.T) {
	c := testutil.StartOTelCollector(t)
	x := newExporter(t, config.OTLPGRPC, c.GRPCAddr(), Options{Flush: time.Hour})
	ev := execEvent(time.Now().Truncate(time.Millisecond))
	x.ReportEvent(ev)
	if err := x.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := selfMetrics(x)["samples_sent_total"]; got != 1 {
		t.Errorf("%v samples sent by Stop, want 1", got)
	}
	waitLines(t, "logs", func() ([]string, error) {
		ls, err := receivedLogs(c)
		return recordLines(ls), err
	}, []string{wantRecord(ev.Header.Time, string(ev.JSON))})
}

// An event's JSON fields become attributes in their order: integers as
// ints (past int64 as text), other numbers as doubles, objects as maps,
// arrays as slices, null as empty; a repeated key keeps its last value.
func TestDecodeFields(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{}`, ``},
		{`{"a":1,"b":"x","c":true,"d":null}`, `a=1(Int) b=x(Str) c=true(Bool) d=(Empty)`},
		{`{"n":-9223372036854775808,"u":18446744073709551615,"f":1.5,"e":1e3}`, `n=-9223372036854775808(Int) u=18446744073709551615(Str) f=1.5(Double) e=1000(Double)`},
		{`{"m":{"z":1,"a":[1,"x"]},"s":[]}`, `m={"a":[1,"x"],"z":1}(Map) s=[](Slice)`},
		{`{"a":1,"a":2}`, `a=2(Int)`},
	} {
		fields, err := decodeFields([]byte(tc.in))
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		m := pcommon.NewMap()
		for _, f := range fields {
			putValue(m.PutEmpty(f.key), f.value)
		}
		var parts []string
		m.Range(func(k string, v pcommon.Value) bool {
			parts = append(parts, fmt.Sprintf("%s=%s(%s)", k, v.AsString(), v.Type()))
			return true
		})
		if got := strings.Join(parts, " "); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.in, got, tc.want)
		}
	}
	for _, bad := range []string{``, `[]`, `"x"`, `{"a":}`, `{"a":1`} {
		if _, err := decodeFields([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// decodeFields never panics, and on a JSON object finds the keys
// encoding/json finds.
func FuzzDecodeFields(f *testing.F) {
	f.Add([]byte(`{"a":1,"b":[1,2,{"c":null}],"d":"e"}`))
	f.Add([]byte(`{"a":1,"a":2}`))
	f.Add(execEvent(time.Unix(1, 0)).JSON)
	f.Fuzz(func(t *testing.T, data []byte) {
		fields, err := decodeFields(data)
		var m map[string]any
		if json.Unmarshal(data, &m) != nil || m == nil {
			return
		}
		if err != nil {
			t.Fatalf("%q: %v", data, err)
		}
		if len(fields) != len(m) {
			t.Fatalf("%q: %d fields, encoding/json finds %d", data, len(fields), len(m))
		}
		attrs := pcommon.NewMap()
		for _, f := range fields {
			if _, ok := m[f.key]; !ok {
				t.Fatalf("%q: key %q unknown to encoding/json", data, f.key)
			}
			putValue(attrs.PutEmpty(f.key), f.value)
		}
	})
}

// An endpoint becomes the signals' URLs over HTTP (its path their base)
// and a target over gRPC; plaintext with insecure or an http:// URL.
func TestEndpoints(t *testing.T) {
	for _, tc := range []struct {
		endpoint string
		insecure bool
		want     [3]string
	}{
		{"http://c:4318", false, [3]string{"http://c:4318/v1/metrics", "http://c:4318/v1/logs", "http://c:4318/v1development/profiles"}},
		{"https://gw:443/otlp/", false, [3]string{"https://gw:443/otlp/v1/metrics", "https://gw:443/otlp/v1/logs", "https://gw:443/otlp/v1development/profiles"}},
		{"c:4318", true, [3]string{"http://c:4318/v1/metrics", "http://c:4318/v1/logs", "http://c:4318/v1development/profiles"}},
		{"c:4318", false, [3]string{"https://c:4318/v1/metrics", "https://c:4318/v1/logs", "https://c:4318/v1development/profiles"}},
	} {
		tr, err := newTransport(&config.OTLP{Endpoint: tc.endpoint, Protocol: config.OTLPHTTP, Insecure: tc.insecure})
		if err != nil {
			t.Fatal(err)
		}
		if got := tr.(*httpTransport).urls; got != tc.want {
			t.Errorf("%s (insecure %v): %v, want %v", tc.endpoint, tc.insecure, got, tc.want)
		}
	}
	for _, tc := range []struct{ endpoint, target string }{
		{"c:4317", "c:4317"},
		{"http://c:4317", "c:4317"},
		{"https://c:4317", "c:4317"},
	} {
		tr, err := newTransport(&config.OTLP{Endpoint: tc.endpoint, Protocol: config.OTLPGRPC})
		if err != nil {
			t.Fatal(err)
		}
		g := tr.(*grpcTransport)
		if g.cc.CanonicalTarget() != "dns:///"+tc.target {
			t.Errorf("%s: target %s, want dns:///%s", tc.endpoint, g.cc.CanonicalTarget(), tc.target)
		}
		tr.close()
	}
}
