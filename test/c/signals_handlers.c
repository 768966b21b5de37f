/* signals_handlers.c: signal handlers and the syscalls around them.
 *
 * Usage: signals_handlers CASE. Each case prints deterministic lines (no
 * PIDs or addresses: relations only) and exits 0.
 *
 *   siginfo      SA_SIGINFO handlers: si_signo, si_code, si_pid, si_uid,
 *                si_value for kill, tgkill (raise), sigqueue
 *   restart      a read from a pipe interrupted by a signal from a child:
 *                EINTR without SA_RESTART, the data with it
 *   alarm        setitimer/alarm with SIGALRM interrupting a pipe read;
 *                getitimer; alarm's return value
 *   nodefer      SA_NODEFER (nested delivery) vs the default (deferred),
 *                SA_RESETHAND (action back to SIG_DFL)
 *   altstack     sigaltstack with SA_ONSTACK: the handler runs on the
 *                alternate stack, sees SS_ONSTACK, gets EPERM changing it
 *   fpstate      xmm (and ymm) registers and MXCSR survive a handler that
 *                clobbers them; the handler starts with a clean MXCSR
 *   pending      sigprocmask blocks, sigpending reports, unblocking
 *                delivers before sigprocmask returns
 *   suspend      sigsuspend wakes up on a signal from a child and restores
 *                the mask
 *   timedwait    sigtimedwait/sigwaitinfo: a pending signal, a timeout,
 *                a signal from a child, siginfo
 *   errors       EINVAL/EFAULT of the signal syscalls
 *   rt           real-time signals queue, in order; standard ones coalesce
 */
#include "common.h"

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>

/* The SSE rounding mode (MXCSR.RC; libm's fenv is not linked). */
enum { RC_NEAREST = 0, RC_DOWN = 1, RC_UP = 2 };

static int get_round(void) {
	unsigned int m;
	__asm__ volatile("stmxcsr %0" : "=m"(m));
	return (m >> 13) & 3;
}

static void set_round(int rc) {
	unsigned int m;
	__asm__ volatile("stmxcsr %0" : "=m"(m));
	m = (m & ~(3u << 13)) | ((unsigned)rc << 13);
	__asm__ volatile("ldmxcsr %0" ::"m"(m));
}

static volatile sig_atomic_t hits;
static volatile int got_signo, got_code, got_pid_ok, got_uid_ok, got_value;

static void on_info(int sig, siginfo_t *si, void *uc) {
	(void)uc;
	hits++;
	got_signo = si->si_signo;
	got_code = si->si_code;
	got_pid_ok = si->si_pid == getpid();
	got_uid_ok = si->si_uid == getuid();
	got_value = si->si_value.sival_int;
	(void)sig;
}

static void on_plain(int sig) {
	(void)sig;
	hits++;
}

static void install(int sig, void (*h)(int), int flags) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = h;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, NULL))
		die("sigaction");
}

static void install_info(int sig, int flags) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_info;
	sa.sa_flags = SA_SIGINFO | flags;
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, NULL))
		die("sigaction");
}

static const char *codename(int code) {
	switch (code) {
	case SI_USER:
		return "SI_USER";
	case SI_QUEUE:
		return "SI_QUEUE";
	case SI_TKILL:
		return "SI_TKILL";
	case SI_KERNEL:
		return "SI_KERNEL";
	}
	return "other";
}

static void case_siginfo(void) {
	install_info(SIGUSR1, 0);
	hits = 0;
	report("kill", kill(getpid(), SIGUSR1));
	printf("hits = %d signo = %d code = %s pid ok: %s uid ok: %s\n", hits, got_signo, codename(got_code),
	       got_pid_ok ? "yes" : "no", got_uid_ok ? "yes" : "no");
	report("raise", raise(SIGUSR1));
	printf("hits = %d code = %s pid ok: %s\n", hits, codename(got_code), got_pid_ok ? "yes" : "no");
	union sigval v = {.sival_int = 4242};
	report("sigqueue", sigqueue(getpid(), SIGUSR1, v));
	printf("hits = %d code = %s value = %d\n", hits, codename(got_code), got_value);
	/* SIGCHLD from a child's exit. */
	install_info(SIGCHLD, 0);
	hits = 0;
	pid_t c = fork();
	if (c == 0)
		_exit(7);
	int st;
	waitpid(c, &st, 0);
	printf("sigchld hits = %d signo = %d exit = %d\n", hits, got_signo, WEXITSTATUS(st));
}

