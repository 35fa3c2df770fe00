package dispatch

import (
	"errors"
	"fmt"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"

	"github.com/kscope/kscope/internal/bpfx"
)

// Kind is the name of the dispatcher variant in a collector's
// bpfx.ChooseHook chain (and for bpfx.ForceHook in tests).
const Kind = "dispatch"

// Slots and the every-syscall slot, as kscope_dispatch.h numbers them.
const (
	Slots = 512
	Every = Slots
)

// Hook is a syscall hook the dispatcher serves.
type Hook int

// The hooks: raw_tracepoint sys_enter and sys_exit.
const (
	Enter Hook = iota
	Exit
)

func (h Hook) String() string {
	if h == Enter {
		return "sys_enter"
	}
	return "sys_exit"
}

// MapName is the name of h's program array in an object that includes
// kscope_dispatch.h, for the collection's map replacements.
func (h Hook) MapName() string {
	if h == Enter {
		return dispatchMapDispatchEnter
	}
	return dispatchMapDispatchExit
}

// Why returns why this kernel cannot run the dispatcher, or nil: program
// arrays, and in raw tracepoint programs bpf_tail_call,
// bpf_get_current_task_btf (5.11) and bpf_task_pt_regs (5.15), which the
// exit program reads the syscall number with and handlers their arguments.
func Why() error {
	whyOnce.Do(func() {
		if err := features.HaveMapType(ebpf.ProgramArray); err != nil {
			whyErr = fmt.Errorf("program arrays: %w", err)
			return
		}
		for _, h := range []struct {
			fn   asm.BuiltinFunc
			name string
		}{
			{asm.FnTailCall, "bpf_tail_call"},
			{asm.FnGetCurrentTaskBtf, "bpf_get_current_task_btf"},
			{asm.FnTaskPtRegs, "bpf_task_pt_regs"},
		} {
			if err := features.HaveProgramHelper(ebpf.RawTracepoint, h.fn); err != nil {
				whyErr = fmt.Errorf("%s in raw tracepoints: %w", h.name, err)
				return
			}
		}
	})
	return whyErr
}

var (
	whyOnce sync.Once
	whyErr  error
)

// The dispatcher: loaded with the first Ref, freed with the last.
var (
	mu    sync.Mutex
	coll  *ebpf.Collection
	hooks [2]hookState
)

type hookState struct {
	refs  int
	link  link.Link
	owner map[uint32]string // slot → the collector that filled it
}

// Ref is a collector's hold on one hook of the dispatcher: the hook's
// program stays attached and its slots filled until Close.
type Ref struct {
	hook   Hook
	owner  string
	slots  []uint32
	closed bool
}

// Acquire holds hook for the collector named owner, loading the
// dispatcher and attaching the hook's program if no one held it.
func Acquire(owner string, hook Hook) (*Ref, error) {
	mu.Lock()
	defer mu.Unlock()
	if coll == nil {
		spec, err := loadDispatch()
		if err != nil {
			return nil, fmt.Errorf("loading the syscall dispatcher: %w", err)
		}
		c, err := bpfx.NewCollection(spec)
		if err != nil {
			return nil, bpfx.LoadError("dispatch", err)
		}
		coll = c
	}
	h := &hooks[hook]
	if h.refs == 0 {
		prog := hook.program()
		l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: hook.String(), Program: coll.Programs[prog]})
		if err != nil {
			freeIfUnused()
			return nil, fmt.Errorf("attaching the syscall dispatcher to %s: %w", hook, err)
		}
		h.link = l
		h.owner = map[uint32]string{}
		bpfx.Share("dispatch", prog, coll.Programs[prog])
	}
	h.refs++
	return &Ref{hook: hook, owner: owner}, nil
}

// program is the name of the hook's entry program.
func (h Hook) program() string {
	if h == Exit {
		return dispatchProgDispatchSysExit
	}
	return dispatchProgDispatchSysEnter
}

// freeIfUnused closes the dispatcher when no hook is held. mu is held.
func freeIfUnused() {
	if coll != nil && hooks[Enter].refs == 0 && hooks[Exit].refs == 0 {
		coll.Close()
		coll = nil
	}
}

// Hook returns the hook r holds.
func (r *Ref) Hook() Hook { return r.hook }

