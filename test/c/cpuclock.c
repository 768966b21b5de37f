/* cpuclock.c: CPU-time clocks (clock_gettime/getres on the thread's, the
 * process's and other processes' clocks), POSIX timers and clock_nanosleep
 * on them, RLIMIT_CPU (SIGXCPU, then SIGKILL at the hard limit), and the
 * calls that would set the clock (clock_settime, settimeofday, adjtimex,
 * clock_adjtime: EPERM without CAP_SYS_TIME, which this program drops
 * first so that it can never set the host's clock natively).
 *
 * Usage: cpuclock CASE. Only facts that hold however loaded the machine
 * is are printed: counts are bounded by the CPU time actually spent. */
#include "common.h"
#include <linux/capability.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/timex.h>
#include <sys/wait.h>
#include <time.h>

static long long ns_of(clockid_t c) {
	struct timespec ts;
	if (clock_gettime(c, &ts) != 0)
		return -1;
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* spin burns ms milliseconds of the calling thread's CPU time. */
static void spin(int ms) {
	long long end = ns_of(CLOCK_THREAD_CPUTIME_ID) + ms * 1000000LL;
	volatile unsigned long x = 0;
	while (ns_of(CLOCK_THREAD_CPUTIME_ID) < end)
		for (int i = 0; i < 10000; i++)
			x += i;
}

static volatile sig_atomic_t got, got_code;

static void on_sig(int sig, siginfo_t *si, void *uc) {
	(void)sig;
	(void)uc;
	got++;
	got_code = si->si_code;
}

static void handle(int sig) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_sig;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigaction(sig, &sa, NULL);
}

static void *spinner(void *arg) {
	spin((int)(intptr_t)arg);
	return NULL;
}

static void case_clocks(void) {
	clockid_t tc, pc;
	report("pthread_getcpuclockid", pthread_getcpuclockid(pthread_self(), &tc));
	report("clock_getcpuclockid(self)", clock_getcpuclockid(getpid(), &pc));
	long long t0 = ns_of(tc), p0 = ns_of(pc);
	yesno("thread clock readable", t0 >= 0);
	yesno("process clock readable", p0 >= 0);
	spin(30);
	yesno("thread clock advanced by the 30ms spun", ns_of(tc) - t0 >= 30000000LL);
	yesno("thread clock agrees with CLOCK_THREAD_CPUTIME_ID",
	      llabs(ns_of(tc) - ns_of(CLOCK_THREAD_CPUTIME_ID)) < 20000000LL);
	struct timespec res;
	report("clock_getres(thread clock)", clock_getres(tc, &res));
	printf("thread clock resolution %ld ns\n", res.tv_nsec);
	report("clock_getres(process clock)", clock_getres(pc, &res));
	printf("process clock resolution %ld ns\n", res.tv_nsec);

	/* A thread that spun and exited still counts in the process's time. */
	long long before = ns_of(CLOCK_PROCESS_CPUTIME_ID);
	pthread_t th;
	pthread_create(&th, NULL, spinner, (void *)(intptr_t)50);
	pthread_join(th, NULL);
	yesno("process clock keeps an exited thread's 50ms", ns_of(CLOCK_PROCESS_CPUTIME_ID) - before >= 50000000LL);

	/* Another process's clock. */
	int p[2];
	pipe(p);
	pid_t kid = fork();
	if (kid == 0) {
		spin(30);
		write(p[1], "x", 1);
		pause();
		_exit(0);
	}
	char c;
	read(p[0], &c, 1);
	clockid_t kc;
	report("clock_getcpuclockid(child)", clock_getcpuclockid(kid, &kc));
	yesno("child's clock shows its 30ms", ns_of(kc) >= 30000000LL);
	kill(kid, SIGKILL);
	waitpid(kid, NULL, 0);
	printf("clock_getcpuclockid(reaped child) = %s\n", errname(clock_getcpuclockid(kid, &kc)));
	printf("pthread_getcpuclockid's thread clock of another process = %s\n",
	       ns_of(((~(clockid_t)kid) << 3) | 4 | 2) < 0 ? errname(errno) : "readable");
	printf("clock id with the dynamic-clock bits = %s\n", ns_of(-1) < 0 ? errname(errno) : "readable");
	printf("process clock of no process = %s\n", ns_of(((~(clockid_t)0x3ffff0) << 3) | 2) < 0 ? errname(errno) : "readable");
}