static int pipefd[2];

/* signal_later forks a child that sends sig to the parent once the
 * parent sleeps (blocked in the call under test), then writes "x" to the
 * pipe after another 200 ms. It waited a fixed 100 ms before: a loaded
 * machine could send the signal before the parent blocked, so that the
 * call was not interrupted (or pause waited for ever). */
static pid_t signal_later(int sig, int write_after) {
	pid_t parent = getpid();
	pid_t c = fork();
	if (c < 0)
		die("fork");
	if (c == 0) {
		struct timespec ts;
		wait_sleeping(parent);
		kill(parent, sig);
		if (write_after) {
			ts.tv_sec = 0;
			ts.tv_nsec = 200 * 1000000L;
			nanosleep(&ts, NULL);
			if (write(pipefd[1], "x", 1) != 1)
				_exit(1);
		}
		_exit(0);
	}
	return c;
}

static void read_case(const char *label, int flags) {
	char b[8];
	if (pipe(pipefd))
		die("pipe");
	install(SIGUSR1, on_plain, flags);
	hits = 0;
	pid_t c = signal_later(SIGUSR1, 1);
	ssize_t n = read(pipefd[0], b, sizeof b);
	int e = errno;
	printf("%s: hits = %d ", label, hits);
	errno = e;
	report("read", n);
	waitpid(c, NULL, 0);
	close(pipefd[0]);
	close(pipefd[1]);
}

static void case_restart(void) {
	read_case("no SA_RESTART", 0);
	read_case("SA_RESTART", SA_RESTART);
	/* A signal with no handler that is ignored never interrupts. */
	if (pipe(pipefd))
		die("pipe");
	install(SIGUSR2, SIG_IGN, 0);
	pid_t c = signal_later(SIGUSR2, 1);
	char b[8];
	report("ignored: read", read(pipefd[0], b, sizeof b));
	waitpid(c, NULL, 0);
	/* nanosleep is never restarted after a handler. */
	install(SIGUSR1, on_plain, SA_RESTART);
	c = signal_later(SIGUSR1, 0);
	struct timespec ts = {5, 0}, rem;
	report("nanosleep with SA_RESTART", nanosleep(&ts, &rem));
	yesno("remaining time reported", rem.tv_sec > 0 && rem.tv_sec <= 5);
	waitpid(c, NULL, 0);
	/* wait4 is restarted with SA_RESTART. */
	c = fork();
	if (c == 0) {
		struct timespec t2 = {0, 300 * 1000000L};
		nanosleep(&t2, NULL);
		_exit(3);
	}
	pid_t k = signal_later(SIGUSR1, 0);
	int st;
	pid_t w = waitpid(c, &st, 0);
	yesno("waitpid restarted and got the child", w == c && WEXITSTATUS(st) == 3);
	waitpid(k, NULL, 0);
}

static void case_alarm(void) {
	if (pipe(pipefd))
		die("pipe");
	install(SIGALRM, on_plain, 0);
	hits = 0;
	struct itimerval it = {{0, 0}, {0, 150000}};
	report("setitimer", setitimer(ITIMER_REAL, &it, NULL));
	char b[8];
	report("read interrupted by SIGALRM", read(pipefd[0], b, sizeof b));
	printf("hits = %d\n", hits);
	struct itimerval cur;
	report("getitimer after expiry", getitimer(ITIMER_REAL, &cur));
	printf("value = %ld.%06ld\n", (long)cur.it_value.tv_sec, (long)cur.it_value.tv_usec);
	report("alarm(10)", alarm(10));
	report("alarm(0) returns the time left", alarm(0));
	/* A periodic timer fires more than once. */
	hits = 0;
	struct itimerval per = {{0, 50000}, {0, 50000}};
	setitimer(ITIMER_REAL, &per, NULL);
	while (hits < 3)
		pause();
	struct itimerval off = {{0, 0}, {0, 0}};
	setitimer(ITIMER_REAL, &off, NULL);
	printf("periodic hits >= 3: yes\n");
	/* alarm with SA_RESTART: the read completes. */
	install(SIGALRM, on_plain, SA_RESTART);
	pid_t c = fork();
	if (c == 0) {
		struct timespec ts = {0, 400 * 1000000L};
		nanosleep(&ts, NULL);
		if (write(pipefd[1], "y", 1) != 1)
			_exit(1);
		_exit(0);
	}
	hits = 0;
	struct itimerval once = {{0, 0}, {0, 100000}};
	setitimer(ITIMER_REAL, &once, NULL);
	report("read with SA_RESTART", read(pipefd[0], b, sizeof b));
	printf("hits = %d\n", hits);
	waitpid(c, NULL, 0);
}

