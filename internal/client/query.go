package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/prometheus/common/model"
)

// Result is the answer of a PromQL query.
type Result struct {
	// Data is the API's data object, {"resultType":…,"result":…}, as the
	// agent wrote it.
	Data     json.RawMessage
	Warnings []string
}

// Value decodes the result: a model.Vector, model.Matrix, *model.Scalar
// or *model.String.
func (r *Result) Value() (model.Value, error) {
	var d struct {
		Type   model.ValueType `json:"resultType"`
		Result json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(r.Data, &d); err != nil {
		return nil, fmt.Errorf("decoding the result: %w", err)
	}
	var v model.Value
	switch d.Type {
	case model.ValVector:
		v = &model.Vector{}
	case model.ValMatrix:
		v = &model.Matrix{}
	case model.ValScalar:
		v = &model.Scalar{}
	case model.ValString:
		v = &model.String{}
	default:
		return nil, fmt.Errorf("decoding the result: unknown result type %q", d.Type)
	}
	if err := json.Unmarshal(d.Result, v); err != nil {
		return nil, fmt.Errorf("decoding the %s result: %w", d.Type, err)
	}
	switch v := v.(type) {
	case *model.Vector:
		return *v, nil
	case *model.Matrix:
		return *v, nil
	}
	return v, nil
}

// Vector decodes a result that must be an instant vector.
func (r *Result) Vector() (model.Vector, error) {
	v, err := r.Value()
	if err != nil {
		return nil, err
	}
	vec, ok := v.(model.Vector)
	if !ok {
		return nil, fmt.Errorf("query answered a %q, want a vector", v.Type())
	}
	return vec, nil
}

// Query evaluates expr at t; the zero t is the agent's now.
func (c *Client) Query(ctx context.Context, expr string, t time.Time) (*Result, error) {
	p := url.Values{"query": {expr}}
	if !t.IsZero() {
		p.Set("time", FormatTime(t))
	}
	return c.result(c.Do(ctx, "/api/v1/query", p))
}

// QueryRange evaluates expr from start to end every step.
func (c *Client) QueryRange(ctx context.Context, expr string, start, end time.Time, step time.Duration) (*Result, error) {
	p := url.Values{
		"query": {expr},
		"start": {FormatTime(start)},
		"end":   {FormatTime(end)},
		"step":  {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)},
	}
	return c.result(c.Do(ctx, "/api/v1/query_range", p))
}

func (c *Client) result(r *Response, err error) (*Result, error) {
	if err != nil {
		return nil, err
	}
	return &Result{Data: r.Data, Warnings: r.Warnings}, nil
}

// FormatTime writes t as the API reads it: Unix seconds, to the
// millisecond.
func FormatTime(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', -1, 64)
}

// seriesParams are the match[] selectors and the time range of the series
// and labels calls; zero times are left to the agent.
func seriesParams(matches []string, start, end time.Time) url.Values {
	p := url.Values{}
	for _, m := range matches {
		p.Add("match[]", m)
	}
	if !start.IsZero() {
		p.Set("start", FormatTime(start))
	}
	if !end.IsZero() {
		p.Set("end", FormatTime(end))
	}
	return p
}

// Series returns the label sets of the series that match any of the
// selectors between start and end.
func (c *Client) Series(ctx context.Context, matches []string, start, end time.Time) ([]model.LabelSet, error) {
	r, err := c.Do(ctx, "/api/v1/series", seriesParams(matches, start, end))
	if err != nil {
		return nil, err
	}
	var out []model.LabelSet
	if err := json.Unmarshal(r.Data, &out); err != nil {
		return nil, fmt.Errorf("decoding the series: %w", err)
	}
	return out, nil
}

// LabelNames returns the label names of the series that match the
// selectors (none: every series) between start and end.
func (c *Client) LabelNames(ctx context.Context, matches []string, start, end time.Time) ([]string, error) {
	return c.strings(ctx, "/api/v1/labels", seriesParams(matches, start, end))
}

// LabelValues returns the values of label name in the series that match
// the selectors (none: every series) between start and end.
func (c *Client) LabelValues(ctx context.Context, name string, matches []string, start, end time.Time) ([]string, error) {
	return c.strings(ctx, "/api/v1/label/"+url.PathEscape(name)+"/values", seriesParams(matches, start, end))
}

func (c *Client) strings(ctx context.Context, path string, p url.Values) ([]string, error) {
	r, err := c.Do(ctx, path, p)
	if err != nil {
		return nil, err
	}
	out := []string{}
	if err := json.Unmarshal(r.Data, &out); err != nil {
		return nil, fmt.Errorf("decoding the answer of %s: %w", path, err)
	}
	return out, nil
}
