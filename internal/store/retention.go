package store

import (
	"fmt"
	"time"

	"github.com/alecthomas/units"
	"github.com/prometheus/common/model"
	promconfig "github.com/prometheus/prometheus/config"
)

// SetRetention changes how long the metrics store keeps samples, as
// Prometheus applies storage.tsdb.retention on a configuration reload.
// maxBytes is the size budget (0: none). The next compaction deletes the
// blocks past them.
func (m *Metrics) SetRetention(d time.Duration, maxBytes int64) error {
	var c promconfig.Config
	c.StorageConfig.TSDBConfig = &promconfig.TSDBConfig{
		Retention: &promconfig.TSDBRetentionConfig{Time: model.Duration(d), Size: units.Base2Bytes(maxBytes)},
	}
	if err := m.db.ApplyConfig(&c); err != nil {
		return fmt.Errorf("changing the metrics retention: %w", err)
	}
	return nil
}

// SetRetention changes how long events are kept, from the next expiry on.
func (e *Events) SetRetention(d time.Duration) { e.retention.Store(int64(d)) }

// SetRetention changes how long profile windows are kept, from the next
// expiry on.
func (p *Profiles) SetRetention(d time.Duration) { p.retention.Store(int64(d)) }
