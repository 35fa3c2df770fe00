// Package metrics is kscope's metric model: what aggregating collectors
// expose and what the agent stores, queries and serves.
//
// A collector that aggregates in the kernel implements Source: it describes
// its families once and, on every Collect, reads its maps and emits samples
// into an Emitter. Counters are cumulative and end in _total; values are in
// base units (seconds, bytes). Log2 turns a kernel log2 histogram into a
// Prometheus one; a HistogramValue's Native buckets (NativeHistogram)
// make the store keep it as a Prometheus native histogram. TopK bounds per-process and per-endpoint families to
// the K most active keys (for processes: only those alive across a
// collection interval), the K most active commands of the rest, and an
// "other" series. WriteText renders the
// Prometheus text exposition format. The package has no BPF imports.
package metrics
