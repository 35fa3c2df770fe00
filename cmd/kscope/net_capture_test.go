package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/kscope/kscope/internal/testutil"
)

// startCapturer starts a capturing command and waits for it to say it is
// listening on stderr.
func startCapturer(t *testing.T, name string, args ...string) (*exec.Cmd, *testutil.Output) {
	t.Helper()
	var stderr testutil.Output
	cmd := exec.Command(name, args...)
	cmd.Stderr = &stderr
	cmd.Stdout = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	if stderr.WaitFor(regexp.MustCompile(`listening on`), 60*time.Second) == nil {
		t.Fatalf("%s %v did not start listening:\n%s", name, args, stderr.String())
	}
	return cmd, &stderr
}

// waitCaptureExit waits for a command that stops by itself (-c).
func waitCaptureExit(t *testing.T, cmd *exec.Cmd, out *testutil.Output) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v\n%s", cmd.Path, err, out.String())
		}
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		t.Fatalf("%s did not stop by itself:\n%s", cmd.Path, out.String())
	}
}

// readBack prints a capture file as tcpdump reads it: no timestamps (the
// one thing two tcpdumps would differ in), link-level headers, verbose
// decoding and every byte in hex.
func readBack(t *testing.T, tcpdump, file string) string {
	t.Helper()
	out, err := exec.Command(tcpdump, "-r", file, "-nn", "-t", "-e", "-v", "-x").Output()
	if err != nil {
		t.Fatalf("tcpdump -r %s: %v", file, err)
	}
	return string(out)
}

func comments(t *testing.T, tshark, file string) []string {
	t.Helper()
	out, err := exec.Command(tshark, "-r", file, "-T", "fields", "-e", "frame.comment").Output()
	if err != nil {
		t.Fatalf("tshark -r %s: %v", file, err)
	}
	return strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
}

