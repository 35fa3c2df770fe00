// Package tcp is the metric collector for TCP connections: opened (active
// and passive), failed, closed and how long they lived, data bytes sent and
// received, retransmitted segments, resets, sockets by state, and
// per-endpoint connections and bytes bounded to the top-K endpoints.
//
// Everything is aggregated in the kernel from tracepoints:
// sock/inet_sock_set_state (opens, failed connects, closes, listening
// ports), tcp/tcp_retransmit_skb, tcp/tcp_send_reset, tcp/tcp_receive_reset
// and tcp/tcp_destroy_sock (optional), attached as tp_btf or, where that is
// missing, as raw tracepoints running the same code.
//
// Bytes are data bytes: tcp_sock's bytes_acked (sent, counted once the peer
// acknowledged them) and bytes_received, less the sequence numbers SYN and
// FIN take, so a connection that carried K bytes counts exactly K. A
// connection's entry in a kernel hash keyed by its socket holds the start
// time and the bytes already counted; at close the rest is counted. So
// that byte counters move while a long connection is busy, Collect runs a
// TCP socket iterator (iter/tcp, Linux 5.9+), which adds what each open
// connection moved since the previous walk and counts sockets by state.
// The iterator only sees the network namespace it was created in: the
// collector finds the namespaces through /proc/PID/ns/net and creates one
// in each, from a thread that enters the namespace for that. Walking a
// namespace costs at least a scan of the kernel's established-socket hash
// table (about 2 ms for 262144 buckets), so walks happen at most once a
// second and, past the collector's own namespace, spend up to 20 ms per
// collection, continuing where the previous one stopped: with many
// namespaces their byte counters lag by a few collections (closed
// connections are counted at once) and their state counts are as of their
// last walk. Without the iterator, bytes are counted at close and there is
// no state gauge.
//
// Counting starts when the collector starts: connections already open count
// from then on and have no duration; the listening ports seen tell their
// side. Durations run from the handshake's end to the close.
//
// Endpoints are keyed so that cardinality stays bounded: an active open
// (connect) under its local address and the remote address and port, the
// local port being ephemeral (lport ""); a passive one (accept) under its
// local address and port and the client's address, the client's port being
// ephemeral (rport ""). IPv4-mapped IPv6 addresses are shown as IPv4. The
// kernel map holds one endpoint per 128 KiB of memory (8192 to 262144,
// allocated as used). When it is half full, Collect removes the endpoints
// idle for ten minutes and then, longest idle first, those that have not
// moved since the previous Collect (their counts reported) until it is a
// quarter full, so it does not fill with endpoints that are done. Once
// full, updates go to an overflow entry reported as "other" and counted in
// kscope_tcp_dropped_total{reason="endpoints_map_full"} and
// kscope_self_map_drops_total{collector="tcp",map="endpoints"}. Endpoints
// in different network namespaces with the same addresses share a series.
// The connections map holds one connection per 16 KiB of memory (65536 to
// 2097152); an entry goes when its connection closes. Connections beyond
// are counted in kscope_tcp_dropped_total{reason="connections_map_full"}
// and kscope_self_map_drops_total{collector="tcp",map="conns"}, and their
// bytes at close.
//
// Multipath TCP: each subflow is a TCP connection on the wire and is
// counted as one; the MPTCP socket above them is not.
//
// Resets sent in reply to a segment for no socket (a refused SYN) are only
// counted where tcp_send_reset reports them (not on Linux 6.1). Failed
// connects are labelled with the socket error, or "none" when the
// application closed the socket before the handshake ended (a dial
// timeout). Process filters do not apply: TCP state changes mostly happen
// in softirq context.
package tcp
