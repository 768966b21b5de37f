/* pipepong: a byte sent back and forth between two processes over two
 * pipes; ns per round trip (two writes, two reads, two wake-ups), the
 * median over R rounds of N.
 * Usage: pipepong [N] [R] */
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

#include <signal.h>
#include <sys/wait.h>

#define DEFAULT_N 10000

static int to_child[2], to_parent[2];
static pid_t child;

static void setup(void) {
	if (pipe(to_child) || pipe(to_parent)) {
		perror("pipe");
		exit(1);
	}
	child = fork();
	if (child < 0) {
		perror("fork");
		exit(1);
	}
	if (child == 0) {
		char c;
		close(to_child[1]);
		close(to_parent[0]);
		while (read(to_child[0], &c, 1) == 1)
			if (write(to_parent[1], &c, 1) != 1)
				_exit(1);
		_exit(0);
	}
	close(to_child[0]);
	close(to_parent[1]);
}

static void teardown(void) {
	close(to_child[1]);
	waitpid(child, NULL, 0);
}

static void one(void) {
	char c = 'x';
	if (write(to_child[1], &c, 1) != 1 || read(to_parent[0], &c, 1) != 1) {
		perror("pipepong");
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
