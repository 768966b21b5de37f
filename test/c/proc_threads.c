/* proc_threads.c: a C program as people write them (issue 3, item 5):
 * four pthreads sharing a counter under a mutex, a barrier built on raw
 * futex WAIT/WAKE, signal handlers on the thread stack and on an alternate
 * signal stack (sigaltstack + SA_ONSTACK), signals aimed at one thread
 * (pthread_kill), and results joined back. Output is deterministic. */
#include "common.h"
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>

#define NTHREADS 4
#define ROUNDS 200

/* A generation-counting barrier on one futex word. */
static atomic_int bar_count;
static atomic_int bar_gen;
/* Workers done with the barrier rounds, and main's go-ahead to finish. */
static atomic_int parked, release;

static long futex(atomic_int *addr, int op, int val) {
	return syscall(SYS_futex, addr, op, val, NULL, NULL, 0);
}

static void barrier_wait(void) {
	int gen = atomic_load(&bar_gen);
	if (atomic_fetch_add(&bar_count, 1) == NTHREADS - 1) {
		atomic_store(&bar_count, 0);
		atomic_fetch_add(&bar_gen, 1);
		futex(&bar_gen, FUTEX_WAKE_PRIVATE, NTHREADS);
		return;
	}
	while (atomic_load(&bar_gen) == gen)
		if (futex(&bar_gen, FUTEX_WAIT_PRIVATE, gen) == -1 && errno != EAGAIN && errno != EINTR)
			die("futex wait");
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static long counter;
static int slots[ROUNDS][NTHREADS];
static int round_ok[ROUNDS];

/* Signal bookkeeping: which thread ran which handler, on which stack. */
static pthread_t threads[NTHREADS];
static volatile sig_atomic_t usr1_hits[NTHREADS];
static volatile sig_atomic_t usr1_wrong_thread;
static char *alt_lo[NTHREADS + 1], *alt_hi[NTHREADS + 1];
static volatile sig_atomic_t usr2_on_alt[NTHREADS + 1], usr2_hits[NTHREADS + 1];
static __thread int my_index = NTHREADS; /* NTHREADS = the main thread */

static void on_usr1(int sig) {
	if (my_index < NTHREADS && pthread_equal(pthread_self(), threads[my_index]))
		usr1_hits[my_index]++;
	else
		usr1_wrong_thread++;
}

static void on_usr2(int sig, siginfo_t *si, void *uc) {
	char here;
	int i = my_index;
	int on = &here >= alt_lo[i] && &here < alt_hi[i];
	stack_t ss;
	sigaltstack(NULL, &ss);
	usr2_hits[i]++;
	if (on && (ss.ss_flags & SS_ONSTACK))
		usr2_on_alt[i]++;
	else if (on || (ss.ss_flags & SS_ONSTACK))
		usr2_on_alt[i] = -100; /* the stack used and SS_ONSTACK disagree */
}

static void set_altstack(int i) {
	size_t sz = 64 * 1024;
	char *p = malloc(sz);
	if (!p)
		die("malloc");
	stack_t ss = {.ss_sp = p, .ss_size = sz, .ss_flags = 0};
	if (sigaltstack(&ss, NULL))
		die("sigaltstack");
	alt_lo[i] = p;
	alt_hi[i] = p + sz;
}

static void *worker(void *arg) {
	int id = (int)(intptr_t)arg;
	my_index = id;
	set_altstack(id);
	for (int r = 0; r < ROUNDS; r++) {
		pthread_mutex_lock(&mu);
		counter += id + 1;
		pthread_mutex_unlock(&mu);
		slots[r][id] = r + 1;
		barrier_wait();
		/* After the barrier every thread's slot of this round is set. */
		if (id == 0) {
			int ok = 1;
			for (int k = 0; k < NTHREADS; k++)
				ok &= slots[r][k] == r + 1;
			round_ok[r] = ok;
		}
		barrier_wait();
	}
	/* Signals: park until main has sent ours; they are handled on this
	 * thread before it can return from the futex wait. */
	atomic_fetch_add(&parked, 1);
	futex(&parked, FUTEX_WAKE_PRIVATE, 1);
	while (atomic_load(&release) == 0)
		futex(&release, FUTEX_WAIT_PRIVATE, 0);
	return (void *)(intptr_t)(id * 100);
}

int main(void) {
	init_output();
	struct sigaction sa = {0};
	sa.sa_handler = on_usr1;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL))
		die("sigaction");
	struct sigaction sa2 = {0};
	sa2.sa_sigaction = on_usr2;
	sa2.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa2.sa_mask);
	if (sigaction(SIGUSR2, &sa2, NULL))
		die("sigaction");

	/* The main thread: a handler on its alternate stack, then without one. */
	set_altstack(NTHREADS);
	raise(SIGUSR2);
	printf("main: SIGUSR2 handled %d time(s), on the alternate stack %d time(s)\n", usr2_hits[NTHREADS], usr2_on_alt[NTHREADS]);
	stack_t off = {.ss_flags = SS_DISABLE};
	sigaltstack(&off, NULL);
	raise(SIGUSR2);
	printf("main: alt stack disabled: handled %d, on the alternate stack %d\n", usr2_hits[NTHREADS], usr2_on_alt[NTHREADS]);

	for (int i = 0; i < NTHREADS; i++)
		if (pthread_create(&threads[i], NULL, worker, (void *)(intptr_t)i))
			die("pthread_create");
	/* Wait for every worker to park, then signal each: SIGUSR1 i+1 times
	 * (standard signals coalesce, so only "at least once" is certain) and
	 * SIGUSR2 once, which runs on that thread's alternate stack. */
	for (;;) {
		int n = atomic_load(&parked);
		if (n == NTHREADS)
			break;
		futex(&parked, FUTEX_WAIT_PRIVATE, n);
	}
	for (int i = 0; i < NTHREADS; i++) {
		for (int k = 0; k <= i; k++)
			pthread_kill(threads[i], SIGUSR1);
		pthread_kill(threads[i], SIGUSR2);
	}
	atomic_store(&release, 1);
	futex(&release, FUTEX_WAKE_PRIVATE, NTHREADS);
	/* Signals to a thread are delivered before it returns to user code;
	 * the last barrier completes once all four arrive. */
	long sum = 0;
	for (int i = 0; i < NTHREADS; i++) {
		void *ret;
		if (pthread_join(threads[i], &ret))
			die("pthread_join");
		sum += (intptr_t)ret;
	}
	int all_ok = 1;
	for (int r = 0; r < ROUNDS; r++)
		all_ok &= round_ok[r];
	printf("counter = %ld (want %d)\n", counter, ROUNDS * (1 + 2 + 3 + 4));
	printf("every barrier round complete: %s\n", all_ok ? "yes" : "no");
	printf("join values sum = %ld\n", sum);
	for (int i = 0; i < NTHREADS; i++)
		printf("thread %d: SIGUSR1 >= 1: %s, SIGUSR2 handled %d, on its alternate stack %d\n", i,
		       usr1_hits[i] >= 1 ? "yes" : "no", usr2_hits[i], usr2_on_alt[i]);
	printf("SIGUSR1 on a wrong thread: %d\n", usr1_wrong_thread);
	return 0;
}
