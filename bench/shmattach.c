/* shmattach: shmat + first touch of one page + shmdt of a 64 KiB System V
 * segment; ns per cycle, the median over R rounds of N.
 * Usage: shmattach [N] [R] */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/ipc.h>
#include <sys/shm.h>

#define DEFAULT_N 10000

static int seg;

static void setup(void) {
	seg = shmget(IPC_PRIVATE, 64 << 10, 0600);
	if (seg < 0) {
		perror("shmget");
		exit(1);
	}
}

static void teardown(void) { shmctl(seg, IPC_RMID, NULL); }

static void one(void) {
	volatile char *p = shmat(seg, NULL, 0);
	if (p == (void *)-1) {
		perror("shmat");
		exit(1);
	}
	p[0]++;
	shmdt((void *)p);
}

#include "harness.h"
