package syscallnames

import "strconv"

// Slots is the BPF programs' NR_SLOTS: syscall numbers below it have a
// counter of their own; the entry at Slots counts every other number (x32
// calls, the -1 of a cancelled call, numbers beyond the table).
const Slots = 512

// OutOfRange names the syscalls counted in the entry at Slots.
const OutOfRange = "sys_out_of_range"

// Name returns the name of the syscall counted at index idx of the BPF
// maps: the name in the table of the architecture kscope was built for,
// sys_<nr> for a number the table lacks (a syscall newer than the header it
// was generated from), or OutOfRange from Slots on.
func Name(idx uint32) string {
	return nameIn(native, idx)
}

// Table returns the syscall names by number of an architecture kscope
// ships for, by its GOARCH ("amd64" or "arm64"), and nil for another.
// "" marks a number the architecture does not use.
func Table(goarch string) []string {
	switch goarch {
	case "amd64":
		return amd64Names[:]
	case "arm64":
		return arm64Names[:]
	}
	return nil
}

func nameIn(table []string, idx uint32) string {
	if idx >= Slots {
		return OutOfRange
	}
	if int(idx) < len(table) && table[idx] != "" {
		return table[idx]
	}
	return "sys_" + strconv.FormatUint(uint64(idx), 10)
}
