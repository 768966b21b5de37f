/* ptrace.c: ptrace(2)'s state machine, as a tracer sees it.
 *
 *   ptrace syscalls   TRACEME, PTRACE_SYSCALL entry/exit stops with
 *                     TRACESYSGOOD, a skipped syscall (orig_rax -1) with its
 *                     result set at the exit stop, a rewritten syscall
 *                     number, PEEKDATA/POKEDATA/PEEKUSER/POKEUSER, GETREGSET,
 *                     GET_SYSCALL_INFO, waitid's CLD_TRAPPED,
 *                     /proc/PID/status TracerPid and "t (tracing stop)",
 *                     PTRACE_EVENT_EXIT and its message
 *   ptrace signals    signal-delivery-stops: passed, suppressed, replaced
 *                     (the handler sees SI_USER), a fault's siginfo, death
 *   ptrace groupstop  a SIGSTOP's signal-delivery-stop then its group-stop
 *                     (no siginfo: EINVAL), SIGCONT
 *   ptrace seize      SEIZE, INTERRUPT (PTRACE_EVENT_STOP), group-stop as
 *                     PTRACE_EVENT_STOP, LISTEN and SIGCONT, KILL
 *   ptrace fork       TRACEFORK/TRACEEXEC: the fork event and its message,
 *                     the new tracee's first stop, the exec event, and a
 *                     traced grandchild's exit seen by its tracer first and
 *                     then by its real parent
 *   ptrace step       SINGLESTEP instruction by instruction, over a syscall
 *                     instruction (the trap comes when it returns), and
 *                     SYSEMU (the tracer serves the syscall)
 *   ptrace fpregs     GETFPREGS/SETFPREGS and GETREGSET NT_PRFPREG and
 *                     NT_X86_XSTATE: a tracer reads and changes xmm0
 *   ptrace attach     ATTACH to a process that is not the tracer's child,
 *                     wait4 on it, DETACH; EXITKILL; the errors (EPERM,
 *                     ESRCH, EIO, EINVAL)
 *   ptrace seccomp    SECCOMP_RET_TRACE with PTRACE_O_TRACESECCOMP: the
 *                     PTRACE_EVENT_SECCOMP stop, its message and syscall info,
 *                     a syscall the tracer changes (checked again) or skips,
 *                     and ENOSYS without the option
 *   ptrace threads    not a tracer: three threads that each write a line, the
 *                     subject of test/ptrace_test.go's strace -ff of threads
 *
 * Every line is deterministic: PIDs and addresses are compared, never
 * printed.
 */
#include "common.h"

#include <signal.h>
#include <stddef.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <elf.h>
#include <linux/ptrace.h>

static const char *prog;

