package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// MaxCountSteps caps the steps of a Counts query, as the query API caps
// the points of a range query.
const MaxCountSteps = 11000

// Counts is what CountEvents returns: for each event type, the number of
// matching events in each step of the range, Start first.
type Counts struct {
	Start time.Time
	Step  time.Duration
	Steps int
	// ByType holds Steps counts per type; step i covers
	// [Start+i·Step, Start+(i+1)·Step).
	ByType map[string][]uint64
}

// CountEvents counts the events that q selects (its Limit is ignored) in
// steps of step from q.Since to q.Until, by type. Counting is done in SQL
// unless q has regular expression conditions, which are applied in Go.
func (e *Events) CountEvents(ctx context.Context, q Query, step time.Duration) (*Counts, error) {
	if q.Since.IsZero() || q.Until.IsZero() || !q.Until.After(q.Since) {
		return nil, fmt.Errorf("counting events: want since before until")
	}
	if step <= 0 {
		return nil, fmt.Errorf("counting events: step %v: must be positive", step)
	}
	span := q.Until.Sub(q.Since)
	steps := int((span + step - 1) / step)
	if span/step >= MaxCountSteps {
		return nil, fmt.Errorf("counting events: %d steps of %v: at most %d", span/step, step, MaxCountSteps)
	}
	// Until is the end of the last step (exclusive).
	q.Until = q.Since.Add(time.Duration(steps) * step).Add(-1)
	where, args, res, err := q.filter()
	if err != nil {
		return nil, err
	}
	start, stepNS := q.Since.UnixNano(), step.Nanoseconds()
	var query string
	if len(res) == 0 {
		query = "SELECT type, (ts - ?) / ?, count(*) FROM events WHERE " + strings.Join(where, " AND ") + " GROUP BY 1, 2"
	} else {
		query = "SELECT type, (ts - ?) / ?, data FROM events WHERE " + strings.Join(where, " AND ")
	}
	rows, err := e.db.QueryContext(ctx, query, append([]any{start, stepNS}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("counting events: %w", err)
	}
	defer rows.Close()
	out := &Counts{Start: q.Since, Step: step, Steps: steps, ByType: map[string][]uint64{}}
	for rows.Next() {
		var (
			typ  string
			i    int64
			n    uint64
			data []byte
		)
		if len(res) == 0 {
			err = rows.Scan(&typ, &i, &n)
		} else {
			err = rows.Scan(&typ, &i, &data)
			n = 1
		}
		if err != nil {
			return nil, fmt.Errorf("counting events: %w", err)
		}
		if len(res) > 0 && !matchRE(data, res) {
			continue
		}
		if i < 0 || i >= int64(steps) {
			continue
		}
		c := out.ByType[typ]
		if c == nil {
			c = make([]uint64, steps)
			out.ByType[typ] = c
		}
		c[i] += n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("counting events: %w", err)
	}
	return out, nil
}
