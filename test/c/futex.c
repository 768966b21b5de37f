/* futex.c: FUTEX_WAKE, FUTEX_WAKE_OP and FUTEX_(CMP_)REQUEUE counts: how
 * many waiters a count of zero or less wakes, and which counts are EINVAL;
 * a requeue onto the waiters' own word, and FUTEX_WAKE_OP's signed
 * arguments, masked shift and bad comparison.
 * A waiter thread blocks in FUTEX_WAIT; the main thread retries its call
 * until it reports a waiter (bounded at 10 s), so only counts are printed,
 * never timings. */
#include "common.h"
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <time.h>

static atomic_int word, word2, word3;
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

/* timed_waiter waits on word in 1 s waits, so that a waiter the futex
 * table lost still ends (and the counts show the loss). */
static void *timed_waiter(void *arg) {
	(void)arg;
	struct timespec ts = {1, 0};
	while (atomic_load(&word) == 0)
		futex(&word, FUTEX_WAIT_PRIVATE, 0, (long)&ts, NULL, 0);
	atomic_fetch_add(&woken, 1);
	return NULL;
}

/* A requeue of one waiter onto its own word moves nothing and counts it:
 * a way to see that a waiter sleeps without waking it. */
static long requeue_same(void) { return futex(&word, FUTEX_REQUEUE_PRIVATE, 0, 1, &word, 0); }

static void start_waiter(pthread_t *t) {
	atomic_store(&word, 0);
	atomic_store(&woken, 0);
	pthread_create(t, NULL, timed_waiter, NULL);
	printf("FUTEX_REQUEUE onto its own word returns %ld\n", until_one(requeue_same));
}

static void finish_waiter(pthread_t t, const char *what) {
	atomic_store(&word, 1);
	futex(&word, FUTEX_WAKE_PRIVATE, 1, 0, NULL, 0);
	pthread_join(t, NULL);
	printf("%s: waiter done\n", what);
}

static void odd_cases(void) {
	pthread_t t;
	/* The waiter requeued onto its own word is still queued there. */
	start_waiter(&t);
	report("FUTEX_WAKE after a requeue onto the same word", futex(&word, FUTEX_WAKE_PRIVATE, 1, 0, NULL, 0));
	finish_waiter(t, "same-word requeue");

	/* A bad comparison: the operation is done, nobody is woken. */
	start_waiter(&t);
	atomic_store(&word2, 5);
	report("FUTEX_WAKE_OP with comparison 7", futex(&word, FUTEX_WAKE_OP_PRIVATE, 1, 1, &word2, FUTEX_OP(FUTEX_OP_ADD, 1, 7, 0)));
	printf("word2 after it: %d\n", atomic_load(&word2));
	report("FUTEX_WAKE after it", futex(&word, FUTEX_WAKE_PRIVATE, 1, 0, NULL, 0));
	finish_waiter(t, "bad comparison");

	/* cmparg is signed: 0 < -1 is false, so word's waiter stays. */
	start_waiter(&t);
	report("FUTEX_WAKE_OP old 0 < cmparg -1", futex(&word3, FUTEX_WAKE_OP_PRIVATE, 1, 1, &word, FUTEX_OP(FUTEX_OP_ADD, 0, FUTEX_OP_CMP_LT, 0xfff)));
	report("FUTEX_WAKE after it", futex(&word, FUTEX_WAKE_PRIVATE, 1, 0, NULL, 0));
	finish_waiter(t, "signed cmparg");

	/* oparg is signed too, and a shift past 31 is masked. */
	atomic_store(&word3, 0);
	report("FUTEX_WAKE_OP SET -2", futex(&word2, FUTEX_WAKE_OP_PRIVATE, 1, 1, &word3, FUTEX_OP(FUTEX_OP_SET, 0xffe, FUTEX_OP_CMP_EQ, 1)));
	printf("word3 after it: %d\n", atomic_load(&word3));
	report("FUTEX_WAKE_OP SET 1<<33", futex(&word2, FUTEX_WAKE_OP_PRIVATE, 1, 1, &word3, FUTEX_OP((FUTEX_OP_SET | FUTEX_OP_OPARG_SHIFT), 33, FUTEX_OP_CMP_EQ, 0)));
	printf("word3 after it: %d\n", atomic_load(&word3));
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
	odd_cases();
	return 0;
}
