/* timer_posix.c: POSIX timers (timer_create/settime/gettime/getoverrun/
 * delete) with SIGEV_SIGNAL, SIGEV_THREAD_ID and SIGEV_NONE.
 *
 * Usage: timer_posix CASE. Only coarse, timing-independent facts are
 * printed (at least N deliveries, si_code, si_value, ranges). A loaded
 * machine may deschedule the program for tens of milliseconds between any
 * two calls: counts are bounded by the time measured around them, and
 * "not yet expired" is checked on timers armed seconds ahead.
 */
#include "common.h"
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>

static volatile sig_atomic_t count, overruns, last_code, last_value, last_timerid, bad_code;

static void on_timer(int sig, siginfo_t *si, void *uc) {
	(void)sig;
	(void)uc;
	count++;
	overruns += si->si_overrun;
	last_code = si->si_code;
	last_value = si->si_value.sival_int;
	last_timerid = si->si_timerid;
	if (si->si_code != SI_TIMER)
		bad_code++;
}

static long long now_ns(clockid_t c) {
	struct timespec ts;
	clock_gettime(c, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* sleep_ms sleeps ms milliseconds of CLOCK_MONOTONIC across signals. */
static void sleep_ms(int ms) {
	long long end = now_ns(CLOCK_MONOTONIC) + ms * 1000000LL;
	struct timespec ts = {end / 1000000000LL, end % 1000000000LL};
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static timer_t make_timer(clockid_t c, int notify, int sig, int value) {
	struct sigevent sev;
	memset(&sev, 0, sizeof sev);
	sev.sigev_notify = notify;
	sev.sigev_signo = sig;
	sev.sigev_value.sival_int = value;
	timer_t id;
	if (timer_create(c, &sev, &id) != 0)
		die("timer_create");
	return id;
}

static void arm(timer_t id, int flags, long long value_ns, long long interval_ns) {
	struct itimerspec its = {{interval_ns / 1000000000LL, interval_ns % 1000000000LL},
				 {value_ns / 1000000000LL, value_ns % 1000000000LL}};
	if (timer_settime(id, flags, &its, NULL) != 0)
		die("timer_settime");
}

static void handler(int sig) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_timer;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigaction(sig, &sa, NULL);
}

static void case_signal(void) {
	handler(SIGUSR1);
	timer_t id = make_timer(CLOCK_MONOTONIC, SIGEV_SIGNAL, SIGUSR1, 42);
	long long start = now_ns(CLOCK_MONOTONIC);
	arm(id, 0, 10000000, 10000000);
	sleep_ms(105);
	timer_delete(id);
	long long el = now_ns(CLOCK_MONOTONIC) - start;
	int n = count;
	/* Expirations while a signal is pending are overruns, not deliveries. */
	yesno("at least 5 expirations in 100ms", n + overruns >= 5);
	yesno("no more expirations than periods elapsed", n + overruns <= el / 10000000 + 1);
	yesno("si_code is SI_TIMER", last_code == SI_TIMER && bad_code == 0);
	report("si_value", last_value);
	yesno("si_timerid is the timer's id", last_timerid == (int)(intptr_t)id);
	sleep_ms(30);
	yesno("no delivery after timer_delete", count == n);
}

static void case_realtime(void) {
	handler(SIGRTMIN);
	timer_t id = make_timer(CLOCK_REALTIME, SIGEV_SIGNAL, SIGRTMIN, 7);
	arm(id, 0, 20000000, 0);
	sleep_ms(60);
	report("one-shot deliveries", count);
	report("si_value", last_value);
	timer_t b = make_timer(CLOCK_BOOTTIME, SIGEV_SIGNAL, SIGRTMIN, 8);
	arm(b, 0, 5000000, 0);
	sleep_ms(40);
	report("boottime deliveries", count);
	report("si_value", last_value);
	timer_delete(id);
	timer_delete(b);
}

static void case_gettime(void) {
	timer_t id = make_timer(CLOCK_MONOTONIC, SIGEV_SIGNAL, SIGUSR1, 1);
	struct itimerspec cur, old;
	timer_gettime(id, &cur);
	yesno("new timer disarmed", cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec == 0);
	struct itimerspec its = {{0, 250000000}, {2, 0}};
	report("settime", timer_settime(id, 0, &its, NULL));
	timer_gettime(id, &cur);
	long long v = cur.it_value.tv_sec * 1000000000LL + cur.it_value.tv_nsec;
	yesno("value in (1.8s, 2s]", v > 1800000000LL && v <= 2000000000LL);
	yesno("interval 250ms", cur.it_interval.tv_sec == 0 && cur.it_interval.tv_nsec == 250000000);
	struct itimerspec zero = {{0, 0}, {0, 0}};
	report("disarm", timer_settime(id, 0, &zero, &old));
	long long ov = old.it_value.tv_sec * 1000000000LL + old.it_value.tv_nsec;
	yesno("old value in (1.8s, 2s]", ov > 1800000000LL && ov <= 2000000000LL);
	yesno("old interval 250ms", old.it_interval.tv_nsec == 250000000);
	timer_gettime(id, &cur);
	yesno("disarmed", cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec == 0);
	report("timer_getoverrun", timer_getoverrun(id));
	report("timer_delete", timer_delete(id));
	report("timer_delete again", timer_delete(id));
	report("timer_settime deleted", timer_settime(id, 0, &its, NULL));
	report("timer_gettime deleted", timer_gettime(id, &cur));
	report("timer_getoverrun deleted", timer_getoverrun(id));
}

static void case_abstime(void) {
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	sigprocmask(SIG_BLOCK, &set, NULL);
	timer_t id = make_timer(CLOCK_MONOTONIC, SIGEV_SIGNAL, SIGUSR2, 5);
	long long start = now_ns(CLOCK_MONOTONIC);
	arm(id, TIMER_ABSTIME, start + 30000000LL, 0);
	siginfo_t si;
	int sig = sigwaitinfo(&set, &si);
	long long el = now_ns(CLOCK_MONOTONIC) - start;
	yesno("sigwaitinfo got SIGUSR2", sig == SIGUSR2);
	yesno("si_code SI_TIMER", si.si_code == SI_TIMER);
	report("si_value", si.si_value.sival_int);
	yesno("waited at least 30ms", el >= 30000000LL);
	/* An absolute time in the past expires at once. */
	arm(id, TIMER_ABSTIME, 1, 0);
	sig = sigwaitinfo(&set, &si);
	yesno("past absolute time expires", sig == SIGUSR2);
	/* CLOCK_REALTIME absolute. */
	timer_t r = make_timer(CLOCK_REALTIME, SIGEV_SIGNAL, SIGUSR2, 6);
	arm(r, TIMER_ABSTIME, now_ns(CLOCK_REALTIME) + 20000000LL, 0);
	sig = sigwaitinfo(&set, &si);
	report("realtime abs si_value", si.si_value.sival_int);
}

static void case_overrun(void) {
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	timer_t id = make_timer(CLOCK_MONOTONIC, SIGEV_SIGNAL, SIGUSR1, 3);
	long long start = now_ns(CLOCK_MONOTONIC);
	arm(id, 0, 5000000, 5000000);
	sleep_ms(60);
	siginfo_t si;
	sigwaitinfo(&set, &si);
	long long el = now_ns(CLOCK_MONOTONIC) - start;
	yesno("si_overrun >= 5", si.si_overrun >= 5);
	yesno("si_overrun below the periods elapsed", si.si_overrun <= el / 5000000);
	int ov = timer_getoverrun(id);
	yesno("timer_getoverrun == si_overrun", ov == si.si_overrun);
	struct itimerspec zero = {{0, 0}, {0, 0}};
	timer_settime(id, 0, &zero, NULL);
	report("overrun after settime", timer_getoverrun(id));
	timer_delete(id);
}

static void case_none(void) {
	timer_t id = make_timer(CLOCK_MONOTONIC, SIGEV_NONE, 0, 0);
	arm(id, 0, 10000000000LL, 0);
	struct itimerspec cur;
	timer_gettime(id, &cur);
	yesno("armed", cur.it_value.tv_sec > 0 || cur.it_value.tv_nsec > 0);
	arm(id, 0, 40000000, 0);
	sleep_ms(60);
	timer_gettime(id, &cur);
	yesno("expired", cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec == 0);
	arm(id, 0, 10000000, 20000000);
	sleep_ms(35);
	timer_gettime(id, &cur);
	yesno("periodic still armed", cur.it_value.tv_nsec > 0 && cur.it_value.tv_nsec <= 20000000);
	report("timer_delete", timer_delete(id));
}

static volatile int thread_tid;
static volatile int thread_got, thread_code, thread_value;

static void *waiter(void *arg) {
	(void)arg;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	thread_tid = syscall(SYS_gettid);
	siginfo_t si;
	if (sigwaitinfo(&set, &si) == SIGUSR2) {
		thread_got = 1;
		thread_code = si.si_code;
		thread_value = si.si_value.sival_int;
	}
	return NULL;
}

static void case_threadid(void) {
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	sigprocmask(SIG_BLOCK, &set, NULL);
	pthread_t th;
	pthread_create(&th, NULL, waiter, NULL);
	while (!thread_tid)
		sched_yield();
	struct sigevent sev;
	memset(&sev, 0, sizeof sev);
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = SIGUSR2;
	sev.sigev_value.sival_int = 99;
	sev._sigev_un._tid = thread_tid;
	timer_t id;
	report("timer_create SIGEV_THREAD_ID", timer_create(CLOCK_MONOTONIC, &sev, &id));
	arm(id, 0, 20000000, 0);
	pthread_join(th, NULL);
	yesno("the target thread got it", thread_got);
	yesno("si_code SI_TIMER", thread_code == SI_TIMER);
	report("si_value", thread_value);
	sigset_t pend;
	sigpending(&pend);
	yesno("nothing pending in the main thread", !sigismember(&pend, SIGUSR2));
	/* A thread of another process, or no thread: EINVAL. */
	sev._sigev_un._tid = 0x3fffffff;
	report("timer_create bad tid", timer_create(CLOCK_MONOTONIC, &sev, &id));
}

static void case_errors(void) {
	timer_t id;
	struct sigevent sev;
	memset(&sev, 0, sizeof sev);
	sev.sigev_notify = 77;
	sev.sigev_signo = SIGUSR1;
	report("bad sigev_notify", timer_create(CLOCK_MONOTONIC, &sev, &id));
	sev.sigev_notify = SIGEV_SIGNAL;
	sev.sigev_signo = 0;
	report("signal 0", timer_create(CLOCK_MONOTONIC, &sev, &id));
	sev.sigev_signo = 200;
	report("signal 200", timer_create(CLOCK_MONOTONIC, &sev, &id));
	sev.sigev_signo = SIGUSR1;
	report("bad clock", timer_create(12345, &sev, &id));
	report("CLOCK_MONOTONIC_RAW", timer_create(CLOCK_MONOTONIC_RAW, &sev, &id));
	report("good", timer_create(CLOCK_MONOTONIC, &sev, &id));
	struct itimerspec bad = {{0, 0}, {0, 1000000000}};
	report("bad nsec", timer_settime(id, 0, &bad, NULL));
	struct itimerspec neg = {{0, 0}, {-1, 0}};
	report("negative", timer_settime(id, 0, &neg, NULL));
	/* Default sigevent: SIGALRM with the id as value. */
	report("NULL sevp", timer_create(CLOCK_MONOTONIC, NULL, &id));
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGALRM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	arm(id, 0, 1000000, 0);
	siginfo_t si;
	int sig = sigwaitinfo(&set, &si);
	yesno("default is SIGALRM", sig == SIGALRM);
}

static void case_fork(void) {
	timer_t id = make_timer(CLOCK_MONOTONIC, SIGEV_SIGNAL, SIGUSR1, 1);
	struct itimerspec cur;
	pid_t pid = fork();
	if (pid == 0) {
		int r = timer_gettime(id, &cur);
		_exit(r == -1 && errno == EINVAL ? 0 : 1);
	}
	int st;
	waitpid(pid, &st, 0);
	yesno("child has no timers", WIFEXITED(st) && WEXITSTATUS(st) == 0);
	report("parent still has it", timer_gettime(id, &cur));
}

/* case_exec: a periodic SIGUSR1 timer (whose default action kills) does
 * not survive execve; the new image has no timers. */
static void case_exec(const char *self) {
	handler(SIGUSR1);
	timer_t id = make_timer(CLOCK_MONOTONIC, SIGEV_SIGNAL, SIGUSR1, 1);
	arm(id, 0, 5000000, 5000000);
	sleep_ms(20);
	yesno("delivered before exec", count > 0);
	execl(self, self, "after-exec", (char *)NULL);
	die("execl");
}

static void case_after_exec(void) {
	sleep_ms(50);
	struct itimerspec cur;
	printf("survived 50ms after exec\n");
	report("timer_gettime(0) after exec", timer_gettime((timer_t)0, &cur));
}

static volatile sig_atomic_t vt_count, prof_count, it_code;

static void on_itimer(int sig, siginfo_t *si, void *uc) {
	(void)uc;
	if (sig == SIGVTALRM)
		vt_count++;
	else
		prof_count++;
	it_code = si->si_code;
}

/* spin_ms burns ms milliseconds of CPU time in user mode. */
static void spin_ms(int ms) {
	long long end = now_ns(CLOCK_THREAD_CPUTIME_ID) + ms * 1000000LL;
	volatile unsigned long x = 0;
	while (now_ns(CLOCK_THREAD_CPUTIME_ID) < end)
		for (int i = 0; i < 10000; i++)
			x += i;
}

/* case_itimer: ITIMER_VIRTUAL and ITIMER_PROF count CPU time, not wall
 * time. */
static void case_itimer(void) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_itimer;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigaction(SIGVTALRM, &sa, NULL);
	sigaction(SIGPROF, &sa, NULL);
	struct itimerval it = {{0, 20000}, {0, 20000}}, cur;
	long long cpu0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
	report("setitimer ITIMER_VIRTUAL", setitimer(ITIMER_VIRTUAL, &it, NULL));
	getitimer(ITIMER_VIRTUAL, &cur);
	/* Linux adds a tick to the first expiry. */
	yesno("virtual value in (0, 25ms]", cur.it_value.tv_sec == 0 && cur.it_value.tv_usec > 0 && cur.it_value.tv_usec <= 25000);
	yesno("virtual interval 20ms", cur.it_interval.tv_usec == 20000);
	sleep_ms(100);
	report("SIGVTALRM while sleeping 100ms", vt_count);
	/* The kernel charges CPU time to the itimers by its own accounting,
	 * which on a loaded (or virtual) machine lags the thread's CPU clock:
	 * spin until 5 signals came or 2 s of CPU went by, and bound the count
	 * by the CPU time spent since the timer was armed. */
	for (int i = 0; i < 100 && vt_count < 5; i++)
		spin_ms(20);
	long long spun = now_ns(CLOCK_THREAD_CPUTIME_ID) - cpu0;
	int v = vt_count;
	yesno("at least 5 SIGVTALRM within 2s of CPU", v >= 5);
	yesno("at most one SIGVTALRM per 20ms of CPU", v <= spun / 20000000 + 1);
	yesno("si_code SI_KERNEL", it_code == SI_KERNEL);
	struct itimerval zero = {{0, 0}, {0, 0}}, old;
	setitimer(ITIMER_VIRTUAL, &zero, &old);
	yesno("old interval 20ms", old.it_interval.tv_usec == 20000);
	getitimer(ITIMER_VIRTUAL, &cur);
	yesno("virtual disarmed", cur.it_value.tv_sec == 0 && cur.it_value.tv_usec == 0);

	struct itimerval once = {{0, 0}, {0, 30000}};
	report("setitimer ITIMER_PROF", setitimer(ITIMER_PROF, &once, NULL));
	for (int i = 0; i < 100 && prof_count == 0; i++)
		spin_ms(20);
	spin_ms(40);
	report("SIGPROF one-shot", prof_count);
	getitimer(ITIMER_PROF, &cur);
	yesno("prof disarmed after firing", cur.it_value.tv_sec == 0 && cur.it_value.tv_usec == 0);
	report("setitimer bad which", setitimer(5, &once, NULL));
	struct itimerval bad = {{0, 0}, {0, 1000000}};
	report("setitimer bad usec", setitimer(ITIMER_PROF, &bad, NULL));
}

int main(int argc, char **argv) {
	init_output();
	if (argc < 2)
		return 2;
	const char *c = argv[1];
	if (!strcmp(c, "itimer"))
		case_itimer();
	else if (!strcmp(c, "exec"))
		case_exec(argv[0]);
	else if (!strcmp(c, "after-exec"))
		case_after_exec();
	else
	if (!strcmp(c, "signal"))
		case_signal();
	else if (!strcmp(c, "realtime"))
		case_realtime();
	else if (!strcmp(c, "gettime"))
		case_gettime();
	else if (!strcmp(c, "abstime"))
		case_abstime();
	else if (!strcmp(c, "overrun"))
		case_overrun();
	else if (!strcmp(c, "none"))
		case_none();
	else if (!strcmp(c, "threadid"))
		case_threadid();
	else if (!strcmp(c, "errors"))
		case_errors();
	else if (!strcmp(c, "fork"))
		case_fork();
	else
		return 2;
	return 0;
}
