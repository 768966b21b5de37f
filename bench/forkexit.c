/* forkexit: fork, the child _exits at once, the parent waits for it; ns
 * per fork+exit+wait, the median over R rounds of N.
 * Usage: forkexit [N] [R] */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <sys/wait.h>

#define DEFAULT_N 1000

static void setup(void) {}
static void teardown(void) {}

static void one(void) {
	pid_t p = fork();
	if (p < 0) {
		perror("fork");
		exit(1);
	}
	if (p == 0)
		_exit(0);
	int st;
	if (waitpid(p, &st, 0) != p || !WIFEXITED(st)) {
		perror("waitpid");
		exit(1);
	}
}

#include "harness.h"
