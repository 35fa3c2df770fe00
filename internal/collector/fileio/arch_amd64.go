package fileio

import "golang.org/x/sys/unix"

// archSlots are the dispatch slots of x86-64's syscalls beside the generic
// table's: open(2).
var archSlots = []dispatchSlot{
	{unix.SYS_OPEN, fileioProgRawExitOpen},
}
