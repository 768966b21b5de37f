/* openread: N rounds of open + read (up to 4 KiB) + close of the small file
 * argv[1], timed with clock_gettime; prints the median over R rounds as
 * "ns_per_op: X". Usage: openread FILE [N] [R] */
#define _GNU_SOURCE
#include <fcntl.h>
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

int main(int argc, char **argv) {
	if (argc < 2) {
		fprintf(stderr, "usage: openread FILE [N] [R]\n");
		return 2;
	}
	long n = argc > 2 ? atol(argv[2]) : 20000;
	int rounds = argc > 3 ? atoi(argv[3]) : 5;
	static char buf[4096];
	double r[64];
	if (rounds > 64)
		rounds = 64;
	for (int k = 0; k < rounds; k++) {
		double t0 = now_ns();
		for (long i = 0; i < n; i++) {
			int fd = open(argv[1], O_RDONLY);
			if (fd < 0 || read(fd, buf, sizeof buf) <= 0) {
				perror("open/read");
				return 1;
			}
			close(fd);
		}
		r[k] = (now_ns() - t0) / n;
	}
	qsort(r, rounds, sizeof r[0], cmp);
	printf("ns_per_op: %.1f\n", r[rounds / 2]);
	return 0;
}
