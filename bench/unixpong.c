/* unixpong: a byte sent back and forth between two processes over an
 * AF_UNIX stream socket pair; ns per round trip (two sends, two receives,
 * two wake-ups), the median over R rounds of N (pipepong's shape).
 * Usage: unixpong [N] [R] */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define DEFAULT_N 10000

static int sv[2];
static pid_t child;

static void setup(void) {
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) {
		perror("socketpair");
		exit(1);
	}
	child = fork();
	if (child < 0) {
		perror("fork");
		exit(1);
	}
	if (child == 0) {
		char c;
		close(sv[0]);
		while (read(sv[1], &c, 1) == 1)
			if (write(sv[1], &c, 1) != 1)
				_exit(1);
		_exit(0);
	}
	close(sv[1]);
}

static void teardown(void) {
	close(sv[0]);
	waitpid(child, NULL, 0);
}

static void one(void) {
	char c = 'x';
	if (write(sv[0], &c, 1) != 1 || read(sv[0], &c, 1) != 1) {
		perror("unixpong");
		exit(1);
	}
}

#include "harness.h"
