/* sleep_stop.c: a sleep or timed wait that is stopped (SIGSTOP) and
 * continued ends when it would have without the stop, as Linux's
 * restart_syscall continues nanosleep, relative clock_nanosleep, poll and
 * futex waits to their original deadline, instead of waiting the whole
 * timeout again after SIGCONT. */
#include "common.h"
#include <linux/futex.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
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
enum how { NANOSLEEP, CLOCK_NANOSLEEP, POLL, FUTEX };

static void run(const char *what, enum how how) {
	pid_t pid = fork();
	if (pid == 0) {
		struct timespec ts = {1, 500 * 1000 * 1000};
		int word = 0;
		double t0 = now();
		long r = 0;
		switch (how) {
		case NANOSLEEP:
			r = nanosleep(&ts, NULL);
			break;
		case CLOCK_NANOSLEEP:
			r = clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL);
			break;
		case POLL:
			r = poll(NULL, 0, 1500);
			break;
		case FUTEX:
			r = syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 0, &ts, NULL, 0);
			break;
		}
		double el = now() - t0;
		printf("%s: returned %ld%s%s, %s\n", what, r, r == -1 ? " " : "", r == -1 ? errname(errno) : "",
		       el < 2.3 ? "on time" : "late: waited the whole timeout again");
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
	run("nanosleep", NANOSLEEP);
	run("clock_nanosleep", CLOCK_NANOSLEEP);
	run("poll", POLL);
	run("futex wait", FUTEX);
	return 0;
}
