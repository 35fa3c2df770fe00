// Package export is the seam between the agent and the systems it sends
// what it collects to (OTLP, Prometheus remote write): the Exporter
// interface each exporter implements, in the shape of
// opentelemetry-ebpf-profiler's reporter. The agent hands every exporter
// the metric samples it appends to its TSDB, the events it stores (JSON,
// encoded once for the store, the live stream and the exporters) and the
// profile windows it stores. The exporters' self metrics
// (kscope_self_export_*, labelled by exporter) are declared here, once for
// all of them. It imports no cilium/ebpf: exporters build and test without
// BPF.
package export
