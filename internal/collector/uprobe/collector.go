// Package uprobe is the collector behind `kscope trace uprobe` and
// `kscope trace usdt`: calls of one user-space function, with integer
// arguments, an optional string argument and optionally the return value and
// latency; or hits of one USDT probe with its arguments decoded per site.
//
// It is not in the collector registry: it needs a resolved target
// (internal/uprobe, internal/usdt) besides a collector.Config; build it with
// New.
//
// Attaching: uprobes go on an inode, so they fire in every process running
// the file, including processes started later; with a pid they are limited
// to that process in the kernel. C functions get a uretprobe for --ret; Go
// functions get a uprobe on every RET instruction instead, and their entry
// probe sits after the stack-bound check (see internal/uprobe). USDT probe
// sites each get a uprobe whose BPF cookie indexes their argument spec;
// semaphores are counted up by the kernel while attached (uprobe
// ref_ctr_offset) in every process mapping the file, and back down on
// detach.
package uprobe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"

	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/uprobe"
	"github.com/kscope/kscope/internal/usdt"
)

// Event types.
const (
	KindUprobe = "uprobe"
	KindUSDT   = "usdt"
)

// Limits of what one event carries.
const (
	MaxArgs       = 6  // C (System V) integer argument registers
	MaxGoArgs     = 9  // Go ABIInternal integer argument registers
	MaxUSDTArgs   = 12 // USDT arguments
	MaxSites      = 1024
	StrLen        = 127 // bytes of a string argument kept
	maxRetOffsets = 4096
)

// Options says what to trace: a function (Function) or a USDT probe (USDT).
type Options struct {
	Function *uprobe.Target
	USDT     *usdt.Target
	// Args is the number of argument registers to report (uprobes).
	Args int
	// Str is the 1-based argument to read as a string (0: none). For a Go
	// function it is the register holding a string's pointer, its length
	// being in the next one.
	Str int
	// Ret reports calls when they return, with the return value and
	// latency (uprobes).
	Ret bool
	// PID limits the probes to one process in the kernel (0: all).
	PID int

	// noCookies takes the fallback for kernels without BPF attach cookies
	// (tests).
	noCookies bool
}

// Collector traces one function or USDT probe.
type Collector struct {
	*collector.Tracer
	opts Options
	dec  decoder
	kind string
}

// New checks opts; Start loads and attaches.
func New(cfg collector.Config, opts Options) (*Collector, error) {
	if (opts.Function == nil) == (opts.USDT == nil) {
		return nil, errors.New("uprobe collector: give a function or a USDT probe")
	}
	c := &Collector{opts: opts, dec: decoder{clock: collector.NewClock()}}
	if f := opts.Function; f != nil {
		limit := MaxArgs
		if f.Go {
			limit = MaxGoArgs
		}
		if opts.Args < 0 || opts.Args > limit {
			return nil, fmt.Errorf("%d arguments: %s takes at most %d from registers", opts.Args, abiName(f.Go), limit)
		}
		maxStr := limit
		if f.Go {
			maxStr = limit - 1 // the length is in the next register
		}
		if opts.Str < 0 || opts.Str > maxStr {
			return nil, fmt.Errorf("string argument %d: want 1 to %d", opts.Str, maxStr)
		}
		c.kind = KindUprobe
		c.dec.kind = KindUprobe
		c.dec.probe = f.String()
	} else {
		u := opts.USDT
		if len(u.Probes) == 0 || len(u.Probes) > MaxSites {
			return nil, fmt.Errorf("%d probe sites: want 1 to %d", len(u.Probes), MaxSites)
		}
		if opts.Ret || opts.Args != 0 {
			return nil, errors.New("USDT probes have no return value and report all their arguments")
		}
		n := len(u.Probes[0].Args)
		for _, p := range u.Probes {
			n = max(n, len(p.Args))
		}
		if opts.Str < 0 || opts.Str > n {
			return nil, fmt.Errorf("string argument %d: the probe has %d arguments", opts.Str, n)
		}
		c.kind = KindUSDT
		c.dec.kind = KindUSDT
		c.dec.probe = u.Probes[0].String()
		c.dec.binary = u.Binary
		for _, p := range u.Probes {
			signed := make([]bool, len(p.Args))
			for i, a := range p.Args {
				signed[i] = a.Signed
			}
			c.dec.signed = append(c.dec.signed, signed)
		}
	}
	c.dec.str = opts.Str != 0
	// The defaults collector.New gives registered collectors.
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.Logger = cfg.Logger.With("collector", c.kind)
	if cfg.RingBytes == 0 {
		cfg.RingBytes = collector.DefaultRingBytes
	}
	if cfg.RingBytes < 4096 || cfg.RingBytes&(cfg.RingBytes-1) != 0 {
		return nil, fmt.Errorf("ring buffer size %d: must be a power of two of at least 4096", cfg.RingBytes)
	}
	c.Tracer = collector.NewTracer(c.kind, cfg)
	return c, nil
}

