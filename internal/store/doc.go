// Package store keeps the agent's history in its data directory: metrics
// in a Prometheus TSDB (write-ahead log, compaction, retention) under
// metrics/, and events in an SQLite database, events.db, written in
// batches. Nothing is dropped silently: events that find the write queue
// full and samples the TSDB rejects are counted. The TSDB's in-memory head
// is capped (MaxSeries) and cut into short blocks (DefaultHeadBlock) so
// the series of ended processes leave memory within minutes.
package store
