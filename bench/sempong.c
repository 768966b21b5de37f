/* sempong: two processes hand a turn back and forth through a System V
 * semaphore set (the child waits on semaphore 0 and posts 1, the parent
 * the reverse); ns per round trip (two semops that wake the other side
 * and two that sleep), the median over R rounds of N.
 * Usage: sempong [N] [R] */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/wait.h>
#include <unistd.h>

#define DEFAULT_N 10000

static int set;
static pid_t child;

static void op(int num, int v) {
	struct sembuf b = {num, v, 0};
	if (semop(set, &b, 1) < 0) {
		perror("semop");
		exit(1);
	}
}

static void setup(void) {
	set = semget(IPC_PRIVATE, 2, 0600);
	if (set < 0) {
		perror("semget");
		exit(1);
	}
	child = fork();
	if (child == 0) {
		for (;;) {
			struct sembuf b = {0, -1, 0};
			if (semop(set, &b, 1) < 0)
				_exit(0); /* removed */
			op(1, 1);
		}
	}
}

static void teardown(void) {
	semctl(set, 0, IPC_RMID);
	waitpid(child, NULL, 0);
}

static void one(void) {
	op(0, 1);
	op(1, -1);
}

#include "harness.h"
