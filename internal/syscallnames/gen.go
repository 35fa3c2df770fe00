package syscallnames

// The syscall names, from the UAPI header of linux-libc-dev.
//go:generate go run ./gennames -o names.go /usr/include/x86_64-linux-gnu/asm/unistd_64.h
