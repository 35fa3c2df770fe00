// Package client is the Go client of the kscope agent's HTTP API: PromQL
// instant and range queries, series and label names and values, the
// stored events and their live stream, profiles and the agent's status.
//
// It speaks to an agent behind its web configuration (basic auth, TLS,
// client certificates) with Prometheus's HTTP client configuration, the
// file promtool's --http.config.file reads. Answers in the Prometheus
// API's error shape become *Error; an agent that refuses the credentials,
// a certificate this client does not trust and an agent that cannot be
// reached get errors that say what to do.
//
// kscope query, kscope events and kscope top --server use it. It imports
// no cilium/ebpf.
package client
