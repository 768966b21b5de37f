/* unixtput: AF_UNIX stream throughput between two processes: one writes
 * 64 KiB chunks, the other reads them; ns per chunk, the median over R
 * rounds of N chunks (the reader lags by at most a send buffer, which N
 * in the thousands makes negligible). MiB/s = 65536 / ns * 1e9 / 2^20.
 * Usage: unixtput [N] [R] */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define DEFAULT_N 4096
#define CHUNK (64 << 10)

static int sv[2];
static pid_t child;
static char buf[CHUNK];

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
		close(sv[0]);
		while (read(sv[1], buf, sizeof buf) > 0)
			;
		_exit(0);
	}
	close(sv[1]);
}

static void teardown(void) {
	close(sv[0]);
	waitpid(child, NULL, 0);
}

static void one(void) {
	for (size_t off = 0; off < sizeof buf;) {
		ssize_t w = write(sv[0], buf + off, sizeof buf - off);
		if (w <= 0) {
			perror("unixtput");
			exit(1);
		}
		off += w;
	}
}

#include "harness.h"
