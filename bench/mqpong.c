/* mqpong: two processes bounce a 64-byte message through two POSIX
 * message queues; ns per round trip, the median over R rounds of N.
 * Usage: mqpong [N] [R] */
#define _GNU_SOURCE
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define DEFAULT_N 10000

static mqd_t ping, pong;
static pid_t child;

static void setup(void) {
	char a[64], b[64];
	snprintf(a, sizeof a, "/mqpong-a-%d", getpid());
	snprintf(b, sizeof b, "/mqpong-b-%d", getpid());
	struct mq_attr at = {0, 4, 64, 0};
	ping = mq_open(a, O_RDWR | O_CREAT | O_EXCL, 0600, &at);
	pong = mq_open(b, O_RDWR | O_CREAT | O_EXCL, 0600, &at);
	if (ping < 0 || pong < 0) {
		perror("mq_open");
		exit(1);
	}
	mq_unlink(a);
	mq_unlink(b);
	child = fork();
	if (child == 0) {
		char buf[64];
		for (;;) {
			ssize_t n = mq_receive(ping, buf, sizeof buf, NULL);
			if (n == 1 && buf[0] == 'q')
				_exit(0);
			if (n < 0 || mq_send(pong, buf, n, 0) < 0)
				_exit(1);
		}
	}
}

static void teardown(void) {
	mq_send(ping, "q", 1, 0);
	waitpid(child, NULL, 0);
}

static void one(void) {
	char buf[64] = "ping";
	if (mq_send(ping, buf, sizeof buf, 0) < 0 || mq_receive(pong, buf, sizeof buf, NULL) < 0) {
		perror("mqpong");
		exit(1);
	}
}

#include "harness.h"
