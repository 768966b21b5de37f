/* exitcost MIB: a child maps and touches MIB MiB of anonymous memory,
 * tells the parent, and exits; the parent prints how long the touching
 * took and how long the exit took (from the child's last word to the
 * parent's waitpid returning): the address space's teardown. Used by
 * bounds_test.go and bench/teardown.sh to compare the sandbox's teardown
 * with native. */
#include "common.h"

#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

static double now(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
	init_output();
	if (argc < 2) {
		fprintf(stderr, "usage: exitcost MIB\n");
		return 2;
	}
	size_t len = strtoul(argv[1], NULL, 10) << 20;
	int fd[2];
	if (pipe(fd))
		die("pipe");
	double t0 = now();
	pid_t p = fork();
	if (p == 0) {
		char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (m == MAP_FAILED)
			_exit(2);
		for (size_t i = 0; i < len; i += 4096)
			m[i] = 1;
		if (write(fd[1], "x", 1) != 1)
			_exit(3);
		_exit(0);
	}
	char c;
	if (read(fd[0], &c, 1) != 1) {
		int st;
		waitpid(p, &st, 0);
		printf("the child failed: status %#x\n", st);
		return 1;
	}
	double t1 = now();
	int st;
	waitpid(p, &st, 0);
	double t2 = now();
	printf("touch %s MiB: %.3f s, exit: %.3f s\n", argv[1], t1 - t0, t2 - t1);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}
