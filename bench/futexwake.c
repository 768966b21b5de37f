/* futexwake: two threads hand a token back and forth through one futex
 * word with FUTEX_WAIT/FUTEX_WAKE, each blocking until woken; ns per
 * wake-up (half a round trip), the median over R rounds of N round trips.
 * Usage: futexwake [N] [R] */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>

#define DEFAULT_N 10000

/* word: 0 = the main thread's turn, 1 = the partner's, 2 = stop. */
static atomic_int word;
static pthread_t partner;

static void futex_wait(int val) {
	while (atomic_load(&word) == val)
		syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_set(int val) {
	atomic_store(&word, val);
	syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void *partner_main(void *arg) {
	for (;;) {
		futex_wait(0);
		if (atomic_load(&word) == 2)
			return NULL;
		futex_set(0);
	}
}

static void setup(void) {
	if (pthread_create(&partner, NULL, partner_main, NULL)) {
		fprintf(stderr, "futexwake: pthread_create failed\n");
		exit(1);
	}
}

static void teardown(void) {
	futex_set(2);
	pthread_join(partner, NULL);
}

/* One round trip: hand over, wait to get the token back. */
static void one(void) {
	futex_set(1);
	futex_wait(1);
}

#define OPS_PER_ONE 2 /* two wake-ups per round trip */

#include "harness.h"
