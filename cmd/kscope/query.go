package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kscope/kscope/internal/client"
	"github.com/kscope/kscope/internal/config"
)

type queryFlags struct {
	server, at, rng, step string
	httpConfig            string
	json                  bool
}

func newQueryCmd() *cobra.Command {
	var f queryFlags
	cmd := &cobra.Command{
		Use:   "query 'PROMQL' [flags]",
		Short: "Run a PromQL query against a running agent",
		Long: `Evaluate a PromQL expression over the agent's stored history: at one
instant (now, or --time), or over the last --range with one point per --step.`,
		Example: `  kscope query 'rate(kscope_syscalls_total[1m])'
  kscope query 'histogram_quantile(0.99, sum by (le) (rate(kscope_syscall_duration_seconds_bucket[5m])))' --range 1h --step 1m`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("query needs exactly one PromQL expression (quote it)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runQuery(cmd, args[0], f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.server, "server", "", "agent URL (default $KSCOPE_SERVER or "+defaultServer+")")
	addHTTPConfigFlag(fl, &f.httpConfig)
	fl.StringVar(&f.at, "time", "", "evaluation time, or end of the range: RFC 3339 or Unix seconds (default now)")
	fl.StringVar(&f.rng, "range", "", "evaluate over this long before --time (e.g. 1h): a range query")
	fl.StringVar(&f.step, "step", "", "resolution of a range query (default: range/250, at least 1s)")
	fl.BoolVar(&f.json, "json", false, "print the API's data object as JSON")
	return cmd
}

func runQuery(cmd *cobra.Command, expr string, f queryFlags) error {
	end := time.Now()
	if f.at != "" {
		t, err := parseWhen(f.at)
		if err != nil {
			return usagef("--time %q: want RFC 3339 or Unix seconds", f.at)
		}
		end = t
	}
	if f.rng == "" && f.step != "" {
		return usagef("--step needs --range")
	}
	var rng, step time.Duration
	if f.rng != "" {
		r, err := config.ParseDuration(f.rng)
		if err != nil {
			return usagef("--range %q: want a duration like 15m, 1h, 2d", f.rng)
		}
		rng, step = r, r/250
		if f.step != "" {
			if step, err = config.ParseDuration(f.step); err != nil {
				return usagef("--step %q: want a duration like 15s, 1m", f.step)
			}
		}
		step = max(step, time.Second)
	}
	c, err := agentAPI(serverURL(f.server), f.httpConfig, queryTimeout)
	if err != nil {
		return err
	}
	var resp *client.Result
	if f.rng != "" {
		resp, err = c.QueryRange(cmd.Context(), expr, end.Add(-rng), end, step)
	} else {
		resp, err = c.Query(cmd.Context(), expr, end)
	}
	if err != nil {
		return apiError(err)
	}
	for _, w := range resp.Warnings {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s\n", w)
	}
	out := cmd.OutOrStdout()
	if f.json {
		_, err := fmt.Fprintf(out, "%s\n", resp.Data)
		return err
	}
	return printQueryResult(out, resp.Data)
}

// queryTimeout bounds a query or events request.
const queryTimeout = 2 * time.Minute

func unixString(t time.Time) string { return client.FormatTime(t) }

// maxWhenSeconds bounds Unix seconds to about ±31 million years, well
// inside what milliseconds in an int64 hold.
const maxWhenSeconds = 1e15

// parseWhen reads RFC 3339 or Unix seconds.
func parseWhen(s string) (time.Time, error) {
	if v, err := strconv.ParseFloat(s, 64); err == nil {
		if !(math.Abs(v) <= maxWhenSeconds) { // NaN too
			return time.Time{}, fmt.Errorf("time %q out of range", s)
		}
		return time.UnixMilli(int64(math.Round(v * 1000))), nil
	}
	return time.Parse(time.RFC3339Nano, s)
}

type promSeries struct {
	Metric map[string]string `json:"metric"`
	Value  []any             `json:"value"`
	Values [][]any           `json:"values"`
}

// printQueryResult prints series as name{labels} value, and a range
// query's series each followed by its points, in the order the engine
// returned them: topk, bottomk and sort_desc results are ordered by value.
func printQueryResult(w io.Writer, data json.RawMessage) error {
	var d struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return fmt.Errorf("decoding the result: %w", err)
	}
	switch d.ResultType {
	case "scalar", "string":
		var p []any
		if err := json.Unmarshal(d.Result, &p); err != nil || len(p) != 2 {
			return fmt.Errorf("decoding the %s result", d.ResultType)
		}
		_, err := fmt.Fprintln(w, p[1])
		return err
	}
	var ss []promSeries
	if err := json.Unmarshal(d.Result, &ss); err != nil {
		return fmt.Errorf("decoding the result: %w", err)
	}
	if len(ss) == 0 {
		fmt.Fprintln(w, "(no data)")
		return nil
	}
	width := 0
	for _, s := range ss {
		width = max(width, len(seriesName(s.Metric)))
	}
	for _, s := range ss {
		name := seriesName(s.Metric)
		if d.ResultType == "vector" {
			fmt.Fprintf(w, "%-*s  %v\n", width, name, pointValue(s.Value))
			continue
		}
		fmt.Fprintln(w, name)
		for _, p := range s.Values {
			fmt.Fprintf(w, "  %s  %v\n", pointTime(p), pointValue(p))
		}
	}
	return nil
}

func seriesName(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		if k != "__name__" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(m["__name__"])
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s=%q", k, m[k])
	}
	b.WriteByte('}')
	return b.String()
}

func pointValue(p []any) any {
	if len(p) != 2 {
		return "?"
	}
	return p[1]
}

func pointTime(p []any) string {
	if len(p) != 2 {
		return "?"
	}
	t, ok := p[0].(float64)
	if !ok {
		return "?"
	}
	return time.UnixMilli(int64(t * 1000)).Format(time.RFC3339)
}
