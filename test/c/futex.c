/* futex.c: FUTEX_WAKE, FUTEX_WAKE_OP and FUTEX_(CMP_)REQUEUE counts: how
 * many waiters a count of zero or less wakes, and which counts are EINVAL.
 * A waiter thread blocks in FUTEX_WAIT; the main thread retries its call
 * until it reports a waiter (bounded at 10 s), so only counts are printed,
 * never timings. */
#include "common.h"
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <time.h>

static atomic_int word, word2;
static atomic_int woken;

static long futex(atomic_int *addr, int op, int val, long val2, atomic_int *addr2, int val3) {
	return syscall(SYS_futex, addr, op, val, val2, addr2, val3);
}

static void *waiter(void *arg) {
	(void)arg;
	while (atomic_load(&word) == 0)
		futex(&word, FUTEX_WAIT_PRIVATE, 0, 0, NULL, 0);
	atomic_fetch_add(&woken, 1);
	return NULL;
}

static long long now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* until_one retries call() until it returns 1 or 10 s pass; returns the
 * last result. */
static long until_one(long (*call)(void)) {
	long long end = now_ms() + 10000;
	long r;
	do {
		r = call();
		if (r != 0)
			return r;
		usleep(1000);
	} while (now_ms() < end);
	return r;
}

static int wake_count;
static long wake_n(void) { return futex(&word, FUTEX_WAKE_PRIVATE, wake_count, 0, NULL, 0); }
static long wake_op_zero(void) {
	/* op: word2 = 0 (SET 0), compare old == 0 → also wake word2's waiters */
	int op = FUTEX_OP(FUTEX_OP_SET, 0, FUTEX_OP_CMP_EQ, 0);
	return futex(&word, FUTEX_WAKE_OP_PRIVATE, 0, 0, &word2, op);
}
static long requeue_zero(void) { return futex(&word, FUTEX_REQUEUE_PRIVATE, 0, 1, &word2, 0); }

static void one_wake(const char *what, long (*call)(void), int requeued) {
	atomic_store(&word, 0);
	atomic_store(&woken, 0);
	pthread_t t;
	pthread_create(&t, NULL, waiter, NULL);
	long r = until_one(call);
	printf("%s returns %ld\n", what, r);
	if (requeued) {
		/* The waiter now sleeps on word2; set word and wake it there. */
		atomic_store(&word, 1);
		printf("waiter still asleep after requeue: %s\n", atomic_load(&woken) == 0 ? "yes" : "no");
		long long end = now_ms() + 10000;
		while (futex(&word2, FUTEX_WAKE_PRIVATE, 1, 0, NULL, 0) == 0 && now_ms() < end)
			usleep(1000);
	} else {
		atomic_store(&word, 1);
		futex(&word, FUTEX_WAKE_PRIVATE, 1, 0, NULL, 0);
	}
	pthread_join(t, NULL);
	printf("%s: waiter done\n", what);
}

int main(void) {
	init_output();
	report("FUTEX_WAKE with no waiters", futex(&word, FUTEX_WAKE_PRIVATE, 0, 0, NULL, 0));
	wake_count = 0;
	one_wake("FUTEX_WAKE 0", wake_n, 0);
	wake_count = -1;
	one_wake("FUTEX_WAKE -1", wake_n, 0);
	one_wake("FUTEX_WAKE_OP 0 0", wake_op_zero, 0);
	one_wake("FUTEX_REQUEUE 0 1", requeue_zero, 1);
	report("FUTEX_REQUEUE negative wake", futex(&word, FUTEX_REQUEUE_PRIVATE, -1, 1, &word2, 0));
	report("FUTEX_CMP_REQUEUE negative requeue", futex(&word, FUTEX_CMP_REQUEUE_PRIVATE, 1, -1, &word2, atomic_load(&word)));
	report("FUTEX_WAKE_BITSET bitset 0", futex(&word, FUTEX_WAKE_BITSET_PRIVATE, 1, 0, NULL, 0));
	return 0;
}