/* describe prints a wait status as a tracer reads it. */
static void describe(const char *who, int st) {
	if (WIFEXITED(st))
		printf("%s: exited %d\n", who, WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		printf("%s: killed by %s\n", who, sigabbrev_np(WTERMSIG(st)));
	else if (WIFSTOPPED(st)) {
		int sig = WSTOPSIG(st), ev = st >> 16;
		if (sig == (SIGTRAP | 0x80))
			printf("%s: syscall-stop\n", who);
		else if (ev)
			printf("%s: stopped %s event %d\n", who, sigabbrev_np(sig), ev);
		else
			printf("%s: stopped %s\n", who, sigabbrev_np(sig));
	} else
		printf("%s: status %#x\n", who, st);
}

static int wait_for(pid_t p) {
	int st;
	if (waitpid(p, &st, __WALL) != p)
		die("waitpid");
	return st;
}

/* proc_state prints the State and whether TracerPid is tracer. */
static void proc_state(pid_t p, pid_t tracer) {
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/status", p);
	FILE *f = fopen(path, "r");
	if (!f)
		die("open status");
	while (fgets(line, sizeof line, f)) {
		if (!strncmp(line, "State:", 6))
			printf("  status %s", line);
		if (!strncmp(line, "TracerPid:", 10))
			printf("  TracerPid is the tracer: %s\n", atoi(line + 10) == tracer ? "yes" : "no");
	}
	fclose(f);
}

static volatile long magic = 0x1111;

static void child_syscalls(void) {
	if (ptrace(PTRACE_TRACEME, 0, 0, 0))
		die("TRACEME");
	report("child: TRACEME again", ptrace(PTRACE_TRACEME, 0, 0, 0));
	raise(SIGSTOP);
	long a = syscall(SYS_getppid);
	long b = syscall(SYS_getuid);
	printf("child: getppid() = %ld, getuid() returned the pid: %s, magic = %#lx\n", a, b == getpid() ? "yes" : "no", magic);
	fflush(stdout);
	syscall(SYS_exit_group, 7);
}

static void test_syscalls(void) {
	pid_t c = fork();
	if (c == 0)
		child_syscalls();
	int st = wait_for(c);
	describe("first stop", st);
	siginfo_t si;
	report("GETSIGINFO", ptrace(PTRACE_GETSIGINFO, c, 0, &si));
	printf("  si_signo %s, si_code is SI_TKILL: %s\n", sigabbrev_np(si.si_signo), si.si_code == SI_TKILL ? "yes" : "no");
	proc_state(c, getpid());
	report("SETOPTIONS", ptrace(PTRACE_SETOPTIONS, c, 0, PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEEXIT));
	report("SETOPTIONS bad", ptrace(PTRACE_SETOPTIONS, c, 0, 1 << 30));
	errno = 0;
	long v = ptrace(PTRACE_PEEKDATA, c, &magic, 0);
	printf("PEEKDATA magic = %#lx\n", v);
	report("POKEDATA", ptrace(PTRACE_POKEDATA, c, &magic, 0x2222));
	report("PEEKDATA bad address", ptrace(PTRACE_PEEKDATA, c, 8, 0));
	report("GETREGS to a bad pointer", ptrace(PTRACE_GETREGS, c, 0, (void *)8));
	report("GETREGSET bad iovec", ptrace(PTRACE_GETREGSET, c, NT_PRSTATUS, (void *)8));
	report("GETREGSET unknown note", ptrace(PTRACE_GETREGSET, c, 0x9999, &(struct iovec){&si, sizeof si}));
	report("PEEKUSER unaligned", ptrace(PTRACE_PEEKUSER, c, 3, 0));
	report("PEEKUSER past struct user", ptrace(PTRACE_PEEKUSER, c, 4096, 0));
	report("GETSIGINFO to a bad pointer", ptrace(PTRACE_GETSIGINFO, c, 0, (void *)8));
	report("CONT with a bad signal", ptrace(PTRACE_CONT, c, 0, 1000));
	report("PTRACE_SYSCALL", ptrace(PTRACE_SYSCALL, c, 0, 0));
	int entering = 1, shown = 0;
	for (;;) {
		siginfo_t wi;
		memset(&wi, 0, sizeof wi);
		if (waitid(P_PID, c, &wi, WEXITED | WSTOPPED) != 0)
			die("waitid");
		if (wi.si_code == CLD_EXITED || wi.si_code == CLD_KILLED) {
			printf("waitid: %s status %d\n", wi.si_code == CLD_EXITED ? "CLD_EXITED" : "CLD_KILLED", wi.si_status);
			break;
		}
		if (wi.si_code != CLD_TRAPPED) {
			printf("waitid: unexpected code %d\n", wi.si_code);
			break;
		}
		if (wi.si_status == (SIGTRAP | PTRACE_EVENT_EXIT << 8)) {
			unsigned long msg;
			ptrace(PTRACE_GETEVENTMSG, c, 0, &msg);
			printf("PTRACE_EVENT_EXIT, message %#lx\n", msg);
			ptrace(PTRACE_CONT, c, 0, 0);
			continue;
		}
		if (wi.si_status != (SIGTRAP | 0x80)) {
			printf("stop %#x\n", wi.si_status);
			ptrace(PTRACE_SYSCALL, c, 0, 0);
			continue;
		}
		struct user_regs_struct r;
		struct iovec iov = {&r, sizeof r};
		if (ptrace(PTRACE_GETREGSET, c, NT_PRSTATUS, &iov))
			die("GETREGSET");
		long nr = ptrace(PTRACE_PEEKUSER, c, offsetof(struct user, regs.orig_rax), 0);
		struct ptrace_syscall_info info;
		long isz = ptrace(PTRACE_GET_SYSCALL_INFO, c, sizeof info, &info);
		int op_ok = isz > 0 && info.op == (entering ? PTRACE_SYSCALL_INFO_ENTRY : PTRACE_SYSCALL_INFO_EXIT);
		if (nr == SYS_getppid || nr == SYS_getuid || nr == SYS_exit_group || nr == -1) {
			printf("%s %s: regset size %zu, PEEKUSER agrees: %s, syscall info op agrees: %s\n",
			       entering ? "entry" : "exit",
			       nr == SYS_getppid ? "getppid" : nr == SYS_getuid ? "getuid" : nr == SYS_exit_group ? "exit_group" : "skipped",
			       iov.iov_len, (unsigned long)nr == r.orig_rax ? "yes" : "no", op_ok ? "yes" : "no");
			if (entering)
				printf("  rax = %lld\n", (long long)r.rax);
			if (!shown) {
				proc_state(c, getpid());
				shown = 1;
			}
		}
		if (entering && nr == SYS_getppid) {
			report("  POKEUSER orig_rax -1", ptrace(PTRACE_POKEUSER, c, offsetof(struct user, regs.orig_rax), (void *)-1L));
		} else if (!entering && nr == -1) {
			printf("  skipped syscall's rax = %lld\n", (long long)r.rax);
			r.rax = 4242;
			report("  SETREGS rax 4242", ptrace(PTRACE_SETREGS, c, 0, &r));
		} else if (entering && nr == SYS_getuid) {
			r.orig_rax = SYS_getpid;
			report("  SETREGS orig_rax getpid", ptrace(PTRACE_SETREGS, c, 0, &r));
		} else if (!entering && nr == SYS_getpid) {
			printf("exit getpid (was getuid): rax is the child's pid: %s\n", (pid_t)r.rax == c ? "yes" : "no");
		}
		entering = !entering;
		ptrace(PTRACE_SYSCALL, c, 0, 0);
	}
}

static void on_usr1(int sig, siginfo_t *si, void *uc) {
	char buf[80];
	int n = snprintf(buf, sizeof buf, "child: handler %s, si_code SI_USER: %s\n", sigabbrev_np(sig), si->si_code == SI_USER ? "yes" : "no");
	write(1, buf, n);
}

static void test_signals(void) {
	pid_t c = fork();
	if (c == 0) {
		struct sigaction sa = {.sa_sigaction = on_usr1, .sa_flags = SA_SIGINFO};
		sigaction(SIGUSR1, &sa, 0);
		ptrace(PTRACE_TRACEME, 0, 0, 0);
		raise(SIGUSR1); /* passed on */
		raise(SIGUSR2); /* suppressed: would kill */
		raise(SIGINT);  /* replaced by SIGUSR1 */
		printf("child: survived\n");
		fflush(stdout);
		*(volatile int *)0 = 1;
		_exit(1);
	}
	for (;;) {
		int st = wait_for(c);
		describe("signals", st);
		if (!WIFSTOPPED(st))
			break;
		int sig = WSTOPSIG(st), deliver = sig;
		siginfo_t si;
		ptrace(PTRACE_GETSIGINFO, c, 0, &si);
		if (sig == SIGSEGV)
			printf("  SIGSEGV si_code %d, si_addr is 0: %s\n", si.si_code, si.si_addr == 0 ? "yes" : "no");
		if (sig == SIGUSR2)
			deliver = 0;
		if (sig == SIGINT)
			deliver = SIGUSR1;
		ptrace(PTRACE_CONT, c, 0, deliver);
	}
}

static volatile sig_atomic_t got_cont;
static void on_cont(int sig) { got_cont = 1; }

static void test_groupstop(void) {
	pid_t c = fork();
	if (c == 0) {
		signal(SIGCONT, on_cont);
		ptrace(PTRACE_TRACEME, 0, 0, 0);
		raise(SIGSTOP);
		while (!got_cont)
			pause();
		_exit(3);
	}
	int st = wait_for(c);
	describe("groupstop first", st);
	ptrace(PTRACE_CONT, c, 0, 0);
	wait_sleeping(c);
	kill(c, SIGSTOP);
	st = wait_for(c);
	describe("groupstop", st);
	siginfo_t si;
	report("  GETSIGINFO (signal-delivery-stop)", ptrace(PTRACE_GETSIGINFO, c, 0, &si));
	ptrace(PTRACE_CONT, c, 0, SIGSTOP);
	st = wait_for(c);
	describe("groupstop", st);
	report("  GETSIGINFO (group-stop)", ptrace(PTRACE_GETSIGINFO, c, 0, &si));
	proc_state(c, getpid());
	kill(c, SIGCONT);
	ptrace(PTRACE_CONT, c, 0, 0);
	for (;;) {
		st = wait_for(c);
		describe("groupstop", st);
		if (!WIFSTOPPED(st))
			break;
		ptrace(PTRACE_CONT, c, 0, WSTOPSIG(st));
	}
}

static void test_seize(void) {
	pid_t c = fork();
	if (c == 0) {
		for (;;)
			pause();
	}
	wait_sleeping(c);
	report("SEIZE", ptrace(PTRACE_SEIZE, c, 0, PTRACE_O_TRACESYSGOOD));
	proc_state(c, getpid());
	report("PEEKDATA while running", ptrace(PTRACE_PEEKDATA, c, &magic, 0));
	report("INTERRUPT", ptrace(PTRACE_INTERRUPT, c, 0, 0));
	int st = wait_for(c);
	describe("seize", st);
	ptrace(PTRACE_SYSCALL, c, 0, 0);
	st = wait_for(c);
	describe("seize", st);
	report("LISTEN in a syscall-stop", ptrace(PTRACE_LISTEN, c, 0, 0));
	kill(c, SIGSTOP);
	ptrace(PTRACE_CONT, c, 0, 0);
	st = wait_for(c);
	describe("seize", st);
	ptrace(PTRACE_CONT, c, 0, SIGSTOP);
	st = wait_for(c);
	describe("seize", st);
	report("LISTEN", ptrace(PTRACE_LISTEN, c, 0, 0));
	report("PEEKDATA while listening", ptrace(PTRACE_PEEKDATA, c, &magic, 0));
	kill(c, SIGCONT);
	st = wait_for(c);
	describe("seize", st);
	report("KILL", ptrace(PTRACE_KILL, c, 0, 0));
	for (;;) {
		st = wait_for(c);
		if (!WIFSTOPPED(st))
			break;
	}
	describe("seize", st);
}

static void test_fork(void) {
	pid_t c = fork();
	if (c == 0) {
		ptrace(PTRACE_TRACEME, 0, 0, 0);
		raise(SIGSTOP);
		pid_t g = fork();
		if (g == 0)
			execl(prog, prog, "exit5", (char *)0);
		int st;
		waitpid(g, &st, 0);
		_exit(WIFEXITED(st) ? 40 + WEXITSTATUS(st) : 99);
	}
	int st = wait_for(c);
	describe("fork: child", st);
	ptrace(PTRACE_SETOPTIONS, c, 0, PTRACE_O_TRACEFORK | PTRACE_O_TRACEEXEC);
	ptrace(PTRACE_CONT, c, 0, 0);
	pid_t g = 0;
	int live = 1;
	char *lines[16];
	int nl = 0;
	while (live > 0 && nl < 16) {
		pid_t w = waitpid(-1, &st, __WALL);
		if (w < 0)
			die("waitpid");
		const char *who = w == c ? "child" : (g && w == g) ? "grandchild" : "new tracee";
		char buf[128];
		if (WIFSTOPPED(st) && st >> 16 == PTRACE_EVENT_FORK) {
			unsigned long msg;
			ptrace(PTRACE_GETEVENTMSG, w, 0, &msg);
			g = msg;
			live++;
			snprintf(buf, sizeof buf, "%s: PTRACE_EVENT_FORK", who);
		} else if (WIFSTOPPED(st) && st >> 16 == PTRACE_EVENT_EXEC) {
			unsigned long msg;
			ptrace(PTRACE_GETEVENTMSG, w, 0, &msg);
			snprintf(buf, sizeof buf, "%s: PTRACE_EVENT_EXEC, message is its pid: %s", who, (pid_t)msg == w ? "yes" : "no");
		} else if (WIFSTOPPED(st)) {
			if (!g)
				g = w, live++; /* its first stop came before the event */
			who = w == c ? "child" : "grandchild";
			snprintf(buf, sizeof buf, "%s: stopped %s", who, sigabbrev_np(WSTOPSIG(st)));
		} else {
			live--;
			if (WIFEXITED(st))
				snprintf(buf, sizeof buf, "%s: exited %d", who, WEXITSTATUS(st));
			else
				snprintf(buf, sizeof buf, "%s: killed by %s", who, sigabbrev_np(WTERMSIG(st)));
		}
		lines[nl++] = strdup(buf);
		if (WIFSTOPPED(st)) {
			int sig = WSTOPSIG(st);
			ptrace(PTRACE_CONT, w, 0, sig == SIGTRAP || sig == SIGSTOP ? 0 : sig);
		}
	}
	/* The child's and grandchild's reports interleave as they run: the
	 * order within each is what is compared. */
	for (int who = 0; who < 2; who++)
		for (int i = 0; i < nl; i++)
			if (!strncmp(lines[i], who ? "grandchild" : "child", who ? 10 : 5))
				printf("%s\n", lines[i]);
}

/* step_fn: getpid by hand, then two instructions to step over. */
extern char step_start[], step_after_mov[], step_after_syscall[], step_end[];
void step_fn(void);
__asm__(".text\n"
	".globl step_fn, step_start, step_after_mov, step_after_syscall, step_end\n"
	"step_fn:\n"
	"step_start: mov $39, %eax\n"
	"step_after_mov: syscall\n"
	"step_after_syscall: nop\n"
	"step_end: ret\n");

static void test_step(void) {
	pid_t c = fork();
	if (c == 0) {
		ptrace(PTRACE_TRACEME, 0, 0, 0);
		raise(SIGSTOP);
		step_fn();
		long r = syscall(SYS_getppid);
		printf("child: getppid() under SYSEMU = %ld\n", r);
		fflush(stdout);
		_exit(0);
	}
	int st = wait_for(c);
	describe("step first", st);
	struct user_regs_struct r;
	long steps = 0;
	for (;;) {
		if (ptrace(PTRACE_SINGLESTEP, c, 0, 0))
			die("SINGLESTEP");
		st = wait_for(c);
		if (!WIFSTOPPED(st) || WSTOPSIG(st) != SIGTRAP) {
			describe("step: unexpected", st);
			return;
		}
		ptrace(PTRACE_GETREGS, c, 0, &r);
		if (r.rip == (unsigned long)step_start)
			break;
		if (++steps > 1000000) {
			printf("step: never reached step_fn\n");
			return;
		}
	}
	printf("step: reached step_fn by single steps: yes, TF visible: %s\n", r.eflags & 0x100 ? "yes" : "no");
	const char *names[] = {"mov", "syscall", "nop"};
	char *want[] = {step_after_mov, step_after_syscall, step_end};
	for (int i = 0; i < 3; i++) {
		ptrace(PTRACE_SINGLESTEP, c, 0, 0);
		st = wait_for(c);
		siginfo_t si;
		ptrace(PTRACE_GETSIGINFO, c, 0, &si);
		ptrace(PTRACE_GETREGS, c, 0, &r);
		printf("step over %s: %s, at the next instruction: %s", names[i], sigabbrev_np(WSTOPSIG(st)),
		       r.rip == (unsigned long)want[i] ? "yes" : "no");
		if (i == 1)
			printf(", rax is the pid: %s, si_code %d", (pid_t)r.rax == c ? "yes" : "no", si.si_code);
		printf("\n");
	}
	/* SYSEMU: the tracer serves every syscall from here; getppid gets
	 * 1234, and the rest (printf's write, _exit) are run by hand. */
	for (int n = 0; n < 100; n++) {
		ptrace(PTRACE_SYSEMU, c, 0, 0);
		st = wait_for(c);
		if (!WIFSTOPPED(st))
			break;
		ptrace(PTRACE_GETREGS, c, 0, &r);
		if (r.orig_rax == SYS_getppid) {
			printf("SYSEMU stop at getppid, rax = %lld\n", (long long)r.rax);
			r.rax = 1234;
			ptrace(PTRACE_SETREGS, c, 0, &r);
		} else if (r.orig_rax == SYS_exit_group) {
			printf("SYSEMU stop at exit_group: detaching\n");
			ptrace(PTRACE_DETACH, c, 0, 0);
			break;
		} else if (r.orig_rax == SYS_write) {
			/* Not run: the tracer writes it for the child. */
			char buf[128];
			struct iovec local = {buf, r.rdx < sizeof buf ? r.rdx : sizeof buf};
			size_t k;
			for (k = 0; k < local.iov_len; k += 8) {
				long w = ptrace(PTRACE_PEEKDATA, c, r.rsi + k, 0);
				memcpy(buf + k, &w, local.iov_len - k < 8 ? local.iov_len - k : 8);
			}
			printf("SYSEMU: the child's write, served by the tracer: %.*s", (int)local.iov_len, buf);
			r.rax = local.iov_len;
			ptrace(PTRACE_SETREGS, c, 0, &r);
		}
	}
	st = wait_for(c);
	describe("step", st);
}

static void test_fpregs(void) {
	pid_t c = fork();
	if (c == 0) {
		unsigned long in[2] = {0x1122334455667788UL, 0x99aabbccddeeff00UL}, out[2];
		ptrace(PTRACE_TRACEME, 0, 0, 0);
		__asm__ volatile("movdqu %0, %%xmm0" : : "m"(in) : "xmm0");
		/* The stop in a raw tgkill: nothing between it and the
		 * read of xmm0 touches the register. */
		syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGSTOP);
		__asm__ volatile("movdqu %%xmm0, %0" : "=m"(out) : : "xmm0");
		printf("child: xmm0 after the tracer's SETFPREGS = %#lx %#lx\n", out[0], out[1]);
		fflush(stdout);
		_exit(0);
	}
	int st = wait_for(c);
	describe("fpregs", st);
	struct user_fpregs_struct fp;
	report("GETFPREGS", ptrace(PTRACE_GETFPREGS, c, 0, &fp));
	unsigned long *x0 = (unsigned long *)&fp.xmm_space[0];
	printf("xmm0 = %#lx %#lx, mxcsr = %#x\n", x0[0], x0[1], fp.mxcsr);
	struct user_fpregs_struct fp2;
	struct iovec iov = {&fp2, sizeof fp2};
	report("GETREGSET NT_PRFPREG", ptrace(PTRACE_GETREGSET, c, NT_PRFPREG, &iov));
	printf("  size %zu, same as GETFPREGS: %s\n", iov.iov_len, !memcmp(&fp, &fp2, sizeof fp) ? "yes" : "no");
	static char xs[16384];
	struct iovec xiov = {xs, sizeof xs};
	report("GETREGSET NT_X86_XSTATE", ptrace(PTRACE_GETREGSET, c, NT_X86_XSTATE, &xiov));
	printf("  starts with the FXSAVE area: %s\n", !memcmp(xs, &fp, 160 + 16) ? "yes" : "no");
	x0[0] = 0xdeadbeefUL;
	x0[1] = 0xcafeUL;
	report("SETFPREGS", ptrace(PTRACE_SETFPREGS, c, 0, &fp));
	ptrace(PTRACE_CONT, c, 0, 0);
	st = wait_for(c);
	describe("fpregs", st);
}

