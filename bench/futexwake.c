/* futexwake: two threads hand a token back and forth through one futex
 * word with FUTEX_WAIT/FUTEX_WAKE, each blocking until woken; ns per
 * wake-up (half a round trip), the median over R rounds of N round trips.
 * Built with -DCOUNT_WAITS it also prints, on stderr at the end, how many
 * FUTEX_WAITs per wake-up really slept (returned 0) and how many found the
 * word already changed (EAGAIN) or were not made (the word had changed
 * before the call): a platform whose syscalls are slow lets the partner's
 * store win the race, so its waits do not block and its "wake-up" costs
 * one syscall, not a sleep and a wake.
 * Usage: futexwake [N] [R] */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>

#define DEFAULT_N 10000

/* word: 0 = the main thread's turn, 1 = the partner's, 2 = stop. */
static atomic_int word;
static pthread_t partner;

#ifdef COUNT_WAITS
static atomic_long slept, changed, skipped;
static long ones; /* round trips made: two wake-ups, two waits each */
#endif

static void futex_wait(int val) {
#ifdef COUNT_WAITS
	if (atomic_load(&word) != val)
		atomic_fetch_add(&skipped, 1);
	while (atomic_load(&word) == val) {
		if (syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0) == 0)
			atomic_fetch_add(&slept, 1);
		else if (errno == EAGAIN)
			atomic_fetch_add(&changed, 1);
	}
#else
	while (atomic_load(&word) == val)
		syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
#endif
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
#ifdef COUNT_WAITS
	double w = 2.0 * ones;
	fprintf(stderr, "waits per wake-up: slept %.2f, found the word changed %.2f, not made %.2f\n",
		slept / w, changed / w, skipped / w);
#endif
}

/* One round trip: hand over, wait to get the token back. */
static void one(void) {
#ifdef COUNT_WAITS
	ones++;
#endif
	futex_set(1);
	futex_wait(1);
}

#define OPS_PER_ONE 2 /* two wake-ups per round trip */

#include "harness.h"