static volatile int depth, maxdepth, order[8], norder;

static void on_nest(int sig) {
	(void)sig;
	order[norder++] = ++depth;
	if (depth > maxdepth)
		maxdepth = depth;
	if (hits++ == 0)
		raise(SIGUSR1);
	depth--;
}

static void case_nodefer(void) {
	install(SIGUSR1, on_nest, 0);
	hits = depth = maxdepth = norder = 0;
	raise(SIGUSR1);
	printf("default: hits = %d max depth = %d\n", hits, maxdepth);
	install(SIGUSR1, on_nest, SA_NODEFER);
	hits = depth = maxdepth = norder = 0;
	raise(SIGUSR1);
	printf("SA_NODEFER: hits = %d max depth = %d\n", hits, maxdepth);
	/* sa_mask blocks other signals during the handler. */
	install(SIGUSR1, on_plain, SA_RESETHAND);
	hits = 0;
	raise(SIGUSR1);
	struct sigaction old;
	sigaction(SIGUSR1, NULL, &old);
	printf("SA_RESETHAND: hits = %d, handler now SIG_DFL: %s\n", hits, old.sa_handler == SIG_DFL ? "yes" : "no");
	/* The mask inside a handler: the signal itself and sa_mask. */
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_plain;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGUSR2);
	sigaction(SIGUSR1, &sa, NULL);
	install(SIGUSR2, on_plain, 0);
	hits = 0;
	raise(SIGUSR1);
	sigset_t cur;
	sigprocmask(SIG_BLOCK, NULL, &cur);
	yesno("mask restored after the handler", !sigismember(&cur, SIGUSR1) && !sigismember(&cur, SIGUSR2));
}

static char *alt;
static size_t altsize = 64 * 1024;
static volatile int on_alt, ss_onstack, eperm;

static void on_altstack(int sig) {
	(void)sig;
	char local;
	on_alt = (char *)&local >= alt && (char *)&local < alt + altsize;
	stack_t cur;
	sigaltstack(NULL, &cur);
	ss_onstack = cur.ss_flags == SS_ONSTACK;
	stack_t ns = {.ss_sp = alt, .ss_size = altsize, .ss_flags = 0};
	eperm = sigaltstack(&ns, NULL) == -1 && errno == EPERM;
}

static void case_altstack(void) {
	stack_t old;
	report("sigaltstack query", sigaltstack(NULL, &old));
	printf("initial flags = %s\n", old.ss_flags == SS_DISABLE ? "SS_DISABLE" : "other");
	alt = malloc(altsize);
	stack_t ss = {.ss_sp = alt, .ss_size = altsize, .ss_flags = 0};
	report("sigaltstack set", sigaltstack(&ss, NULL));
	stack_t small = {.ss_sp = alt, .ss_size = 1024, .ss_flags = 0};
	report("too small", sigaltstack(&small, NULL));
	stack_t bad = {.ss_sp = alt, .ss_size = altsize, .ss_flags = 0x10};
	report("bad flags", sigaltstack(&bad, NULL));
	install(SIGUSR1, on_altstack, SA_ONSTACK);
	raise(SIGUSR1);
	yesno("handler on the alternate stack", on_alt);
	yesno("sigaltstack says SS_ONSTACK inside", ss_onstack);
	yesno("changing it inside gives EPERM", eperm);
	sigaltstack(NULL, &old);
	printf("flags after = %d size ok: %s\n", old.ss_flags, old.ss_size == altsize ? "yes" : "no");
	/* Without SA_ONSTACK the handler stays on the normal stack. */
	install(SIGUSR1, on_altstack, 0);
	raise(SIGUSR1);
	yesno("without SA_ONSTACK: on the alternate stack", on_alt);
	/* SS_DISABLE. */
	stack_t dis = {.ss_flags = SS_DISABLE};
	report("disable", sigaltstack(&dis, NULL));
	sigaltstack(NULL, &old);
	printf("flags after disable = %s\n", old.ss_flags == SS_DISABLE ? "SS_DISABLE" : "other");
	install(SIGUSR1, on_altstack, SA_ONSTACK);
	raise(SIGUSR1);
	yesno("disabled: on the alternate stack", on_alt);
}

