/* harness.h: the timing loop shared by the self-timed process benchmarks.
 * A program defines DEFAULT_N, setup(), one() and teardown() (and
 * OPS_PER_ONE when one() performs several of the measured operations),
 * then includes this file last. It prints "ns_per_op: X", the median over
 * R rounds of N calls of one().
 * Usage of the resulting program: PROG [N] [R] */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#ifndef OPS_PER_ONE
#define OPS_PER_ONE 1
#endif

static double now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
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
		r[k] = (now_ns() - t0) / n / OPS_PER_ONE;
	}
	teardown();
	qsort(r, rounds, sizeof r[0], cmp);
	printf("ns_per_op: %.1f\n", r[rounds / 2]);
	return 0;
}
