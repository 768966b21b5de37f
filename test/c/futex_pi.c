/* futex_pi.c: priority-inheritance futexes (issue 15, item 3).
 *
 *   futex_pi api        FUTEX_LOCK_PI/LOCK_PI2/TRYLOCK_PI/UNLOCK_PI on raw
 *                       words: the word's TID and FUTEX_WAITERS bits, the
 *                       errors (EDEADLK, ESRCH, EPERM, EWOULDBLOCK,
 *                       ETIMEDOUT, EFAULT, ENOSYS), hand-off to a waiter,
 *                       a deadlock cycle, owner death (robust and not),
 *                       and PTHREAD_PRIO_INHERIT mutexes under contention.
 *   futex_pi inversion pi|none
 *                       the classic priority inversion on one CPU: a fair
 *                       low-priority thread holds a mutex, a SCHED_FIFO 50
 *                       thread wants it, a SCHED_FIFO 20 thread spins. With
 *                       PTHREAD_PRIO_INHERIT the owner runs at 50, releases,
 *                       and the high thread gets the mutex while the
 *                       medium one still spins; with PTHREAD_PRIO_NONE the
 *                       high thread waits until the spinner's budget (300 ms
 *                       of its CPU time) is gone. Events are printed in
 *                       the order they happened; no durations.
 * Needs root (SCHED_FIFO); run pinned to one CPU (the program pins itself
 * natively; the sandbox runs with --cpus 1).
 */
#include "common.h"
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <time.h>

#ifndef FUTEX_LOCK_PI2
#define FUTEX_LOCK_PI2 13
#endif

static long futex(void *addr, int op, int val, const struct timespec *ts) {
	return syscall(SYS_futex, addr, op, val, ts, NULL, 0);
}

static int gettid_(void) { return syscall(SYS_gettid); }

static const char *bits(unsigned w) {
	static char b[64];
	snprintf(b, sizeof b, "%s%s%s", (w & FUTEX_WAITERS) ? "WAITERS " : "", (w & FUTEX_OWNER_DIED) ? "OWNER_DIED " : "",
		 (w & FUTEX_TID_MASK) ? "tid" : "0");
	return b;
}

/* ---- api ---- */

static _Atomic unsigned w1, w2;
static long holder_unlock, waiter_unlock, thread_lock;
static char waiter_out[128];
static _Atomic int stage;
/* The thread main waits to see blocked in LOCK_PI (wait_thread_sleeping):
 * a fixed sleep let a loaded machine run the check before it blocked. */
static _Atomic int sleeper;

static void wait_stage(int s) {
	while (atomic_load(&stage) < s)
		sched_yield();
}

/* holder takes w1 by compare-and-swap (as glibc does, without the kernel),
 * tells main, and unlocks when stage reaches 3. */
static void *holder(void *arg) {
	unsigned zero = 0;
	if (!atomic_compare_exchange_strong(&w1, &zero, (unsigned)gettid_()))
		die("holder cas");
	atomic_store(&stage, 1);
	wait_stage(3);
	unsigned me = gettid_();
	holder_unlock = -2;
	if (!atomic_compare_exchange_strong(&w1, &me, 0)) /* WAITERS set: go to the kernel */
		holder_unlock = futex(&w1, FUTEX_UNLOCK_PI, 0, NULL);
	return NULL;
}

static void *waiter(void *arg) {
	atomic_store(&sleeper, gettid_());
	atomic_store(&stage, 2);
	long r = futex(&w1, FUTEX_LOCK_PI, 0, NULL);
	unsigned w = atomic_load(&w1);
	snprintf(waiter_out, sizeof waiter_out, "waiter LOCK_PI = %ld; word names the waiter: %s; bits %s\n", r,
		 (w & FUTEX_TID_MASK) == (unsigned)gettid_() ? "yes" : "no", bits(w));
	waiter_unlock = futex(&w1, FUTEX_UNLOCK_PI, 0, NULL);
	return NULL;
}

