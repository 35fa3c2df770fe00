package syscalls

import (
	"encoding/binary"
	"errors"

	"github.com/kscope/kscope/internal/syscallnames"
)

// Shared with bpf/syscalls.bpf.c.
const (
	// nrSlots syscall numbers have an entry of their own; every other
	// number (x32 calls, the -1 of a call skipped by ptrace) shares
	// nrOther.
	nrSlots = syscallnames.Slots
	nrOther = nrSlots
	// latLo is the log2 slot of a sys_stat's first duration slot.
	latLo = 9
	// recAlive is the nr of a process's liveness record.
	recAlive = 0xffffffff
	// recSize is the size of a proc_rec.
	recSize = 48
	// seqBegun and seqDone index flush_seq: moves of cached counts to the
	// hash (exit flushes, evicted slots) begun and done, per CPU.
	seqBegun = 0
	seqDone  = 1
)

// Indexes of the drops array, and their reason label.
var dropReasons = [...]string{
	0: "errno_map_full",
	1: "process_map_full",
	2: "no_task_storage",
}

var errShortRecords = errors.New("iterator output is not a whole number of records")

// decodeRecords calls fn with each proc_rec of the task iterator's output,
// reusing one value. It returns errShortRecords when a partial record is
// left over, after the whole ones.
func decodeRecords(b []byte, fn func(r *syscallsProcRec)) error {
	var r syscallsProcRec
	for ; len(b) >= recSize; b = b[recSize:] {
		r.Tgid = binary.LittleEndian.Uint32(b[0:])
		r.Nr = binary.LittleEndian.Uint32(b[4:])
		r.StartNs = binary.LittleEndian.Uint64(b[8:])
		r.Calls = binary.LittleEndian.Uint64(b[16:])
		r.Errors = binary.LittleEndian.Uint64(b[24:])
		copy(r.Comm[:], b[32:48])
		fn(&r)
	}
	if len(b) != 0 {
		return errShortRecords
	}
	return nil
}
