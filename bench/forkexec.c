/* forkexec: fork, the child execs /bin/true (dynamically linked: the
 * loader's mmaps and opens count too), the parent waits; ns per
 * fork+execve+wait, the median over R rounds of N.
 * Usage: forkexec [N] [R] */
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

#include <sys/wait.h>

#define DEFAULT_N 200

static void setup(void) {}
static void teardown(void) {}

static void one(void) {
	pid_t p = fork();
	if (p < 0) {
		perror("fork");
		exit(1);
	}
	if (p == 0) {
		char *argv[] = {"true", NULL};
		char *envp[] = {NULL};
		execve("/bin/true", argv, envp);
		_exit(127);
	}
	int st;
	if (waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "forkexec: /bin/true failed\n");
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
