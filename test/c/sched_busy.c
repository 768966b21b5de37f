/* sched_busy.c: busy threads and the CPU time they get.
 *
 *   sched_busy THREADS SECONDS
 *       starts THREADS threads that spin and waits until every one of
 *       them has started spinning, prints "started", sleeps SECONDS,
 *       then — while the threads still run — prints the wall
 *       time, the process's CPU time (clock_gettime
 *       CLOCK_PROCESS_CPUTIME_ID and getrusage RUSAGE_SELF) since they
 *       all spin, and the wall time again after those two reads (the main
 *       thread may wait for a CPU between its reads), in milliseconds, and
 *       stops them. The window starts once all spin, not before they are
 *       created: a loaded host can make thread creation take a good part
 *       of a second, which would count as CPU time not spent.
 */
#include "common.h"

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <time.h>

static volatile int stop;
static volatile int spinning;

static double clock_ms(clockid_t c) {
	struct timespec t;
	clock_gettime(c, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static double rusage_ms(void) {
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

static void *spin(void *arg) {
	(void)arg;
	unsigned long n = 0;
	__atomic_add_fetch(&spinning, 1, __ATOMIC_SEQ_CST);
	while (!stop)
		n++;
	return (void *)n;
}

int main(int argc, char **argv) {
	init_output();
	if (argc != 3) {
		fprintf(stderr, "usage: sched_busy THREADS SECONDS\n");
		return 2;
	}
	int n = atoi(argv[1]);
	double secs = atof(argv[2]);
	pthread_t th[16];
	if (n < 1 || n > 16)
		return 2;
	for (int i = 0; i < n; i++)
		if (pthread_create(&th[i], NULL, spin, NULL))
			die("pthread_create");
	while (__atomic_load_n(&spinning, __ATOMIC_SEQ_CST) < n)
		sched_yield();
	double w0 = clock_ms(CLOCK_MONOTONIC), c0 = clock_ms(CLOCK_PROCESS_CPUTIME_ID), r0 = rusage_ms();
	printf("started\n");
	struct timespec d = {(time_t)secs, (long)((secs - (time_t)secs) * 1e9)};
	nanosleep(&d, NULL);
	double w = clock_ms(CLOCK_MONOTONIC) - w0;
	double c = clock_ms(CLOCK_PROCESS_CPUTIME_ID) - c0;
	double r = rusage_ms() - r0;
	double w2 = clock_ms(CLOCK_MONOTONIC) - w0;
	stop = 1;
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	printf("wall_ms = %.1f\ncpu_ms = %.1f\nrusage_ms = %.1f\nwall_after_ms = %.1f\n", w, c, r, w2);
	return 0;
}