static void test_attach(void) {
	report("ATTACH self", ptrace(PTRACE_ATTACH, getpid(), 0, 0));
	report("ATTACH no such pid", ptrace(PTRACE_ATTACH, 999999, 0, 0));
	report("CONT not a tracee", ptrace(PTRACE_CONT, getppid(), 0, 0));
	report("SEIZE with addr", ptrace(PTRACE_SEIZE, getppid(), 1, 0));
	pid_t a = fork();
	if (a == 0) {
		for (;;)
			pause();
	}
	wait_sleeping(a);
	pid_t b = fork();
	if (b == 0) {
		report("tracer: ATTACH sibling", ptrace(PTRACE_ATTACH, a, 0, 0));
		report("tracer: ATTACH again", ptrace(PTRACE_ATTACH, a, 0, 0));
		int st;
		report("tracer: waitpid sibling is the sibling", waitpid(a, &st, __WALL) == a);
		describe("tracer: sibling", st);
		proc_state(a, getpid());
		report("tracer: DETACH", ptrace(PTRACE_DETACH, a, 0, 0));
		report("tracer: waitpid after DETACH", waitpid(a, &st, __WALL | WNOHANG));
		report("tracer: SEIZE with EXITKILL", ptrace(PTRACE_SEIZE, a, 0, PTRACE_O_EXITKILL));
		_exit(0);
	}
	int st;
	waitpid(b, &st, 0);
	describe("tracer", st);
	waitpid(a, &st, 0);
	describe("sibling after its EXITKILL tracer exited", st);

	/* Permissions: a process that switched to nobody may trace
	 * nobody's processes, not root's (no CAP_SYS_PTRACE), and only
	 * dumpable ones: a switch of IDs makes a process non-dumpable
	 * until it execs or sets PR_SET_DUMPABLE. */
	for (int set_dumpable = 0; set_dumpable < 2; set_dumpable++) {
	printf("-- nobody's process %s PR_SET_DUMPABLE\n", set_dumpable ? "with" : "without");
	pid_t r = fork();
	if (r == 0) {
		for (;;)
			pause();
	}
	pid_t n = fork();
	if (n == 0) {
		if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
			die("setresuid");
		if (set_dumpable)
			prctl(PR_SET_DUMPABLE, 1);
		for (;;)
			pause();
	}
	wait_sleeping(r);
	wait_sleeping(n);
	pid_t u = fork();
	if (u == 0) {
		if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
			die("setresuid");
		char p[64];
		report("nobody: PR_GET_DUMPABLE after setresuid", prctl(PR_GET_DUMPABLE));
		report("nobody: SEIZE root's process", ptrace(PTRACE_SEIZE, r, 0, 0));
		snprintf(p, sizeof p, "/proc/%d/mem", r);
		report("nobody: open root's /proc/PID/mem", open(p, O_RDONLY));
		report("nobody: SEIZE nobody's process", ptrace(PTRACE_SEIZE, n, 0, 0));
		snprintf(p, sizeof p, "/proc/%d/mem", n);
		int fd = open(p, O_RDONLY);
		yesno("nobody: open nobody's /proc/PID/mem", fd >= 0);
		long word = 0;
		report("  pread of magic", pread(fd, &word, sizeof word, (off_t)(unsigned long)&magic));
		printf("  magic = %#lx\n", word);
		report("  pread of an unmapped address", pread(fd, &word, sizeof word, 8));
		_exit(0);
	}
	waitpid(u, &st, 0);
	describe("nobody", st);
	kill(r, SIGKILL);
	kill(n, SIGKILL);
	waitpid(r, &st, 0);
	waitpid(n, &st, 0);
	}
}

