// Package capture is the kernel side of `kscope net capture`: the pcap
// filter compiled by internal/pcapfilter runs as a tcx program on each
// interface's ingress and egress, and the packets it accepts are copied
// (up to the snap length) to a perf buffer with their interface,
// direction, time and process, which is kept in each socket's local
// storage by cgroup socket hooks (docs/net.md). Run hands the packets over
// in the order of their timestamps; the counters say how many the filter
// accepted, how many --pid or --comm left out and how many the full buffer
// lost.
package capture
