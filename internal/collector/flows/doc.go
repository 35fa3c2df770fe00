// Package flows is the collector of TCP and UDP flows, IPv4 and IPv6,
// loopback included, attributed to processes: for each flow its 5-tuple
// and network namespace, direction (who opened it), owning process (pid,
// comm, uid) and cgroup, payload bytes and packets each way, and for TCP
// its state, retransmitted segments and smoothed RTT; how long it lived.
//
// The kernel side (bpf/flows.bpf.c) counts every packet in cgroup_skb
// programs into a bounded hash keyed by namespace and 5-tuple, learns the
// owning process from cgroup_sock and cgroup_sock_addr hooks that run in
// process context (sockets that existed at start get theirs from /proc and
// pidfd_getfd), and marks TCP flows ended at TCP_CLOSE
// (sock/inet_sock_set_state) and UDP sockets released (cgroup/sock_release).
// The collector sweeps the hash every second: an ended flow (or one idle
// for longer than the idle timeout, counted as an eviction) is emitted as
// an event of kind "flow", registered here, and removed. It keeps
// kscope_net_flow_bytes_total and kscope_net_flow_packets_total by
// command, protocol and remote address, bounded to the top-K keys plus
// "other".
package flows
