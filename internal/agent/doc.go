// Package agent runs kscope's always-on collectors: it starts every enabled
// collector (the ones this kernel cannot run are reported and skipped),
// reads their in-kernel aggregates into the metrics store at a fixed
// interval, sends their event streams to the event store, and serves both
// over HTTP (see package api). It also fans the events out to the web UI's
// live streams (live.go). It serves with TLS and basic auth from a web
// configuration file (web.go), keeps its data directory private
// (datadir.go), and applies a new configuration on Reload (reload.go).
package agent
