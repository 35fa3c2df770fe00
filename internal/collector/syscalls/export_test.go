package syscalls

import "time"

// VariantHash names the fallback for kernels without task storage, for
// bpfx.ForceHook.
const VariantHash = variantHash

// SetMapSizes overrides the max_entries of the named maps.
func SetMapSizes(m map[string]uint32) { mapSizes = m }

// Map names, for SetMapSizes.
const (
	MapProcs  = syscallsMapProcs
	MapErrnos = syscallsMapErrnos
)

// SetClock replaces the collector's clock.
func SetClock(c *Collector, now func() time.Time) { c.now = now }

// ExitedRetention is how long exited processes' counts are kept.
const ExitedRetention = exitedRetention

var (
	DecodeRecords  = decodeRecords
	ErrShortRecord = errShortRecords
)

// Rec is the iterator record type.
type Rec = syscallsProcRec

// Constants shared with the BPF side.
const (
	NrSlots  = nrSlots
	LatLo    = latLo
	RecSize  = recSize
	RecAlive = recAlive
)

// LatSlots is the number of duration slots the kernel keeps.
const LatSlots = len(syscallsSysStat{}.Slots)

// ObjectLatLo reads LAT_LO from the compiled BPF object.
func ObjectLatLo() (uint32, error) {
	spec, err := loadSyscalls()
	if err != nil {
		return 0, err
	}
	var v uint32
	err = spec.Variables[syscallsVarLatLo].Get(&v)
	return v, err
}

// SpecMaxEntries returns max_entries of a map of the embedded spec.
func SpecMaxEntries(name string) (uint32, error) {
	spec, err := loadSyscalls()
	if err != nil {
		return 0, err
	}
	return spec.Maps[name].MaxEntries, nil
}

// MapSysStats is the per-syscall array.
const MapSysStats = syscallsMapSysStats

// VariantTaskStorage names the task storage programs attached on their own,
// for bpfx.ForceHook; VariantDispatch the same in the shared dispatcher.
const (
	VariantTaskStorage = variantTaskStorage
	VariantDispatch    = variantDispatch
)

// Variant returns the variant Start chose.
func (c *Collector) Variant() string { return c.variant }

// Overlapped is how many Collects gave up reading again while threads'
// exit flushes overlapped their reads.
func Overlapped(c *Collector) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.overlapped
}

// HasRow says whether the collector keeps a per-process row of pid.
func HasRow(c *Collector, pid uint32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.procs {
		if k.tgid == pid {
			return true
		}
	}
	return false
}

// SetAfterHashRead makes Collect call f between its read of the
// per-process hash and its task iterator.
func SetAfterHashRead(c *Collector, f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.afterHashRead = f
}
