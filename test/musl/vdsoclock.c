/* vdsoclock.c: clock reads through musl's libc, which looks the vDSO's
 * __vdso_clock_gettime up itself (built with musl-gcc by
 * test/vdso_test.go). Prints only what native Linux prints too. */
#include <stdio.h>
#include <sys/time.h>
#include <time.h>

int main(void) {
	struct timespec a, b;
	long back = 0;
	for (int i = 0; i < 10000; i++) {
		clock_gettime(CLOCK_MONOTONIC, &a);
		clock_gettime(CLOCK_MONOTONIC, &b);
		if (b.tv_sec < a.tv_sec || (b.tv_sec == a.tv_sec && b.tv_nsec < a.tv_nsec))
			back++;
	}
	struct timeval tv;
	gettimeofday(&tv, NULL);
	time_t t = time(NULL);
	printf("monotonic never went back: %d\n", back == 0);
	printf("gettimeofday and time agree: %d\n", t >= tv.tv_sec && t - tv.tv_sec < 5);
	return 0;
}