static volatile int handler_round;

static void on_clobber(int sig) {
	(void)sig;
	handler_round = get_round();
	set_round(RC_DOWN);
	volatile double x = 1.0;
	for (int i = 0; i < 100; i++)
		x = x * 1.0001 + 0.5;
	/* Clobber every xmm register. */
	__asm__ volatile("pcmpeqd %%xmm0, %%xmm0\n\t"
			 "movdqa %%xmm0, %%xmm1\n\tmovdqa %%xmm0, %%xmm2\n\tmovdqa %%xmm0, %%xmm3\n\t"
			 "movdqa %%xmm0, %%xmm4\n\tmovdqa %%xmm0, %%xmm5\n\tmovdqa %%xmm0, %%xmm6\n\t"
			 "movdqa %%xmm0, %%xmm7\n\tmovdqa %%xmm0, %%xmm8\n\tmovdqa %%xmm0, %%xmm9\n\t"
			 "movdqa %%xmm0, %%xmm10\n\tmovdqa %%xmm0, %%xmm11\n\tmovdqa %%xmm0, %%xmm12\n\t"
			 "movdqa %%xmm0, %%xmm13\n\tmovdqa %%xmm0, %%xmm14\n\tmovdqa %%xmm0, %%xmm15\n\t" ::
				 : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",
				 "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
	if (__builtin_cpu_supports("avx"))
		__asm__ volatile("vpcmpeqd %%ymm0, %%ymm0, %%ymm0\n\tvmovdqa %%ymm0, %%ymm8\n\tvzeroupper" ::
					 : "xmm0", "xmm8");
}

static void case_fpstate(void) {
	install(SIGUSR1, on_clobber, 0);
	set_round(RC_UP);
	double in[16], out[16];
	for (int i = 0; i < 16; i++)
		in[i] = 1.5 + i * 0.25;
	long tid = syscall(SYS_gettid);
	pid_t pid = getpid();
	/* Load xmm0-15, signal ourselves with a raw tgkill (delivered on
	 * the way back from it), store xmm0-15. */
	__asm__ volatile("movsd 0(%[in]), %%xmm0\n\tmovsd 8(%[in]), %%xmm1\n\t"
			 "movsd 16(%[in]), %%xmm2\n\tmovsd 24(%[in]), %%xmm3\n\t"
			 "movsd 32(%[in]), %%xmm4\n\tmovsd 40(%[in]), %%xmm5\n\t"
			 "movsd 48(%[in]), %%xmm6\n\tmovsd 56(%[in]), %%xmm7\n\t"
			 "movsd 64(%[in]), %%xmm8\n\tmovsd 72(%[in]), %%xmm9\n\t"
			 "movsd 80(%[in]), %%xmm10\n\tmovsd 88(%[in]), %%xmm11\n\t"
			 "movsd 96(%[in]), %%xmm12\n\tmovsd 104(%[in]), %%xmm13\n\t"
			 "movsd 112(%[in]), %%xmm14\n\tmovsd 120(%[in]), %%xmm15\n\t"
			 "mov %[nr], %%eax\n\tmov %[pid], %%edi\n\tmov %[tid], %%rsi\n\tmov %[sig], %%edx\n\t"
			 "syscall\n\t"
			 "movsd %%xmm0, 0(%[out])\n\tmovsd %%xmm1, 8(%[out])\n\t"
			 "movsd %%xmm2, 16(%[out])\n\tmovsd %%xmm3, 24(%[out])\n\t"
			 "movsd %%xmm4, 32(%[out])\n\tmovsd %%xmm5, 40(%[out])\n\t"
			 "movsd %%xmm6, 48(%[out])\n\tmovsd %%xmm7, 56(%[out])\n\t"
			 "movsd %%xmm8, 64(%[out])\n\tmovsd %%xmm9, 72(%[out])\n\t"
			 "movsd %%xmm10, 80(%[out])\n\tmovsd %%xmm11, 88(%[out])\n\t"
			 "movsd %%xmm12, 96(%[out])\n\tmovsd %%xmm13, 104(%[out])\n\t"
			 "movsd %%xmm14, 112(%[out])\n\tmovsd %%xmm15, 120(%[out])\n\t"
			 :
			 : [in] "r"(in), [out] "r"(out), [nr] "i"(SYS_tgkill), [pid] "r"(pid), [tid] "r"(tid),
			   [sig] "i"(SIGUSR1)
			 : "rax", "rdi", "rsi", "rdx", "rcx", "r11", "memory", "xmm0", "xmm1", "xmm2", "xmm3",
			   "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13",
			   "xmm14", "xmm15");
	int same = 1;
	for (int i = 0; i < 16; i++)
		if (in[i] != out[i])
			same = 0;
	yesno("xmm0-15 preserved across the handler", same);
	yesno("rounding mode preserved", get_round() == RC_UP);
	yesno("handler started with round-to-nearest", handler_round == RC_NEAREST);
	/* The upper halves of ymm registers. */
	int ymm_ok = 1;
	if (__builtin_cpu_supports("avx")) {
		uint64_t yin[4] = {0x1111, 0x2222, 0x3333, 0x4444}, yout[4];
		__asm__ volatile("vmovdqu (%[in]), %%ymm8\n\t"
				 "mov %[nr], %%eax\n\tmov %[pid], %%edi\n\tmov %[tid], %%rsi\n\tmov %[sig], %%edx\n\t"
				 "syscall\n\t"
				 "vmovdqu %%ymm8, (%[out])\n\tvzeroupper\n\t"
				 :
				 : [in] "r"(yin), [out] "r"(yout), [nr] "i"(SYS_tgkill), [pid] "r"(pid),
				   [tid] "r"(tid), [sig] "i"(SIGUSR1)
				 : "rax", "rdi", "rsi", "rdx", "rcx", "r11", "memory", "xmm8");
		ymm_ok = memcmp(yin, yout, sizeof yin) == 0;
	}
	yesno("ymm8 preserved across the handler", ymm_ok);
	set_round(RC_NEAREST);
	/* Doubles in a computation interrupted by signals. */
	install(SIGALRM, on_clobber, SA_RESTART);
	struct itimerval per = {{0, 1000}, {0, 1000}};
	setitimer(ITIMER_REAL, &per, NULL);
	double acc = 0;
	for (long i = 1; i <= 20000000; i++)
		acc += 1.0 / (double)i;
	struct itimerval off = {{0, 0}, {0, 0}};
	setitimer(ITIMER_REAL, &off, NULL);
	printf("harmonic(2e7) = %.12f\n", acc);
}

static void case_pending(void) {
	install(SIGUSR2, on_plain, 0);
	sigset_t set, pend;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	hits = 0;
	report("block", sigprocmask(SIG_BLOCK, &set, NULL));
	raise(SIGUSR2);
	raise(SIGUSR2);
	sigpending(&pend);
	printf("after raise: hits = %d pending = %s\n", hits, sigismember(&pend, SIGUSR2) ? "yes" : "no");
	report("unblock", sigprocmask(SIG_UNBLOCK, &set, NULL));
	printf("after unblock: hits = %d (standard signals coalesce)\n", hits);
	sigpending(&pend);
	printf("pending now = %s\n", sigismember(&pend, SIGUSR2) ? "yes" : "no");
	/* Ignoring a pending signal discards it. */
	sigprocmask(SIG_BLOCK, &set, NULL);
	raise(SIGUSR2);
	signal(SIGUSR2, SIG_IGN);
	sigpending(&pend);
	printf("pending after SIG_IGN = %s\n", sigismember(&pend, SIGUSR2) ? "yes" : "no");
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	/* SIGKILL and SIGSTOP cannot be blocked. */
	sigset_t all, cur;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	sigprocmask(SIG_SETMASK, NULL, &cur);
	printf("SIGKILL blocked = %s SIGSTOP blocked = %s SIGTERM blocked = %s\n", sigismember(&cur, SIGKILL) ? "yes" : "no",
	       sigismember(&cur, SIGSTOP) ? "yes" : "no", sigismember(&cur, SIGTERM) ? "yes" : "no");
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
}

static void case_suspend(void) {
	install(SIGUSR1, on_plain, 0);
	sigset_t set, empty, cur;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigemptyset(&empty);
	sigprocmask(SIG_BLOCK, &set, NULL);
	hits = 0;
	pid_t c = signal_later(SIGUSR1, 0);
	int r = sigsuspend(&empty);
	int e = errno;
	printf("sigsuspend = %d %s hits = %d\n", r, errname(e), hits);
	sigprocmask(SIG_BLOCK, NULL, &cur);
	yesno("SIGUSR1 blocked again after sigsuspend", sigismember(&cur, SIGUSR1));
	waitpid(c, NULL, 0);
	/* A signal already pending and unblocked by the mask: at once. */
	raise(SIGUSR1);
	r = sigsuspend(&empty);
	printf("pending: sigsuspend = %d hits = %d\n", r, hits);
	/* pause. */
	c = signal_later(SIGUSR1, 0);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	r = pause();
	printf("pause = %d %s hits = %d\n", r, errname(errno), hits);
	waitpid(c, NULL, 0);
}

static void case_timedwait(void) {
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGRTMIN + 2);
	sigprocmask(SIG_BLOCK, &set, NULL);
	raise(SIGUSR1);
	siginfo_t si;
	struct timespec zero = {0, 0}, short_ts = {0, 100000000};
	int r = sigtimedwait(&set, &si, &zero);
	printf("pending: sigtimedwait = %d code = %s pid ok: %s\n", r, codename(si.si_code), si.si_pid == getpid() ? "yes" : "no");
	report("nothing pending, zero timeout", sigtimedwait(&set, &si, &zero));
	report("nothing pending, 100 ms", sigtimedwait(&set, &si, &short_ts));
	pid_t c = signal_later(SIGUSR1, 0);
	r = sigwaitinfo(&set, &si);
	printf("from a child: sigwaitinfo = %d code = %s from child: %s\n", r, codename(si.si_code), si.si_pid == c ? "yes" : "no");
	waitpid(c, NULL, 0);
	union sigval v = {.sival_int = 77};
	sigqueue(getpid(), SIGRTMIN + 2, v);
	r = sigwaitinfo(&set, &si);
	printf("sigqueue: signo is SIGRTMIN+2: %s value = %d code = %s\n", r == SIGRTMIN + 2 ? "yes" : "no", si.si_value.sival_int,
	       codename(si.si_code));
	/* Another signal interrupts the wait. */
	install(SIGUSR2, on_plain, 0);
	c = signal_later(SIGUSR2, 0);
	struct timespec five = {5, 0};
	report("interrupted by SIGUSR2", sigtimedwait(&set, &si, &five));
	waitpid(c, NULL, 0);
	/* A blocked SIGTERM with the default action waited for is not fatal. */
	sigset_t term;
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigprocmask(SIG_BLOCK, &term, NULL);
	c = signal_later(SIGTERM, 0);
	r = sigwaitinfo(&term, &si);
	printf("sigwaitinfo(SIGTERM) = %d\n", r);
	waitpid(c, NULL, 0);
}

