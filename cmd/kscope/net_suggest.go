package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/kscope/kscope/internal/client"
	"github.com/kscope/kscope/internal/collector/flows"
	"github.com/kscope/kscope/internal/netfilter"
	"github.com/kscope/kscope/internal/store"
)

type suggestFlags struct {
	server, httpConfig string
	since              string
	iface, hook, name  string
	out                string
	ephemeral          string
	maxPeers           int
}

// maxSuggestPages bounds the pages of flow events a suggestion reads
// (store.MaxLimit each).
const maxSuggestPages = 50

func newNetFilterSuggestCmd(ff *filterFlags) *cobra.Command {
	var f suggestFlags
	cmd := &cobra.Command{
		Use:   "suggest [flags]",
		Short: "Write a filter file that allows the flows the agent saw",
		Long: `Read the flows the agent's flows collector stored over --since (the flow
events of the flows that ended) and write a filter file for one interface
and hook that allows them and drops the rest: one allow rule per peer
address, protocol and port, with a comment naming the processes, default
drop and mode audit, so that applying it drops nothing and counts what
enforcing it would drop (kscope net filter stats, the agent's
kscope_net_filter_packets_total{action="would_drop"}). Once nothing wanted
is counted as would_drop, set mode: enforce.

The flows are those of the interface: their local address is one of its
addresses, in its network namespace (kscope's, or --netns), and the peer is
not an address of the host (that traffic goes over lo). --interface
defaults to the interface of the default route. On an ingress hook (xdp,
tc-ingress) a rule's source is the peer and its port the local server
port, or for connections the host opened, the ephemeral port range their
replies come back to (--ephemeral-ports, ip_local_port_range by default);
on tc-egress its destination is the peer and its port the peer's server
port, or 1024-65535 for replies to connections the peer opened. A port with
more than --max-peers peers gets one rule listing them all.

The agent needs the flows collector (collectors.flows: true); flows still
open at the end of the window are not in it.`,
		Example: "  kscope net filter suggest --since 10m -o filters.yaml\n  kscope net filter suggest --since 1h --interface eth0 --hook tc-ingress --server http://host:9464",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSuggest(cmd, ff, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.server, "server", "", "agent URL (default $KSCOPE_SERVER or "+defaultServer+")")
	addHTTPConfigFlag(fl, &f.httpConfig)
	fl.StringVar(&f.since, "since", "10m", "the flows from this long ago (10m) or this time (RFC 3339, Unix seconds)")
	fl.StringVar(&f.iface, "interface", "", "the interface to filter (default: the default route's)")
	fl.StringVar(&f.hook, "hook", "xdp", "xdp, tc-ingress or tc-egress")
	fl.StringVar(&f.name, "name", "suggested", "the filter's name")
	fl.StringVarP(&f.out, "output", "o", "", "write the file here (default: standard output)")
	fl.StringVar(&f.ephemeral, "ephemeral-ports", "", "the local ephemeral port range, LO-HI (default: net.ipv4.ip_local_port_range)")
	fl.IntVar(&f.maxPeers, "max-peers", 16, "a protocol and port with more peers gets one rule listing them")
	return cmd
}

// ifaceInfo is what suggest knows of the interface, from its namespace.
type ifaceInfo struct {
	name      string
	found     bool
	addrs     []netip.Addr // the interface's
	local     []netip.Addr // every interface's of the namespace
	loopback  bool
	cookie    uint64 // the namespace's cookie; 0: unknown
	ephemeral netfilter.PortRange
}

func runSuggest(cmd *cobra.Command, ff *filterFlags, f suggestFlags) error {
	if !slices.Contains(netfilter.Hooks, f.hook) {
		return usagef("--hook %q: want one of %s", f.hook, strings.Join(netfilter.Hooks, ", "))
	}
	if f.maxPeers < 1 {
		return usagef("--max-peers %d: must be positive", f.maxPeers)
	}
	var eph netfilter.PortRange
	if f.ephemeral != "" {
		var err error
		if eph, err = parsePortRange(f.ephemeral); err != nil {
			return usagef("--ephemeral-ports: %v", err)
		}
	}
	var info ifaceInfo
	if err := ff.in(func() (err error) {
		info, err = lookupIface(f.iface)
		return err
	}); err != nil {
		return err
	}
	if f.ephemeral != "" {
		info.ephemeral = eph
	}
	stderr := cmd.ErrOrStderr()
	if !info.found {
		fmt.Fprintf(stderr, "kscope: interface %s is not in this network namespace: taking every flow whose peer is not loopback\n", info.name)
	}

	c, err := agentAPI(serverURL(f.server), f.httpConfig, queryTimeout)
	if err != nil {
		return err
	}
	seen, total, truncated, err := fetchFlows(cmd.Context(), c, f.since, info)
	if err != nil {
		return apiError(err)
	}
	if truncated {
		fmt.Fprintf(stderr, "kscope: more than %d flows in the window: the oldest were left out\n", maxSuggestPages*store.MaxLimit)
	}
	if len(seen) == 0 {
		return fmt.Errorf("no flows of %s in the last %s among the agent's %d flow events (the agent needs collectors.flows: true; flows still open are not stored)", info.name, f.since, total)
	}
	header := []string{
		fmt.Sprintf("Suggested by kscope net filter suggest at %s from the %d flows of %s", time.Now().UTC().Format(time.RFC3339), len(seen), info.name),
		fmt.Sprintf("that ended since %s, as the agent at %s stored them.", f.since, c.URL()),
		"It allows what was seen and drops the rest, in audit mode: apply it, watch",
		"kscope net filter stats (would-be drops), then set mode: enforce.",
	}
	s := netfilter.Suggest(seen, netfilter.SuggestOptions{
		Name: f.name, Interface: info.name, Hook: f.hook, Ephemeral: info.ephemeral,
		MaxPeers: f.maxPeers, Header: header,
	})
	if s.OmittedFlows > 0 {
		s.Options.Header = append(s.Options.Header, fmt.Sprintf("%d flows of the least traffic are left out (at most %d rules, %d peers).", s.OmittedFlows, netfilter.MaxRules, netfilter.DefaultMaxSources))
		fmt.Fprintf(stderr, "kscope: %d flows left out: at most %d rules and %d peers\n", s.OmittedFlows, netfilter.MaxRules, netfilter.DefaultMaxSources)
	}
	data := s.YAML()
	file := f.out
	if file == "" {
		file = "<stdout>"
	}
	// The file must be one apply takes: a name or interface it refuses is
	// the command line's fault.
	if _, err := netfilter.Parse(file, data); err != nil {
		return usagef("the suggested filter is not valid: %v", err)
	}
	if f.out == "" {
		_, err = cmd.OutOrStdout().Write(data)
		return err
	}
	if err := os.WriteFile(f.out, data, 0o644); err != nil {
		return fmt.Errorf("writing the filter file: %w", err)
	}
	rules := len(s.Rules)
	if s.IPv6 {
		rules++
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s: filter %s: %d rules on %s %s from %d flows, default drop, audit\n", f.out, f.name, rules, info.name, f.hook, s.Flows)
	return nil
}

func parsePortRange(s string) (netfilter.PortRange, error) {
	lo, hi, _ := strings.Cut(strings.TrimSpace(s), "-")
	a, err1 := strconv.ParseUint(strings.TrimSpace(lo), 10, 16)
	b, err2 := strconv.ParseUint(strings.TrimSpace(hi), 10, 16)
	if err1 != nil || err2 != nil || a == 0 || a > b {
		return netfilter.PortRange{}, fmt.Errorf("%q: want LO-HI, 1 to 65535 (32768-60999)", s)
	}
	return netfilter.PortRange{Lo: uint16(a), Hi: uint16(b)}, nil
}

// lookupIface reads, in the calling thread's network namespace, the
// interface's addresses (the default route's interface when name is
// empty), the namespace's addresses and cookie, and its ephemeral ports.
func lookupIface(name string) (ifaceInfo, error) {
	info := ifaceInfo{name: name, ephemeral: netfilter.PortRange{Lo: 32768, Hi: 60999}}
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if r, err := parsePortRange(strings.Join(strings.Fields(string(b)), "-")); err == nil {
			info.ephemeral = r
		}
	}
	if name == "" {
		n, err := defaultRouteIface()
		if err != nil {
			return info, err
		}
		info.name = n
	}
	ifc, err := net.InterfaceByName(info.name)
	if err != nil {
		if name == "" {
			return info, fmt.Errorf("looking up interface %s: %w", info.name, err)
		}
		return info, nil // on another host: no addresses to go by
	}
	info.found = true
	info.loopback = ifc.Flags&net.FlagLoopback != 0
	addrs, err := ifc.Addrs()
	if err != nil {
		return info, fmt.Errorf("reading the addresses of %s: %w", info.name, err)
	}
	info.addrs = ipAddrs(addrs)
	all, err := net.InterfaceAddrs()
	if err != nil {
		return info, fmt.Errorf("reading the host's addresses: %w", err)
	}
	info.local = ipAddrs(all)
	info.cookie = netnsCookie()
	return info, nil
}

func ipAddrs(addrs []net.Addr) []netip.Addr {
	var out []netip.Addr
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				out = append(out, ip.Unmap())
			}
		}
	}
	return out
}

