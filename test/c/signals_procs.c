/* signals_procs.c: signals between processes and threads.
 *
 * Usage: signals_procs CASE.
 *
 *   jobctl     SIGSTOP/SIGCONT of a child: waitpid WUNTRACED/WCONTINUED,
 *              SIGCHLD with CLD_STOPPED/CLD_CONTINUED, SA_NOCLDSTOP,
 *              SIGTERM (acted on once continued) and SIGKILL of a
 *              stopped child
 *   groups     kill(0), kill(-pgid), kill(-1) from a child
 *   sigpipe    a write to a pipe without readers: killed by SIGPIPE, or
 *              EPIPE when SIGPIPE is ignored
 *   default    default actions seen by a parent: terminate, ignore (SIGCHLD,
 *              SIGURG, SIGWINCH), core (status only)
 *   threads    pthread_kill reaches the chosen thread; a process-directed
 *              signal goes to the one thread that does not block it
 *   exec       execve resets handlers, keeps ignored signals and the mask;
 *              fork keeps handlers and mask but not pending signals
 *   execcheck  (run by exec) prints what it inherited
 */
#include "common.h"

#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

static void msleep(int ms) {
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static volatile int chld_codes[16], nchld;

static void on_chld(int sig, siginfo_t *si, void *uc) {
	(void)sig;
	(void)uc;
	if (nchld < 16)
		chld_codes[nchld++] = si->si_code;
}

static const char *cldname(int code) {
	switch (code) {
	case CLD_EXITED:
		return "CLD_EXITED";
	case CLD_KILLED:
		return "CLD_KILLED";
	case CLD_DUMPED:
		return "CLD_DUMPED";
	case CLD_STOPPED:
		return "CLD_STOPPED";
	case CLD_CONTINUED:
		return "CLD_CONTINUED";
	}
	return "other";
}

static void describe(const char *label, int st) {
	if (WIFEXITED(st))
		printf("%s: exited %d\n", label, WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		printf("%s: killed by %d\n", label, WTERMSIG(st));
	else if (WIFSTOPPED(st))
		printf("%s: stopped by %d\n", label, WSTOPSIG(st));
	else if (WIFCONTINUED(st))
		printf("%s: continued\n", label);
	else
		printf("%s: status %#x\n", label, st);
}

static void *spin(void *arg) {
	(void)arg;
	for (;;)
		msleep(10);
	return NULL;
}

/* wait_chld waits until n SIGCHLDs were handled (only 200 ms when none
 * are expected), so that none is coalesced with the next. */
static void wait_chld(int n, int none_expected) {
	for (int i = 0; i < (none_expected ? 40 : 400) && nchld < n; i++)
		msleep(5);
}

static pid_t sleeper(void) {
	pid_t c = fork();
	if (c == 0) {
		for (;;)
			pause();
	}
	return c;
}

static void case_jobctl(int nocldstop) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_chld;
	sa.sa_flags = SA_SIGINFO | SA_RESTART | (nocldstop ? SA_NOCLDSTOP : 0);
	sigaction(SIGCHLD, &sa, NULL);
	nchld = 0;
	pid_t c = sleeper();
	int st;
	msleep(50);
	report("kill SIGSTOP", kill(c, SIGSTOP));
	report("waitpid WUNTRACED", waitpid(c, &st, WUNTRACED) == c);
	describe("child", st);
	report("waitpid WNOHANG|WUNTRACED again", waitpid(c, &st, WNOHANG | WUNTRACED));
	wait_chld(1, nocldstop);
	report("kill SIGCONT", kill(c, SIGCONT));
	report("waitpid WCONTINUED", waitpid(c, &st, WCONTINUED) == c);
	describe("child", st);
	wait_chld(2, nocldstop);
	printf("SIGCHLD codes:");
	for (int i = 0; i < nchld; i++)
		printf(" %s", cldname(chld_codes[i]));
	printf("\n");
	/* A stopped child dies of SIGTERM once continued. */
	kill(c, SIGSTOP);
	waitpid(c, &st, WUNTRACED);
	describe("child", st);
	/* A stopped process does not act on SIGTERM until continued. */
	report("kill SIGTERM (stopped)", kill(c, SIGTERM));
	msleep(100);
	report("waitpid WNOHANG: still stopped", waitpid(c, &st, WNOHANG));
	report("kill SIGCONT", kill(c, SIGCONT));
	report("waitpid", waitpid(c, &st, 0) == c);
	describe("child", st);
	/* SIGKILL of a stopped child. */
	c = sleeper();
	msleep(50);
	kill(c, SIGSTOP);
	waitpid(c, &st, WUNTRACED);
	kill(c, SIGKILL);
	waitpid(c, &st, 0);
	describe("stopped child after SIGKILL", st);
	/* SIGTSTP with a handler does not stop. */
	c = fork();
	if (c == 0) {
		signal(SIGTSTP, SIG_IGN);
		raise(SIGTSTP);
		_exit(5);
	}
	waitpid(c, &st, WUNTRACED);
	describe("child ignoring SIGTSTP", st);
	/* A multi-threaded child stops as a whole. */
	c = fork();
	if (c == 0) {
		pthread_t th;
		pthread_create(&th, NULL, spin, NULL);
		for (;;)
			pause();
	}
	msleep(50);
	kill(c, SIGSTOP);
	waitpid(c, &st, WUNTRACED);
	describe("again", st);
	kill(c, SIGCONT);
	kill(c, SIGKILL);
	waitpid(c, &st, 0);
	describe("again", st);
}

static void case_groups(void) {
	signal(SIGUSR1, SIG_IGN); /* the parent survives kill(0) */
	pid_t a = fork();
	if (a == 0) {
		signal(SIGUSR1, SIG_DFL);
		setpgid(0, 0);
		for (;;)
			pause();
	}
	pid_t b = fork();
	if (b == 0) {
		signal(SIGUSR1, SIG_DFL);
		setpgid(0, a);
		for (;;)
			pause();
	}
	setpgid(a, a);
	setpgid(b, a);
	msleep(50);
	report("kill(-pgid, SIGUSR2)", kill(-a, SIGUSR2));
	int st;
	waitpid(a, &st, 0);
	describe("a", st);
	waitpid(b, &st, 0);
	describe("b", st);
	report("kill(-pgid) of an empty group", kill(-a, SIGUSR2));
	/* kill(0) reaches the caller's group, the caller included. */
	pid_t c = fork();
	if (c == 0) {
		signal(SIGUSR1, SIG_DFL);
		for (;;)
			pause();
	}
	msleep(50);
	report("kill(0, SIGUSR1)", kill(0, SIGUSR1));
	waitpid(c, &st, 0);
	describe("c", st);
}

static void case_sigpipe(void) {
	int p[2];
	if (pipe(p))
		die("pipe");
	close(p[0]);
	pid_t c = fork();
	if (c == 0) {
		ssize_t n = write(p[1], "x", 1);
		printf("child survived: %zd\n", n);
		_exit(0);
	}
	int st;
	waitpid(c, &st, 0);
	describe("writer", st);
	signal(SIGPIPE, SIG_IGN);
	report("write with SIGPIPE ignored", write(p[1], "x", 1));
	/* A handler runs, and write still fails with EPIPE. */
	c = fork();
	if (c == 0) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_sigaction = on_chld; /* counts into chld_codes */
		sa.sa_flags = SA_SIGINFO;
		sigaction(SIGPIPE, &sa, NULL);
		nchld = 0;
		ssize_t n = write(p[1], "x", 1);
		printf("handler ran: %s write = %zd %s\n", nchld == 1 ? "yes" : "no", n, errname(errno));
		_exit(0);
	}
	waitpid(c, &st, 0);
}

