package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
)

// ProfileQuery selects stored profile samples; empty fields are the
// agent's defaults.
type ProfileQuery struct {
	PID  uint32 // 0: any
	Comm string
	// Since and Until bound the range: a duration ago or a time. Default:
	// the last hour.
	Since, Until string
	// Type is cpu (default), offcpu or samples.
	Type string
	// Format is pprof (default, gzipped protobuf), folded, flamegraph
	// (HTML) or json (a tree).
	Format string
	// BaseSince and BaseUntil, both or neither, compare the range against
	// this one (not with pprof).
	BaseSince, BaseUntil string
}

// Profile returns the profile q selects, in q.Format: the bytes of the
// file for pprof, folded and flamegraph, the data object for json.
func (c *Client) Profile(ctx context.Context, q ProfileQuery) ([]byte, error) {
	p := url.Values{}
	for k, v := range map[string]string{"comm": q.Comm, "since": q.Since, "until": q.Until, "type": q.Type,
		"format": q.Format, "base_since": q.BaseSince, "base_until": q.BaseUntil} {
		if v != "" {
			p.Set(k, v)
		}
	}
	if q.PID != 0 {
		p.Set("pid", strconv.FormatUint(uint64(q.PID), 10))
	}
	body, resp, err := c.call(ctx, http.MethodPost, "/api/v1/profile", p)
	if err != nil {
		return nil, err
	}
	return raw(c.url+"/api/v1/profile", resp, body)
}

// Status returns the agent's configuration and collectors
// (/api/v1/status/agent), as JSON.
func (c *Client) Status(ctx context.Context) (json.RawMessage, error) {
	r, err := c.get(ctx, "/api/v1/status/agent", nil)
	if err != nil {
		return nil, err
	}
	return r.Data, nil
}

// BuildInfo returns the agent's version (/api/v1/status/buildinfo), as
// JSON in Prometheus's shape.
func (c *Client) BuildInfo(ctx context.Context) (json.RawMessage, error) {
	r, err := c.get(ctx, "/api/v1/status/buildinfo", nil)
	if err != nil {
		return nil, err
	}
	return r.Data, nil
}