// netnsCookie is the calling thread's network namespace's cookie
// (SO_NETNS_COOKIE, Linux 5.14), as the flows collector records it; 0
// when the kernel cannot say.
func netnsCookie() uint64 {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0
	}
	defer unix.Close(fd)
	cookie, err := unix.GetsockoptUint64(fd, unix.SOL_SOCKET, unix.SO_NETNS_COOKIE)
	if err != nil {
		return 0
	}
	return cookie
}

// defaultRouteIface is the interface of the IPv4 default route, else the
// IPv6 one's, of the calling thread's namespace.
func defaultRouteIface() (string, error) {
	if f, err := os.Open("/proc/thread-self/net/route"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fl := strings.Fields(sc.Text())
			if len(fl) > 7 && fl[1] == "00000000" && fl[7] == "00000000" {
				return fl[0], nil
			}
		}
	}
	if f, err := os.Open("/proc/thread-self/net/ipv6_route"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fl := strings.Fields(sc.Text())
			if len(fl) == 10 && fl[0] == strings.Repeat("0", 32) && fl[1] == "00" && fl[9] != "lo" {
				return fl[9], nil
			}
		}
	}
	return "", usagef("no default route: give --interface")
}

// flowEvent is the part of a stored flow event suggest reads.
type flowEvent struct {
	Time       time.Time `json:"time"`
	PID        uint32    `json:"pid"`
	Comm       string    `json:"comm"`
	Proto      string    `json:"proto"`
	LocalAddr  string    `json:"local_addr"`
	LocalPort  uint16    `json:"local_port"`
	RemoteAddr string    `json:"remote_addr"`
	RemotePort uint16    `json:"remote_port"`
	Direction  string    `json:"direction"`
	Sent       uint64    `json:"bytes_sent"`
	Received   uint64    `json:"bytes_received"`
	Netns      uint64    `json:"netns_cookie"`
}