/* seccomp_trace_getppid installs a filter: getppid is SECCOMP_RET_TRACE
 * with data 42, the rest allowed. */
static void seccomp_trace_getppid(void) {
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE | 42),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {sizeof f / sizeof f[0], f};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
		die("seccomp");
}

static void test_seccomp(void) {
	for (int with = 1; with >= 0; with--) {
		printf("-- %s PTRACE_O_TRACESECCOMP\n", with ? "with" : "without");
		pid_t c = fork();
		if (c == 0) {
			ptrace(PTRACE_TRACEME, 0, 0, 0);
			seccomp_trace_getppid();
			raise(SIGSTOP);
			long a = syscall(SYS_getppid);
			int e = errno;
			long b = syscall(SYS_getppid);
			int e2 = errno;
			printf("child: first getppid %s, second = %ld %s\n",
			       a == getpid() ? "returned getpid's value" : a == -1 ? errname(e) : "returned something else",
			       b, b == -1 ? errname(e2) : "");
			fflush(stdout);
			_exit(0);
		}
		int st = wait_for(c);
		describe("seccomp", st);
		if (with)
			ptrace(PTRACE_SETOPTIONS, c, 0, PTRACE_O_TRACESECCOMP);
		ptrace(PTRACE_CONT, c, 0, 0);
		int n = 0;
		for (;;) {
			st = wait_for(c);
			describe("seccomp", st);
			if (!WIFSTOPPED(st))
				break;
			if (st >> 16 == PTRACE_EVENT_SECCOMP) {
				unsigned long msg;
				struct ptrace_syscall_info info;
				ptrace(PTRACE_GETEVENTMSG, c, 0, &msg);
				long sz = ptrace(PTRACE_GET_SYSCALL_INFO, c, sizeof info, &info);
				printf("  message %lu, syscall info size %ld op %d nr is getppid: %s ret_data %u\n", msg, sz, info.op,
				       info.seccomp.nr == SYS_getppid ? "yes" : "no", info.seccomp.ret_data);
				/* First: turn it into getpid (allowed when
				 * the filter runs again); second: skip it. */
				long nr = n++ == 0 ? SYS_getpid : -1L;
				ptrace(PTRACE_POKEUSER, c, offsetof(struct user, regs.orig_rax), (void *)nr);
			}
			ptrace(PTRACE_CONT, c, 0, 0);
		}
	}
}

