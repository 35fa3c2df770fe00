package api

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/profile"
	"github.com/kscope/kscope/internal/store"
)

// DefaultProfileRange is how far back /api/v1/profile looks when since is
// not given.
const DefaultProfileRange = time.Hour

// profileTypes maps the type parameter to the stored sample type.
var profileTypes = map[string]profile.ValueType{
	"cpu":     profile.CPU,
	"offcpu":  profile.OffCPU,
	"samples": profile.Samples,
}

// profile answers /api/v1/profile?pid=N|comm=X&since=&until=&type=cpu&format=pprof
// with the stacks the continuous profiler stored in the range. With
// base_since and base_until it compares the range against that one.
func (s *Server) profile(w http.ResponseWriter, r *http.Request) {
	if e := form(r); e != nil {
		writeError(w, e)
		return
	}
	if s.Profiles == nil {
		writeError(w, &apiError{"unavailable", http.StatusServiceUnavailable, fmt.Errorf("this agent stores no profiles")})
		return
	}
	now := time.Now()
	q, e := profileQuery(r, "since", "until", now)
	if e != nil {
		writeError(w, e)
		return
	}
	if v := r.Form.Get("pid"); v != "" {
		pid, err := strconv.ParseUint(v, 10, 32)
		if err != nil || pid == 0 {
			writeError(w, badData("invalid parameter \"pid\": not a process id: %q", v))
			return
		}
		q.PID = uint32(pid)
	}
	q.Comm = r.Form.Get("comm")
	typName := r.Form.Get("type")
	if typName == "" {
		typName = "cpu"
	}
	typ, ok := profileTypes[typName]
	if !ok {
		writeError(w, badData("invalid parameter \"type\": want cpu, offcpu or samples, not %q", typName))
		return
	}
	format := r.Form.Get("format")
	if format == "" {
		format = "pprof"
	}
	switch format {
	case "pprof", "folded", "flamegraph", "json":
	default:
		writeError(w, badData("invalid parameter \"format\": want pprof, folded, flamegraph or json, not %q", format))
		return
	}
	diff := r.Form.Get("base_since") != "" || r.Form.Get("base_until") != ""
	var baseQ store.ProfileQuery
	if diff {
		if format == "pprof" {
			writeError(w, badData("format=pprof holds one profile, not a diff: fetch both ranges and compare them with go tool pprof -diff_base"))
			return
		}
		if r.Form.Get("base_since") == "" || r.Form.Get("base_until") == "" {
			writeError(w, badData("a diff needs both base_since and base_until"))
			return
		}
		if baseQ, e = profileQuery(r, "base_since", "base_until", now); e != nil {
			writeError(w, e)
			return
		}
		baseQ.PID, baseQ.Comm = q.PID, q.Comm
	}
	ctx, cancel, e := s.queryContext(r)
	if e != nil {
		writeError(w, e)
		return
	}
	defer cancel()
	if e := s.profGate.enter(ctx); e != nil {
		writeError(w, e)
		return
	}
	defer s.profGate.leave()
	prof, err := s.Profiles.Query(ctx, q)
	if err != nil {
		writeError(w, storeError(ctx, err))
		return
	}
	var stacks, base []profile.Folded
	stacks = prof.Fold(typ)
	if diff {
		bp, err := s.Profiles.Query(ctx, baseQ)
		if err != nil {
			writeError(w, storeError(ctx, err))
			return
		}
		base = bp.Fold(typ)
	}
	var buf bytes.Buffer
	switch format {
	case "pprof":
		if len(prof.Types) == 0 {
			prof.Types = []profile.ValueType{profile.Samples, profile.CPU}
			prof.Start, prof.Duration = q.Since, q.Until.Sub(q.Since)
		}
		err = profile.WritePprof(&buf, prof)
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", `attachment; filename="profile.pb.gz"`)
	case "folded":
		if diff {
			err = profile.WriteDiffFolded(&buf, stacks, base)
		} else {
			err = profile.WriteFolded(&buf, stacks)
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	case "flamegraph":
		title := profileTitle(typName, q, baseQ, diff)
		if diff {
			err = profile.WriteDiffHTML(&buf, title, typ.Unit, stacks, base)
		} else {
			err = profile.WriteHTML(&buf, title, typ.Unit, stacks)
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
	case "json":
		b := []byte(`{"type":`)
		b = event.AppendString(b, typName)
		b = append(b, `,"unit":`...)
		b = event.AppendString(b, typ.Unit)
		b = append(b, `,"total":`...)
		b = strconv.AppendInt(b, total(stacks), 10)
		if diff {
			b = append(b, `,"base_total":`...)
			b = strconv.AppendInt(b, total(base), 10)
		}
		b = append(b, `,"root":`...)
		buf.Write(b)
		if err = profile.WriteTreeJSON(&buf, stacks, base, diff); err == nil {
			buf.WriteByte('}')
			writeData(w, buf.Bytes(), nil)
		}
		if err != nil {
			writeError(w, &apiError{"internal", http.StatusInternalServerError, err})
		}
		return
	}
	if err != nil {
		writeError(w, &apiError{"internal", http.StatusInternalServerError, err})
		return
	}
	w.Write(buf.Bytes())
}

// profileQuery reads a time range: since defaults to DefaultProfileRange
// before now, until to now.
func profileQuery(r *http.Request, since, until string, now time.Time) (store.ProfileQuery, *apiError) {
	var q store.ProfileQuery
	var e *apiError
	if q.Since, e = sinceParam(r, since, now); e != nil {
		return q, e
	}
	if q.Until, e = sinceParam(r, until, now); e != nil {
		return q, e
	}
	if q.Until.IsZero() {
		q.Until = now
	}
	if q.Since.IsZero() {
		q.Since = q.Until.Add(-DefaultProfileRange)
	}
	if !q.Since.Before(q.Until) {
		return q, badData("invalid parameters: %s must be before %s", since, until)
	}
	return q, nil
}

func total(stacks []profile.Folded) int64 {
	var n int64
	for _, s := range stacks {
		n += s.Value
	}
	return n
}

func profileTitle(typ string, q, base store.ProfileQuery, diff bool) string {
	var b strings.Builder
	b.WriteString("kscope " + typ + " profile")
	if q.PID != 0 {
		fmt.Fprintf(&b, ", pid %d", q.PID)
	}
	if q.Comm != "" {
		fmt.Fprintf(&b, ", comm %s", q.Comm)
	}
	const layout = "2006-01-02 15:04:05"
	fmt.Fprintf(&b, ", %s to %s", q.Since.Local().Format(layout), q.Until.Local().Format(layout))
	if diff {
		fmt.Fprintf(&b, " against %s to %s", base.Since.Local().Format(layout), base.Until.Local().Format(layout))
	}
	return b.String()
}
