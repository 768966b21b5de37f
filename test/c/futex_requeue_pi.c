/* futex_requeue_pi.c: FUTEX_WAIT_REQUEUE_PI and FUTEX_CMP_REQUEUE_PI
 * (issue 15, item 3): a condition-variable word whose waiters are moved
 * to a PI futex, taking it directly when it is free and queueing on it
 * (its owner then unlocking to them) when it is held. */
#include "common.h"
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <time.h>

static _Atomic unsigned cond, pi;
static _Atomic int waiting;
/* The waiters' TIDs, in the order they counted themselves in waiting. */
static _Atomic int waiter_tids[4];

static long futex(void *a, int op, int val, long v4, void *a2, int v3) {
	return syscall(SYS_futex, a, op, val, v4, a2, v3);
}
static int tid(void) { return syscall(SYS_gettid); }

struct res {
	long r;
	int owned;
};

static void *waiter(void *arg) {
	struct res *res = arg;
	atomic_store(&waiter_tids[atomic_fetch_add(&waiting, 1)], tid());
	res->r = futex(&cond, FUTEX_WAIT_REQUEUE_PI, 0, 0, &pi, 0);
	res->owned = (atomic_load(&pi) & FUTEX_TID_MASK) == (unsigned)tid();
	if (res->r == 0)
		futex(&pi, FUTEX_UNLOCK_PI, 0, 0, NULL, 0);
	return NULL;
}

/* settle waits until n waiters sleep in FUTEX_WAIT_REQUEUE_PI: a fixed
 * sleep let a loaded machine requeue before a waiter had blocked, which
 * changed the count returned (and left the late waiter blocked). */
static void settle(int n) {
	while (atomic_load(&waiting) < n)
		sched_yield();
	for (int i = 0; i < n; i++) {
		while (atomic_load(&waiter_tids[i]) == 0)
			sched_yield();
		wait_thread_sleeping(atomic_load(&waiter_tids[i]));
	}
}

int main(void) {
	init_output();
	report("WAIT_REQUEUE_PI value differs", futex(&cond, FUTEX_WAIT_REQUEUE_PI, 1, 0, &pi, 0));
	report("WAIT_REQUEUE_PI on one word", futex(&cond, FUTEX_WAIT_REQUEUE_PI, 0, 0, &cond, 0));
	report("CMP_REQUEUE_PI nr_wake 2", futex(&cond, FUTEX_CMP_REQUEUE_PI, 2, 1, &pi, 0));
	report("CMP_REQUEUE_PI value differs", futex(&cond, FUTEX_CMP_REQUEUE_PI, 1, 1, &pi, 7));
	report("CMP_REQUEUE_PI nobody waits", futex(&cond, FUTEX_CMP_REQUEUE_PI, 1, 1, &pi, 0));
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_nsec += 10 * 1000 * 1000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	report("WAIT_REQUEUE_PI 10ms deadline", syscall(SYS_futex, &cond, FUTEX_WAIT_REQUEUE_PI, 0, &ts, &pi, 0));

	/* A free PI futex: the top waiter takes it at once. */
	struct res r1;
	pthread_t t1;
	pthread_create(&t1, NULL, waiter, &r1);
	settle(1);
	report("CMP_REQUEUE_PI to a free PI futex", futex(&cond, FUTEX_CMP_REQUEUE_PI, 1, 0, &pi, 0));
	pthread_join(t1, NULL);
	printf("waiter: %ld, owned the PI futex: %s\n", r1.r, r1.owned ? "yes" : "no");
	printf("PI word after its unlock: %#x\n", atomic_load(&pi));

	/* A held PI futex: two waiters are moved onto it and get it in turn
	 * when main unlocks. */
	atomic_store(&waiting, 0);
	for (int i = 0; i < 4; i++)
		atomic_store(&waiter_tids[i], 0);
	report("main LOCK_PI", futex(&pi, FUTEX_LOCK_PI, 0, 0, NULL, 0));
	struct res r2, r3;
	pthread_t t2, t3;
	pthread_create(&t2, NULL, waiter, &r2);
	pthread_create(&t3, NULL, waiter, &r3);
	settle(2);
	report("CMP_REQUEUE_PI to a held PI futex", futex(&cond, FUTEX_CMP_REQUEUE_PI, 1, 10, &pi, 0));
	usleep(50 * 1000);
	printf("PI word has WAITERS: %s\n", atomic_load(&pi) & FUTEX_WAITERS ? "yes" : "no");
	report("main UNLOCK_PI", futex(&pi, FUTEX_UNLOCK_PI, 0, 0, NULL, 0));
	pthread_join(t2, NULL);
	pthread_join(t3, NULL);
	printf("waiters: %ld %ld, each owned the PI futex: %s\n", r2.r, r3.r, r2.owned && r3.owned ? "yes" : "no");

	/* A plain FUTEX_WAKE may not wake a requeue-PI waiter. */
	atomic_store(&waiting, 0);
	for (int i = 0; i < 4; i++)
		atomic_store(&waiter_tids[i], 0);
	struct res r4;
	pthread_t t4;
	pthread_create(&t4, NULL, waiter, &r4);
	settle(1);
	report("FUTEX_WAKE of a requeue-PI waiter", futex(&cond, FUTEX_WAKE, 1, 0, NULL, 0));
	report("CMP_REQUEUE_PI then", futex(&cond, FUTEX_CMP_REQUEUE_PI, 1, 0, &pi, 0));
	pthread_join(t4, NULL);
	printf("waiter: %ld, owned the PI futex: %s\n", r4.r, r4.owned ? "yes" : "no");
	return 0;
}