static void case_default(void) {
	int sigs[] = {SIGHUP, SIGINT, SIGUSR1, SIGALRM, SIGTERM, SIGQUIT, SIGABRT, SIGCHLD, SIGURG, SIGWINCH, SIGRTMIN + 4};
	for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
		int s = sigs[i];
		pid_t c = fork();
		if (c == 0) {
			raise(s);
			_exit(42);
		}
		int st;
		waitpid(c, &st, 0);
		char label[32];
		snprintf(label, sizeof label, "signal %d", s == SIGRTMIN + 4 ? 100 : s);
		describe(label, st);
	}
}

static volatile long handler_tid;

static void on_usr1(int sig) {
	(void)sig;
	handler_tid = syscall(SYS_gettid);
}

static volatile long worker_tid;
static volatile int stop_worker;

static void *worker(void *arg) {
	(void)arg;
	worker_tid = syscall(SYS_gettid);
	while (!stop_worker)
		msleep(5);
	return NULL;
}

static void case_threads(void) {
	signal(SIGUSR1, on_usr1);
	pthread_t th;
	pthread_create(&th, NULL, worker, NULL);
	while (!worker_tid)
		msleep(1);
	handler_tid = 0;
	pthread_kill(th, SIGUSR1);
	while (!handler_tid)
		msleep(1);
	yesno("pthread_kill: handler ran in the target thread", handler_tid == worker_tid);
	/* Block SIGUSR1 in the main thread: kill() goes to the worker. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	handler_tid = 0;
	kill(getpid(), SIGUSR1);
	while (!handler_tid)
		msleep(1);
	yesno("kill: handler ran in the thread not blocking it", handler_tid == worker_tid);
	stop_worker = 1;
	pthread_join(th, NULL);
	/* Now every thread blocks it: it stays pending for the process. */
	handler_tid = 0;
	kill(getpid(), SIGUSR1);
	msleep(50);
	sigset_t pend;
	sigpending(&pend);
	yesno("pending while blocked", sigismember(&pend, SIGUSR1) && handler_tid == 0);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	yesno("delivered to the main thread on unblock", handler_tid == syscall(SYS_gettid));
}