static void *locks_w2_then_w1(void *arg) {
	report("thread LOCK_PI(w2)", futex(&w2, FUTEX_LOCK_PI, 0, NULL));
	atomic_store(&sleeper, gettid_());
	atomic_store(&stage, 11);
	thread_lock = futex(&w1, FUTEX_LOCK_PI, 0, NULL);
	futex(&w1, FUTEX_UNLOCK_PI, 0, NULL);
	futex(&w2, FUTEX_UNLOCK_PI, 0, NULL);
	return NULL;
}

static pthread_mutex_t pm;
static long counter;

static void *hammer(void *arg) {
	for (int i = 0; i < 2000; i++) {
		if (pthread_mutex_lock(&pm))
			die("pthread_mutex_lock");
		long c = counter;
		if (i % 50 == 0)
			sched_yield();
		counter = c + 1;
		pthread_mutex_unlock(&pm);
	}
	return NULL;
}

static void *lock_and_exit(void *arg) {
	pthread_mutex_lock(&pm);
	atomic_store(&stage, 21);
	wait_stage(22);
	return NULL; /* dies holding pm */
}

static void *lock_after_death(void *arg) {
	atomic_store(&stage, 22);
	int r = pthread_mutex_lock(&pm);
	printf("waiter blocked while the owner died: %s\n", r == 0 ? "0" : errname(r));
	if (r == EOWNERDEAD)
		pthread_mutex_consistent(&pm);
	pthread_mutex_unlock(&pm);
	return NULL;
}

static void init_pi(pthread_mutex_t *m, int robust) {
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setprotocol(&a, PTHREAD_PRIO_INHERIT);
	if (robust)
		pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	if (pthread_mutex_init(m, &a))
		die("pthread_mutex_init");
	pthread_mutexattr_destroy(&a);
}

