package tcp

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// BenchmarkConnect is one loopback connection per op: connect, 1 KiB sent,
// the server closes after reading it, the client after reading the EOF.
// traced minus untraced is what the collector adds per connection, both
// of its sockets counted (about ten tracepoint hits).
func BenchmarkConnect(b *testing.B) {
	b.Run("untraced", func(b *testing.B) { benchConnect(b, newNetns(b)) })
	b.Run("traced", func(b *testing.B) {
		ns := newNetns(b)
		c := start(b, 50, nil)
		// The programs' own run time, less noisy than the difference of
		// two wall-clock runs on a busy machine.
		stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
		if err != nil {
			b.Fatalf("enabling BPF run time stats: %v", err)
		}
		defer stats.Close()
		before := runTime(b, c)
		benchConnect(b, ns)
		b.ReportMetric(float64(runTime(b, c)-before)/float64(b.N), "bpf-ns/conn")
	})
}

// runTime is the run time of the collector's tracepoint programs so far.
func runTime(b *testing.B, c *Collector) time.Duration {
	var d time.Duration
	for name, p := range c.Collection().Programs {
		if name == "walk" {
			continue
		}
		s, err := p.Stats()
		if err != nil {
			b.Fatal(err)
		}
		d += s.Runtime
	}
	return d
}

func benchConnect(b *testing.B, ns *netns) {
	ln := ns.listen(b, "tcp4", "127.0.0.1:0")
	go func() {
		buf := make([]byte, 1024)
		for {
			s, err := ln.Accept()
			if err != nil {
				return
			}
			io.ReadFull(s, buf)
			s.Close()
		}
	}()
	msg := make([]byte, 1024)
	var conns []net.Conn
	b.ResetTimer()
	// Sockets are made on the namespace's thread, a batch at a time.
	for done := 0; done < b.N; {
		n := min(b.N-done, 256)
		ns.do(b, func() error {
			conns = conns[:0]
			for range n {
				var d net.Dialer
				d.SetMultipathTCP(false)
				c, err := d.Dial("tcp4", ln.Addr().String())
				if err != nil {
					return err
				}
				if _, err := c.Write(msg); err != nil {
					return err
				}
				io.Copy(io.Discard, c)
				c.Close()
			}
			return nil
		})
		done += n
	}
}

// BenchmarkCollect is one collection with 1000 connections open (2000
// sockets and a listener in the walk, 1001 endpoints): the walk, the
// counters and endpoints read, top-K chosen. Less
// BenchmarkWalkEmptyNamespace, it is what the sockets and endpoints cost.
func BenchmarkCollect(b *testing.B) {
	const conns = 1000
	ns := newNetns(b)
	c := start(b, 50, func(c *Collector) { c.netns = ns.ino })
	ln := ns.listen(b, "tcp4", "127.0.0.1:0")
	accepted := make(chan net.Conn, conns)
	go func() {
		for {
			s, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- s
		}
	}()
	ns.do(b, func() error {
		for i := range conns {
			// Clients from 127.1.x.y: a server-side endpoint each.
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 1, byte(i>>8), byte(i))}}
			d.SetMultipathTCP(false)
			conn, err := d.Dial("tcp4", ln.Addr().String())
			if err != nil {
				return err
			}
			b.Cleanup(func() { conn.Close() })
			conn.Write([]byte("x"))
		}
		return nil
	})
	for range conns {
		s := <-accepted
		b.Cleanup(func() { s.Close() })
	}
	time.Sleep(50 * time.Millisecond)
	for b.Loop() {
		collect(b, c)
	}
}

// BenchmarkWalkEmptyNamespace is the walk of a namespace without sockets:
// the iterator still scans the kernel's whole established-socket hash
// table, which is what a walk costs per namespace at least.
func BenchmarkWalkEmptyNamespace(b *testing.B) {
	ns := newNetns(b)
	c := start(b, 50, func(c *Collector) { c.netns = ns.ino })
	for b.Loop() {
		c.mu.Lock()
		err := c.walk(false)
		c.mu.Unlock()
		if err != nil {
			b.Fatal(err)
		}
	}
}
