package netfilter

import (
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/kscope/kscope/internal/bpfx"
	nf "github.com/kscope/kscope/internal/netfilter"
)

// DefaultRoot is where filters are pinned, one directory per filter.
const DefaultRoot = "/sys/fs/bpf/kscope/filter"

// DefaultRule names the counters of packets no rule matched.
const DefaultRule = nf.DefaultRule

const (
	slots       = 2 * nf.MaxRules // counter slots, as in filter.bpf.c
	defaultSlot = slots
)

// How a filter is attached.
const (
	AttachXDP    = "xdp"
	AttachTCX    = "tcx"
	AttachClsact = "clsact"
)

// ErrNoFilter is returned (wrapped) for a filter name that is not pinned.
var ErrNoFilter = errors.New("no such filter")

// Options are how Apply loads and attaches.
type Options struct {
	// Root is the pin directory (DefaultRoot when empty); tests use their own.
	Root string
	// Clsact attaches TC filters with a clsact qdisc's bpf filter even
	// where tcx works (tests of the fallback).
	Clsact bool
	// XDPMode is how an XDP filter is attached: XDPAuto (the driver's
	// mode when it has one, else generic), XDPNative or XDPGeneric. It
	// applies when the filter is attached: a re-apply on the same
	// interface swaps the program in the attachment as it is.
	XDPMode string
}

// The XDP attach modes.
const (
	XDPAuto    = "auto"
	XDPNative  = "native"
	XDPGeneric = "generic"
)

// XDPModes are the values of Options.XDPMode ("" is XDPAuto).
var XDPModes = []string{XDPAuto, XDPNative, XDPGeneric}

func (o Options) root() string {
	if o.Root == "" {
		return DefaultRoot
	}
	return o.Root
}

// Status is a pinned filter with its rules' counters.
type Status struct {
	Name      string       `json:"name"`
	Interface string       `json:"interface"`
	Ifindex   int          `json:"ifindex"`
	Hook      string       `json:"hook"`
	Attach    string       `json:"attach"` // xdp, tcx or clsact
	Default   string       `json:"default"`
	Mode      string       `json:"mode"`
	Source    string       `json:"source,omitempty"`
	Applied   time.Time    `json:"applied"`
	ProgramID uint32       `json:"program_id"`
	LinkID    uint32       `json:"link_id,omitempty"`
	Rules     []RuleStatus `json:"rules"` // in file order, then the default
}

// RuleStatus is one rule and its counters. Dropped counts the packets the
// rule (or the default) dropped, or in audit mode would have dropped.
type RuleStatus struct {
	Name         string `json:"name"`
	Action       string `json:"action"`
	Rate         uint32 `json:"rate,omitempty"`
	Burst        uint32 `json:"burst,omitempty"`
	Packets      uint64 `json:"packets"`
	Bytes        uint64 `json:"bytes"`
	Dropped      uint64 `json:"dropped"`
	DroppedBytes uint64 `json:"dropped_bytes"`
}

func pin(dir, name string) string { return filepath.Join(dir, name) }

