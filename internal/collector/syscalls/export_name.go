package syscalls

// NameOf returns the x86-64 name of syscall number nr, sys_<nr> for a
// number the table lacks, or sys_out_of_range from 512 on, as the syscall
// families label them.
func NameOf(nr uint32) string { return syscallName(nr) }
