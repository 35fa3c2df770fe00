// Package connect traces connect(2) on IPv4 and IPv6 sockets: protocol,
// local and remote address and port, result and latency.
//
// A non-blocking TCP connect (Go's net.Dial, most event loops) is reported
// once its handshake ends, with the handshake's result (0, ECONNREFUSED,
// ETIMEDOUT…) and duration rather than EINPROGRESS; EINPROGRESS remains only
// when the socket was closed before the handshake ended. Other connects
// report the syscall's result and duration. An event's time is when its
// result was known.
//
// proto names the socket's protocol: "tcp", "udp", "mptcp" for a Multipath
// TCP socket (the connect is made on the MPTCP socket; its TCP subflows are
// the kernel's business and are not reported), "raw" for raw sockets, ""
// when the fd is no socket. Addresses are shown as written: an IPv4-mapped
// destination of an IPv6 socket stays "::ffff:a.b.c.d". Connects done by
// io_uring, and TCP Fast Open's sendto, do not go through connect(2) and are
// not seen.
//
// Hooks: the syscall dispatcher's connect slots on sys_enter and sys_exit
// (internal/collector/dispatch) where the kernel can run it, the two
// syscall tracepoints otherwise (logged as a fallback); and
// sock/inet_sock_set_state.
package connect
