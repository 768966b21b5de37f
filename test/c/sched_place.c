/* sched_place.c: where threads run.
 *
 *   sched_place limit
 *       affinity masks are limited to the CPUs there are: a mask naming
 *       only CPUs beyond them is EINVAL, one naming some is cut down.
 *   sched_place split SECONDS
 *       four busy threads; the main thread samples the "processor" field
 *       of /proc/self/task/TID/stat of each every 20 ms and prints how
 *       often they were split two and two over CPUs 0 and 1.
 *   sched_place pinned SECONDS
 *       a thread pinned to CPU 1 spins calling getcpu beside three busy
 *       unpinned threads, and prints how often getcpu was not 1.
 */
#include "common.h"

#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>

static volatile int stop;
static pid_t tids[8];

static long getcpu_now(void) {
	unsigned cpu = 99;
	return syscall(SYS_getcpu, &cpu, NULL, NULL) == -1 ? -1 : (long)cpu;
}

static double now(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void *busy(void *arg) {
	tids[(intptr_t)arg] = gettid();
	unsigned long n = 0;
	while (!stop)
		n++;
	return (void *)n;
}

static long calls, off;

static void *pinned(void *arg) {
	(void)arg;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(1, &set);
	if (sched_setaffinity(0, sizeof set, &set))
		die("sched_setaffinity({1})");
	while (!stop) {
		for (volatile int i = 0; i < 20000; i++)
			;
		calls++;
		if (getcpu_now() != 1)
			off++;
	}
	return NULL;
}

/* processor returns field 39 of /proc/self/task/TID/stat, or -1. */
static int processor(pid_t tid) {
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	if (!p)
		return -1;
	/* p+2 is field 3; skip to field 39. */
	p += 2;
	for (int field = 3; field < 39; field++) {
		p = strchr(p, ' ');
		if (!p)
			return -1;
		p++;
	}
	return atoi(p);
}

static int limit(void) {
	/* The CPUs there are: the initial mask allows all of them (sysconf
	 * reads /sys, which need not be the sandbox's). */
	cpu_set_t set;
	CPU_ZERO(&set);
	if (sched_getaffinity(0, sizeof set, &set))
		die("sched_getaffinity");
	long n = CPU_COUNT(&set);
	printf("CPUs = %ld\n", n);
	CPU_ZERO(&set);
	CPU_SET(n, &set);
	report("sched_setaffinity(only the first CPU beyond)", sched_setaffinity(0, sizeof set, &set));
	CPU_ZERO(&set);
	for (long i = 0; i <= n; i++)
		CPU_SET(i, &set);
	report("sched_setaffinity(all and one beyond)", sched_setaffinity(0, sizeof set, &set));
	CPU_ZERO(&set);
	sched_getaffinity(0, sizeof set, &set);
	printf("mask has %d CPU(s)\n", CPU_COUNT(&set));
	long c = getcpu_now();
	yesno("getcpu within the CPUs", c >= 0 && c < n);
	return 0;
}

int main(int argc, char **argv) {
	init_output();
	if (argc >= 2 && !strcmp(argv[1], "limit"))
		return limit();
	if (argc != 3) {
		fprintf(stderr, "usage: sched_place limit | split SECONDS | pinned SECONDS\n");
		return 2;
	}
	double secs = atof(argv[2]);
	pthread_t th[5];
	if (!strcmp(argv[1], "split")) {
		for (intptr_t i = 0; i < 4; i++)
			pthread_create(&th[i], NULL, busy, (void *)i);
		struct timespec warm = {0, 500000000};
		nanosleep(&warm, NULL);
		int samples = 0, split = 0, per[4][2] = {{0}};
		double end = now() + secs;
		while (now() < end) {
			int on[2] = {0, 0};
			for (int i = 0; i < 4; i++) {
				int c = processor(tids[i]);
				if (c == 0 || c == 1) {
					on[c]++;
					per[i][c]++;
				}
			}
			samples++;
			if (on[0] == 2 && on[1] == 2)
				split++;
			struct timespec d = {0, 20000000};
			nanosleep(&d, NULL);
		}
		stop = 1;
		for (int i = 0; i < 4; i++)
			pthread_join(th[i], NULL);
		printf("samples = %d\nsplit two and two = %d\n", samples, split);
		for (int i = 0; i < 4; i++)
			printf("thread %d: cpu0 %d cpu1 %d\n", i, per[i][0], per[i][1]);
		return 0;
	}
	if (!strcmp(argv[1], "pinned")) {
		pthread_create(&th[4], NULL, pinned, NULL);
		for (intptr_t i = 0; i < 3; i++)
			pthread_create(&th[i], NULL, busy, (void *)i);
		struct timespec d = {(time_t)secs, (long)((secs - (time_t)secs) * 1e9)};
		nanosleep(&d, NULL);
		stop = 1;
		for (int i = 0; i < 3; i++)
			pthread_join(th[i], NULL);
		pthread_join(th[4], NULL);
		printf("getcpu calls = %ld\ngetcpu not 1 = %ld\n", calls, off);
		return 0;
	}
	fprintf(stderr, "unknown mode %s\n", argv[1]);
	return 2;
}
