// Package profile holds symbolized stack profiles and writes them the ways
// profiling users read them: pprof protobuf (go tool pprof, Grafana,
// Pyroscope), folded stacks (one "a;b;c count" line per stack, for
// flamegraph.pl and speedscope), and flame graphs rendered here as SVG or a
// self-contained interactive HTML page. It knows nothing of BPF: the
// profile collector produces addresses, package symbolize turns them into
// frames, and this package only aggregates and writes.
package profile
