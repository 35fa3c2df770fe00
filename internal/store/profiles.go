package store

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kscope/kscope/internal/profile"
)

// Profiles stores stack profiles, one row per window of the continuous
// profiler, each a gzipped pprof protobuf whose samples carry pid and comm
// labels. A query merges the windows that overlap a time range.
type Profiles struct {
	db        *sql.DB
	retention atomic.Int64 // time.Duration: SetRetention changes it
	logger    *slog.Logger

	stored, bytes, deleted atomic.Uint64
	evicted                atomic.Uint64

	// size is the encoded bytes of the windows held; maxBytes bounds it
	// (0: no bound), the oldest windows deleted first.
	size, maxBytes atomic.Int64
	putMu          sync.Mutex // one Put or Expire at a time: size stays exact
}

// OpenProfiles opens (or creates) dir/profiles.db.
func OpenProfiles(dir string, retention time.Duration, logger *slog.Logger) (*Profiles, error) {
	path := filepath.Join(dir, "profiles.db")
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(5000)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("opening the profile store %s: %w", path, err)
	}
	db.SetMaxOpenConns(4)
	const schema = `
CREATE TABLE IF NOT EXISTS windows (
	start INTEGER NOT NULL, -- unix ns
	end   INTEGER NOT NULL,
	data  BLOB    NOT NULL
);
CREATE INDEX IF NOT EXISTS windows_start ON windows(start);`
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening the profile store %s: %w", path, err)
	}
	p := &Profiles{db: db, logger: logger}
	p.retention.Store(int64(retention))
	var size sql.NullInt64
	if err := db.QueryRow("SELECT SUM(length(data)) FROM windows").Scan(&size); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening the profile store %s: %w", path, err)
	}
	p.size.Store(size.Int64)
	p.Expire()
	return p, nil
}

// Put stores one window's profile. An empty profile is not stored.
func (p *Profiles) Put(ctx context.Context, prof *profile.Profile) error {
	if len(prof.Samples) == 0 {
		return nil
	}
	var buf bytes.Buffer
	if err := profile.WritePprof(&buf, prof); err != nil {
		return fmt.Errorf("encoding a profile: %w", err)
	}
	start := prof.Start.UnixNano()
	p.putMu.Lock()
	defer p.putMu.Unlock()
	if _, err := p.db.ExecContext(ctx, "INSERT INTO windows(start, end, data) VALUES (?, ?, ?)",
		start, start+prof.Duration.Nanoseconds(), buf.Bytes()); err != nil {
		return fmt.Errorf("storing a profile: %w", err)
	}
	p.stored.Add(1)
	p.bytes.Add(uint64(buf.Len()))
	p.size.Add(int64(buf.Len()))
	return p.enforce()
}

// SetMaxBytes bounds the windows' bytes from the next Put on (0: no
// bound).
func (p *Profiles) SetMaxBytes(n int64) { p.maxBytes.Store(n) }

// MaxBytes is the store's budget (0: none).
func (p *Profiles) MaxBytes() int64 { return p.maxBytes.Load() }

// Size is the encoded bytes of the windows held.
func (p *Profiles) Size() int64 { return p.size.Load() }

// Evicted counts windows deleted to keep the store within its budget.
func (p *Profiles) Evicted() uint64 { return p.evicted.Load() }

// enforce deletes the oldest windows while the store is over its budget.
func (p *Profiles) enforce() error {
	limit := p.maxBytes.Load()
	over := p.size.Load() - limit
	if limit <= 0 || over <= 0 {
		return nil
	}
	rows, err := p.db.Query("SELECT rowid, length(data) FROM windows ORDER BY start, rowid")
	if err != nil {
		return fmt.Errorf("evicting profiles: %w", err)
	}
	var ids []any
	for rows.Next() && over > 0 {
		var id, n int64
		if err := rows.Scan(&id, &n); err != nil {
			break
		}
		ids = append(ids, id)
		over -= n
	}
	rows.Close()
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), 500)]
		ids = ids[len(chunk):]
		n, err := p.deleteRows("DELETE FROM windows WHERE rowid IN (?"+strings.Repeat(", ?", len(chunk)-1)+") RETURNING length(data)", chunk...)
		p.evicted.Add(uint64(n))
		if err != nil {
			return fmt.Errorf("evicting profiles: %w", err)
		}
	}
	return nil
}

// deleteRows runs a DELETE … RETURNING length(data) and takes the bytes
// off the size.
func (p *Profiles) deleteRows(query string, args ...any) (int64, error) {
	rows, err := p.db.Query(query, args...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var n int64
	for rows.Next() {
		var size int64
		if err := rows.Scan(&size); err != nil {
			return n, err
		}
		p.size.Add(-size)
		n++
	}
	return n, rows.Err()
}

// Stored counts windows written, Bytes their encoded size, and Expired
// the windows deleted by retention.
func (p *Profiles) Stored() uint64 { return p.stored.Load() }

// Bytes is the encoded size of the windows written.
func (p *Profiles) Bytes() uint64 { return p.bytes.Load() }

// Expired counts windows deleted by retention.
func (p *Profiles) Expired() uint64 { return p.deleted.Load() }

// ProfileQuery selects stacks: the windows that overlap [Since, Until),
// and of their samples those of PID (0: any) and Comm ("": any).
type ProfileQuery struct {
	Since, Until time.Time
	PID          uint32
	Comm         string
}

// Query merges the selected windows into one profile. A window is taken
// whole when it overlaps the range: a profile's time resolution is the
// window. With nothing stored in the range the profile has no samples.
func (p *Profiles) Query(ctx context.Context, q ProfileQuery) (*profile.Profile, error) {
	rows, err := p.db.QueryContext(ctx, "SELECT data FROM windows WHERE end > ? AND start < ? ORDER BY start",
		q.Since.UnixNano(), q.Until.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("querying profiles: %w", err)
	}
	defer rows.Close()
	out := &profile.Profile{}
	for rows.Next() {
		var data []byte
		if err := rows.Scan(&data); err != nil {
			return nil, fmt.Errorf("querying profiles: %w", err)
		}
		w, err := profile.ReadPprof(bytes.NewReader(data))
		if err != nil {
			p.logger.Warn("skipping an unreadable profile window", "err", err)
			continue
		}
		w.Filter(func(s *profile.Sample) bool {
			return (q.PID == 0 || s.PID == q.PID) && (q.Comm == "" || s.Comm == q.Comm)
		})
		out.Add(w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("querying profiles: %w", err)
	}
	if len(out.Samples) > 0 {
		out.Merge()
	}
	return out, nil
}

// Expire deletes the windows older than the retention.
func (p *Profiles) Expire() {
	cut := time.Now().Add(-time.Duration(p.retention.Load())).UnixNano()
	p.putMu.Lock()
	defer p.putMu.Unlock()
	n, err := p.deleteRows("DELETE FROM windows WHERE end < ? RETURNING length(data)", cut)
	p.deleted.Add(uint64(n))
	if err != nil {
		p.logger.Error("expiring profiles failed", "err", err)
	}
	if err := p.enforce(); err != nil {
		p.logger.Error("evicting profiles failed", "err", err)
	}
}

// Close closes the database.
func (p *Profiles) Close() error { return p.db.Close() }