static void case_exec(const char *self) {
	signal(SIGUSR1, on_usr1);
	signal(SIGUSR2, SIG_IGN);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	raise(SIGHUP); /* pending across fork? no; across exec: yes */
	pid_t c = fork();
	if (c == 0) {
		struct sigaction sa;
		sigaction(SIGUSR1, NULL, &sa);
		sigset_t cur, pend;
		sigprocmask(SIG_BLOCK, NULL, &cur);
		sigpending(&pend);
		printf("fork child: handler kept %s, mask kept %s, pending SIGHUP %s\n", sa.sa_handler == on_usr1 ? "yes" : "no",
		       sigismember(&cur, SIGHUP) ? "yes" : "no", sigismember(&pend, SIGHUP) ? "yes" : "no");
		_exit(0);
	}
	waitpid(c, NULL, 0);
	execl(self, self, "execcheck", (char *)NULL);
	die("execl");
}

static void case_execcheck(void) {
	struct sigaction a1, a2;
	sigaction(SIGUSR1, NULL, &a1);
	sigaction(SIGUSR2, NULL, &a2);
	sigset_t cur, pend;
	sigprocmask(SIG_BLOCK, NULL, &cur);
	sigpending(&pend);
	printf("after exec: SIGUSR1 %s, SIGUSR2 %s, SIGHUP blocked %s, SIGHUP pending %s\n",
	       a1.sa_handler == SIG_DFL ? "default" : "other", a2.sa_handler == SIG_IGN ? "ignored" : "other",
	       sigismember(&cur, SIGHUP) ? "yes" : "no", sigismember(&pend, SIGHUP) ? "yes" : "no");
}

int main(int argc, char **argv) {
	init_output();
	if (argc < 2) {
		fprintf(stderr, "usage: %s CASE\n", argv[0]);
		return 2;
	}
	const char *c = argv[1];
	if (!strcmp(c, "jobctl"))
		case_jobctl(0);
	else if (!strcmp(c, "jobctl-nocldstop"))
		case_jobctl(1);
	else if (!strcmp(c, "groups"))
		case_groups();
	else if (!strcmp(c, "sigpipe"))
		case_sigpipe();
	else if (!strcmp(c, "default"))
		case_default();
	else if (!strcmp(c, "threads"))
		case_threads();
	else if (!strcmp(c, "exec"))
		case_exec(argv[0]);
	else if (!strcmp(c, "execcheck"))
		case_execcheck();
	else {
		fprintf(stderr, "unknown case %s\n", c);
		return 2;
	}
	return 0;
}
