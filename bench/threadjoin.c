/* threadjoin: pthread_create of a thread that returns at once, then
 * pthread_join; ns per create+join, the median over R rounds of N.
 * Usage: threadjoin [N] [R] */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <pthread.h>

#define DEFAULT_N 2000

static void setup(void) {}
static void teardown(void) {}

static void *nothing(void *arg) { return arg; }

static void one(void) {
	pthread_t th;
	if (pthread_create(&th, NULL, nothing, NULL) || pthread_join(th, NULL)) {
		fprintf(stderr, "threadjoin: pthread failed\n");
		exit(1);
	}
}

#include "harness.h"
