// Package otlp sends what the agent collects to an OpenTelemetry
// receiver (a Collector, or any backend that speaks OTLP) over gRPC or
// HTTP (protobuf), as configured by the agent's otlp section: its metric
// samples as OTLP metrics (counters as cumulative monotonic sums, gauges,
// histograms with explicit bounds), its events as OTLP logs (one record
// per event: the event's kind as its event name, its fields as
// attributes, its JSON as the body) and its CPU profile windows as the
// OTLP profiles signal (v1development). Each payload carries the
// resource attributes host.name and service.name (kscope), and, where a
// series or an event belongs to a container, container.id,
// container.name, container.image.name, k8s.pod.name and
// k8s.namespace.name.
//
// The payloads are encoded with the OpenTelemetry Collector's pdata (the
// official Go types of the OTLP protos) and wait, encoded, in one
// bounded queue in memory, sent oldest first and retried with backoff
// while the receiver is down or asks to retry; past the queue's budget
// the oldest are dropped and counted (kscope_self_export_*).
package otlp
