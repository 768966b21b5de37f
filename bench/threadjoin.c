/* threadjoin: pthread_create of a thread that returns at once, then
 * pthread_join; ns per create+join, the median over R rounds of N.
 * Usage: threadjoin [N] [R] */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

#include <pthread.h>

#define DEFAULT_N 2000

static void setup(void) {}
static void teardown(void) {}

static void *nothing(void *arg) { return arg; }

static void one(void) {
	pthread_t th;
	if (pthread_create(&th, NULL, nothing, NULL) || pthread_join(th, NULL)) {
		fprintf(stderr, "threadjoin: pthread failed\n");
		exit(1);
	}
}

int main(int argc, char **argv) {
	long n = argc > 1 ? atol(argv[1]) : DEFAULT_N;
	int rounds = argc > 2 ? atoi(argv[2]) : 5;
	double r[64];
	if (rounds > 64)
		rounds = 64;
	if (n < 1)
		n = 1;
	setup();
	for (int k = 0; k < rounds; k++) {
		double t0 = now_ns();
		for (long i = 0; i < n; i++)
			one();
		r[k] = (now_ns() - t0) / n;
	}
	teardown();
	qsort(r, rounds, sizeof r[0], cmp);
	printf("ns_per_op: %.1f\n", r[rounds / 2]);
	return 0;
}
