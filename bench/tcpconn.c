/* tcpconn: connect, accept and close a TCP connection on 127.0.0.1 in one
 * process (the server side closes first, so TIME_WAIT stays on the
 * listener's port, not on ephemeral ones); ns per connection, the median
 * over R rounds of N.
 * Usage: tcpconn [N] [R] */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define DEFAULT_N 1000

static int l;
static struct sockaddr_in addr = {.sin_family = AF_INET};

static void setup(void) {
	socklen_t al = sizeof addr;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (void *)&addr, sizeof addr) || listen(l, 128) || getsockname(l, (void *)&addr, &al)) {
		perror("listen");
		exit(1);
	}
}

static void teardown(void) { close(l); }

static void one(void) {
	int c = socket(AF_INET, SOCK_STREAM, 0);
	if (c < 0 || connect(c, (void *)&addr, sizeof addr)) {
		perror("connect");
		exit(1);
	}
	int a = accept(l, NULL, NULL);
	if (a < 0) {
		perror("accept");
		exit(1);
	}
	close(a);
	close(c);
}

#include "harness.h"
