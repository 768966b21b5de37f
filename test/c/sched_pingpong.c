/* sched_pingpong.c: task switch cost as a pipe ping-pong between two
 * threads.
 *
 *   sched_pingpong ROUNDS [pin]
 *       two threads pass one byte back and forth through two pipes ROUNDS
 *       times (each round trip is two blocking reads, so two switches on
 *       one CPU); with "pin" both are pinned to CPU 0 first. Prints the
 *       time of one round trip in nanoseconds.
 */
#include "common.h"

#include <pthread.h>
#include <sched.h>
#include <time.h>

static int ping[2], pong[2];
static long rounds;

static void pin0(void) {
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	if (sched_setaffinity(0, sizeof set, &set))
		die("sched_setaffinity");
}

static int pinned;

static void *ponger(void *arg) {
	(void)arg;
	if (pinned)
		pin0();
	char c;
	for (long i = 0; i < rounds; i++) {
		if (read(ping[0], &c, 1) != 1 || write(pong[1], &c, 1) != 1)
			die("ponger");
	}
	return NULL;
}

int main(int argc, char **argv) {
	init_output();
	if (argc < 2)
		return 2;
	rounds = atol(argv[1]);
	pinned = argc == 3 && !strcmp(argv[2], "pin");
	if (pinned)
		pin0();
	if (pipe(ping) || pipe(pong))
		die("pipe");
	pthread_t th;
	pthread_create(&th, NULL, ponger, NULL);
	char c = 'x';
	/* One warm-up round trip. */
	rounds++;
	if (write(ping[1], &c, 1) != 1 || read(pong[0], &c, 1) != 1)
		die("warm-up");
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 1; i < rounds; i++) {
		if (write(ping[1], &c, 1) != 1 || read(pong[0], &c, 1) != 1)
			die("pinger");
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	pthread_join(th, NULL);
	double ns = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / (rounds - 1);
	printf("roundtrip_ns = %.0f\n", ns);
	return 0;
}
