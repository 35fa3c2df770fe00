package fileio

// archSlots are the dispatch slots of arm64's syscalls beside the generic
// table's: none (arm64 opens with openat and openat2 only).
var archSlots []dispatchSlot
