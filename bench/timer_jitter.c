/* timer_jitter.c: expiry lateness of a periodic timerfd.
 *
 * Usage: timer_jitter PERIOD_US COUNT. Arms a CLOCK_MONOTONIC timerfd with
 * period PERIOD_US, reads it COUNT times and measures, for each read, how
 * late it returned after the expiry it reports (CLOCK_MONOTONIC now minus
 * start + k * period). Prints "median_us: X" and "p99_us: Y".
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int cmpll(const void *a, const void *b) {
	long long x = *(const long long *)a, y = *(const long long *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
	if (argc < 3)
		return 2;
	long long period = atoll(argv[1]) * 1000LL;
	int n = atoi(argv[2]);
	long long *late = calloc(n, sizeof *late);
	int fd = timerfd_create(CLOCK_MONOTONIC, 0);
	if (fd < 0) {
		perror("timerfd_create");
		return 1;
	}
	long long start = now_ns() + period;
	struct itimerspec its = {{period / 1000000000LL, period % 1000000000LL},
				 {start / 1000000000LL, start % 1000000000LL}};
	if (timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, NULL) != 0) {
		perror("timerfd_settime");
		return 1;
	}
	long long k = 0;
	for (int i = 0; i < n; i++) {
		uint64_t v;
		if (read(fd, &v, sizeof v) != 8) {
			perror("read");
			return 1;
		}
		k += v;
		late[i] = now_ns() - (start + (k - 1) * period);
	}
	qsort(late, n, sizeof *late, cmpll);
	printf("median_us: %.1f\n", late[n / 2] / 1000.0);
	printf("p99_us: %.1f\n", late[(n * 99) / 100] / 1000.0);
	return 0;
}