// Apply loads f's program and tables and puts them in place of any filter
// of the same name: on the same interface and hook the attachment swaps
// programs in one step (bpf_link_update, or a tc filter replace), so no
// packet meets no filter; elsewhere the new one is attached before the old
// one is detached. Rules keep their counters across applies, by name.
func Apply(f *nf.Filter, opts Options) (*Status, error) {
	if err := bpfx.CheckPrivileges(); err != nil {
		return nil, err
	}
	bpfx.EnsureMounts() // bpffs for the pins
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("raising the memlock limit: %w", err)
	}
	ifc, err := net.InterfaceByName(f.Interface)
	if err != nil {
		return nil, fmt.Errorf("finding interface %s: %w", f.Interface, err)
	}
	if len(ifc.HardwareAddr) != 6 && ifc.Flags&net.FlagLoopback == 0 {
		// The program parses from an Ethernet header.
		return nil, fmt.Errorf("filtering on %s: it has no Ethernet header (a tun, WireGuard or other layer-3 device): not supported", f.Interface)
	}
	dir := filepath.Join(opts.root(), f.Name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the pin directory: %w", err)
	}
	unlock, err := lock(opts.root())
	if err != nil {
		return nil, err
	}
	defer unlock()
	old, _ := readInfo(dir)
	attach := AttachXDP
	if f.Hook != "xdp" {
		attach = AttachTCX
		if opts.Clsact || bpfx.ProbeFeature(bpfx.FeatTCX) != nil {
			attach = AttachClsact
		}
	}

	spec, err := loadFilter()
	if err != nil {
		return nil, fmt.Errorf("loading the filter object: %w", err)
	}
	progName := "filter_xdp"
	if f.Hook != "xdp" {
		progName = "filter_tc"
	}
	for name := range spec.Programs {
		if name != progName {
			delete(spec.Programs, name)
		}
	}
	if err := spec.Variables["default_drop"].Set(boolByte(f.Default == "drop")); err != nil {
		return nil, fmt.Errorf("setting default_drop: %w", err)
	}
	if err := spec.Variables["audit"].Set(boolByte(f.Mode == "audit")); err != nil {
		return nil, fmt.Errorf("setting audit: %w", err)
	}
	// Counters and rate-limit buckets go on from the filter being replaced.
	repl := map[string]*ebpf.Map{}
	for _, name := range []string{"counters", "buckets"} {
		if m, err := ebpf.LoadPinnedMap(pin(dir, name), nil); err == nil {
			repl[name] = m
			defer m.Close()
		}
	}
	coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{MapReplacements: repl})
	if err != nil && len(repl) > 0 && !errors.As(err, new(*ebpf.VerifierError)) {
		// Pinned by another version of kscope: start afresh.
		repl = map[string]*ebpf.Map{}
		coll, err = ebpf.NewCollection(spec)
	}
	if err != nil {
		return nil, bpfx.LoadError("filter", err)
	}
	defer coll.Close()
	prog := coll.Programs[progName]

	t := nf.Compile(f)
	oldSlots := map[string]uint32{}
	if old != nil && repl["counters"] != nil {
		oldSlots = readSlots(dir)
	}
	if err := fill(coll, f, t, ifc, attach, oldSlots, repl["counters"] == nil); err != nil {
		return nil, err
	}

	// Swap or attach.
	var oldLink, newLink link.Link
	swapped := false
	same := old != nil && old.Ifindex == uint32(ifc.Index) && old.Hook == uint32(f.HookIndex()) && attachOf(old) == attach
	if old != nil && attachOf(old) != AttachClsact {
		if l, err := link.LoadPinnedLink(pin(dir, "link"), nil); err == nil {
			oldLink = l
			defer l.Close()
		}
	}
	switch {
	case same && attach == AttachClsact:
		if err := clsactAttach(ifc.Index, f.Hook, f.Name, prog, true); err != nil {
			return nil, err
		}
		swapped = true
	case same && oldLink != nil:
		if err := oldLink.Update(prog); err != nil {
			return nil, fmt.Errorf("replacing the program of filter %s: %w", f.Name, err)
		}
		swapped = true
	case attach == AttachXDP:
		var flags link.XDPAttachFlags
		switch opts.XDPMode {
		case XDPNative:
			flags = link.XDPDriverMode
		case XDPGeneric:
			flags = link.XDPGenericMode
		}
		newLink, err = link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifc.Index, Flags: flags})
	case attach == AttachTCX:
		at := ebpf.AttachTCXIngress
		if f.Hook == "tc-egress" {
			at = ebpf.AttachTCXEgress
		}
		newLink, err = link.AttachTCX(link.TCXOptions{Program: prog, Interface: ifc.Index, Attach: at})
	default:
		err = clsactAttach(ifc.Index, f.Hook, f.Name, prog, false)
	}
	if errors.Is(err, unix.EBUSY) && attach == AttachXDP {
		return nil, fmt.Errorf("attaching filter %s to %s xdp: the interface has an XDP program already (another filter's or tool's; ip link show %s): %w", f.Name, f.Interface, f.Interface, err)
	}
	if err != nil {
		return nil, fmt.Errorf("attaching filter %s to %s %s: %w", f.Name, f.Interface, f.Hook, err)
	}
	if newLink != nil {
		defer newLink.Close()
	}

	// Pin the new objects over the old ones.
	objs := map[string]interface{ Pin(string) error }{"prog": prog}
	for name, m := range coll.Maps {
		if repl[name] == nil && name != ".rodata" && !strings.HasPrefix(name, ".") {
			objs[name] = m
		}
	}
	if newLink != nil {
		objs["link"] = newLink
	}
	for name, o := range objs {
		tmp := pin(dir, "new_"+name) // bpffs takes no dots in names
		os.Remove(tmp)
		if err := o.Pin(tmp); err != nil {
			return nil, fmt.Errorf("pinning %s: %w", name, err)
		}
		if err := os.Rename(tmp, pin(dir, name)); err != nil {
			return nil, fmt.Errorf("pinning %s: %w", name, err)
		}
	}
	// Take the old attachment away when the new one is elsewhere.
	if !swapped && old != nil {
		if oldLink != nil {
			if err := oldLink.Detach(); err != nil && !errors.Is(err, unix.ENOLINK) {
				return nil, fmt.Errorf("detaching the replaced filter: %w", err)
			}
		} else if attachOf(old) == AttachClsact {
			clsactDetach(int(old.Ifindex), hookName(old.Hook), f.Name)
		}
		if attach == AttachClsact {
			os.Remove(pin(dir, "link"))
		}
	}
	return Read(opts.Root, f.Name)
}