static void case_timers(void) {
	handle(SIGUSR1);
	struct sigevent sev;
	memset(&sev, 0, sizeof sev);
	sev.sigev_notify = SIGEV_SIGNAL;
	sev.sigev_signo = SIGUSR1;
	timer_t id;
	report("timer_create(CLOCK_PROCESS_CPUTIME_ID)", timer_create(CLOCK_PROCESS_CPUTIME_ID, &sev, &id));
	struct itimerspec its = {{0, 0}, {0, 30000000}}, cur;
	long long start = ns_of(CLOCK_PROCESS_CPUTIME_ID);
	report("arm one-shot 30ms of CPU", timer_settime(id, 0, &its, NULL));
	timer_gettime(id, &cur);
	yesno("armed value within 30ms", cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec > 0 && cur.it_value.tv_nsec <= 30000000);
	for (int i = 0; i < 200 && got == 0; i++)
		spin(10);
	yesno("fired after at least 30ms of CPU", got == 1 && ns_of(CLOCK_PROCESS_CPUTIME_ID) - start >= 30000000LL);
	yesno("si_code SI_TIMER", got_code == SI_TIMER);
	timer_gettime(id, &cur);
	yesno("disarmed after firing", cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec == 0);

	/* Periodic: expirations bounded by the CPU time spent. */
	got = 0;
	struct itimerspec per = {{0, 10000000}, {0, 10000000}};
	start = ns_of(CLOCK_PROCESS_CPUTIME_ID);
	timer_settime(id, 0, &per, NULL);
	for (int i = 0; i < 200 && got < 5; i++)
		spin(10);
	long long spent = ns_of(CLOCK_PROCESS_CPUTIME_ID) - start;
	int n = got + timer_getoverrun(id);
	yesno("periodic: at least 5 expirations within 2s of CPU", got >= 5);
	yesno("periodic: no more than one per 10ms of CPU", n <= spent / 10000000 + 1);
	report("timer_delete", timer_delete(id));

	/* A thread clock does not advance while the thread sleeps. */
	got = 0;
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev._sigev_un._tid = syscall(SYS_gettid);
	report("timer_create(CLOCK_THREAD_CPUTIME_ID, SIGEV_THREAD_ID)", timer_create(CLOCK_THREAD_CPUTIME_ID, &sev, &id));
	its.it_value.tv_nsec = 20000000;
	timer_settime(id, 0, &its, NULL);
	struct timespec nap = {0, 60000000};
	nanosleep(&nap, NULL);
	yesno("no expiry while sleeping 60ms", got == 0);
	for (int i = 0; i < 200 && got == 0; i++)
		spin(10);
	yesno("expired once the thread spun", got == 1);
	timer_delete(id);

	/* SIGEV_NONE: nobody is told, timer_gettime shows the state. */
	sev.sigev_notify = SIGEV_NONE;
	report("timer_create(SIGEV_NONE)", timer_create(CLOCK_THREAD_CPUTIME_ID, &sev, &id));
	its.it_value.tv_nsec = 20000000;
	timer_settime(id, 0, &its, NULL);
	spin(40);
	timer_gettime(id, &cur);
	yesno("SIGEV_NONE timer expired", cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec == 0);
	timer_delete(id);
}

static void case_nanosleep(void) {
	struct timespec d = {0, 20000000};
	printf("clock_nanosleep(CLOCK_THREAD_CPUTIME_ID) = %s\n", errname(clock_nanosleep(CLOCK_THREAD_CPUTIME_ID, 0, &d, NULL)));
	/* The process's clock advances while another thread spins. */
	pthread_t th;
	long long start = ns_of(CLOCK_PROCESS_CPUTIME_ID);
	pthread_create(&th, NULL, spinner, (void *)(intptr_t)300);
	d.tv_nsec = 50000000;
	int r = clock_nanosleep(CLOCK_PROCESS_CPUTIME_ID, 0, &d, NULL);
	printf("clock_nanosleep(CLOCK_PROCESS_CPUTIME_ID, 50ms) = %d\n", r);
	yesno("woke after the process used 50ms", ns_of(CLOCK_PROCESS_CPUTIME_ID) - start >= 50000000LL);
	pthread_join(th, NULL);
}

static void on_xcpu(int sig) {
	(void)sig;
	struct rlimit rl;
	getrlimit(RLIMIT_CPU, &rl);
	char line[64];
	int n = snprintf(line, sizeof line, "SIGXCPU; soft limit now %lu\n", (unsigned long)rl.rlim_cur);
	write(1, line, n);
}

