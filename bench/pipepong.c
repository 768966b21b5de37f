/* pipepong: a byte sent back and forth between two processes over two
 * pipes; ns per round trip (two writes, two reads, two wake-ups), the
 * median over R rounds of N.
 * Usage: pipepong [N] [R] */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <signal.h>
#include <sys/wait.h>

#define DEFAULT_N 10000

static int to_child[2], to_parent[2];
static pid_t child;

static void setup(void) {
	if (pipe(to_child) || pipe(to_parent)) {
		perror("pipe");
		exit(1);
	}
	child = fork();
	if (child < 0) {
		perror("fork");
		exit(1);
	}
	if (child == 0) {
		char c;
		close(to_child[1]);
		close(to_parent[0]);
		while (read(to_child[0], &c, 1) == 1)
			if (write(to_parent[1], &c, 1) != 1)
				_exit(1);
		_exit(0);
	}
	close(to_child[0]);
	close(to_parent[1]);
}

static void teardown(void) {
	close(to_child[1]);
	waitpid(child, NULL, 0);
}

static void one(void) {
	char c = 'x';
	if (write(to_child[1], &c, 1) != 1 || read(to_parent[0], &c, 1) != 1) {
		perror("pipepong");
		exit(1);
	}
}

#include "harness.h"
