package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // database/sql driver "sqlite"

	"github.com/kscope/kscope/internal/event"
)

// Events is the event store. It is an event.Sink: Emit encodes the event
// and queues it without blocking; a writer goroutine inserts the queue in
// batches, one transaction each. When the queue is full the event is
// dropped and counted.
type Events struct {
	db        *sql.DB
	retention atomic.Int64 // time.Duration: SetRetention changes it
	logger    *slog.Logger

	queue chan row
	done  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once

	buf                     []byte
	mu                      sync.Mutex // guards buf: Emit comes from several readers
	stored, dropped, failed atomic.Uint64
	deleted, evicted        atomic.Uint64

	budgetMu sync.Mutex
	budget   EventBudget
	// sizes holds each type's bytes as the budget counts them (guarded by
	// sizesMu: the writer and expiry update it); total mirrors its sum for
	// readers.
	sizesMu sync.Mutex
	sizes   map[string]int64
	total   atomic.Int64
}

// EventBudget bounds the event store's size. An event counts as its JSON
// plus RowOverhead bytes (its row and index entries). When the events of
// a type with a share hold more than Share×MaxBytes, its oldest events are
// deleted; the types without a share hold together what the shares leave,
// their oldest events deleted first.
type EventBudget struct {
	MaxBytes int64 // 0: no bound
	Shares   map[string]float64
}

// RowOverhead is what an event costs in the budget besides its JSON.
const RowOverhead = 64

type row struct {
	ts      int64 // unix ns
	typ     string
	pid     uint32
	startNS uint64
	data    []byte
}

// Batching: a batch is written when it has batchMax rows or batchWait
// after its first row, whichever comes first.
const (
	batchMax  = 1024
	batchWait = 200 * time.Millisecond
)

// OpenEvents opens (or creates) dir/events.db.
func OpenEvents(dir string, retention time.Duration, queue int, logger *slog.Logger) (*Events, error) {
	path := filepath.Join(dir, "events.db")
	// auto_vacuum (set before the first table is created) lets deleted
	// pages go back to the filesystem.
	dsn := "file:" + path + "?_pragma=auto_vacuum(INCREMENTAL)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(5000)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("opening the event store %s: %w", path, err)
	}
	db.SetMaxOpenConns(4)
	if err := migrate(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening the event store %s: %w", path, err)
	}
	e := &Events{
		db: db, logger: logger,
		queue: make(chan row, queue), done: make(chan struct{}),
		sizes: map[string]int64{},
	}
	e.retention.Store(int64(retention))
	rows, err := db.Query("SELECT type, COUNT(*), SUM(length(CAST(data AS BLOB))) FROM events GROUP BY type")
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("opening the event store %s: %w", path, err)
	}
	for rows.Next() {
		var typ string
		var n, b int64
		if err := rows.Scan(&typ, &n, &b); err != nil {
			rows.Close()
			db.Close()
			return nil, fmt.Errorf("opening the event store %s: %w", path, err)
		}
		e.sizes[typ] = b + n*RowOverhead
		e.total.Add(b + n*RowOverhead)
	}
	rows.Close()
	e.expire()
	e.wg.Add(1)
	go e.writer()
	return e, nil
}

// migrate creates the events table and its indexes, and brings a table
// from before the pid and start_ns columns up to date: the columns are
// added and filled from the stored JSON (events stored before start_ns
// existed keep it 0).
func migrate(db *sql.DB) error {
	const schema = `
CREATE TABLE IF NOT EXISTS events (
	ts       INTEGER NOT NULL,
	type     TEXT    NOT NULL,
	data     TEXT    NOT NULL,
	pid      INTEGER NOT NULL DEFAULT 0,
	start_ns INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS events_type_ts ON events(type, ts);
CREATE INDEX IF NOT EXISTS events_ts ON events(ts);`
	if _, err := db.Exec(schema); err != nil {
		return err
	}
	var hasPID bool
	if err := db.QueryRow("SELECT COUNT(*) > 0 FROM pragma_table_info('events') WHERE name = 'pid'").Scan(&hasPID); err != nil {
		return fmt.Errorf("reading the events table's columns: %w", err)
	}
	if !hasPID {
		const add = `
ALTER TABLE events ADD COLUMN pid INTEGER NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN start_ns INTEGER NOT NULL DEFAULT 0;
UPDATE events SET pid = COALESCE(json_extract(data, '$.pid'), 0), start_ns = COALESCE(json_extract(data, '$.start_ns'), 0);`
		if _, err := db.Exec(add); err != nil {
			return fmt.Errorf("adding the pid and start_ns columns: %w", err)
		}
	}
	if _, err := db.Exec("CREATE INDEX IF NOT EXISTS events_proc ON events(pid, start_ns, ts)"); err != nil {
		return fmt.Errorf("indexing pid and start_ns: %w", err)
	}
	return nil
}

