/* sleep_stop.c: a sleep that is stopped (SIGSTOP) and continued ends when
 * it would have without the stop, as Linux's restart_syscall continues
 * nanosleep and relative clock_nanosleep to their original deadline,
 * instead of sleeping the whole duration again after SIGCONT. */
#include "common.h"
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

static double now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void pause_for(double s) {
	struct timespec ts = {(time_t)s, (long)((s - (time_t)s) * 1e9)};
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* run forks a child that sleeps 1.5 s with sleeper, stops it 0.3 s in for
 * 1.2 s, and reports whether the child's sleep ended on time (about 1.5 s
 * after it began; sleeping the whole duration again would take 3 s). */
static void run(const char *what, int use_clock) {
	pid_t pid = fork();
	if (pid == 0) {
		struct timespec ts = {1, 500 * 1000 * 1000};
		double t0 = now();
		int r = use_clock ? clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL) : nanosleep(&ts, NULL);
		double el = now() - t0;
		printf("%s: returned %d, %s\n", what, r, el < 2.3 ? "on time" : "late: slept the whole duration again");
		fflush(stdout);
		_exit(0);
	}
	pause_for(0.3);
	kill(pid, SIGSTOP);
	pause_for(1.2);
	kill(pid, SIGCONT);
	int st;
	waitpid(pid, &st, 0);
}

int main(void) {
	init_output();
	run("nanosleep", 0);
	run("clock_nanosleep", 1);
	return 0;
}
