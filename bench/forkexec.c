/* forkexec: fork, the child execs /bin/true (dynamically linked: the
 * loader's mmaps and opens count too), the parent waits; ns per
 * fork+execve+wait, the median over R rounds of N.
 * Usage: forkexec [N] [R] */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <sys/wait.h>

#define DEFAULT_N 200

static void setup(void) {}
static void teardown(void) {}

static void one(void) {
	pid_t p = fork();
	if (p < 0) {
		perror("fork");
		exit(1);
	}
	if (p == 0) {
		char *argv[] = {"true", NULL};
		char *envp[] = {NULL};
		execve("/bin/true", argv, envp);
		_exit(127);
	}
	int st;
	if (waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "forkexec: /bin/true failed\n");
		exit(1);
	}
}

#include "harness.h"
