// Package store keeps the agent's history in its data directory: metrics
// in a Prometheus TSDB (write-ahead log, compaction, retention by time and
// size) under metrics/, events in an SQLite database, events.db, written
// in batches, and profile windows in profiles.db. Each store has a size
// budget and deletes its oldest data to stay within it; the event store
// also gives each event type a share. Nothing is dropped silently: events
// that find the write queue full, samples the TSDB rejects and commits that
// fail are counted. A failed commit is never followed by an acknowledged
// one that a crash could lose: the TSDB's WAL is cut back to the last
// acknowledged commit and the TSDB reopened first.
package store
