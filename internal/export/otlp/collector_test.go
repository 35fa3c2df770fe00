package otlp

import (
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pprofile"

	"github.com/kscope/kscope/internal/testutil"
)

// receivedMetrics is every metrics payload the collector received.
func receivedMetrics(c *testutil.OTelCollector) ([]pmetric.Metrics, error) {
	var out []pmetric.Metrics
	for _, l := range c.Lines("metrics") {
		m, err := (&pmetric.JSONUnmarshaler{}).UnmarshalMetrics(l)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

func receivedLogs(c *testutil.OTelCollector) ([]plog.Logs, error) {
	var out []plog.Logs
	for _, l := range c.Lines("logs") {
		m, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(l)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

func receivedProfiles(c *testutil.OTelCollector) ([]pprofile.Profiles, error) {
	var out []pprofile.Profiles
	for _, l := range c.Lines("profiles") {
		m, err := (&pprofile.JSONUnmarshaler{}).UnmarshalProfiles(l)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}
