package bpfx

import (
	"maps"
	"sync"

	"github.com/cilium/ebpf"
)

// Shared programs are BPF programs attached on behalf of several
// collectors (the syscall dispatcher's entry programs), which no one
// collector's Collection holds. The agent samples their run-time
// statistics with the collectors' own: the programs a shared program
// tail-calls are counted by the kernel in the caller's runs and time, not
// in their own.
var shared struct {
	mu    sync.Mutex
	progs map[SharedKey]*ebpf.Program
}

// SharedKey names a shared program: the component that attached it and
// the program's name.
type SharedKey struct{ Owner, Program string }

// Share records p as attached by owner until Unshare.
func Share(owner, program string, p *ebpf.Program) {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.progs == nil {
		shared.progs = map[SharedKey]*ebpf.Program{}
	}
	shared.progs[SharedKey{owner, program}] = p
}

// Unshare forgets the program Share recorded.
func Unshare(owner, program string) {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	delete(shared.progs, SharedKey{owner, program})
}

// SharedPrograms returns the shared programs attached now.
func SharedPrograms() map[SharedKey]*ebpf.Program {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	return maps.Clone(shared.progs)
}