func boolByte(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

func attachOf(i *filterFilterInfo) string {
	switch {
	case i.Hook == nf.HookXDP:
		return AttachXDP
	case i.Tcx != 0:
		return AttachTCX
	}
	return AttachClsact
}

func hookName(h uint32) string {
	if int(h) < len(nf.Hooks) {
		return nf.Hooks[h]
	}
	return fmt.Sprintf("hook%d", h)
}

// fill writes the tables, the rules (with their counter slots) and the
// filter's info into a freshly loaded collection.
func fill(coll *ebpf.Collection, f *nf.Filter, t *nf.Tables, ifc *net.Interface, attach string, oldSlots map[string]uint32, freshCounters bool) error {
	used := map[uint32]bool{}
	for _, s := range oldSlots {
		used[s] = true
	}
	next := uint32(0)
	ruleSlots := make([]uint32, len(t.Rules))
	var newSlots []uint32
	for i, r := range t.Rules {
		if s, ok := oldSlots[r.Name]; ok {
			ruleSlots[i] = s
			continue
		}
		for used[next] {
			next++
		}
		ruleSlots[i] = next
		used[next] = true
		newSlots = append(newSlots, next)
	}
	counters := coll.Maps["counters"]
	if !freshCounters {
		// A slot no rule of the replaced filter held may hold the counts
		// of a rule removed earlier.
		n, err := ebpf.PossibleCPU()
		if err != nil {
			return fmt.Errorf("counting CPUs: %w", err)
		}
		zero := make([]filterCounter, n)
		for _, s := range newSlots {
			if err := counters.Put(s, zero); err != nil {
				return fmt.Errorf("clearing counter slot %d: %w", s, err)
			}
		}
	}
	for i, r := range t.Rules {
		v := filterRule{IntervalNs: r.IntervalNs, ToleranceNs: r.ToleranceNs, Action: uint32(r.Action), Rate: r.Rate, Burst: r.Burst, Slot: ruleSlots[i]}
		copy(v.Name[:len(v.Name)-1], r.Name)
		if err := coll.Maps["rules"].Put(uint32(i), &v); err != nil {
			return fmt.Errorf("writing rule %s: %w", r.Name, err)
		}
	}
	for name, tab := range map[string]map[nf.AddrKey]nf.Mask{"src": t.Src, "dst": t.Dst} {
		for k, m := range tab {
			key := filterAddrKey{Prefixlen: k.Prefixlen, Family: k.Family, Addr: k.Addr}
			val := filterMask{W: m}
			if err := coll.Maps[name].Put(&key, &val); err != nil {
				return fmt.Errorf("writing the %s prefix table: %w", name, err)
			}
		}
	}
	for k, m := range t.L4 {
		key := filterL4Key{Prefixlen: k.Prefixlen, Proto: k.Proto, Port: [2]uint8{uint8(k.Port >> 8), uint8(k.Port)}}
		val := filterMask{W: m}
		if err := coll.Maps["l4"].Put(&key, &val); err != nil {
			return fmt.Errorf("writing the port table: %w", err)
		}
	}
	info := filterFilterInfo{
		Ifindex: uint32(ifc.Index), Hook: uint32(f.HookIndex()), Nrules: uint32(len(t.Rules)),
		DefaultDrop: boolByte(f.Default == "drop"), Audit: boolByte(f.Mode == "audit"),
		Tcx: boolByte(attach == AttachTCX), AppliedNs: uint64(time.Now().UnixNano()),
	}
	copy(info.Ifname[:len(info.Ifname)-1], ifc.Name)
	copy(info.Name[:len(info.Name)-1], f.Name)
	src := f.File
	if abs, err := filepath.Abs(src); err == nil {
		src = abs
	}
	copy(info.Source[:len(info.Source)-1], src)
	if err := coll.Maps["info"].Put(uint32(0), &info); err != nil {
		return fmt.Errorf("writing the filter's info: %w", err)
	}
	return nil
}

func readInfo(dir string) (*filterFilterInfo, error) {
	m, err := ebpf.LoadPinnedMap(pin(dir, "info"), &ebpf.LoadPinOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer m.Close()
	var i filterFilterInfo
	if err := m.Lookup(uint32(0), &i); err != nil {
		return nil, err
	}
	return &i, nil
}

func readRules(dir string, n uint32) ([]filterRule, error) {
	m, err := ebpf.LoadPinnedMap(pin(dir, "rules"), &ebpf.LoadPinOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer m.Close()
	out := make([]filterRule, n)
	for i := range out {
		if err := m.Lookup(uint32(i), &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func readSlots(dir string) map[string]uint32 {
	out := map[string]uint32{}
	info, err := readInfo(dir)
	if err != nil {
		return out
	}
	rules, err := readRules(dir, info.Nrules)
	if err != nil {
		return out
	}
	for _, r := range rules {
		out[cstr(r.Name[:])] = r.Slot
	}
	return out
}

func cstr(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// Read returns the pinned filter name with its counters.
func Read(root, name string) (*Status, error) {
	if root == "" {
		root = DefaultRoot
	}
	dir := filepath.Join(root, name)
	info, err := readInfo(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s (nothing pinned at %s)", ErrNoFilter, name, dir)
		}
		return nil, fmt.Errorf("reading filter %s: %w", name, err)
	}
	rules, err := readRules(dir, info.Nrules)
	if err != nil {
		return nil, fmt.Errorf("reading filter %s's rules: %w", name, err)
	}
	st := &Status{
		Name: cstr(info.Name[:]), Interface: cstr(info.Ifname[:]), Ifindex: int(info.Ifindex),
		Hook: hookName(info.Hook), Attach: attachOf(info), Default: "allow", Mode: "enforce",
		Source: cstr(info.Source[:]), Applied: time.Unix(0, int64(info.AppliedNs)),
	}
	if info.DefaultDrop != 0 {
		st.Default = "drop"
	}
	if info.Audit != 0 {
		st.Mode = "audit"
	}
	if p, err := ebpf.LoadPinnedProgram(pin(dir, "prog"), nil); err == nil {
		if pi, err := p.Info(); err == nil {
			id, _ := pi.ID()
			st.ProgramID = uint32(id)
		}
		p.Close()
	}
	if l, err := link.LoadPinnedLink(pin(dir, "link"), nil); err == nil {
		if li, err := l.Info(); err == nil {
			st.LinkID = uint32(li.ID)
		}
		l.Close()
	}
	counters, err := ebpf.LoadPinnedMap(pin(dir, "counters"), &ebpf.LoadPinOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("reading filter %s's counters: %w", name, err)
	}
	defer counters.Close()
	read := func(slot uint32, rs *RuleStatus) error {
		var per []filterCounter
		if err := counters.Lookup(slot, &per); err != nil {
			return fmt.Errorf("reading filter %s's counters: %w", name, err)
		}
		for _, c := range per {
			rs.Packets += c.Packets
			rs.Bytes += c.Bytes
			rs.Dropped += c.Dropped
			rs.DroppedBytes += c.DroppedBytes
		}
		return nil
	}
	for _, r := range rules {
		rs := RuleStatus{Name: cstr(r.Name[:]), Action: nf.Action(r.Action).String(), Rate: r.Rate, Burst: r.Burst}
		if err := read(r.Slot, &rs); err != nil {
			return nil, err
		}
		st.Rules = append(st.Rules, rs)
	}
	def := RuleStatus{Name: DefaultRule, Action: st.Default}
	if err := read(defaultSlot, &def); err != nil {
		return nil, err
	}
	st.Rules = append(st.Rules, def)
	return st, nil
}

// List returns every pinned filter, by name.
func List(root string) ([]*Status, error) {
	if root == "" {
		root = DefaultRoot
	}
	ents, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", root, err)
	}
	var out []*Status
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		st, err := Read(root, e.Name())
		if err != nil {
			return out, err
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b *Status) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Remove detaches the filter name and unpins its program, maps and link,
// so that nothing of it is left in the kernel.
func Remove(root, name string) error {
	if root == "" {
		root = DefaultRoot
	}
	dir := filepath.Join(root, name)
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("%w: %s (nothing pinned at %s)", ErrNoFilter, name, dir)
	}
	unlock, err := lock(root)
	if err != nil {
		return err
	}
	defer unlock()
	info, _ := readInfo(dir)
	if l, err := link.LoadPinnedLink(pin(dir, "link"), nil); err == nil {
		err := l.Detach()
		l.Close()
		if err != nil && !errors.Is(err, unix.ENOLINK) {
			return fmt.Errorf("detaching filter %s: %w", name, err)
		}
	} else if info != nil && attachOf(info) == AttachClsact {
		if err := clsactDetach(int(info.Ifindex), hookName(info.Hook), name); err != nil {
			return err
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("unpinning filter %s: %w", name, err)
	}
	return nil
}

// lock takes the pin root's lock: one apply or remove at a time changes
// the filters pinned there.
func lock(root string) (unlock func(), err error) {
	f, err := os.Open(root)
	if err != nil {
		return nil, fmt.Errorf("opening the pin directory: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", root, err)
	}
	return func() { f.Close() }, nil
}

// clsactPriority is the tc filter priority of a filter: fixed per name, so
// a replace finds the filter it replaces.
func clsactPriority(name string) uint16 {
	h := fnv.New32a()
	h.Write([]byte(name))
	return uint16(1 + h.Sum32()%0xFFF0)
}

func clsactParent(hook string) uint32 {
	if hook == "tc-egress" {
		return netlink.HANDLE_MIN_EGRESS
	}
	return netlink.HANDLE_MIN_INGRESS
}

// clsactAttach adds (or with replace, replaces in one step) the filter's
// bpf filter under the interface's clsact qdisc, adding the qdisc first.
func clsactAttach(ifindex int, hook, name string, prog *ebpf.Program, replace bool) error {
	qdisc := &netlink.GenericQdisc{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: ifindex, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT},
		QdiscType:  "clsact",
	}
	if err := netlink.QdiscAdd(qdisc); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("adding a clsact qdisc: %w", err)
	}
	fl := &netlink.BpfFilter{
		FilterAttrs: netlink.FilterAttrs{
			LinkIndex: ifindex, Parent: clsactParent(hook), Handle: 1,
			Priority: clsactPriority(name), Protocol: unix.ETH_P_ALL,
		},
		Fd: prog.FD(), Name: "kscope_" + name, DirectAction: true,
	}
	if replace {
		if err := netlink.FilterReplace(fl); err != nil {
			return fmt.Errorf("replacing the tc filter: %w", err)
		}
		return nil
	}
	if err := netlink.FilterAdd(fl); err != nil {
		return fmt.Errorf("adding the tc filter: %w", err)
	}
	return nil
}

func clsactDetach(ifindex int, hook, name string) error {
	fl := &netlink.BpfFilter{FilterAttrs: netlink.FilterAttrs{
		LinkIndex: ifindex, Parent: clsactParent(hook), Handle: 1,
		Priority: clsactPriority(name), Protocol: unix.ETH_P_ALL,
	}}
	if err := netlink.FilterDel(fl); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("deleting the tc filter: %w", err)
	}
	return nil
}