static void case_errors(void) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_plain;
	report("sigaction(SIGKILL)", sigaction(SIGKILL, &sa, NULL));
	report("sigaction(SIGSTOP)", sigaction(SIGSTOP, &sa, NULL));
	report("sigaction(0)", syscall(SYS_rt_sigaction, 0, NULL, NULL, 8));
	report("sigaction(65)", syscall(SYS_rt_sigaction, 65, NULL, NULL, 8));
	report("sigaction bad size", syscall(SYS_rt_sigaction, SIGUSR1, NULL, NULL, 4));
	report("sigaction query SIGKILL", syscall(SYS_rt_sigaction, SIGKILL, NULL, &sa, 8));
	report("sigaction EFAULT", syscall(SYS_rt_sigaction, SIGUSR1, (void *)8, NULL, 8));
	report("sigprocmask bad how", syscall(SYS_rt_sigprocmask, 99, &sa.sa_mask, NULL, 8));
	report("sigprocmask bad size", syscall(SYS_rt_sigprocmask, SIG_BLOCK, &sa.sa_mask, NULL, 16));
	report("sigprocmask EFAULT", syscall(SYS_rt_sigprocmask, SIG_BLOCK, (void *)8, NULL, 8));
	report("sigpending bad size", syscall(SYS_rt_sigpending, &sa.sa_mask, 16));
	report("sigsuspend bad size", syscall(SYS_rt_sigsuspend, &sa.sa_mask, 4));
	report("kill bad signal", kill(getpid(), 65));
	report("kill no such pid", kill(999999, SIGUSR1));
	report("kill sig 0 self", kill(getpid(), 0));
	report("tgkill bad tid", syscall(SYS_tgkill, getpid(), 999999, SIGUSR1));
	report("tgkill wrong tgid", syscall(SYS_tgkill, 999999, syscall(SYS_gettid), SIGUSR1));
	report("tgkill tid 0", syscall(SYS_tgkill, getpid(), 0, SIGUSR1));
	report("tkill no such tid", syscall(SYS_tkill, 999999, SIGUSR1));
	siginfo_t si;
	memset(&si, 0, sizeof si);
	si.si_code = SI_USER;
	report("rt_sigqueueinfo SI_USER to self", syscall(SYS_rt_sigqueueinfo, getpid(), 0, &si));
	report("rt_sigqueueinfo no such pid", syscall(SYS_rt_sigqueueinfo, 999999, SIGUSR1, &si));
	report("sigaltstack EFAULT", syscall(SYS_sigaltstack, (void *)8, NULL));
}

