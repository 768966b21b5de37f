/* unixpong: a byte sent back and forth between two processes over an
 * AF_UNIX stream socket pair; ns per round trip (two sends, two receives,
 * two wake-ups), the median over R rounds of N (pipepong's shape).
 * Built with -DWAIT_EPOLL (bench/sockets.sh's unixepollpong), both sides
 * wait the way event-loop servers do: epoll_wait for EPOLLIN before each
 * read (three syscalls a side instead of two).
 * Usage: unixpong [N] [R] */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define DEFAULT_N 10000

static int sv[2];
static pid_t child;

#ifdef WAIT_EPOLL
static int ep[2];

/* recv1 waits in epoll_wait until sv[i] is readable, then reads a byte. */
static int recv1(int i, char *c) {
	struct epoll_event ev;
	int n;
	do
		n = epoll_wait(ep[i], &ev, 1, -1);
	while (n == 0);
	if (n < 0)
		return -1;
	return read(sv[i], c, 1);
}

static void watch(int i) {
	struct epoll_event ev = {.events = EPOLLIN};
	ep[i] = epoll_create1(0);
	if (ep[i] < 0 || epoll_ctl(ep[i], EPOLL_CTL_ADD, sv[i], &ev)) {
		perror("epoll");
		exit(1);
	}
}
#else
static int recv1(int i, char *c) { return read(sv[i], c, 1); }
static void watch(int i) { (void)i; }
#endif

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
		watch(1);
		while (recv1(1, &c) == 1)
			if (write(sv[1], &c, 1) != 1)
				_exit(1);
		_exit(0);
	}
	close(sv[1]);
	watch(0);
}

static void teardown(void) {
	close(sv[0]);
	waitpid(child, NULL, 0);
}

static void one(void) {
	char c = 'x';
	if (write(sv[0], &c, 1) != 1 || recv1(0, &c) != 1) {
		perror("unixpong");
		exit(1);
	}
}

#include "harness.h"