static void case_rlimit(void) {
	for (int handler = 0; handler < 2; handler++) {
		pid_t kid = fork();
		if (kid == 0) {
			if (handler)
				signal(SIGXCPU, on_xcpu);
			struct rlimit rl = {1, handler ? 2 : RLIM_INFINITY};
			if (setrlimit(RLIMIT_CPU, &rl) != 0)
				die("setrlimit");
			spin(10000);
			printf("still running after 10s of CPU (wrong)\n");
			_exit(0);
		}
		int st;
		waitpid(kid, &st, 0);
		if (WIFSIGNALED(st))
			printf("%s: child killed by %s\n", handler ? "soft 1s hard 2s, SIGXCPU caught" : "soft 1s, no handler",
			       sigabbrev_np(WTERMSIG(st)));
		else
			printf("child exited %d\n", WEXITSTATUS(st));
	}
}

static int drop_sys_time(void) {
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d) != 0)
		return 0;
	d[0].effective &= ~(1u << CAP_SYS_TIME);
	d[0].permitted &= ~(1u << CAP_SYS_TIME);
	d[0].inheritable &= ~(1u << CAP_SYS_TIME);
	if (syscall(SYS_capset, &h, d) != 0)
		return 0;
	if (syscall(SYS_capget, &h, d) != 0)
		return 0;
	return !(d[0].effective & (1u << CAP_SYS_TIME));
}

static void case_settime(void) {
	if (!drop_sys_time()) {
		printf("could not drop CAP_SYS_TIME: not trying to set the clock\n");
		return;
	}
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	report("clock_settime(CLOCK_REALTIME, now)", syscall(SYS_clock_settime, CLOCK_REALTIME, &now));
	struct timespec bad = {now.tv_sec, 1000000000};
	report("clock_settime(CLOCK_REALTIME, bad nsec)", syscall(SYS_clock_settime, CLOCK_REALTIME, &bad));
	report("clock_settime(CLOCK_REALTIME, bad pointer)", syscall(SYS_clock_settime, CLOCK_REALTIME, (void *)8));
	report("clock_settime(CLOCK_MONOTONIC)", syscall(SYS_clock_settime, CLOCK_MONOTONIC, &now));
	report("clock_settime(CLOCK_BOOTTIME)", syscall(SYS_clock_settime, CLOCK_BOOTTIME, &now));
	report("clock_settime(CLOCK_PROCESS_CPUTIME_ID)", syscall(SYS_clock_settime, CLOCK_PROCESS_CPUTIME_ID, &now));
	report("clock_settime(12345)", syscall(SYS_clock_settime, 12345, &now));
	clockid_t pc;
	clock_getcpuclockid(getpid(), &pc);
	report("clock_settime(clock_getcpuclockid(self))", syscall(SYS_clock_settime, pc, &now));
	struct timeval tv = {now.tv_sec, 0};
	report("settimeofday(now)", settimeofday(&tv, NULL));
	report("settimeofday(NULL, NULL)", syscall(SYS_settimeofday, NULL, NULL));
	tv.tv_usec = 1000001;
	report("settimeofday(bad usec)", settimeofday(&tv, NULL));
	struct timex tx;
	memset(&tx, 0, sizeof tx);
	yesno("adjtimex query succeeds", adjtimex(&tx) >= 0);
	yesno("adjtimex reports the time", tx.time.tv_sec >= now.tv_sec);
	memset(&tx, 0, sizeof tx);
	tx.modes = ADJ_OFFSET_SS_READ;
	yesno("adjtimex ADJ_OFFSET_SS_READ succeeds", adjtimex(&tx) >= 0);
	memset(&tx, 0, sizeof tx);
	tx.modes = ADJ_FREQUENCY;
	report("adjtimex ADJ_FREQUENCY", adjtimex(&tx));
	tx.modes = 0x8000;
	report("adjtimex ADJ_ADJTIME without SINGLESHOT", adjtimex(&tx));
	report("adjtimex bad pointer", adjtimex((struct timex *)8));
	memset(&tx, 0, sizeof tx);
	report("clock_adjtime(CLOCK_MONOTONIC)", syscall(SYS_clock_adjtime, CLOCK_MONOTONIC, &tx));
	report("clock_adjtime(CLOCK_PROCESS_CPUTIME_ID)", syscall(SYS_clock_adjtime, CLOCK_PROCESS_CPUTIME_ID, &tx));
	report("clock_adjtime(12345)", syscall(SYS_clock_adjtime, 12345, &tx));
}

int main(int argc, char **argv) {
	init_output();
	if (argc < 2)
		return 2;
	const char *c = argv[1];
	if (!strcmp(c, "clocks"))
		case_clocks();
	else if (!strcmp(c, "timers"))
		case_timers();
	else if (!strcmp(c, "nanosleep"))
		case_nanosleep();
	else if (!strcmp(c, "rlimit"))
		case_rlimit();
	else if (!strcmp(c, "settime"))
		case_settime();
	else
		return 2;
	return 0;
}
