/* bomb threads|procs MAX: creates threads (each blocked in pause) or
 * processes (each blocked reading a pipe) until MAX exist or creation
 * fails, prints how many it made and the error, then ends them all (the
 * processes see the pipe close) and exits 0.
 * Under the sandbox's task limit (--pids-limit) creation must fail with a
 * clean EAGAIN at the limit, and the sentry must carry on: the program
 * still prints and exits normally. */
#include "common.h"

#include <pthread.h>
#include <sys/wait.h>

static void *sleeper(void *a) {
	pause();
	return a;
}

int main(int argc, char **argv) {
	init_output();
	if (argc < 3) {
		fprintf(stderr, "usage: bomb threads|procs MAX\n");
		return 2;
	}
	int threads = !strcmp(argv[1], "threads");
	int max = atoi(argv[2]);
	int n = 0, err = 0;
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setstacksize(&at, 64 << 10);
	int wake[2];
	if (pipe(wake))
		die("pipe");
	for (; n < max; n++) {
		if (threads) {
			pthread_t t;
			int e = pthread_create(&t, &at, sleeper, NULL);
			if (e) {
				err = e;
				break;
			}
		} else {
			pid_t p = fork();
			if (p < 0) {
				err = errno;
				break;
			}
			if (p == 0) {
				wait_closed(wake);
				_exit(0);
			}
		}
	}
	printf("%s: %d created, then %s\n", threads ? "threads" : "processes", n, err ? errname(err) : "none");
	if (!threads) {
		close(wake[1]);
		int reaped = 0;
		while (wait(NULL) > 0)
			reaped++;
		printf("reaped %d\n", reaped);
	}
	return 0;
}
