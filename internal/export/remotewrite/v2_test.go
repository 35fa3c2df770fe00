package remotewrite

import (
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	remoteapi "github.com/prometheus/client_golang/exp/api/remote"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"

	"github.com/kscope/kscope/internal/testutil"
)

// store keeps what a receiver decoded, by series, and which message
// types it was sent.
type store struct {
	mu     sync.Mutex
	series map[string][]testutil.Point
	types  []remoteapi.WriteMessageType
}

func (s *store) Store(req *http.Request, typ remoteapi.WriteMessageType) (*remoteapi.WriteResponse, error) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.types = append(s.types, typ)
	add := func(lset labels.Labels, t int64, v float64) {
		s.series[lset.String()] = append(s.series[lset.String()], testutil.Point{T: t, V: strconv.FormatFloat(v, 'f', -1, 64)})
	}
	switch typ {
	case remoteapi.WriteV1MessageType:
		var r prompb.WriteRequest
		if err := r.Unmarshal(body); err != nil {
			return nil, err
		}
		for _, ts := range r.Timeseries {
			for _, p := range ts.Samples {
				add(ts.ToLabels(&labels.ScratchBuilder{}, nil), p.Timestamp, p.Value)
			}
		}
	case remoteapi.WriteV2MessageType:
		var r writev2.Request
		if err := r.Unmarshal(body); err != nil {
			return nil, err
		}
		for _, ts := range r.Timeseries {
			lset, err := ts.ToLabels(&labels.ScratchBuilder{}, r.Symbols)
			if err != nil {
				return nil, err
			}
			if ts.Metadata.Type == writev2.Metadata_METRIC_TYPE_UNSPECIFIED || r.Symbols[ts.Metadata.HelpRef] == "" {
				return nil, io.ErrUnexpectedEOF // no metadata
			}
			for _, p := range ts.Samples {
				add(lset, p.Timestamp, p.Value)
			}
		}
	}
	return remoteapi.NewWriteResponse(), nil
}

func (s *store) snapshot() (map[string][]testutil.Point, []remoteapi.WriteMessageType) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.series), slices.Clone(s.types)
}

// receiver serves Prometheus's remote-write protocol handler
// (client_golang's, which Prometheus's own receiver is built on: content
// negotiation, 415 for a message it does not take, snappy) for the
// message types accepted.
func receiver(t *testing.T, accepted ...remoteapi.WriteMessageType) (*store, string) {
	s := &store{series: map[string][]testutil.Point{}}
	srv := httptest.NewServer(remoteapi.NewWriteHandler(s, accepted))
	t.Cleanup(srv.Close)
	return s, srv.URL + "/api/v1/write"
}

func newExporterV2(t *testing.T, url string) *Exporter {
	t.Helper()
	x := newExporter(t, url, t.TempDir())
	x.useV2.Store(true) // as protobuf_message: io.prometheus.write.v2.Request sets it
	return x
}

// Remote-write 2.0 to a receiver that takes it: every series arrives
// with its exact values and its metadata.
func TestRemoteWrite2(t *testing.T) {
	s, url := receiver(t, remoteapi.WriteV2MessageType)
	x := newExporterV2(t, url)
	t0 := time.Now().Truncate(time.Second)
	ts := []time.Time{t0, t0.Add(time.Second)}
	for i, at := range ts {
		x.ReportMetrics(at, descs, collection(i))
	}
	waitSelf(t, x, "samples_sent_total", 2*perCollection)
	got, types := s.snapshot()
	if w := want(ts, []int{0, 1}); !maps.EqualFunc(got, w, slices.Equal) {
		t.Errorf("the receiver holds\n%s\nwant\n%s", dump(got), dump(w))
	}
	if len(types) != 6 || slices.ContainsFunc(types, func(m remoteapi.WriteMessageType) bool { return m != remoteapi.WriteV2MessageType }) {
		t.Errorf("sent %v, want 6 2.0 requests (8 series, 3 a request, twice)", types)
	}
	if got := selfMetrics(x)["requests_failed_total"]; got != 0 {
		t.Errorf("%v requests failed", got)
	}
}

// A receiver that takes 1.0 only answers 2.0 with 415: the request
// queued as 2.0 is sent again as 1.0, and so is everything after.
func TestRemoteWrite2Fallback(t *testing.T) {
	s, url := receiver(t, remoteapi.WriteV1MessageType)
	x := newExporterV2(t, url)
	t0 := time.Now().Truncate(time.Second)
	ts := []time.Time{t0, t0.Add(time.Second)}
	x.ReportMetrics(ts[0], descs, collection(0))
	waitSelf(t, x, "samples_sent_total", perCollection)
	if x.useV2.Load() {
		t.Error("still sending 2.0 after a 415")
	}
	x.ReportMetrics(ts[1], descs, collection(1))
	waitSelf(t, x, "samples_sent_total", 2*perCollection)
	got, types := s.snapshot()
	if w := want(ts, []int{0, 1}); !maps.EqualFunc(got, w, slices.Equal) {
		t.Errorf("the receiver holds\n%s\nwant\n%s", dump(got), dump(w))
	}
	if len(types) != 6 {
		t.Errorf("received %d requests, want 6", len(types))
	}
	if got := selfMetrics(x); got["samples_dropped_total/rejected"] != 0 || got["requests_failed_total"] != 0 {
		t.Errorf("self metrics %v", got)
	}
}
