package config

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/alecthomas/units"
	"gopkg.in/yaml.v3"
)

// Budget is how much of the disk and how many events per second the
// agent may use: the storage, events and profiles sections of the file.
type Budget struct {
	// MaxSize bounds the data directory as a whole (storage.max_size).
	// 0: DefaultMaxSizeShare of the filesystem holding it, at most
	// DefaultMaxSizeCap (see Sizes).
	MaxSize int64
	// RetentionSize bounds the TSDB: blocks, WAL and head chunks, the
	// oldest blocks deleted first, as Prometheus's
	// --storage.tsdb.retention.size (storage.retention_size). 0: half of
	// MaxSize.
	RetentionSize int64
	// EventsMaxSize bounds the event store (events.max_size). 0: 40% of
	// MaxSize.
	EventsMaxSize int64
	// ProfilesMaxSize bounds the profile store (profiles.max_size). 0: 10%
	// of MaxSize.
	ProfilesMaxSize int64
	// EventRate and EventBurst limit each event type of each collector:
	// a token bucket of EventBurst events refilled at EventRate per
	// second (events.rate_limit, events.burst). Beyond it events are
	// dropped and counted.
	EventRate  float64
	EventBurst int
	// EventTypes holds per-type settings (events.types.NAME).
	EventTypes map[string]EventType
}

// EventType is one event type's settings.
type EventType struct {
	// Share is the fraction of the events budget the type may hold
	// (0: none reserved; the type shares what the others leave).
	Share float64
	// Rate and Burst override the events section's (0: theirs).
	Rate  float64
	Burst int
}

// Budget defaults.
const (
	DefaultMaxSizeShare = 0.10     // of the filesystem holding data_dir
	DefaultMaxSizeCap   = 10 << 30 // 10 GiB
	DefaultEventRate    = 1000     // events per second per type and collector
	DefaultEventBurst   = 10000
)

// DefaultBudget is the budget when the file says nothing.
func DefaultBudget() Budget {
	return Budget{EventRate: DefaultEventRate, EventBurst: DefaultEventBurst, EventTypes: map[string]EventType{}}
}

// Sizes are the byte budgets the stores get.
type Sizes struct {
	Total, Metrics, Events, Profiles int64
}

// Sizes resolves the byte budgets for a filesystem of fsBytes bytes: what
// the file says, and for what it does not, shares of MaxSize (itself a
// tenth of the filesystem, at most 10 GiB, when not set).
func (b Budget) Sizes(fsBytes int64) Sizes {
	s := Sizes{Total: b.MaxSize}
	if s.Total == 0 {
		s.Total = min(int64(float64(fsBytes)*DefaultMaxSizeShare), DefaultMaxSizeCap)
	}
	pick := func(set int64, share float64) int64 {
		if set > 0 {
			return set
		}
		return int64(float64(s.Total) * share)
	}
	s.Metrics = pick(b.RetentionSize, 0.5)
	s.Events = pick(b.EventsMaxSize, 0.4)
	s.Profiles = pick(b.ProfilesMaxSize, 0.1)
	return s
}

// ParseSize parses a byte size as Prometheus's retention size does:
// 512MB, 10GB, 1TB (powers of 1024; KiB, MiB, GiB also work) or bytes.
func ParseSize(s string) (int64, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n <= 0 {
			return 0, fmt.Errorf("must be positive")
		}
		return n, nil
	}
	n, err := units.ParseBase2Bytes(s)
	if err != nil {
		return 0, err
	}
	if n <= 0 {
		return 0, fmt.Errorf("must be positive")
	}
	return int64(n), nil
}

func (p *parser) size(v *yaml.Node, key string) int64 {
	n, err := ParseSize(v.Value)
	if v.Kind != yaml.ScalarNode || err != nil {
		p.fail(v, key, "want a size like 512MB, 10GB: %q", v.Value)
	}
	return n
}

func (p *parser) rate(v *yaml.Node, key string) float64 {
	f, err := strconv.ParseFloat(v.Value, 64)
	if v.Kind != yaml.ScalarNode || err != nil || !(f > 0) || f > 1e9 {
		p.fail(v, key, "want events per second, a positive number, not %q", v.Value)
	}
	return f
}

// share parses 25% or 0.25.
func (p *parser) share(v *yaml.Node, key string) float64 {
	s := strings.TrimSpace(v.Value)
	div := 1.0
	if t, ok := strings.CutSuffix(s, "%"); ok {
		s, div = t, 100
	}
	f, err := strconv.ParseFloat(s, 64)
	f /= div
	if v.Kind != yaml.ScalarNode || err != nil || !(f > 0) || f > 1 {
		p.fail(v, key, "want a share of the events budget like 25%% or 0.25, not %q", v.Value)
	}
	return f
}

// storage parses the storage section.
func (p *parser) storage(n *yaml.Node, c *Config) {
	p.mapping(n, "storage", []string{"max_size", "retention_size"}, func(key string, v *yaml.Node) {
		switch key {
		case "max_size":
			c.Budget.MaxSize = p.size(v, "storage.max_size")
		case "retention_size":
			c.Budget.RetentionSize = p.size(v, "storage.retention_size")
		}
	})
}

// profiles parses the profiles section.
func (p *parser) profiles(n *yaml.Node, c *Config) {
	p.mapping(n, "profiles", []string{"max_size"}, func(key string, v *yaml.Node) {
		c.Budget.ProfilesMaxSize = p.size(v, "profiles.max_size")
	})
}

var typeRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// events parses the events section.
func (p *parser) events(n *yaml.Node, c *Config) {
	b := &c.Budget
	p.mapping(n, "events", []string{"max_size", "rate_limit", "burst", "types"}, func(key string, v *yaml.Node) {
		switch key {
		case "max_size":
			b.EventsMaxSize = p.size(v, "events.max_size")
		case "rate_limit":
			b.EventRate = p.rate(v, "events.rate_limit")
		case "burst":
			b.EventBurst = p.positive(v, "events.burst")
		case "types":
			if v.Kind != yaml.MappingNode {
				p.fail(v, "events.types", "want a mapping of event types (exec, open, …)")
				return
			}
			var total float64
			for i := 0; i+1 < len(v.Content); i += 2 {
				k, tv := v.Content[i], v.Content[i+1]
				path := "events.types." + k.Value
				if !typeRE.MatchString(k.Value) {
					p.fail(k, path, "want an event type name (exec, open, …)")
					return
				}
				if _, dup := b.EventTypes[k.Value]; dup {
					p.fail(k, path, "duplicate key")
					return
				}
				var et EventType
				p.mapping(tv, path, []string{"share", "rate_limit", "burst"}, func(key string, v *yaml.Node) {
					switch key {
					case "share":
						et.Share = p.share(v, path+".share")
						total += et.Share
						if total > 1+1e-9 {
							p.fail(v, path+".share", "the types' shares add up to more than 100%%")
						}
					case "rate_limit":
						et.Rate = p.rate(v, path+".rate_limit")
					case "burst":
						et.Burst = p.positive(v, path+".burst")
					}
				})
				b.EventTypes[k.Value] = et
			}
		}
	})
}

// TypeNames returns the event types with settings, sorted.
func (b Budget) TypeNames() []string {
	var out []string
	for n := range b.EventTypes {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}