// Emit implements event.Sink: it encodes ev and queues it.
func (e *Events) Emit(ev event.Event) {
	e.mu.Lock()
	e.buf = event.AppendJSON(e.buf[:0], ev)
	data := append([]byte(nil), e.buf...)
	e.mu.Unlock()
	e.Put(ev.Hdr(), data)
}

// Put queues an event already encoded as JSON (what Emit stores), for a
// caller that encodes once for several sinks. The store keeps data, which
// must not be modified afterwards.
func (e *Events) Put(h *event.Header, data []byte) {
	select {
	case e.queue <- row{ts: h.Time.UnixNano(), typ: h.Type, pid: h.PID, startNS: h.StartNS, data: data}:
	default:
		e.dropped.Add(1)
	}
}

// Flush implements event.Sink; the writer batches on its own.
func (e *Events) Flush() {}

// Stored, Dropped and Failed count events written, dropped on a full
// queue, and lost to a failed write.
func (e *Events) Stored() uint64 { return e.stored.Load() }

// Dropped counts events dropped because the write queue was full.
func (e *Events) Dropped() uint64 { return e.dropped.Load() }

// Failed counts events lost to a failed write.
func (e *Events) Failed() uint64 { return e.failed.Load() }

// Expired counts events deleted by retention.
func (e *Events) Expired() uint64 { return e.deleted.Load() }

// Evicted counts events deleted to keep the store within its budget.
func (e *Events) Evicted() uint64 { return e.evicted.Load() }

// Bytes is the store's size as the budget counts it.
func (e *Events) Bytes() int64 { return e.total.Load() }

// SetBudget bounds the store's size from the next write on.
func (e *Events) SetBudget(b EventBudget) {
	e.budgetMu.Lock()
	e.budget = b
	e.budgetMu.Unlock()
}

// MaxBytes is the store's budget (0: none).
func (e *Events) MaxBytes() int64 {
	e.budgetMu.Lock()
	defer e.budgetMu.Unlock()
	return e.budget.MaxBytes
}

// Queued is the number of events waiting to be written.
func (e *Events) Queued() int { return len(e.queue) }

func (e *Events) writer() {
	defer e.wg.Done()
	expire := time.NewTicker(time.Minute)
	defer expire.Stop()
	batch := make([]row, 0, batchMax)
	var timer <-chan time.Time
	for {
		select {
		case r := <-e.queue:
			batch = append(batch, r)
			if len(batch) == 1 {
				timer = time.After(batchWait)
			}
			if len(batch) < batchMax {
				continue
			}
		case <-timer:
		case <-expire.C:
			e.expire()
			e.enforce()
			e.vacuum()
			continue
		case <-e.done:
			for {
				select {
				case r := <-e.queue:
					batch = append(batch, r)
					if len(batch) == batchMax {
						e.write(batch)
						batch = batch[:0]
					}
					continue
				default:
				}
				break
			}
			e.write(batch)
			return
		}
		e.write(batch)
		batch, timer = batch[:0], nil
	}
}

func (e *Events) write(batch []row) {
	if len(batch) == 0 {
		return
	}
	err := func() error {
		tx, err := e.db.Begin()
		if err != nil {
			return err
		}
		defer tx.Rollback()
		st, err := tx.Prepare("INSERT INTO events(ts, type, pid, start_ns, data) VALUES (?, ?, ?, ?, ?)")
		if err != nil {
			return err
		}
		defer st.Close()
		for _, r := range batch {
			if _, err := st.Exec(r.ts, r.typ, int64(r.pid), int64(r.startNS), r.data); err != nil {
				return err
			}
		}
		return tx.Commit()
	}()
	if err != nil {
		e.failed.Add(uint64(len(batch)))
		e.logger.Error("writing events failed", "events", len(batch), "err", err)
		// A full disk: make room for the next batch.
		e.enforce()
		return
	}
	e.stored.Add(uint64(len(batch)))
	for _, r := range batch {
		e.account(r.typ, int64(len(r.data))+RowOverhead)
	}
	e.enforce()
}