static void api(void) {
	unsigned me = gettid_();
	report("LOCK_PI free word", futex(&w1, FUTEX_LOCK_PI, 0, NULL));
	yesno("word holds the caller's TID", atomic_load(&w1) == me);
	report("LOCK_PI again by the owner", futex(&w1, FUTEX_LOCK_PI, 0, NULL));
	report("TRYLOCK_PI by the owner", futex(&w1, FUTEX_TRYLOCK_PI, 0, NULL));
	report("UNLOCK_PI by the owner", futex(&w1, FUTEX_UNLOCK_PI, 0, NULL));
	printf("word after unlock: %s\n", bits(atomic_load(&w1)));
	report("UNLOCK_PI of a free word", futex(&w1, FUTEX_UNLOCK_PI, 0, NULL));
	report("TRYLOCK_PI free word (private)", futex(&w1, FUTEX_TRYLOCK_PI | FUTEX_PRIVATE_FLAG, 0, NULL));
	report("UNLOCK_PI (private)", futex(&w1, FUTEX_UNLOCK_PI | FUTEX_PRIVATE_FLAG, 0, NULL));

	atomic_store(&w2, 0x3ffffff0); /* a TID nobody has */
	report("LOCK_PI owned by a missing TID", futex(&w2, FUTEX_LOCK_PI, 0, NULL));
	printf("word after ESRCH: %s\n", bits(atomic_load(&w2)));
	report("UNLOCK_PI of another's word", futex(&w2, FUTEX_UNLOCK_PI, 0, NULL));
	atomic_store(&w2, 0);
	report("LOCK_PI with FUTEX_CLOCK_REALTIME", futex(&w2, FUTEX_LOCK_PI | FUTEX_CLOCK_REALTIME, 0, NULL));
	report("LOCK_PI bad address", futex((void *)8, FUTEX_LOCK_PI, 0, NULL));
	report("LOCK_PI misaligned", futex((char *)&w2 + 1, FUTEX_LOCK_PI, 0, NULL));
	report("UNLOCK_PI bad address", futex((void *)8, FUTEX_UNLOCK_PI, 0, NULL));
	atomic_store(&w2, FUTEX_OWNER_DIED);
	report("LOCK_PI of a word with only OWNER_DIED", futex(&w2, FUTEX_LOCK_PI, 0, NULL));
	printf("word: %s\n", bits(atomic_load(&w2)));
	report("UNLOCK_PI of it", futex(&w2, FUTEX_UNLOCK_PI, 0, NULL));
	printf("word: %s\n", bits(atomic_load(&w2)));

	/* A holder that took the word in userspace; timeouts, then a waiter. */
	pthread_t h, w;
	atomic_store(&w1, 0);
	atomic_store(&stage, 0);
	pthread_create(&h, NULL, holder, NULL);
	wait_stage(1);
	report("TRYLOCK_PI held by another", futex(&w1, FUTEX_TRYLOCK_PI, 0, NULL));
	printf("word after a failed trylock: %s\n", bits(atomic_load(&w1)));
	struct timespec now, ts;
	clock_gettime(CLOCK_REALTIME, &now);
	ts = now;
	ts.tv_nsec += 20 * 1000 * 1000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	report("LOCK_PI held, 20ms realtime deadline", futex(&w1, FUTEX_LOCK_PI, 0, &ts));
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_nsec += 20 * 1000 * 1000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	report("LOCK_PI2 held, 20ms monotonic deadline", futex(&w1, FUTEX_LOCK_PI2, 0, &ts));
	struct timespec past = {1, 0};
	report("LOCK_PI held, deadline in the past", futex(&w1, FUTEX_LOCK_PI, 0, &past));
	struct timespec bad = {0, 2000000000};
	report("LOCK_PI held, bad timespec", futex(&w1, FUTEX_LOCK_PI, 0, &bad));
	yesno("the holder still owns the word", (atomic_load(&w1) & FUTEX_TID_MASK) != 0 && (atomic_load(&w1) & FUTEX_TID_MASK) != me);
	pthread_create(&w, NULL, waiter, NULL);
	wait_stage(2);
	wait_thread_sleeping(atomic_load(&sleeper)); /* the waiter sleeps in LOCK_PI */
	atomic_store(&stage, 3);
	pthread_join(h, NULL);
	pthread_join(w, NULL);
	printf("holder UNLOCK_PI with a waiter = %ld\n", holder_unlock);
	printf("%s", waiter_out);
	report("waiter UNLOCK_PI", waiter_unlock);
	printf("word after the waiter's unlock: %s\n", bits(atomic_load(&w1)));

	/* A cycle: main holds w1, the thread holds w2 and waits for w1, main
	 * asks for w2. */
	atomic_store(&w1, 0);
	atomic_store(&w2, 0);
	atomic_store(&stage, 10);
	report("main LOCK_PI(w1)", futex(&w1, FUTEX_LOCK_PI, 0, NULL));
	pthread_create(&h, NULL, locks_w2_then_w1, NULL);
	wait_stage(11);
	wait_thread_sleeping(atomic_load(&sleeper)); /* the thread sleeps in LOCK_PI(w1) */
	report("main LOCK_PI(w2): a deadlock", futex(&w2, FUTEX_LOCK_PI, 0, NULL));
	report("main UNLOCK_PI(w1)", futex(&w1, FUTEX_UNLOCK_PI, 0, NULL));
	pthread_join(h, NULL);
	report("thread LOCK_PI(w1), held by main (slept)", thread_lock);

	/* PTHREAD_PRIO_INHERIT mutexes: contention, owner death. */
	init_pi(&pm, 0);
	pthread_t ts4[4];
	for (int i = 0; i < 4; i++)
		pthread_create(&ts4[i], NULL, hammer, NULL);
	for (int i = 0; i < 4; i++)
		pthread_join(ts4[i], NULL);
	printf("PRIO_INHERIT counter = %ld\n", counter);
	report("PRIO_INHERIT trylock of the free mutex", pthread_mutex_trylock(&pm));
	pthread_mutex_unlock(&pm);

	init_pi(&pm, 1);
	atomic_store(&stage, 20);
	pthread_create(&h, NULL, lock_and_exit, NULL);
	wait_stage(21);
	pthread_create(&w, NULL, lock_after_death, NULL);
	wait_stage(22);
	usleep(50 * 1000);
	pthread_join(h, NULL);
	pthread_join(w, NULL);
	atomic_store(&stage, 20);
	pthread_create(&h, NULL, lock_and_exit, NULL);
	wait_stage(21);
	atomic_store(&stage, 22);
	pthread_join(h, NULL);
	int r = pthread_mutex_lock(&pm);
	printf("lock after a robust PI owner died = %s\n", r == 0 ? "0" : errname(r));
}

