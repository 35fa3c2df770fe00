// Command httpload is the workload of bench/http.sh: an HTTP/1.1 server
// (plain or TLS, Go's net/http and crypto/tls), a keep-alive load generator
// for hosts without wrk, and a TCP ping-pong that is not HTTP, to show what
// the http collector costs other socket traffic.
//
//	httpload serve [-tls]                 prints its port, serves until stdin closes
//	httpload load -url U -c 16 -d 10s     prints "requests N seconds S"
//	httpload pingpong -n 200000           prints "roundtrips N ns_per_roundtrip X"
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: httpload serve|load|pingpong [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	useTLS := fs.Bool("tls", false, "serve HTTPS")
	url := fs.String("url", "", "URL to load")
	conns := fs.Int("c", 16, "connections")
	dur := fs.Duration("d", 10*time.Second, "duration")
	n := fs.Int("n", 200000, "round trips")
	fs.Parse(os.Args[2:])
	switch os.Args[1] {
	case "serve":
		serve(*useTLS)
	case "load":
		load(*url, *conns, *dur)
	case "pingpong":
		pingpong(*n)
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", os.Args[1])
		os.Exit(2)
	}
}

var body = []byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n")

func serve(useTLS bool) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(body)
	}))
	if useTLS {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	fmt.Println(srv.Listener.Addr().(*net.TCPAddr).Port)
	io.Copy(io.Discard, os.Stdin)
	srv.Close()
}

func load(url string, conns int, dur time.Duration) {
	tr := &http.Transport{
		MaxIdleConnsPerHost: conns,
		DisableCompression:  true,
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: true},
	}
	c := &http.Client{Transport: tr}
	var count atomic.Int64
	deadline := time.Now().Add(dur)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				resp, err := c.Get(url)
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				count.Add(1)
			}
		}()
	}
	wg.Wait()
	fmt.Printf("requests %d seconds %.3f\n", count.Load(), time.Since(start).Seconds())
}

func pingpong(n int) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		buf := make([]byte, 64)
		for {
			if _, err := io.ReadFull(c, buf); err != nil {
				return
			}
			c.Write(buf)
		}
	}()
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		panic(err)
	}
	buf := make([]byte, 64)
	start := time.Now()
	for i := 0; i < n; i++ {
		c.Write(buf)
		if _, err := io.ReadFull(c, buf); err != nil {
			panic(err)
		}
	}
	el := time.Since(start)
	fmt.Printf("roundtrips %d ns_per_roundtrip %.0f\n", n, float64(el.Nanoseconds())/float64(n))
}
