/* tcprr: a byte sent back and forth over a TCP connection on 127.0.0.1
 * (TCP_NODELAY) between two processes; ns per round trip, the median over
 * R rounds of N.
 * Usage: tcprr [N] [R] */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_N 10000

static int fd;
static pid_t child;

static void setup(void) {
	int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	if (l < 0 || bind(l, (void *)&a, sizeof a) || listen(l, 1) || getsockname(l, (void *)&a, &al)) {
		perror("listen");
		exit(1);
	}
	child = fork();
	if (child == 0) {
		int s = accept(l, NULL, NULL);
		char c;
		setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		while (read(s, &c, 1) == 1)
			if (write(s, &c, 1) != 1)
				_exit(1);
		_exit(0);
	}
	close(l);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(fd, (void *)&a, sizeof a)) {
		perror("connect");
		exit(1);
	}
}

static void teardown(void) {
	close(fd);
	waitpid(child, NULL, 0);
}

static void one(void) {
	char c = 'x';
	if (write(fd, &c, 1) != 1 || read(fd, &c, 1) != 1) {
		perror("tcprr");
		exit(1);
	}
}

#include "harness.h"