// udpEchoServer serves UDP in the namespace from the test's own process.
func udpEchoServer(t *testing.T, ns, addr string) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	if err := testutil.In(ns, func() (err error) {
		c, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(addr)})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestNetCaptureNetns: the same traffic on a veth captured by `kscope net
// capture -w` and by Debian's tcpdump reads back identically with
// `tcpdump -r` (every header and byte), and kscope's copy has each
// packet's process in its comment, as tshark reads it: a UDP echo (the
// server's socket on both directions), the same over loopback (where
// each packet is shown once, as it comes in) and a TCP handshake (the SYN
// attributed through the listener). -c stops both after exactly that many.
func TestNetCaptureNetns(t *testing.T) {
	testutil.RequireBPF(t)
	tcpdump := testutil.Tool(t, "tcpdump", "comparing captures with tcpdump's")
	tshark := testutil.Tool(t, "tshark", "reading pcapng packet comments")
	p := testutil.NewNetPair(t)
	bin := kscopeBinary(t)
	commB, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Fatal(err)
	}
	self := fmt.Sprintf("pid %d comm %s", os.Getpid(), strings.TrimSpace(string(commB)))
	dir := t.TempDir()

	// echo sends 5 datagrams from namespace ns to the server and waits
	// for each answer.
	echo := func(t *testing.T, ns, addr string) {
		srv := udpEchoServer(t, p.B, addr)
		go func() {
			buf := make([]byte, 100)
			for {
				n, from, err := srv.ReadFromUDP(buf)
				if err != nil {
					return
				}
				srv.WriteToUDP(buf[:n], from)
			}
		}()
		if err := testutil.In(ns, func() error {
			c, err := net.DialUDP("udp4", nil, srv.LocalAddr().(*net.UDPAddr))
			if err != nil {
				return err
			}
			defer c.Close()
			buf := make([]byte, 100)
			for i := range 5 {
				if _, err := c.Write([]byte("ping " + strconv.Itoa(i))); err != nil {
					return err
				}
				c.SetReadDeadline(time.Now().Add(30 * time.Second))
				if _, err := c.Read(buf); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Error(err)
		}
	}
	cases := []struct {
		name, iface, filter string
		count               int
		traffic             func(t *testing.T)
	}{
		{"loopback", "lo", "udp", 10, func(t *testing.T) { echo(t, p.B, "127.0.0.1") }},
		{"udp", p.BName, "udp", 10, func(t *testing.T) { echo(t, p.A, p.BAddr) }},
		{"syn", p.BName, "tcp[tcpflags] & tcp-syn != 0", 2, func(t *testing.T) {
			var ln net.Listener
			if err := testutil.In(p.B, func() (err error) {
				var lc net.ListenConfig
				lc.SetMultipathTCP(false)
				ln, err = lc.Listen(context.Background(), "tcp4", net.JoinHostPort(p.BAddr, "0"))
				return err
			}); err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				if c, err := ln.Accept(); err == nil {
					c.Close()
				}
			}()
			if err := testutil.In(p.A, func() error {
				var d net.Dialer
				d.SetMultipathTCP(false)
				c, err := d.Dial("tcp4", ln.Addr().String())
				if err == nil {
					c.Close()
				}
				return err
			}); err != nil {
				t.Error(err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ks := filepath.Join(dir, tc.name+".pcapng")
			td := filepath.Join(dir, tc.name+".tcpdump.pcap")
			n := strconv.Itoa(tc.count)
			kcmd, kout := startCapturer(t, bin, "net", "capture", "--netns", p.B, "-i", tc.iface, "-c", n, "-w", ks, tc.filter)
			tcmd, tout := startCapturer(t, "ip", "netns", "exec", p.B, tcpdump, "-i", tc.iface, "-c", n, "-w", td, "-U", "--immediate-mode", tc.filter)
			tc.traffic(t)
			waitCaptureExit(t, kcmd, kout)
			waitCaptureExit(t, tcmd, tout)
			got, want := readBack(t, tcpdump, ks), readBack(t, tcpdump, td)
			if got != want {
				t.Errorf("tcpdump -r of kscope's capture:\n%s\ntcpdump -r of tcpdump's:\n%s", got, want)
			}
			if lines := strings.Count(got, "\n"); lines < tc.count {
				t.Errorf("%d lines for %d packets", lines, tc.count)
			}
			cs := comments(t, tshark, ks)
			if len(cs) != tc.count {
				t.Fatalf("tshark read %d comments %q, want %d", len(cs), cs, tc.count)
			}
			for i, c := range cs {
				if c != self {
					t.Errorf("packet %d: comment %q, want %q", i, c, self)
				}
			}
			if !strings.Contains(kout.String(), n+" packets captured\n") || !strings.Contains(kout.String(), "0 packets dropped by kernel\n") {
				t.Errorf("kscope's counts:\n%s", kout.String())
			}
		})
	}
}

// TestNetCaptureCountNetns: -c 4 writes exactly the first 4 of 10
// datagrams and exits by itself; a filter matching none of them writes
// nothing (stopped by SIGINT once the server has read all 10).
func TestNetCaptureCountNetns(t *testing.T) {
	testutil.RequireBPF(t)
	p := testutil.NewNetPair(t)
	bin := kscopeBinary(t)
	dir := t.TempDir()
	srv := udpEchoServer(t, p.B, p.BAddr)
	port := strconv.Itoa(srv.LocalAddr().(*net.UDPAddr).Port)
	send := func() {
		t.Helper()
		if err := testutil.In(p.A, func() error {
			c, err := net.DialUDP("udp4", nil, srv.LocalAddr().(*net.UDPAddr))
			if err != nil {
				return err
			}
			defer c.Close()
			for i := range 10 {
				if _, err := c.Write([]byte("datagram " + strconv.Itoa(i))); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 100)
		for range 10 {
			srv.SetReadDeadline(time.Now().Add(30 * time.Second))
			if _, _, err := srv.ReadFromUDP(buf); err != nil {
				t.Fatal(err)
			}
		}
	}
	read := func(file string) []string {
		t.Helper()
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			t.Fatal(err)
		}
		var payloads []string
		for {
			data, _, err := r.ReadPacketData()
			if err != nil {
				return payloads
			}
			pkt := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
			if udp, ok := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP); ok {
				payloads = append(payloads, string(udp.Payload))
			} else {
				payloads = append(payloads, "not udp")
			}
		}
	}

	four := filepath.Join(dir, "four.pcapng")
	cmd, out := startCapturer(t, bin, "net", "capture", "--netns", p.B, "-i", p.BName, "-c", "4", "-w", four, "udp dst port "+port)
	send()
	waitCaptureExit(t, cmd, out)
	if got, want := strings.Join(read(four), ","), "datagram 0,datagram 1,datagram 2,datagram 3"; got != want {
		t.Errorf("-c 4 wrote %q, want %q", got, want)
	}
	if !strings.Contains(out.String(), "4 packets captured\n") {
		t.Errorf("counts:\n%s", out.String())
	}

	none := filepath.Join(dir, "none.pcapng")
	cmd, out = startCapturer(t, bin, "net", "capture", "--netns", p.B, "-i", p.BName, "-w", none, "udp port 1 or tcp")
	send()
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	waitCaptureExit(t, cmd, out)
	if got := read(none); len(got) != 0 {
		t.Errorf("a filter matching nothing wrote %q", got)
	}
	if !strings.Contains(out.String(), "0 packets captured\n0 packets received by filter\n") {
		t.Errorf("counts:\n%s", out.String())
	}
	// The file is a pcapng with the interface and no packet.
	b, err := os.ReadFile(none)
	if err != nil || !bytes.HasPrefix(b, []byte{0x0a, 0x0d, 0x0d, 0x0a}) {
		t.Errorf("the empty capture is not pcapng: %x %v", b, err)
	}
}

// TestNetCaptureTextNetns: without -w, one tcpdump-like line per packet
// with its process; a filter that does not parse is a usage error at its
// column.
func TestNetCaptureTextNetns(t *testing.T) {
	code, _, stderr := runCLI("net", "capture", "tcp", "and", "port")
	if code != 2 || !strings.Contains(stderr, "filter:13: expected a port number, found end of filter") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	testutil.RequireBPF(t)
	p := testutil.NewNetPair(t)
	srv := udpEchoServer(t, p.B, p.BAddr)
	port := srv.LocalAddr().(*net.UDPAddr).Port
	commB, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Fatal(err)
	}
	send := func() {
		if err := testutil.In(p.A, func() error {
			c, err := net.DialUDP("udp4", nil, srv.LocalAddr().(*net.UDPAddr))
			if err != nil {
				return err
			}
			defer c.Close()
			for range 2 {
				if _, err := c.Write([]byte("0123456789")); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Error(err)
		}
	}
	code, stdout, stderr := runCLIThen(send, "net", "capture", "--netns", p.B, "-i", p.BName, "-c", "2", "udp", "dst", "port", strconv.Itoa(port))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	re := regexp.MustCompile(fmt.Sprintf(`^\d\d:\d\d:\d\d\.\d{6} In  IP 10\.201\.0\.1\.\d+ > 10\.201\.0\.2\.%d: UDP, length 10 \[pid %d comm %s\]$`,
		port, os.Getpid(), regexp.QuoteMeta(strings.TrimSpace(string(commB)))))
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2:\n%s", len(lines), stdout)
	}
	for _, l := range lines {
		if !re.MatchString(l) {
			t.Errorf("line %q does not match %s", l, re)
		}
	}
}

// udpSelfSrc waits for a byte on stdin, sends 3 datagrams to its own
// socket on 127.0.0.1:7777, receives them, and waits for stdin to close.
const udpSelfSrc = `#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
int main(void)
{
	char c, b[8];
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(7777)};
	int r, s, i;

	if (read(0, &c, 1) != 1)
		return 3;
	a.sin_addr.s_addr = htonl(0x7f000001);
	r = socket(AF_INET, SOCK_DGRAM, 0);
	if (bind(r, (struct sockaddr *)&a, sizeof(a)))
		return 4;
	s = socket(AF_INET, SOCK_DGRAM, 0);
	for (i = 0; i < 3; i++)
		sendto(s, "x", 1, 0, (struct sockaddr *)&a, sizeof(a));
	for (i = 0; i < 3; i++)
		recv(r, b, sizeof(b), 0);
	while (read(0, &c, 1) > 0)
		;
	return 0;
}
`

// TestNetCaptureContainerDocker: packets of a process in a container
// carry the container's name in their comment: kscope captures on the
// loopback of the container's network namespace (--network none).
func TestNetCaptureContainerDocker(t *testing.T) {
	docker := testutil.Docker(t)
	tshark := testutil.Tool(t, "tshark", "reading pcapng packet comments")
	bin := testutil.BuildC(t, "cc", udpSelfSrc, "-static", "-O2")
	image := testutil.UniqueName("kscope-test-capture") + ":1"
	testutil.DockerImage(t, docker, image, map[string]string{"/udpself": bin})
	name := testutil.UniqueName("kscope-capture")
	testutil.DockerRemove(t, docker, name)
	run := exec.Command(docker, "run", "-i", "--rm", "--network", "none", "--name", name, image, "/udpself")
	stdin, err := run.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); run.Wait() }()
	var pid string
	for deadline := time.Now().Add(time.Minute); ; {
		out, _ := exec.Command(docker, "inspect", "-f", "{{.State.Pid}}", name).Output()
		if pid = strings.TrimSpace(string(out)); pid != "" && pid != "0" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s did not start", name)
		}
		time.Sleep(50 * time.Millisecond)
	}
	ns := testutil.UniqueName("kscope-capture-ns")
	testutil.Run(t, "ip", "netns", "attach", ns, pid)
	t.Cleanup(func() { exec.Command("ip", "netns", "delete", ns).Run() })

	file := filepath.Join(t.TempDir(), "c.pcapng")
	cmd, out := startCapturer(t, kscopeBinary(t), "net", "capture", "--netns", ns, "-i", "lo", "-c", "3", "-w", file, "udp port 7777")
	if _, err := stdin.Write([]byte{1}); err != nil {
		t.Fatal(err)
	}
	waitCaptureExit(t, cmd, out)
	want := fmt.Sprintf("pid %s comm udpself container %s", pid, name)
	cs := comments(t, tshark, file)
	if len(cs) != 3 {
		t.Fatalf("comments %q, want 3", cs)
	}
	for i, c := range cs {
		if c != want {
			t.Errorf("packet %d: comment %q, want %q", i, c, want)
		}
	}
}