static volatile int rt_order[16], rt_n;

static void on_rt(int sig, siginfo_t *si, void *uc) {
	(void)uc;
	rt_order[rt_n++] = (sig - SIGRTMIN) * 100 + si->si_value.sival_int;
}

static void case_rt(void) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_rt;
	sa.sa_flags = SA_SIGINFO;
	sigfillset(&sa.sa_mask);
	sigaction(SIGRTMIN + 1, &sa, NULL);
	sigaction(SIGRTMIN + 3, &sa, NULL);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGRTMIN + 1);
	sigaddset(&set, SIGRTMIN + 3);
	sigprocmask(SIG_BLOCK, &set, NULL);
	for (int i = 1; i <= 3; i++) {
		union sigval v = {.sival_int = i};
		sigqueue(getpid(), SIGRTMIN + 3, v);
		sigqueue(getpid(), SIGRTMIN + 1, v);
	}
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	printf("delivered %d:", rt_n);
	for (int i = 0; i < rt_n; i++)
		printf(" %d", rt_order[i]);
	printf("\n");
}

int main(int argc, char **argv) {
	init_output();
	if (argc < 2) {
		fprintf(stderr, "usage: %s CASE\n", argv[0]);
		return 2;
	}
	const char *c = argv[1];
	if (!strcmp(c, "siginfo"))
		case_siginfo();
	else if (!strcmp(c, "restart"))
		case_restart();
	else if (!strcmp(c, "alarm"))
		case_alarm();
	else if (!strcmp(c, "nodefer"))
		case_nodefer();
	else if (!strcmp(c, "altstack"))
		case_altstack();
	else if (!strcmp(c, "fpstate"))
		case_fpstate();
	else if (!strcmp(c, "pending"))
		case_pending();
	else if (!strcmp(c, "suspend"))
		case_suspend();
	else if (!strcmp(c, "timedwait"))
		case_timedwait();
	else if (!strcmp(c, "errors"))
		case_errors();
	else if (!strcmp(c, "rt"))
		case_rt();
	else {
		fprintf(stderr, "unknown case %s\n", c);
		return 2;
	}
	return 0;
}