/* ---- inversion ---- */

static pthread_mutex_t inv;
static _Atomic int high_done, nev;
static const char *events[16];

static void event(const char *e) { events[atomic_fetch_add(&nev, 1)] = e; }

static double thread_cpu_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static _Atomic int go_low_locked, go_medium_spins;

static void *low(void *arg) {
	pthread_mutex_lock(&inv);
	event("low locked the mutex");
	atomic_store(&go_low_locked, 1);
	futex(&go_low_locked, FUTEX_WAKE, 1, NULL);
	double end = thread_cpu_ms() + 30;
	while (thread_cpu_ms() < end)
		;
	event("low unlocks");
	pthread_mutex_unlock(&inv);
	return NULL;
}

static void *medium(void *arg) {
	event("medium spins");
	atomic_store(&go_medium_spins, 1);
	futex(&go_medium_spins, FUTEX_WAKE, 1, NULL);
	double end = thread_cpu_ms() + 300;
	for (;;) {
		if (atomic_load(&high_done)) {
			event("medium sees that high got the mutex");
			return NULL;
		}
		if (thread_cpu_ms() >= end) {
			event("medium spent its budget");
			return NULL;
		}
	}
}

static void *high(void *arg) {
	event("high waits for the mutex");
	pthread_mutex_lock(&inv);
	event("high got the mutex");
	atomic_store(&high_done, 1);
	pthread_mutex_unlock(&inv);
	return NULL;
}

static pthread_t spawn(void *(*fn)(void *), int policy, int prio) {
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setinheritsched(&a, PTHREAD_EXPLICIT_SCHED);
	pthread_attr_setschedpolicy(&a, policy);
	struct sched_param sp = {.sched_priority = prio};
	pthread_attr_setschedparam(&a, &sp);
	pthread_t t;
	errno = pthread_create(&t, &a, fn, NULL);
	if (errno)
		die("pthread_create");
	pthread_attr_destroy(&a);
	return t;
}

static void wait_flag(_Atomic int *f) {
	while (!atomic_load(f))
		futex(f, FUTEX_WAIT, 0, NULL);
}

static void inversion(int pi) {
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	if (sched_setaffinity(0, sizeof set, &set))
		die("sched_setaffinity");
	/* main orchestrates above everybody. */
	struct sched_param sp = {.sched_priority = 90};
	if (sched_setscheduler(0, SCHED_FIFO, &sp))
		die("sched_setscheduler");
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setprotocol(&a, pi ? PTHREAD_PRIO_INHERIT : PTHREAD_PRIO_NONE);
	pthread_mutex_init(&inv, &a);
	pthread_t l = spawn(low, SCHED_OTHER, 0);
	wait_flag(&go_low_locked);
	pthread_t m = spawn(medium, SCHED_FIFO, 20);
	wait_flag(&go_medium_spins);
	pthread_t h = spawn(high, SCHED_FIFO, 50);
	pthread_join(h, NULL);
	pthread_join(m, NULL);
	pthread_join(l, NULL);
	for (int i = 0; i < nev; i++)
		printf("%s\n", events[i]);
}

int main(int argc, char **argv) {
	init_output();
	if (argc > 1 && !strcmp(argv[1], "api")) {
		api();
		return 0;
	}
	if (argc > 2 && !strcmp(argv[1], "inversion")) {
		inversion(!strcmp(argv[2], "pi"));
		return 0;
	}
	fprintf(stderr, "usage: futex_pi api | inversion pi|none\n");
	return 2;
}
