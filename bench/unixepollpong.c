/* unixepollpong: unixpong's round trip with both sides waiting the way
 * event-loop servers do: epoll_wait for EPOLLIN, then read, then write.
 * ns per round trip (two sends, two epoll waits, two receives), the median
 * over R rounds of N. Usage: unixepollpong [N] [R] */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define DEFAULT_N 10000

static int sv[2], ep;
static pid_t child;

static int watch(int fd) {
	int e = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
	if (e < 0 || epoll_ctl(e, EPOLL_CTL_ADD, fd, &ev)) {
		perror("epoll");
		exit(1);
	}
	return e;
}

/* wait_read waits in epoll_wait until fd is readable, then reads a byte. */
static int wait_read(int e, int fd, char *c) {
	struct epoll_event ev;
	int n;
	do
		n = epoll_wait(e, &ev, 1, -1);
	while (n == 0);
	if (n < 0)
		return -1;
	return read(fd, c, 1);
}

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
		int e = watch(sv[1]);
		while (wait_read(e, sv[1], &c) == 1)
			if (write(sv[1], &c, 1) != 1)
				_exit(1);
		_exit(0);
	}
	close(sv[1]);
	ep = watch(sv[0]);
}

static void teardown(void) {
	close(sv[0]);
	waitpid(child, NULL, 0);
}

static void one(void) {
	char c = 'x';
	if (write(sv[0], &c, 1) != 1 || wait_read(ep, sv[0], &c) != 1) {
		perror("unixepollpong");
		exit(1);
	}
}

#include "harness.h"
