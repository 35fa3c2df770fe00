// Package api serves the agent over HTTP: /metrics in the Prometheus
// exposition format, the Prometheus HTTP API (query, query_range, series,
// labels, label values, metadata, buildinfo) over the embedded TSDB and
// PromQL engine, so Grafana's Prometheus data source works unchanged, the
// event store at /api/v1/events, the rule groups and alerts at
// /api/v1/rules and /api/v1/alerts in Prometheus's shapes (rules.go), and
// /healthz; and the web UI at / with
// the endpoints it needs (ui.go, stream.go: live events over SSE, the
// doctor report, the agent's status). HostAllowList (host.go) keeps a
// loopback agent out of reach of DNS-rebound web pages.
// Every PromQL, events and profile
// query is checked before evaluation (check.go) and bounded during it:
// timeout, samples, the client's connection, concurrency with a bounded
// queue (limit.go).
package api
