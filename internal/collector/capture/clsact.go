package capture

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// clsactAttach is the fallback where the kernel has no tcx (before Linux
// 6.6): a direct-action bpf filter under the interface's clsact qdisc,
// added if the interface has none, at a priority of this process's own.
// It returns what detaches it: the filter, then the qdisc if this added it
// and no other filter is left under it.
func clsactAttach(ifindex int, egress bool, prog *ebpf.Program) (func() error, error) {
	// A handle of the calling thread's network namespace, where ifindex
	// is: the detach may run on any thread.
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("opening a netlink socket: %w", err)
	}
	qdisc := &netlink.GenericQdisc{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: ifindex, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT},
		QdiscType:  "clsact",
	}
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
		h.Close()
		return nil, fmt.Errorf("reading the network namespace: %w", err)
	}
	key := qdiscKey{st.Ino, ifindex}
	qdiscsMu.Lock()
	q, ok := qdiscs[key]
	if !ok {
		q = &qdiscUse{added: true}
		if err := h.QdiscAdd(qdisc); errors.Is(err, unix.EEXIST) {
			q.added = false
		} else if err != nil {
			qdiscsMu.Unlock()
			h.Close()
			return nil, fmt.Errorf("adding a clsact qdisc: %w", err)
		}
		qdiscs[key] = q
	}
	q.users++
	qdiscsMu.Unlock()
	// release forgets this use, and deletes the qdisc with the last use
	// when this process added it and no filter is left under it.
	release := func() error {
		qdiscsMu.Lock()
		defer qdiscsMu.Unlock()
		if q.users--; q.users > 0 {
			return nil
		}
		delete(qdiscs, key)
		if !q.added {
			return nil
		}
		link, err := h.LinkByIndex(ifindex)
		if err != nil {
			return nil // the interface is gone, and its qdisc with it
		}
		for _, p := range []uint32{netlink.HANDLE_MIN_INGRESS, netlink.HANDLE_MIN_EGRESS} {
			if fs, err := h.FilterList(link, p); err != nil || len(fs) > 0 {
				return nil // another tool's filters: the qdisc stays
			}
		}
		if err := h.QdiscDel(qdisc); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("deleting the clsact qdisc: %w", err)
		}
		return nil
	}
	parent := uint32(netlink.HANDLE_MIN_INGRESS)
	if egress {
		parent = netlink.HANDLE_MIN_EGRESS
	}
	var fl *netlink.BpfFilter
	// A priority of its own: the first free one from this process's.
	for try := 0; try < 64; try++ {
		fl = &netlink.BpfFilter{
			FilterAttrs: netlink.FilterAttrs{
				LinkIndex: ifindex, Parent: parent, Handle: 1,
				Priority: uint16(0xC000 + (os.Getpid()+int(prioSeq.Add(1)))%0x3FFF), Protocol: unix.ETH_P_ALL,
			},
			Fd: prog.FD(), Name: "kscope_capture", DirectAction: true,
		}
		if err = h.FilterAdd(fl); !errors.Is(err, unix.EEXIST) {
			break
		}
	}
	if err != nil {
		release()
		h.Close()
		return nil, fmt.Errorf("adding the tc filter: %w", err)
	}
	return func() error {
		defer h.Close()
		err := h.FilterDel(fl)
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENODEV) {
			err = nil
		}
		return errors.Join(err, release())
	}, nil
}

// prioSeq makes the priorities of one process's filters differ.
var prioSeq atomic.Int64

// The clsact qdiscs this process attaches under, by network namespace
// and interface, with how many of its filters use each.
type qdiscKey struct {
	netns uint64
	ifidx int
}

type qdiscUse struct {
	added bool // this process added it
	users int
}

var (
	qdiscsMu sync.Mutex
	qdiscs   = map[qdiscKey]*qdiscUse{}
)