func (e *Events) account(typ string, n int64) {
	e.sizesMu.Lock()
	e.sizes[typ] += n
	if e.sizes[typ] <= 0 {
		delete(e.sizes, typ)
	}
	e.sizesMu.Unlock()
	e.total.Add(n)
}

// typeSize is the bytes of typ's events, as the budget counts them.
func (e *Events) typeSize(typ string) int64 {
	e.sizesMu.Lock()
	defer e.sizesMu.Unlock()
	return e.sizes[typ]
}

// deleteRows deletes events and their bytes from the accounts: query
// selects the rows with RETURNING type and the data's length.
func (e *Events) deleteRows(query string, args ...any) (int64, error) {
	rows, err := e.db.Query(query, args...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var n int64
	for rows.Next() {
		var typ string
		var size int64
		if err := rows.Scan(&typ, &size); err != nil {
			return n, err
		}
		e.account(typ, -size-RowOverhead)
		n++
	}
	return n, rows.Err()
}

func (e *Events) expire() {
	cut := time.Now().Add(-time.Duration(e.retention.Load())).UnixNano()
	n, err := e.deleteRows("DELETE FROM events WHERE ts < ? RETURNING type, length(CAST(data AS BLOB))", cut)
	e.deleted.Add(uint64(n))
	if err != nil {
		e.logger.Error("expiring events failed", "err", err)
	}
}

// enforce deletes the oldest events of the types over their share, then
// the oldest of the types without a share if they hold more than the
// shares leave.
func (e *Events) enforce() {
	e.budgetMu.Lock()
	b := e.budget
	e.budgetMu.Unlock()
	if b.MaxBytes <= 0 {
		return
	}
	var reserved int64
	var shared []any
	for typ, share := range b.Shares {
		limit := int64(share * float64(b.MaxBytes))
		reserved += limit
		shared = append(shared, typ)
		if over := e.typeSize(typ) - limit; over > 0 {
			e.evict("type = ?", []any{typ}, over)
		}
	}
	var pool int64
	e.sizesMu.Lock()
	for typ, n := range e.sizes {
		if _, ok := b.Shares[typ]; !ok {
			pool += n
		}
	}
	e.sizesMu.Unlock()
	if over := pool - max(b.MaxBytes-reserved, 0); over > 0 {
		where := "1"
		if len(shared) > 0 {
			where = "type NOT IN (?" + strings.Repeat(", ?", len(shared)-1) + ")"
		}
		e.evict(where, shared, over)
	}
}

// evict deletes the oldest events matching where until over bytes are
// freed.
func (e *Events) evict(where string, args []any, over int64) {
	rows, err := e.db.Query("SELECT rowid, length(CAST(data AS BLOB)) FROM events WHERE "+where+" ORDER BY ts, rowid", args...)
	if err != nil {
		e.logger.Error("evicting events failed", "err", err)
		return
	}
	var ids []int64
	for rows.Next() && over > 0 {
		var id, size int64
		if err := rows.Scan(&id, &size); err != nil {
			break
		}
		ids = append(ids, id)
		over -= size + RowOverhead
	}
	rows.Close()
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), 500)]
		ids = ids[len(chunk):]
		q := "DELETE FROM events WHERE rowid IN (?" + strings.Repeat(", ?", len(chunk)-1) + ") RETURNING type, length(CAST(data AS BLOB))"
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		n, err := e.deleteRows(q, args...)
		e.evicted.Add(uint64(n))
		if err != nil {
			e.logger.Error("evicting events failed", "err", err)
			return
		}
	}
}

// vacuum gives the pages of deleted events back to the filesystem.
func (e *Events) vacuum() {
	if _, err := e.db.Exec("PRAGMA incremental_vacuum"); err != nil {
		e.logger.Warn("vacuuming the event store", "err", err)
	}
}

// Close writes what is queued and closes the database. Emit must not be
// called after Close.
func (e *Events) Close() error {
	var err error
	e.once.Do(func() {
		close(e.done)
		e.wg.Wait()
		err = e.db.Close()
	})
	return err
}

// Query selects events.
type Query struct {
	Type         string // "" for every type
	Since, Until time.Time
	Limit        int // the newest Limit events are returned; 0: 1000
	// PID selects the events of the processes that had this pid (0: any);
	// with StartNS too, those of the one process that started then. The
	// pid and start time name a process across pid reuse.
	PID     uint32
	StartNS uint64 // the process's start_ns; 0: any
	// Match holds conditions on top-level event fields: "comm=bash",
	// "pid!=1", "filename=~.*sh" (Go regular expressions, anchored).
	Match []string
	// Text keeps the events whose JSON contains it, ignoring case.
	Text string
}

