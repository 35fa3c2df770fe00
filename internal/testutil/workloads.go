package testutil

// USDTProgram is a C program with USDT probes (<sys/sdt.h>) for the usdt
// package and the uprobe collector's tests. Build it with BuildC(t, "gcc",
// USDTProgram, "-O2"). It runs argv[1] iterations (default 1), sleeping
// argv[2] microseconds after each, and in each fires:
//
//	kscope:sized   int8 -5, uint16 65000, int32 -100000, int64 -1234567890123, uint64 2^64-1
//	kscope:mem     int64 -77, int32 1234, from memory on the stack
//	kscope:str     "hello usdt" (a pointer) and its length 10
//	kscope:indexed int16 -4, arr[3] as a base+index*scale operand
//	kscope:konst   the constant 5
//	kscope:global  the global int global_counter (41), a rip-relative operand
//	kscope:guarded the iteration number, only while the probe's semaphore
//	               kscope_guarded_semaphore is non-zero
//
// c_add(a, b) returns a+b and c_fib(n) the n-th Fibonacci number,
// recursively; each iteration calls c_add(i, 100) and c_fib(10).
// On exit it prints the sum of what it computed and the number of c_fib
// calls (177 per c_fib(10)).
const USDTProgram = `
#include <sys/sdt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int global_counter = 41;

struct pair { int64_t a; int32_t b; };

/* Memory operands: the "m" constraint keeps the arguments where they are. */
#undef STAP_SDT_ARG_CONSTRAINT
#define STAP_SDT_ARG_CONSTRAINT m
__attribute__((noinline, optimize("O0"))) void at_o0(int64_t x, int32_t y)
{
	struct pair p = { x, y };
	DTRACE_PROBE2(kscope, mem, p.a, p.b);
}

__attribute__((noinline)) void indexed(const int16_t *arr, long i)
{
	DTRACE_PROBE1(kscope, indexed, arr[i]);
}
#undef STAP_SDT_ARG_CONSTRAINT
#define STAP_SDT_ARG_CONSTRAINT nor

__attribute__((noinline)) void sized(int8_t a, uint16_t b, int32_t c, int64_t d, uint64_t e)
{
	DTRACE_PROBE5(kscope, sized, a, b, c, d, e);
}

__attribute__((noinline)) void strings(const char *s, int n)
{
	DTRACE_PROBE2(kscope, str, s, n);
}

__attribute__((noinline)) void misc(void)
{
	DTRACE_PROBE1(kscope, konst, 5);
	DTRACE_PROBE1(kscope, global, global_counter);
}

__attribute__((noinline)) long c_add(long a, long b) { return a + b; }

long fib_calls;

/* Built at -O0: -O2 turns half of the recursion into a loop. */
__attribute__((noinline, optimize("O0"))) long c_fib(long n)
{
	fib_calls++;
	return n < 2 ? n : c_fib(n - 1) + c_fib(n - 2);
}

/* From here on probes have semaphores. */
#undef _SDT_NOTE_SEMAPHORE_USE
#define _SDT_NOTE_SEMAPHORE_USE(provider, name) \
  __asm__ __volatile__ ("" :: "m" (provider##_##name##_semaphore));
#undef _SDT_SEMAPHORE
#define _SDT_SEMAPHORE(p,n) _SDT_ASM_1(_SDT_ASM_ADDR p##_##n##_semaphore)

__extension__ unsigned short kscope_guarded_semaphore __attribute__((unused)) __attribute__((section(".probes")));

__attribute__((noinline)) void guarded(long i)
{
	if (kscope_guarded_semaphore)
		DTRACE_PROBE1(kscope, guarded, i);
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1;
	long us = argc > 2 ? atol(argv[2]) : 0;
	long sum = 0;
	static const char msg[] = "hello usdt";
	static const int16_t arr[4] = { 1, -2, 3, -4 };
	/* Touch the constants the probes read: BPF programs cannot fault pages in. */
	sum += *(volatile const char *)msg + *(volatile const int16_t *)arr;
	for (long i = 0; i < n; i++) {
		sized(-5, 65000, -100000, -1234567890123LL, 18446744073709551615ULL);
		at_o0(-77, 1234);
		strings(msg, (int)strlen(msg));
		misc();
		indexed(arr, 3);
		guarded(i);
		sum += c_add(i, 100) + c_fib(10);
		if (us)
			usleep(us);
	}
	printf("%ld %ld\n", sum, fib_calls);
	return 0;
}
`