func abiName(goABI bool) string {
	if goABI {
		return "Go's register ABI"
	}
	return "the System V ABI"
}

// Name implements collector.Collector.
func (c *Collector) Name() string { return c.kind }

// Start loads the programs, attaches them and starts streaming to sink.
func (c *Collector) Start(ctx context.Context, sink event.Sink) error {
	spec, err := loadUprobe()
	if err != nil {
		return err
	}
	o := c.opts
	goABI := o.Function != nil && o.Function.Go
	useCookie := uint8(1)
	if o.USDT != nil && !sameSpecs(o.USDT.Probes) {
		err := features.HaveProgramHelper(ebpf.Kprobe, asm.FnGetAttachCookie)
		if o.noCookies {
			err = ebpf.ErrNotSupported
		}
		if err != nil {
			return fmt.Errorf("the sites of %s decode their arguments differently, which needs BPF attach cookies (bpf_get_attach_cookie, Linux 5.15): %w", c.dec.probe, err)
		}
	} else if o.USDT != nil {
		// One spec for every site: no cookie needed, so older kernels work.
		if o.noCookies || features.HaveProgramHelper(ebpf.Kprobe, asm.FnGetAttachCookie) != nil {
			useCookie = 0
			c.Config().Logger.Info("no BPF attach cookies: every site uses spec 0")
		}
	}
	vars := map[string]any{
		"nargs":      uint32(o.Args),
		"go_abi":     boolByte(goABI),
		"str_arg":    uint32(o.Str),
		"go_string":  boolByte(goABI && o.Str != 0),
		"with_ret":   boolByte(o.Ret),
		"use_cookie": useCookie,
	}
	for name, v := range vars {
		if err := spec.Variables[name].Set(v); err != nil {
			return fmt.Errorf("setting %s: %w", name, err)
		}
	}
	// Only the programs this mode uses are loaded.
	keep := map[string]bool{"usdt_probe": o.USDT != nil, "uprobe_entry": o.Function != nil,
		"uprobe_return": o.Function != nil && o.Ret && !goABI, "go_return": o.Function != nil && o.Ret && goABI}
	for name := range spec.Programs {
		if !keep[name] {
			delete(spec.Programs, name)
		}
	}
	if err := c.Load(spec); err != nil {
		return err
	}
	coll := c.Collection()
	if o.USDT != nil {
		if err := c.attachUSDT(coll); err != nil {
			return err
		}
	} else if err := c.attachFunction(coll); err != nil {
		return err
	}
	return c.Run(ctx, sink, c.dec.decode)
}