static void *thread_body(void *arg) {
	char buf[32];
	int n = snprintf(buf, sizeof buf, "thread %ld\n", (long)arg);
	write(1, buf, n);
	return 0;
}

/* run_threads runs three threads one after the other (a deterministic
 * trace per thread). */
static void run_threads(void) {
	for (long i = 1; i <= 3; i++) {
		pthread_t th;
		if (pthread_create(&th, 0, thread_body, (void *)i))
			die("pthread_create");
		pthread_join(th, 0);
	}
}

int main(int argc, char **argv) {
	init_output();
	prog = argv[0];
	if (argc > 1 && !strcmp(argv[1], "exit5"))
		return 5;
	const char *what = argc > 1 ? argv[1] : "";
	if (!strcmp(what, "syscalls"))
		test_syscalls();
	else if (!strcmp(what, "signals"))
		test_signals();
	else if (!strcmp(what, "groupstop"))
		test_groupstop();
	else if (!strcmp(what, "seize"))
		test_seize();
	else if (!strcmp(what, "fork"))
		test_fork();
	else if (!strcmp(what, "step"))
		test_step();
	else if (!strcmp(what, "seccomp"))
		test_seccomp();
	else if (!strcmp(what, "threads"))
		run_threads();
	else if (!strcmp(what, "fpregs"))
		test_fpregs();
	else if (!strcmp(what, "attach"))
		test_attach();
	else {
		fprintf(stderr, "usage: ptrace syscalls|signals|groupstop|seize|fork|step|fpregs|seccomp|attach\n");
		return 2;
	}
	return 0;
}
