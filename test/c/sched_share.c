/* sched_share.c: how the CPU is shared between two busy threads.
 *
 *   sched_share nice A B WANT MINSECS MAXSECS
 *       two threads spin at nice A and nice B (setpriority on their own
 *       TID). Every 100 ms the main thread reads each one's CPU time from
 *       /proc/self/task/TID/schedstat; it stops once the ratio A:B has
 *       stayed within 20% of WANT for a whole second after at least
 *       MINSECS, or at MAXSECS, and prints the ratio and whether it
 *       settled.
 *   sched_share fifo
 *       a fair thread spins; then a SCHED_FIFO thread spins for 300 ms of
 *       wall time and measures how much CPU time every other thread got
 *       meanwhile (process CPU time minus its own).
 *   sched_share rr SECONDS
 *       the main thread becomes SCHED_FIFO 20; two SCHED_RR 10 threads
 *       spin for SECONDS; prints each one's CPU time, turns on a CPU and
 *       involuntary context switches.
 */
#include "common.h"

#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <sys/resource.h>
#include <time.h>

static volatile int stop;
static volatile pid_t tids[2];
static int nices[2];

static double now(clockid_t c) {
	struct timespec t;
	clock_gettime(c, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void sleep_ms(long ms) {
	struct timespec d = {ms / 1000, (ms % 1000) * 1000000};
	nanosleep(&d, NULL);
}

/* schedstat reads /proc/self/task/TID/schedstat: run ns and turns. */
static int schedstat(pid_t tid, double *run, long *turns) {
	char path[64];
	unsigned long long r, w;
	snprintf(path, sizeof path, "/proc/self/task/%d/schedstat", tid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	int n = fscanf(f, "%llu %llu %ld", &r, &w, turns);
	fclose(f);
	*run = r / 1e9;
	return n == 3 ? 0 : -1;
}

/* nivcsw reads nonvoluntary_ctxt_switches of /proc/self/task/TID/status. */
static long nivcsw(pid_t tid) {
	char path[64], line[256];
	long v = -1;
	snprintf(path, sizeof path, "/proc/self/task/%d/status", tid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "nonvoluntary_ctxt_switches: %ld", &v) == 1)
			break;
	fclose(f);
	return v;
}

static void *spin_nice(void *arg) {
	intptr_t i = (intptr_t)arg;
	if (setpriority(PRIO_PROCESS, gettid(), nices[i]))
		die("setpriority");
	tids[i] = gettid();
	unsigned long n = 0;
	while (!stop)
		n++;
	return (void *)n;
}

static int share(int argc, char **argv) {
	if (argc != 7)
		return 2;
	nices[0] = atoi(argv[2]);
	nices[1] = atoi(argv[3]);
	double want = atof(argv[4]), minsecs = atof(argv[5]), maxsecs = atof(argv[6]);
	pthread_t th[2];
	for (intptr_t i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, spin_nice, (void *)i);
	while (!tids[0] || !tids[1])
		sched_yield();
	double start = now(CLOCK_MONOTONIC), ratio = 0, a = 0, b = 0;
	int in_range = 0, settled = 0;
	long turns[2];
	while (now(CLOCK_MONOTONIC) - start < maxsecs) {
		sleep_ms(100);
		if (schedstat(tids[0], &a, &turns[0]) || schedstat(tids[1], &b, &turns[1]))
			die("schedstat");
		if (b <= 0)
			continue;
		ratio = a / b;
		if (ratio >= want * 0.8 && ratio <= want * 1.2)
			in_range++;
		else
			in_range = 0;
		if (in_range >= 10 && now(CLOCK_MONOTONIC) - start >= minsecs) {
			settled = 1;
			break;
		}
	}
	double elapsed = now(CLOCK_MONOTONIC) - start;
	stop = 1;
	pthread_join(th[0], NULL);
	pthread_join(th[1], NULL);
	printf("ratio = %.2f\nsettled: %s\nafter_s = %.1f\ncpu_s = %.3f %.3f\n", ratio, settled ? "yes" : "no", elapsed, a, b);
	return 0;
}

static double others;

static void *fifo_thread(void *arg) {
	(void)arg;
	double p0 = now(CLOCK_PROCESS_CPUTIME_ID), t0 = now(CLOCK_THREAD_CPUTIME_ID), w0 = now(CLOCK_MONOTONIC);
	while (now(CLOCK_MONOTONIC) - w0 < 0.3)
		for (volatile int i = 0; i < 10000; i++)
			;
	double p1 = now(CLOCK_PROCESS_CPUTIME_ID), t1 = now(CLOCK_THREAD_CPUTIME_ID);
	others = (p1 - p0) - (t1 - t0);
	return NULL;
}

static void *spin(void *arg) {
	tids[(intptr_t)arg] = gettid();
	while (!stop)
		;
	return NULL;
}

static int fifo(void) {
	pthread_t fair, rt;
	pthread_create(&fair, NULL, spin, (void *)0);
	sleep_ms(100);
	pthread_attr_t attr;
	struct sched_param sp = {.sched_priority = 10};
	pthread_attr_init(&attr);
	pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
	pthread_attr_setschedpolicy(&attr, SCHED_FIFO);
	pthread_attr_setschedparam(&attr, &sp);
	if (pthread_create(&rt, &attr, fifo_thread, NULL))
		die("pthread_create SCHED_FIFO");
	pthread_join(rt, NULL);
	double run;
	long turns;
	schedstat(tids[0], &run, &turns);
	stop = 1;
	pthread_join(fair, NULL);
	printf("others_ms during 300ms of FIFO = %.1f\nfair thread cpu_ms = %.1f\n", others * 1e3, run * 1e3);
	return 0;
}

static int rr(double secs) {
	struct sched_param sp = {.sched_priority = 20};
	if (sched_setscheduler(0, SCHED_FIFO, &sp))
		die("sched_setscheduler FIFO 20");
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
	pthread_attr_setschedpolicy(&attr, SCHED_RR);
	sp.sched_priority = 10;
	pthread_attr_setschedparam(&attr, &sp);
	pthread_t th[2];
	for (intptr_t i = 0; i < 2; i++)
		if (pthread_create(&th[i], &attr, spin, (void *)i))
			die("pthread_create SCHED_RR");
	sleep_ms((long)(secs * 1000));
	double run[2];
	long turns[2], inv[2];
	for (int i = 0; i < 2; i++) {
		schedstat(tids[i], &run[i], &turns[i]);
		inv[i] = nivcsw(tids[i]);
	}
	stop = 1;
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 2; i++)
		printf("rr%d: cpu_ms %.1f turns %ld nivcsw %ld\n", i, run[i] * 1e3, turns[i], inv[i]);
	return 0;
}

int main(int argc, char **argv) {
	init_output();
	if (argc >= 2 && !strcmp(argv[1], "nice"))
		return share(argc, argv);
	if (argc == 2 && !strcmp(argv[1], "fifo"))
		return fifo();
	if (argc == 3 && !strcmp(argv[1], "rr"))
		return rr(atof(argv[2]));
	fprintf(stderr, "usage: sched_share nice A B WANT MINSECS MAXSECS | fifo | rr SECONDS\n");
	return 2;
}
