package testutil

// ExecProgram is a C program for the exec tests. Build it with BuildC(t,
// "gcc", ExecProgram, "-O0"): optimized, gcc may load a constant from the
// string literals' page in the child before the exec, which maps it.
// `prog MODE N [FILE]` forks N children (default 1),
// one after another; each runs MODE and the parent waits for it. It exits
// 0 when every child did what MODE expects, 1 if not. Modes:
//
//	literal   execl("/bin/true", "exk", "37", NULL): string literals that
//	          a freshly forked child has not mapped yet
//	stack     the same with the path in a stack array
//	sh        execl("/bin/sh", "sh", "-c", "exit 0", NULL)
//	enoent    execl("/nonexistent/kscope-exk", "exk", "37", NULL), which
//	          fails with ENOENT
//	efault    execv("/bin/true", {"exk" (on the stack), (char *)1, NULL}),
//	          which fails with EFAULT
//	thread    literal's execl from a second thread: the kernel gives the
//	          process's leader's id to the thread that execs
//	unmapped  execv("/nonexistent/kscope-exk", {FILE+0, FILE+4, NULL}) with
//	          argv in FILE's first page, mapped but never touched: the
//	          kernel fails with ENOENT before it reads argv, so argv is
//	          never resident (write FILE as "exk\0" "37\0")
const ExecProgram = `
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

enum { LITERAL, STACK, SH, ENOENT_, EFAULT_, UNMAPPED, THREAD };

static const char *const modes[] = { "literal", "stack", "sh", "enoent", "efault", "unmapped", "thread" };

static void *exec_thread(void *arg)
{
	(void)arg;
	execl("/bin/true", "exk", "37", (char *)NULL);
	_exit(1);
}

/*
 * The child touches no string literal before it execs (the mode is an int,
 * compared without a jump table), so their page is not mapped in it.
 */
static void child(int mode, const char *file)
{
	if (mode == LITERAL) {
		execl("/bin/true", "exk", "37", (char *)NULL);
	} else if (mode == STACK) {
		char path[] = "/bin/true";
		execl(path, "exk", "37", (char *)NULL);
	} else if (mode == SH) {
		execl("/bin/sh", "sh", "-c", "exit 0", (char *)NULL);
	} else if (mode == ENOENT_) {
		execl("/nonexistent/kscope-exk", "exk", "37", (char *)NULL);
		_exit(errno == ENOENT ? 0 : 1);
	} else if (mode == EFAULT_) {
		char path[] = "/bin/true", a0[] = "exk";
		char *argv[] = { a0, (char *)1, NULL };
		execv(path, argv);
		_exit(errno == EFAULT ? 0 : 1);
	} else if (mode == UNMAPPED) {
		char path[] = "/nonexistent/kscope-exk";
		int fd = open(file, O_RDONLY);
		char *m = fd < 0 ? MAP_FAILED : mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
		char *argv[] = { m, m + 4, NULL };

		if (m == MAP_FAILED)
			_exit(1);
		execv(path, argv);
		_exit(errno == ENOENT ? 0 : 1);
	} else if (mode == THREAD) {
		pthread_t t;

		if (pthread_create(&t, NULL, exec_thread, NULL) == 0)
			pthread_join(t, NULL);
	}
	_exit(1);
}

int main(int argc, char **argv)
{
	int n = argc > 2 ? atoi(argv[2]) : 1, bad = 0, mode = -1;
	const char *file = argc > 3 ? argv[3] : "";

	for (int i = 0; i < (int)(sizeof(modes) / sizeof(modes[0])); i++)
		if (argc > 1 && !strcmp(argv[1], modes[i]))
			mode = i;
	if (mode < 0) {
		fprintf(stderr, "usage: %s literal|stack|sh|enoent|efault|unmapped|thread [N [FILE]]\n", argv[0]);
		return 2;
	}

	for (int i = 0; i < n; i++) {
		pid_t pid = fork();
		int st;

		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0)
			child(mode, file);
		if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			bad++;
	}
	if (bad) {
		fprintf(stderr, "%d of %d children failed\n", bad, n);
		return 1;
	}
	return 0;
}
`