// MaxLimit caps Query.Limit.
const MaxLimit = 100000

// Result is what a query returns: events as JSON objects, oldest first.
type Result struct {
	Events    [][]byte
	Truncated bool // more events matched than Limit
}

type cond struct {
	field, op, value string
	re               *regexp.Regexp
}

var fieldRE = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// ParseMatch parses one match condition.
func ParseMatch(s string) (c cond, err error) {
	for _, op := range []string{"!=", "=~", "!~", "="} {
		if f, v, ok := strings.Cut(s, op); ok {
			c = cond{field: strings.TrimSpace(f), op: op, value: v}
			break
		}
	}
	if c.op == "" {
		return c, fmt.Errorf("match %q: want field=value, field!=value, field=~regex or field!~regex", s)
	}
	if !fieldRE.MatchString(c.field) {
		return c, fmt.Errorf("match %q: invalid field name %q", s, c.field)
	}
	if c.op == "=~" || c.op == "!~" {
		if c.re, err = regexp.Compile("^(?:" + c.value + ")$"); err != nil {
			return c, fmt.Errorf("match %q: %v", s, err)
		}
	}
	return c, nil
}

// Query runs q. Regular expression conditions are applied in Go, the rest
// in SQL.
func (e *Events) Query(ctx context.Context, q Query) (*Result, error) {
	if q.Limit <= 0 {
		q.Limit = 1000
	}
	if q.Limit > MaxLimit {
		return nil, fmt.Errorf("limit %d: at most %d", q.Limit, MaxLimit)
	}
	where, args, res, err := q.filter()
	if err != nil {
		return nil, err
	}
	query := "SELECT data FROM events"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY ts DESC, rowid DESC"
	if len(res) == 0 {
		query += " LIMIT " + strconv.Itoa(q.Limit+1)
	}
	rows, err := e.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := &Result{}
	for rows.Next() {
		var data []byte
		if err := rows.Scan(&data); err != nil {
			return nil, err
		}
		if len(res) > 0 && !matchRE(data, res) {
			continue
		}
		if len(out.Events) == q.Limit {
			out.Truncated = true
			break
		}
		out.Events = append(out.Events, data)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i, j := 0, len(out.Events)-1; i < j; i, j = i+1, j-1 {
		out.Events[i], out.Events[j] = out.Events[j], out.Events[i]
	}
	return out, nil
}

// filter turns q's type, time range, text and match conditions into SQL
// conditions and their arguments; regular expression conditions are
// returned apart, to be applied in Go.
func (q Query) filter() (where []string, args []any, res []cond, err error) {
	if q.Type != "" {
		where, args = append(where, "type = ?"), append(args, q.Type)
	}
	if q.PID != 0 {
		where, args = append(where, "pid = ?"), append(args, int64(q.PID))
	}
	if q.StartNS != 0 {
		where, args = append(where, "start_ns = ?"), append(args, int64(q.StartNS))
	}
	if !q.Since.IsZero() {
		where, args = append(where, "ts >= ?"), append(args, q.Since.UnixNano())
	}
	if !q.Until.IsZero() {
		where, args = append(where, "ts <= ?"), append(args, q.Until.UnixNano())
	}
	for _, m := range q.Match {
		c, err := ParseMatch(m)
		if err != nil {
			return nil, nil, nil, err
		}
		path := "$." + c.field
		switch c.op {
		case "=", "!=":
			// Compare as text so that pid=42 and comm=bash both work.
			op := "="
			if c.op == "!=" {
				op = "IS NOT"
			}
			where = append(where, "CAST(json_extract(data, ?) AS TEXT) "+op+" ?")
			args = append(args, path, c.value)
		default:
			res = append(res, c)
		}
	}
	if q.Text != "" {
		where, args = append(where, "instr(lower(data), ?) > 0"), append(args, strings.ToLower(q.Text))
	}
	return where, args, res, nil
}

var errNotFound = errors.New("field not found")

func matchRE(data []byte, cs []cond) bool {
	for _, c := range cs {
		v, err := fieldText(data, c.field)
		ok := err == nil && c.re.MatchString(v)
		if ok == (c.op == "!~") {
			return false
		}
	}
	return true
}