// fetchFlows reads the stored flow events since since, newest page first,
// and keeps those of the interface. total counts the events read.
func fetchFlows(ctx context.Context, c *client.Client, since string, info ifaceInfo) (seen []netfilter.SeenFlow, total int, truncated bool, err error) {
	until := ""
	var boundary time.Time
	var atBoundary [][]byte // the events at boundary already read
	for page := 0; ; page++ {
		if page == maxSuggestPages {
			return seen, total, true, nil
		}
		evs, err := c.Events(ctx, client.EventsQuery{Type: flows.KindName, Since: since, Until: until, Limit: store.MaxLimit})
		if err != nil {
			return nil, 0, false, fmt.Errorf("reading the flow events: %w", err)
		}
		var oldest time.Time
		var atOldest [][]byte
		for i, raw := range evs.Events {
			var e flowEvent
			if err := json.Unmarshal(raw, &e); err != nil {
				return nil, 0, false, fmt.Errorf("decoding a flow event: %w", err)
			}
			if i == 0 {
				oldest = e.Time
			}
			if e.Time.Equal(oldest) {
				atOldest = append(atOldest, raw)
			}
			if !boundary.IsZero() && e.Time.Equal(boundary) && slices.ContainsFunc(atBoundary, func(b []byte) bool { return bytes.Equal(b, raw) }) {
				continue
			}
			total++
			if sf, ok := info.keep(&e); ok {
				seen = append(seen, sf)
			}
		}
		if !evs.Truncated || len(evs.Events) == 0 {
			return seen, total, false, nil
		}
		if oldest.Equal(boundary) {
			// One instant holds more events than a page: stop there.
			return seen, total, true, nil
		}
		boundary, atBoundary = oldest, atOldest
		until = oldest.Format(time.RFC3339Nano)
	}
}

// keep turns a flow event into a SeenFlow when it is the interface's.
func (info *ifaceInfo) keep(e *flowEvent) (netfilter.SeenFlow, bool) {
	local, err1 := netip.ParseAddr(e.LocalAddr)
	remote, err2 := netip.ParseAddr(e.RemoteAddr)
	if err1 != nil || err2 != nil {
		return netfilter.SeenFlow{}, false
	}
	local, remote = local.Unmap(), remote.Unmap()
	if info.found {
		if info.cookie != 0 && e.Netns != 0 && e.Netns != info.cookie {
			return netfilter.SeenFlow{}, false
		}
		if !slices.Contains(info.addrs, local.WithZone("")) {
			return netfilter.SeenFlow{}, false
		}
		// Between two of the host's addresses, packets go over lo.
		if slices.Contains(info.local, remote.WithZone("")) != info.loopback {
			return netfilter.SeenFlow{}, false
		}
	} else if remote.IsLoopback() {
		return netfilter.SeenFlow{}, false
	}
	return netfilter.SeenFlow{
		Proto: e.Proto, Local: netip.AddrPortFrom(local, e.LocalPort), Remote: netip.AddrPortFrom(remote, e.RemotePort),
		Direction: e.Direction, PID: e.PID, Comm: e.Comm, Bytes: e.Sent + e.Received,
	}, true
}
