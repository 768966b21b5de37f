/* devnull: writes 64 MiB to /dev/null in 4 KiB writes (16384 write
 * syscalls), timed with clock_gettime; prints the median over R rounds as
 * "ms_total: X". Usage: devnull [R] */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
	int rounds = argc > 1 ? atoi(argv[1]) : 5;
	static char buf[4096];
	double r[64];
	if (rounds > 64)
		rounds = 64;
	memset(buf, 'x', sizeof buf);
	int fd = open("/dev/null", O_WRONLY);
	if (fd < 0) {
		perror("open /dev/null");
		return 1;
	}
	for (int k = 0; k < rounds; k++) {
		double t0 = now_ns();
		for (long done = 0; done < (64L << 20); done += sizeof buf)
			if (write(fd, buf, sizeof buf) != (long)sizeof buf) {
				perror("write");
				return 1;
			}
		r[k] = (now_ns() - t0) / 1e6;
	}
	qsort(r, rounds, sizeof r[0], cmp);
	printf("ms_total: %.2f\n", r[rounds / 2]);
	return 0;
}
