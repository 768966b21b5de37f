/* proc_rusage.c: a process's CPU time outlives its threads, and a waited-for
 * child's becomes its parent's children's time (getrusage RUSAGE_SELF and
 * RUSAGE_CHILDREN, wait4's rusage, times()). Each burner
 * spins until its own thread CPU clock reads 200 ms, so the totals have a
 * known floor; the checks allow for ticks of rounding. */
#include "common.h"
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/times.h>
#include <sys/wait.h>
#include <time.h>

#define BURN_MS 200

static void burn(void) {
	struct timespec ts;
	do {
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	} while (ts.tv_sec * 1000 + ts.tv_nsec / 1000000 < BURN_MS);
}

static void *burner(void *arg) {
	burn();
	return NULL;
}

static long ms(struct timeval tv) { return tv.tv_sec * 1000 + tv.tv_usec / 1000; }

static const char *atleast(long got, long floor) { return got >= floor ? "ok" : "TOO LOW"; }

int main(void) {
	init_output();
	struct rusage ru;
	const long floor = BURN_MS * 8 / 10;

	/* A thread burns and exits: its time stays with the process. */
	pthread_t th;
	pthread_create(&th, NULL, burner, NULL);
	pthread_join(th, NULL);
	getrusage(RUSAGE_SELF, &ru);
	printf("self after an exited thread: %s\n", atleast(ms(ru.ru_utime) + ms(ru.ru_stime), floor));
	getrusage(RUSAGE_THREAD, &ru);
	printf("this thread alone: %s\n", ms(ru.ru_utime) + ms(ru.ru_stime) < floor ? "ok" : "TOO HIGH");

	/* A child burns; wait4 reports its time and the parent's children's
	 * time grows by it. */
	getrusage(RUSAGE_CHILDREN, &ru);
	printf("children before = %s\n", ms(ru.ru_utime) + ms(ru.ru_stime) < floor ? "ok" : "TOO HIGH");
	pid_t pid = fork();
	if (pid == 0) {
		burn();
		_exit(0);
	}
	int st;
	if (wait4(pid, &st, 0, &ru) != pid)
		die("wait4");
	printf("wait4 rusage of the child: %s\n", atleast(ms(ru.ru_utime) + ms(ru.ru_stime), floor));
	getrusage(RUSAGE_CHILDREN, &ru);
	printf("children after wait4: %s\n", atleast(ms(ru.ru_utime) + ms(ru.ru_stime), floor));

	/* A grandchild's time reaches us through the child that waited for it
	 * (times' tms_cutime below); waitid leaves si_utime and si_stime zero
	 * on Linux. */
	pid = fork();
	if (pid == 0) {
		pid_t g = fork();
		if (g == 0) {
			burn();
			_exit(0);
		}
		waitpid(g, NULL, 0);
		_exit(0);
	}
	siginfo_t si;
	memset(&si, 0, sizeof si);
	if (waitid(P_PID, pid, &si, WEXITED))
		die("waitid");
	long ticks = sysconf(_SC_CLK_TCK);
	printf("waitid si_utime, si_stime: %s\n", si.si_utime == 0 && si.si_stime == 0 ? "zero" : "set");
	struct tms t;
	times(&t);
	printf("times: self %s, children %s\n", atleast((t.tms_utime + t.tms_stime) * 1000 / ticks, floor),
	       atleast((t.tms_cutime + t.tms_cstime) * 1000 / ticks, 2 * floor));

	/* A child nobody waits for (SIGCHLD ignored) is not counted. */
	getrusage(RUSAGE_CHILDREN, &ru);
	long before = ms(ru.ru_utime) + ms(ru.ru_stime);
	signal(SIGCHLD, SIG_IGN);
	pid = fork();
	if (pid == 0) {
		burn();
		_exit(0);
	}
	while (waitpid(pid, NULL, 0) != -1 || errno == EINTR)
		;
	getrusage(RUSAGE_CHILDREN, &ru);
	printf("auto-reaped child not counted: %s\n", ms(ru.ru_utime) + ms(ru.ru_stime) - before < floor ? "ok" : "COUNTED");
	return 0;
}