func (c *Collector) attachFunction(coll *ebpf.Collection) error {
	f := c.opts.Function
	ex, err := link.OpenExecutable(f.Path)
	if err != nil {
		return err
	}
	entry, err := f.EntryOffset()
	if err != nil {
		return err
	}
	l, err := ex.Uprobe("", coll.Programs["uprobe_entry"], &link.UprobeOptions{Address: entry, PID: c.opts.PID})
	if err != nil {
		return fmt.Errorf("attaching to %s at %#x: %w", f, entry, err)
	}
	c.AddLink(l)
	if !c.opts.Ret {
		return nil
	}
	if !f.Go {
		l, err := ex.Uretprobe("", coll.Programs["uprobe_return"], &link.UprobeOptions{Address: f.Offset, PID: c.opts.PID})
		if err != nil {
			return fmt.Errorf("attaching a uretprobe to %s: %w", f, err)
		}
		c.AddLink(l)
		return nil
	}
	rets, err := f.ReturnOffsets()
	if err != nil {
		return err
	}
	if len(rets) > maxRetOffsets {
		return fmt.Errorf("%s has %d RET instructions, more than the %d probed", f, len(rets), maxRetOffsets)
	}
	for _, off := range rets {
		l, err := ex.Uprobe("", coll.Programs["go_return"], &link.UprobeOptions{Address: off, PID: c.opts.PID})
		if err != nil {
			return fmt.Errorf("attaching to the RET of %s at %#x: %w", f, off, err)
		}
		c.AddLink(l)
	}
	c.Config().Logger.Debug("return probes", "function", f.String(), "rets", len(rets))
	return nil
}

func (c *Collector) attachUSDT(coll *ebpf.Collection) error {
	u := c.opts.USDT
	specs := coll.Maps["usdt_specs"]
	for i, p := range u.Probes {
		s, err := encodeSpec(p.Args)
		if err != nil {
			return fmt.Errorf("probe %s at %#x: %w", &p, p.PC, err)
		}
		if err := specs.Put(uint32(i), s); err != nil {
			return fmt.Errorf("storing the argument spec of site %d: %w", i, err)
		}
	}
	ex, err := link.OpenExecutable(u.Path)
	if err != nil {
		return err
	}
	for i, p := range u.Probes {
		opts := &link.UprobeOptions{Address: p.Offset, PID: c.opts.PID, Cookie: uint64(i)}
		if p.Semaphore != 0 {
			opts.RefCtrOffset = p.SemaphoreOffset
		}
		l, err := ex.Uprobe("", coll.Programs["usdt_probe"], opts)
		if err != nil {
			if p.Semaphore != 0 && errors.Is(err, link.ErrNotSupported) {
				return fmt.Errorf("probe %s has a semaphore, which needs the kernel's uprobe ref_ctr_offset (Linux 4.20): %w", &p, err)
			}
			return fmt.Errorf("attaching to %s at %#x: %w", &p, p.Offset, err)
		}
		c.AddLink(l)
	}
	return nil
}

// sameSpecs reports whether every site decodes its arguments alike.
func sameSpecs(ps []usdt.Probe) bool {
	for _, p := range ps[1:] {
		if len(p.Args) != len(ps[0].Args) {
			return false
		}
		for i := range p.Args {
			a, b := p.Args[i], ps[0].Args[i]
			a.Spec, b.Spec = "", ""
			// Global operands are relative to the site.
			if a != b || a.Kind == usdt.ArgGlobal {
				return false
			}
		}
	}
	return true
}

// encodeSpec turns parsed arguments into the BPF side's struct usdt_spec.
func encodeSpec(args []usdt.Arg) (*uprobeUsdtSpec, error) {
	var s uprobeUsdtSpec
	if len(args) > len(s.Args) {
		return nil, fmt.Errorf("%d arguments, more than %d", len(args), len(s.Args))
	}
	s.Nargs = uint32(len(args))
	for i, a := range args {
		d := &s.Args[i]
		d.Kind = uint8(a.Kind)
		d.Size = uint8(a.Size)
		d.IsSigned = boolByte(a.Signed)
		d.Val = a.Value
		d.RegOff = uint16(a.Reg)
		d.IdxOff = uint16(a.Index)
		d.Scale = uint8(a.Scale)
	}
	return &s, nil
}

func boolByte(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}
