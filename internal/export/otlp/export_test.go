package otlp

import (
	"fmt"
	"testing"
	"time"

	"github.com/kscope/kscope/internal/config"
	"github.com/kscope/kscope/internal/testutil"
)

// Two collections, an event and a profile window reach a real
// OpenTelemetry Collector over gRPC with their exact values: counters as
// cumulative monotonic sums, a gauge, a histogram, the event as a log
// record, the profile as the profiles signal; the container's series and
// event under a resource with its container and k8s attributes.
func TestSendsGRPCOTelCollector(t *testing.T) { sends(t, config.OTLPGRPC) }

// The same over HTTP (protobuf).
func TestSendsHTTPOTelCollector(t *testing.T) { sends(t, config.OTLPHTTP) }

func sends(t *testing.T, protocol string) {
	c := testutil.StartOTelCollector(t)
	endpoint := c.GRPCAddr()
	if protocol == config.OTLPHTTP {
		endpoint = "http://" + c.HTTPAddr()
	}
	x := newExporter(t, protocol, endpoint, Options{})
	t0 := time.Now().Truncate(time.Millisecond)
	ts := []time.Time{t0, t0.Add(time.Second)}
	for i, at := range ts {
		x.ReportMetrics(at, descs, collection(i))
	}
	ev := execEvent(t0.Add(-time.Second))
	x.ReportEvent(ev)
	x.ReportProfile(cpuProfile(t0.Add(-10 * time.Second)))
	waitSelf(t, x, "samples_sent_total", 2*perCollection+1+perProfile)

	waitLines(t, "metrics", func() ([]string, error) {
		ms, err := receivedMetrics(c)
		return pointLines(ms), err
	}, wantPoints(x.start, ts, []int{0, 1}))
	waitLines(t, "logs", func() ([]string, error) {
		ls, err := receivedLogs(c)
		return recordLines(ls), err
	}, []string{wantRecord(ev.Header.Time, string(ev.JSON))})
	waitLines(t, "profiles", func() ([]string, error) {
		ps, err := receivedProfiles(c)
		return sampleLines(ps), err
	}, wantProfile(t0.Add(-10*time.Second)))
	checkSelf(t, x, map[string]float64{
		"queue_samples": 0, "queue_bytes": 0, "queue_max_bytes": DefaultQueueBytes,
		"samples_sent_total": 2*perCollection + 1 + perProfile, "requests_failed_total": 0,
		"samples_dropped_total/queue_full": 0, "samples_dropped_total/rejected": 0,
	})
}

// The collector's ports go down while the agent collects: the requests
// are retried with backoff, counted as failed, held in the queue; when
// the ports come back every collection and event arrives with its exact
// values.
func TestOutageOTelCollector(t *testing.T) {
	for _, protocol := range []string{config.OTLPGRPC, config.OTLPHTTP} {
		t.Run(protocol, func(t *testing.T) {
			c := testutil.StartOTelCollector(t)
			endpoint := c.GRPCAddr()
			if protocol == config.OTLPHTTP {
				endpoint = "http://" + c.HTTPAddr()
			}
			c.Down()
			x := newExporter(t, protocol, endpoint, Options{})
			t0 := time.Now().Truncate(time.Millisecond)
			ts := []time.Time{t0, t0.Add(time.Second), t0.Add(2 * time.Second)}
			for i, at := range ts {
				x.ReportMetrics(at, descs, collection(i))
			}
			ev := execEvent(t0)
			x.ReportEvent(ev)
			eventually(t, "retries while down", time.Minute, func() error {
				got := selfMetrics(x)
				if got["requests_failed_total"] < 3 || got["queue_samples"] != 3*perCollection+1 {
					return fmt.Errorf("self metrics %v: want 3 failures or more, %d samples queued", got, 3*perCollection+1)
				}
				return nil
			})
			if got := selfMetrics(x)["samples_sent_total"]; got != 0 {
				t.Fatalf("%v samples sent while the receiver is down", got)
			}
			c.Up()
			waitSelf(t, x, "samples_sent_total", 3*perCollection+1)
			waitLines(t, "metrics", func() ([]string, error) {
				ms, err := receivedMetrics(c)
				return pointLines(ms), err
			}, wantPoints(x.start, ts, []int{0, 1, 2}))
			waitLines(t, "logs", func() ([]string, error) {
				ls, err := receivedLogs(c)
				return recordLines(ls), err
			}, []string{wantRecord(ev.Header.Time, string(ev.JSON))})
			got := selfMetrics(x)
			if got["queue_samples"] != 0 || got["samples_dropped_total/queue_full"] != 0 || got["samples_dropped_total/rejected"] != 0 {
				t.Errorf("self metrics after the outage %v", got)
			}
		})
	}
}
