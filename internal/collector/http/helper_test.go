package http_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The test binary doubles as the workload: run with KSCOPE_HTTP_HELPER set,
// it is an HTTP server or client whose pid and comm the tests know.
const helperEnv = "KSCOPE_HTTP_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		// The collector examines at start the programs of the processes
		// that have a socket: with one, this binary, which the servers
		// and clients run too, is probed before any of them starts, as a
		// server's binary is when one instance of it runs.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		code := m.Run()
		ln.Close()
		os.Exit(code)
	case "server":
		serve(os.Args[1] == "tls")
	case "client":
		os.Exit(client(os.Args[1:]))
	}
	os.Exit(0)
}

// handler answers the paths the tests request.
func handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "hello, world\n")
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusCreated)
		w.Write(body)
	})
	// Written in flushed pieces: chunked transfer encoding.
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < 3; i++ {
			fmt.Fprintf(w, "piece %d %s\n", i, strings.Repeat("x", 100))
			w.(http.Flusher).Flush()
		}
	})
	// A large body, written in several calls.
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(256<<10))
		w.Write(bytes.Repeat([]byte("b"), 256<<10))
	})
	return mux
}

// serve runs an HTTP/1.1 server (with TLS: a test certificate, no HTTP/2)
// on a loopback port, prints the port and serves until stdin closes.
func serve(useTLS bool) {
	srv := httptest.NewUnstartedServer(handler())
	if useTLS {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	fmt.Println(srv.Listener.Addr().(*net.TCPAddr).Port)
	io.Copy(io.Discard, os.Stdin)
	srv.Close()
}

// result is what the client saw of one exchange, bytes counted on its
// connection.
type result struct {
	Method   string `json:"method"`
	Path     string `json:"path"`
	Status   int    `json:"status"`
	BytesOut uint64 `json:"bytes_out"`
	BytesIn  uint64 `json:"bytes_in"`
	LAddr    string `json:"laddr"`
}

type countingConn struct {
	net.Conn
	in, out *atomic.Uint64
}

func (c countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.in.Add(uint64(n))
	return n, err
}

func (c countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.out.Add(uint64(n))
	return n, err
}

// client makes the requests "METHOD PATH [BODY-BYTES]" to base one after
// the other on one kept-alive connection and prints one result per line.
// Args: base URL, "tls" or "plain", a start delay, then the requests. The
// delay "stdin" waits for a line on stdin, opens and closes a TCP
// connection to base's host, and waits for another line.
func client(args []string) int {
	base, useTLS := args[0], args[1] == "tls"
	if args[2] == "stdin" {
		in := bufio.NewReader(os.Stdin)
		if _, err := in.ReadString('\n'); err != nil {
			return 1
		}
		c, err := net.Dial("tcp", base[strings.Index(base, "://")+3:])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		c.Close()
		if _, err := in.ReadString('\n'); err != nil {
			return 1
		}
	} else {
		delay, _ := time.ParseDuration(args[2])
		time.Sleep(delay)
	}
	var in, out atomic.Uint64
	var laddr string
	tr := &http.Transport{
		DisableCompression: true,
		MaxConnsPerHost:    1,
		ForceAttemptHTTP2:  false,
		TLSClientConfig:    &tls.Config{InsecureSkipVerify: true},
	}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		laddr = c.LocalAddr().String()
		return countingConn{c, &in, &out}, nil
	}
	if useTLS {
		tr.DialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			laddr = c.LocalAddr().String()
			tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
			if err := tc.HandshakeContext(ctx); err != nil {
				return nil, err
			}
			// Plain-text bytes, counted above TLS.
			return countingConn{tc, &in, &out}, nil
		}
	} else {
		tr.DialContext = dial
	}
	hc := &http.Client{Transport: tr}
	enc := json.NewEncoder(os.Stdout)
	for _, spec := range args[3:] {
		f := strings.Fields(spec)
		var body io.Reader
		if len(f) > 2 {
			n, _ := strconv.Atoi(f[2])
			body = bytes.NewReader(bytes.Repeat([]byte("p"), n))
		}
		req, err := http.NewRequest(f[0], base+f[1], body)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		in0, out0 := in.Load(), out.Load()
		resp, err := hc.Do(req)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		enc.Encode(result{f[0], f[1], resp.StatusCode, out.Load() - out0, in.Load() - in0, laddr})
	}
	return 0
}

// helper is a running helper process.
type helper struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

func (h *helper) pid() uint32 { return uint32(h.cmd.Process.Pid) }

// startServer runs the test binary (or bin) as a server and returns it with
// its port; it stops when the test ends.
func startServer(t *testing.T, bin string, useTLS bool) (*helper, int) {
	t.Helper()
	mode := "plain"
	if useTLS {
		mode = "tls"
	}
	cmd := exec.Command(bin, mode)
	cmd.Env = append(os.Environ(), helperEnv+"=server")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helper{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	line, err := h.out.ReadString('\n')
	if err != nil {
		t.Fatalf("server: %v", err)
	}
	port, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("server port %q: %v", line, err)
	}
	return h, port
}

// runClient runs the test binary (or bin) as a client making reqs and
// returns its pid and results.
func runClient(t *testing.T, bin, base string, useTLS bool, delay time.Duration, reqs ...string) (uint32, []result) {
	t.Helper()
	mode := "plain"
	if useTLS {
		mode = "tls"
	}
	cmd := exec.Command(bin, append([]string{base, mode, delay.String()}, reqs...)...)
	cmd.Env = append(os.Environ(), helperEnv+"=client")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("client: %v\n%s", err, stderr.String())
	}
	var rs []result
	dec := json.NewDecoder(&stdout)
	for {
		var r result
		if err := dec.Decode(&r); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	return uint32(cmd.Process.Pid), rs
}
