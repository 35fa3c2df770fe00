package event

// HTTP is one HTTP/1.x exchange, a request and its response, as one process
// saw it on one connection: as the server that read the request and wrote
// the response, or as the client that wrote it and read the response. The
// header describes the process and thread that made the first call of the
// request; Time is when that call returned.
type HTTP struct {
	Header
	Role   string `json:"role"`   // "server" or "client"
	Method string `json:"method"` // as sent, e.g. "GET"
	Path   string `json:"path"`   // request target without the query, at most 256 bytes
	Host   string `json:"host"`   // the Host header, when it came in the captured head
	// Status is the final response's status code; 0 when the connection
	// closed (or stayed idle) before a response came.
	Status int32 `json:"status"`
	// LatencyNS runs from the call that moved the request's first bytes to
	// the one that moved the response's last.
	LatencyNS uint64 `json:"latency_ns"`
	BytesIn   uint64 `json:"bytes_in"`  // read by the process: the request (server) or response (client), headers included
	BytesOut  uint64 `json:"bytes_out"` // written by the process
	TLS       bool   `json:"tls"`       // seen in plain text inside OpenSSL or Go's crypto/tls
	LAddr     string `json:"laddr"`     // local address:port
	RAddr     string `json:"raddr"`     // remote address:port
}
