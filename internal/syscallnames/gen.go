package syscallnames

// The syscall names of both architectures kscope ships for, from the UAPI
// headers of linux-libc-dev: x86-64's own table, and for arm64 the generic
// one (asm-generic/unistd.h) with arm64's options, read through cpp.
//go:generate go run ./gennames -o amd64names.go -var amd64Names -arch x86-64 /usr/include/x86_64-linux-gnu/asm/unistd_64.h
//go:generate go run ./gennames -o arm64names.go -var arm64Names -arch arm64 -cpp unistd_arm64.h
