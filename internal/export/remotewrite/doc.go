// Package remotewrite sends the agent's metric samples to Prometheus
// remote-write endpoints, 1.0 (snappy-compressed prompb.WriteRequest) or
// 2.0 when protobuf_message asks for it (falling back to 1.0 on a 415), as
// configured by remote_write entries in Prometheus's own shape. Each
// endpoint has its own bounded queue on disk in the data directory: a
// collection is encoded once into requests of at most
// queue_config.max_samples_per_send samples, written to the queue and
// sent oldest first, retried with backoff while the endpoint is down or
// failing, and found again after a restart. Past the queue's budget the
// oldest requests are deleted and counted as dropped.
package remotewrite
