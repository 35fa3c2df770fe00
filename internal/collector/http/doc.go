// Package http traces HTTP/1.x exchanges without touching the traced
// programs: plain HTTP through the socket read/write syscalls, TLS in
// plain text through uprobes on OpenSSL's SSL_read/SSL_write and Go's
// crypto/tls (*Conn).Read/Write. The kernel side sends the head of each
// message and the size of every call on an HTTP connection; this package
// parses request and status lines, pairs requests with responses per
// connection, times them and counts their bytes (see docs/http.md).
package http
