/* sched_wake.c: wake-up latency beside a spinner.
 *
 *   sched_wake N
 *       a thread spins; the main thread sleeps 10 ms N times and measures
 *       how late each wake-up is (CLOCK_MONOTONIC); prints the median, the
 *       90th percentile and the maximum in microseconds.
 */
#include "common.h"

#include <pthread.h>
#include <time.h>

static volatile int stop;

static void *spin(void *arg) {
	(void)arg;
	while (!stop)
		;
	return NULL;
}

static int cmp(const void *a, const void *b) {
	long x = *(const long *)a, y = *(const long *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv) {
	init_output();
	int n = argc == 2 ? atoi(argv[1]) : 100;
	if (n < 10 || n > 10000)
		return 2;
	long *late = calloc(n, sizeof *late);
	pthread_t th;
	pthread_create(&th, NULL, spin, NULL);
	struct timespec warm = {0, 50000000};
	nanosleep(&warm, NULL);
	for (int i = 0; i < n; i++) {
		struct timespec a, b, d = {0, 10000000};
		clock_gettime(CLOCK_MONOTONIC, &a);
		nanosleep(&d, NULL);
		clock_gettime(CLOCK_MONOTONIC, &b);
		late[i] = (b.tv_sec - a.tv_sec) * 1000000 + (b.tv_nsec - a.tv_nsec) / 1000 - 10000;
	}
	stop = 1;
	pthread_join(th, NULL);
	qsort(late, n, sizeof *late, cmp);
	printf("p50_us = %ld\np90_us = %ld\nmax_us = %ld\n", late[n / 2], late[n * 9 / 10], late[n - 1]);
	return 0;
}
