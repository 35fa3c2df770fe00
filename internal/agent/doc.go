// Package agent runs kscope's always-on collectors: it builds every enabled
// collector from the registry (the ones this kernel cannot run are
// reported and skipped), reads their in-kernel aggregates into the metrics
// store at a fixed interval, and serves the stores over HTTP (see package
// api). Behind each collector it builds the sink chain (sinks.go): rate
// limits, enrichment, one JSON encoding per event, then the event store,
// the web UI's live streams (live.go) and the exporters (package export).
// It stores the windows of profile sources (profiles.go) and knows no
// collector package: only collector.Spec, metrics.Source and
// profile.Source. It serves with TLS and basic auth from a web
// configuration file (web.go), keeps its data directory private
// (datadir.go), evaluates Prometheus rule files against the metrics store
// and sends their alerts to Alertmanagers (rules.go), and applies a new
// configuration on Reload (reload.go).
package agent
