/* timer_roundtrip.c: round trips through the timer code.
 *
 * Usage: timer_roundtrip nanosleep0|timerfd N. nanosleep0 times N
 * nanosleep({0, 0}) calls; timerfd times N iterations of arming a
 * CLOCK_MONOTONIC timerfd 1 us ahead and reading it (blocking). Prints
 * "ns_per_op: X".
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv) {
	if (argc < 3)
		return 2;
	int n = atoi(argv[2]);
	long long t0, t1;
	if (!strcmp(argv[1], "nanosleep0")) {
		struct timespec z = {0, 0};
		t0 = now_ns();
		for (int i = 0; i < n; i++)
			nanosleep(&z, NULL);
		t1 = now_ns();
	} else if (!strcmp(argv[1], "timerfd")) {
		int fd = timerfd_create(CLOCK_MONOTONIC, 0);
		struct itimerspec its = {{0, 0}, {0, 1000}};
		uint64_t v;
		t0 = now_ns();
		for (int i = 0; i < n; i++) {
			timerfd_settime(fd, 0, &its, NULL);
			if (read(fd, &v, sizeof v) != 8) {
				perror("read");
				return 1;
			}
		}
		t1 = now_ns();
	} else {
		return 2;
	}
	printf("ns_per_op: %.0f\n", (double)(t1 - t0) / n);
	return 0;
}
