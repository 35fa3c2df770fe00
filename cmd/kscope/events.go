package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kscope/kscope/internal/client"
	"github.com/kscope/kscope/internal/container"
)

type eventsFlags struct {
	server, typ, since, until string
	httpConfig                string
	limit                     int
	pid                       uint32
	start                     uint64
	match                     []string
	json                      bool
	container, pod, unit      string
}

func newEventsCmd() *cobra.Command {
	var f eventsFlags
	cmd := &cobra.Command{
		Use:   "events [flags]",
		Short: "Show events stored by a running agent",
		Long: `List the events the agent stored: the newest --limit in the window, oldest
first. --match filters on any top-level field: field=value, field!=value,
field=~regex, field!~regex (repeatable; all must hold). --pid selects the
processes that had a pid; with --start (a start_ns from their events) the
one process that started then: pids are reused, a pid and start are not.
--container, --pod and --unit select the processes of a container (its
name or id), a Kubernetes pod (name or namespace/name) or a systemd unit
(docs/containers.md).`,
		Example: "  kscope events --type exec --since 10m\n  kscope events --type exit --match exit_code=3 --json\n  kscope events --since 1h --match comm=~'ba?sh'",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runEvents(cmd, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.server, "server", "", "agent URL (default $KSCOPE_SERVER or "+defaultServer+")")
	addHTTPConfigFlag(fl, &f.httpConfig)
	fl.StringVar(&f.typ, "type", "", "only this event type (exec, exit, connect, oom, signal, ...)")
	fl.StringVar(&f.since, "since", "1h", "from this long ago (10m) or this time (RFC 3339, Unix seconds)")
	fl.StringVar(&f.until, "until", "", "up to this long ago or this time (default now)")
	fl.IntVar(&f.limit, "limit", 1000, "at most this many events (the newest)")
	fl.Uint32Var(&f.pid, "pid", 0, "only the processes that had this pid")
	fl.Uint64Var(&f.start, "start", 0, "with --pid: only the process that started then (start_ns)")
	fl.StringArrayVar(&f.match, "match", nil, "field condition, e.g. comm=bash (repeatable)")
	fl.BoolVar(&f.json, "json", false, "print one JSON object per line")
	addContainerFlags(fl, &f.container, &f.pod, &f.unit)
	return cmd
}

func runEvents(cmd *cobra.Command, f eventsFlags) error {
	if f.limit <= 0 {
		return usagef("--limit %d: must be positive", f.limit)
	}
	if f.start != 0 && f.pid == 0 {
		return usagef("--start needs --pid")
	}
	c, err := agentAPI(serverURL(f.server), f.httpConfig, queryTimeout)
	if err != nil {
		return err
	}
	data, err := c.Events(cmd.Context(), client.EventsQuery{
		Type: f.typ, Since: f.since, Until: f.until, Limit: f.limit,
		PID: f.pid, Start: f.start,
		Match: append(slices.Clip(f.match), container.Filter{Container: f.container, Pod: f.pod, Unit: f.unit}.Conditions()...),
	})
	if err != nil {
		return apiError(err)
	}
	out := cmd.OutOrStdout()
	if f.json {
		var buf bytes.Buffer
		for _, ev := range data.Events {
			buf.Write(ev)
			buf.WriteByte('\n')
		}
		if _, err := out.Write(buf.Bytes()); err != nil {
			return err
		}
	} else if err := printEvents(out, data.Events); err != nil {
		return err
	}
	if data.Truncated {
		fmt.Fprintf(cmd.ErrOrStderr(), "showing the newest %d events; more matched (raise --limit or narrow --since)\n", f.limit)
	}
	return nil
}

// headerFields are the columns every event has; the rest go to DETAILS.
var headerFields = []string{"time", "type", "pid", "uid", "comm"}

var skipFields = map[string]bool{"tid": true, "ppid": true, "cgroup_id": true, "start_ns": true, "start_time": true, "parent_start_ns": true, "container_id": true}

// addContainerFlags registers --container, --pod and --unit.
func addContainerFlags(fl *pflag.FlagSet, ctr, pod, unit *string) {
	fl.StringVar(ctr, "container", "", "only the processes of this container (its name, or an id of at least 12 hex digits)")
	fl.StringVar(pod, "pod", "", "only the processes of this Kubernetes pod (name or namespace/name)")
	fl.StringVar(unit, "unit", "", "only the processes of this systemd unit (nginx or nginx.service)")
}

func printEvents(w io.Writer, events []json.RawMessage) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tTYPE\tPID\tUID\tCOMM\tDETAILS")
	for _, raw := range events {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			return fmt.Errorf("decoding an event: %w", err)
		}
		var cells []string
		for _, k := range headerFields {
			cells = append(cells, text(m[k]))
			delete(m, k)
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			if !skipFields[k] {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		var details []string
		for _, k := range keys {
			details = append(details, k+"="+text(m[k]))
		}
		fmt.Fprintf(tw, "%s\t%s\n", strings.Join(cells, "\t"), strings.Join(details, " "))
	}
	return tw.Flush()
}

// text renders a JSON value for a table cell: strings unquoted (quoted
// when they hold spaces), the rest as written.
func text(raw json.RawMessage) string {
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			if strings.ContainsAny(s, " \t\n") {
				return strconv.Quote(s)
			}
			return s
		}
	}
	return string(raw)
}
