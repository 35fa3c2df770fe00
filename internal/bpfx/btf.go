package bpfx

import (
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
)

var (
	kernelMu   sync.Mutex
	kernelSpec *btf.Spec
)

// KernelTypes returns the running kernel's BTF, parsed once and kept until
// ReleaseKernelTypes. Every load without it parses /sys/kernel/btf/vmlinux
// again (about 15 ms).
func KernelTypes() (*btf.Spec, error) {
	kernelMu.Lock()
	defer kernelMu.Unlock()
	if kernelSpec != nil {
		return kernelSpec, nil
	}
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return nil, err
	}
	kernelSpec = spec
	return spec, nil
}

// ReleaseKernelTypes lets the parsed kernel BTF (megabytes of types)
// be freed once everything is loaded; a later KernelTypes parses it again.
func ReleaseKernelTypes() {
	kernelMu.Lock()
	kernelSpec = nil
	kernelMu.Unlock()
}

// loadMu serializes loads that share the kernel spec, whose lazy decoder
// is filled in as relocations look types up.
var loadMu sync.Mutex

// NewCollection loads spec with the shared kernel BTF.
func NewCollection(spec *ebpf.CollectionSpec) (*ebpf.Collection, error) {
	return NewCollectionReplacing(spec, nil)
}

// NewCollectionReplacing is NewCollection with the maps of spec named in
// maps replaced by those already loaded (a program array shared between
// collections, say).
func NewCollectionReplacing(spec *ebpf.CollectionSpec, maps map[string]*ebpf.Map) (*ebpf.Collection, error) {
	opts := ebpf.CollectionOptions{MapReplacements: maps}
	loadMu.Lock()
	defer loadMu.Unlock()
	if coll, ok, err := loadWithTypeCache(spec, opts); ok {
		return coll, err
	}
	kt, err := KernelTypes()
	if err != nil {
		kt = nil // CO-RE then fails with a clear error naming BTF
	}
	opts.Programs.KernelTypes = kt
	return ebpf.NewCollectionWithOptions(spec, opts)
}
