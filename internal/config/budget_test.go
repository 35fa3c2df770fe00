package config

import (
	"testing"
)

func TestBudget(t *testing.T) {
	c, err := Parse("k.yaml", []byte(`
storage: {max_size: 2GB, retention_size: 512MB}
events:
  max_size: 1GiB
  rate_limit: 500
  burst: 2000
  types:
    open: {share: 25%, rate_limit: 50.5, burst: 100}
    exec: {share: 0.5}
profiles: {max_size: 100000}
`), known)
	if err != nil {
		t.Fatal(err)
	}
	b := c.Budget
	if b.MaxSize != 2<<30 || b.RetentionSize != 512<<20 || b.EventsMaxSize != 1<<30 || b.ProfilesMaxSize != 100000 ||
		b.EventRate != 500 || b.EventBurst != 2000 || len(b.EventTypes) != 2 ||
		b.EventTypes["open"] != (EventType{Share: 0.25, Rate: 50.5, Burst: 100}) || b.EventTypes["exec"] != (EventType{Share: 0.5}) {
		t.Errorf("got %+v", b)
	}
	if got := b.Sizes(1 << 40); got != (Sizes{Total: 2 << 30, Metrics: 512 << 20, Events: 1 << 30, Profiles: 100000}) {
		t.Errorf("sizes %+v", got)
	}
}

func TestBudgetDefaults(t *testing.T) {
	c, err := Parse("k.yaml", nil, known)
	if err != nil {
		t.Fatal(err)
	}
	b := c.Budget
	if b.EventRate != DefaultEventRate || b.EventBurst != DefaultEventBurst || b.MaxSize != 0 {
		t.Errorf("defaults %+v", b)
	}
	// A tenth of a 20 GiB filesystem; at most 10 GiB of a 1 TiB one.
	if got := b.Sizes(20 << 30); got != (Sizes{Total: 2 << 30, Metrics: 1 << 30, Events: 2 << 30 * 4 / 10, Profiles: 2 << 30 / 10}) {
		t.Errorf("20 GiB: %+v", got)
	}
	if got := b.Sizes(1 << 40); got.Total != 10<<30 || got.Metrics != 5<<30 {
		t.Errorf("1 TiB: %+v", got)
	}
	// What the file sets stays; the rest are shares of max_size.
	b.MaxSize, b.EventsMaxSize = 1000, 10
	if got := b.Sizes(1 << 40); got != (Sizes{Total: 1000, Metrics: 500, Events: 10, Profiles: 100}) {
		t.Errorf("set: %+v", got)
	}
}

func TestBudgetErrors(t *testing.T) {
	for src, want := range map[string]string{
		"storage: {max_size: lots}\n":                                  `k.yaml:1: storage.max_size: want a size like 512MB, 10GB: "lots"`,
		"storage: {max_size: -5}\n":                                    `k.yaml:1: storage.max_size: want a size like 512MB, 10GB: "-5"`,
		"storage: {retention_size: 0}\n":                               `k.yaml:1: storage.retention_size: want a size like 512MB, 10GB: "0"`,
		"storage: {size: 1GB}\n":                                       `k.yaml:1: storage.size: unknown key (known: max_size, retention_size)`,
		"events: {rate_limit: 0}\n":                                    `k.yaml:1: events.rate_limit: want events per second, a positive number, not "0"`,
		"events: {burst: 1.5}\n":                                       `k.yaml:1: events.burst: want a positive integer, not "1.5"`,
		"events:\n  types: {Open: {share: 1%}}\n":                      `k.yaml:2: events.types.Open: want an event type name (exec, open, …)`,
		"events:\n  types: {open: {share: 150%}}\n":                    `k.yaml:2: events.types.open.share: want a share of the events budget like 25% or 0.25, not "150%"`,
		"events:\n  types: {open: {share: 60%}, exec: {share: 50%}}\n": `k.yaml:2: events.types.exec.share: the types' shares add up to more than 100%`,
		"events:\n  types: {open: {max: 1}}\n":                         `k.yaml:2: events.types.open.max: unknown key (known: share, rate_limit, burst)`,
		"events:\n  types: [open]\n":                                   `k.yaml:2: events.types: want a mapping of event types (exec, open, …)`,
		"profiles: {max_size: 1XB}\n":                                  `k.yaml:1: profiles.max_size: want a size like 512MB, 10GB: "1XB"`,
	} {
		if _, err := Parse("k.yaml", []byte(src), known); err == nil || err.Error() != want {
			t.Errorf("%q:\n got %v\nwant %s", src, err, want)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"1": 1, "512MB": 512 << 20, "10GB": 10 << 30, "1KiB": 1024, "2TB": 2 << 40} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("%s: %d %v", in, got, err)
		}
	}
	for _, in := range []string{"", "0", "-1", "1.5.5GB", "GB", "10 parsecs"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}