// Map returns the hook's program array, for the collection of a handler
// that tail-calls through it (kscope_dispatch.h): pass it as the map
// replacement for Hook.MapName.
func (r *Ref) Map() *ebpf.Map {
	mu.Lock()
	defer mu.Unlock()
	return coll.Maps[r.hook.MapName()]
}

// Put fills slot with prog: a syscall number below Slots, or Every. A
// slot filled by another collector is an error.
func (r *Ref) Put(slot uint32, prog *ebpf.Program) error {
	mu.Lock()
	defer mu.Unlock()
	if r.closed {
		return fmt.Errorf("filling %s slot %d: released", r.hook, slot)
	}
	if slot > Every {
		return fmt.Errorf("filling %s slot %d: no such slot", r.hook, slot)
	}
	h := &hooks[r.hook]
	if o, taken := h.owner[slot]; taken {
		return fmt.Errorf("filling %s slot %d: taken by %s", r.hook, slot, o)
	}
	if err := coll.Maps[r.hook.MapName()].Put(slot, prog); err != nil {
		return fmt.Errorf("filling %s slot %d: %w", r.hook, slot, err)
	}
	h.owner[slot] = r.owner
	r.slots = append(r.slots, slot)
	return nil
}

// Close empties the slots r filled, so that their programs no longer run
// once it returns, and releases the hook: its program is detached when no
// one else holds it. It is idempotent.
func (r *Ref) Close() error {
	mu.Lock()
	defer mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	h := &hooks[r.hook]
	var errs []error
	for _, s := range r.slots {
		if err := coll.Maps[r.hook.MapName()].Delete(s); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			errs = append(errs, fmt.Errorf("emptying %s slot %d: %w", r.hook, s, err))
		}
		delete(h.owner, s)
	}
	r.slots = nil
	if h.refs--; h.refs == 0 {
		bpfx.Unshare("dispatch", r.hook.program())
		errs = append(errs, h.link.Close())
		h.link = nil
		h.owner = nil
	}
	freeIfUnused()
	return errors.Join(errs...)
}

// Attached reports whether the sys_enter and the sys_exit programs are
// attached, for tests.
func Attached() (enter, exit bool) {
	mu.Lock()
	defer mu.Unlock()
	return hooks[Enter].refs > 0, hooks[Exit].refs > 0
}

// Slot is a handler for the dispatcher: the program of the collection
// named Prog fills slot Nr (a syscall number, or Every) of Hook.
type Slot struct {
	Hook Hook
	Nr   uint32
	Prog string
}

// Set is a collector's handlers in the dispatcher's slots.
type Set struct {
	refs []*Ref
}

// Fill holds the hooks that slots need, for the collector named owner, and
// fills the slots with the programs of coll. On error nothing stays held.
func Fill(owner string, coll *ebpf.Collection, slots []Slot) (*Set, error) {
	s := &Set{}
	refs := map[Hook]*Ref{}
	for _, sl := range slots {
		prog := coll.Programs[sl.Prog]
		if prog == nil {
			s.Close()
			return nil, fmt.Errorf("filling %s slot %d: no program %s", sl.Hook, sl.Nr, sl.Prog)
		}
		ref := refs[sl.Hook]
		if ref == nil {
			var err error
			if ref, err = Acquire(owner, sl.Hook); err != nil {
				s.Close()
				return nil, err
			}
			refs[sl.Hook] = ref
			s.refs = append(s.refs, ref)
		}
		if err := ref.Put(sl.Nr, prog); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// Close empties the set's slots and releases its hooks. It is idempotent.
func (s *Set) Close() error {
	var errs []error
	for _, r := range s.refs {
		errs = append(errs, r.Close())
	}
	return errors.Join(errs...)
}

// Without returns a shallow copy of spec without the programs of slots,
// for attaching the others by their section names.
func Without(spec *ebpf.CollectionSpec, slots []Slot) *ebpf.CollectionSpec {
	rest := *spec
	rest.Programs = make(map[string]*ebpf.ProgramSpec, len(spec.Programs))
	for name, ps := range spec.Programs {
		rest.Programs[name] = ps
	}
	for _, sl := range slots {
		delete(rest.Programs, sl.Prog)
	}
	return &rest
}
