/*
 * arm64's syscall numbers: the generic table as arm64's UAPI header
 * (arch/arm64/include/uapi/asm/unistd.h, Linux 6.1) includes it, with the
 * optional syscalls arm64 has. gennames reads it through cpp -dM.
 */
#define __ARCH_WANT_RENAMEAT
#define __ARCH_WANT_NEW_STAT
#define __ARCH_WANT_SET_GET_RLIMIT
#define __ARCH_WANT_TIME32_SYSCALLS
#define __ARCH_WANT_SYS_CLONE3
#define __ARCH_WANT_MEMFD_SECRET

#include <asm-generic/unistd.h>
