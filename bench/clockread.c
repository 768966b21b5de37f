/* clockread: the cost of reading the clock as programs do, through libc
 * (the vDSO where there is one): clock_gettime(CLOCK_MONOTONIC),
 * clock_gettime(CLOCK_REALTIME), gettimeofday or time, and the trapped
 * syscall for comparison. Prints the median over R rounds of N reads as
 * "ns_per_op: X".
 * Usage: clockread monotonic|realtime|gettimeofday|time|syscall [N] [R] */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *kind;

#define DEFAULT_N 1000000
static void setup(void) {}
static void teardown(void) {}
static void one(void) {
	struct timespec ts;
	struct timeval tv;
	switch (kind[0]) {
	case 'm': clock_gettime(CLOCK_MONOTONIC, &ts); break;
	case 'r': clock_gettime(CLOCK_REALTIME, &ts); break;
	case 'g': gettimeofday(&tv, NULL); break;
	case 't': (void)time(NULL); break;
	case 's': syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts); break;
	}
}

#define main harness_main
#include "harness.h"
#undef main

int main(int argc, char **argv) {
	if (argc < 2 || !strchr("mrgts", argv[1][0])) {
		fprintf(stderr, "usage: clockread monotonic|realtime|gettimeofday|time|syscall [N] [R]\n");
		return 2;
	}
	kind = argv[1];
	return harness_main(argc - 1, argv + 1);
}
