package export

import (
	"context"
	"time"

	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/metrics"
	"github.com/kscope/kscope/internal/profile"
)

// Exporter sends what the agent collects elsewhere. The agent calls Start
// once before any Report, and Stop once after the last.
//
// The Report methods are called from the agent's collection, collector
// and profile goroutines, concurrently: they must be safe for that and
// must not block on the network. An exporter queues what it sends with a
// bound, drops what does not fit and counts the drops (reported through
// metrics.Source if it implements it).
type Exporter interface {
	// Name identifies the exporter in logs and metrics.
	Name() string
	// Start prepares the exporter (connections, queues, its goroutines).
	// A failed Start leaves the agent running without the exporter.
	Start(ctx context.Context) error
	// Stop sends what is queued, as far as ctx allows, and releases
	// everything.
	Stop(ctx context.Context) error
	MetricReporter
	EventReporter
	ProfileReporter
}

// MetricReporter receives each collection: the samples the agent appends
// to its TSDB at t. The slices and the samples' label values are valid
// only during the call.
type MetricReporter interface {
	ReportMetrics(t time.Time, descs []*metrics.Desc, samples []metrics.Sample)
}

// EventReporter receives each event the agent stores.
type EventReporter interface {
	ReportEvent(e Event)
}

// ProfileReporter receives each profile window the agent stores. The
// profile must not be modified.
type ProfileReporter interface {
	ReportProfile(p *profile.Profile)
}

// Event is one event as the agent stores it: its header and its JSON
// encoding, the object the event store and the live stream hold. JSON is
// shared with them: it may be kept but never modified.
type Event struct {
	Header event.Header
	JSON   []byte
}
