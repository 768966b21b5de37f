/* fdhog N PATH...: opens each PATH 10,000 times and then N times (after
 * raising RLIMIT_NOFILE to N+64: root in the sandbox holds
 * CAP_SYS_RESOURCE), printing how long each took and the ratio; then holds
 * the N descriptors of the last PATH, prints "held", and waits for its
 * standard input to close. The lowest free descriptor is found in
 * O(log n), so N=100,000 should take about ten times as long as 10,000,
 * not a hundred times; and host descriptors are shared per host file, so
 * holding N descriptors of one host file costs the sentry one. Any failed
 * open prints its errno and exits 1. */
#include "common.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <time.h>

static double now(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/* opens opens path n times and returns the seconds it took. */
static double opens(const char *path, int n, int *fds) {
	double t0 = now();
	for (int i = 0; i < n; i++) {
		fds[i] = open(path, O_RDONLY);
		if (fds[i] < 0) {
			printf("%s: open number %d = -1 %s\n", path, i + 1, errname(errno));
			exit(1);
		}
	}
	return now() - t0;
}

static void closeall(int *fds, int n) {
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

int main(int argc, char **argv) {
	init_output();
	if (argc < 3) {
		fprintf(stderr, "usage: fdhog N PATH...\n");
		return 2;
	}
	int n = atoi(argv[1]);
	struct rlimit rl = {n + 64, n + 64};
	if (setrlimit(RLIMIT_NOFILE, &rl))
		die("setrlimit RLIMIT_NOFILE");
	int *fds = malloc(sizeof(int) * n);
	for (int a = 2; a < argc; a++) {
		double small = opens(argv[a], 10000, fds);
		closeall(fds, 10000);
		double big = opens(argv[a], n, fds);
		printf("%s: 10000 opens %.3f s, %d opens %.3f s, ratio %.1f\n", argv[a], small, n, big, big / small);
		if (a < argc - 1)
			closeall(fds, n);
	}
	printf("held\n");
	char c;
	while (read(0, &c, 1) > 0)
		;
	return 0;
}
