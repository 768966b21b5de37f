/* msgpong: two processes bounce a 64-byte message through a System V
 * message queue (type 1 to the child, type 2 back); ns per round trip,
 * the median over R rounds of N.
 * Usage: msgpong [N] [R] */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/wait.h>
#include <unistd.h>

#define DEFAULT_N 10000

struct m {
	long type;
	char text[64];
};

static int q;
static pid_t child;

static void setup(void) {
	q = msgget(IPC_PRIVATE, 0600);
	if (q < 0) {
		perror("msgget");
		exit(1);
	}
	child = fork();
	if (child == 0) {
		struct m b;
		while (msgrcv(q, &b, sizeof b.text, 1, 0) >= 0) {
			b.type = 2;
			if (msgsnd(q, &b, sizeof b.text, 0) < 0)
				_exit(1);
		}
		_exit(0); /* removed */
	}
}

static void teardown(void) {
	msgctl(q, IPC_RMID, NULL);
	waitpid(child, NULL, 0);
}

static void one(void) {
	struct m b = {1, "ping"};
	if (msgsnd(q, &b, sizeof b.text, 0) < 0 || msgrcv(q, &b, sizeof b.text, 2, 0) < 0) {
		perror("msgpong");
		exit(1);
	}
}

#include "harness.h"
