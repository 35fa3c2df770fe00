// Package push carries metric samples from `kscope run --server` to a
// running agent over the Prometheus remote-write protocol (1.0: prompb
// WriteRequest, snappy-compressed): Encode and Push on the sending side,
// Receiver (the agent's POST /api/v1/write) on the receiving side. The
// receiver takes only kscope_probe_* series and bounds everything a
// hostile client controls: the body's size before and after decoding, the
// series of one request, the series pushed in all, label names and values,
// the buckets of a native histogram.
package push
