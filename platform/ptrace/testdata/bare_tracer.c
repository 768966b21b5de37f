// bare_tracer: the floor the ptrace platform's syscall round trip is judged
// against. It forks a child that runs "mov $39,%eax; syscall" in a loop
// under PTRACE_SYSEMU and, per iteration, does exactly what Switch does on
// a syscall: PTRACE_SETREGS, PTRACE_SYSEMU, wait4, PTRACE_GETREGS (setting
// rax in between, as the sentry would).
//
// Usage: bare_tracer [iterations] [rounds]
// Prints one line per round: "bare_tracer: <ns> ns per round trip", and
// finally "best: <ns>".
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long xptrace(long req, pid_t pid, void *addr, void *data) {
	return syscall(SYS_ptrace, req, pid, addr, data);
}

static void die(const char *what) {
	perror(what);
	exit(1);
}

static void child(void) {
	if (xptrace(PTRACE_TRACEME, 0, 0, 0) < 0)
		die("PTRACE_TRACEME");
	raise(SIGSTOP);
	for (;;)
		__asm__ volatile("mov $39, %%eax\n\tsyscall" ::: "rax", "rcx", "r11", "memory");
}

static void wait_syscall_stop(pid_t pid) {
	int status;
	if (syscall(SYS_wait4, pid, &status, __WALL, NULL) != pid)
		die("wait4");
	if (!WIFSTOPPED(status) || WSTOPSIG(status) != (SIGTRAP | 0x80)) {
		fprintf(stderr, "unexpected wait status %#x\n", status);
		exit(1);
	}
}

static double now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv) {
	long iters = argc > 1 ? atol(argv[1]) : 200000;
	int rounds = argc > 2 ? atoi(argv[2]) : 1;
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0)
		child();

	int status;
	if (waitpid(pid, &status, __WALL) != pid || !WIFSTOPPED(status))
		die("waitpid for SIGSTOP");
	if (xptrace(PTRACE_SETOPTIONS, pid, 0, (void *)(PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL)) < 0)
		die("PTRACE_SETOPTIONS");

	// Get to the first syscall stop.
	struct user_regs_struct regs;
	if (xptrace(PTRACE_SYSEMU, pid, 0, 0) < 0)
		die("PTRACE_SYSEMU");
	wait_syscall_stop(pid);
	if (xptrace(PTRACE_GETREGS, pid, 0, &regs) < 0)
		die("PTRACE_GETREGS");

	double best = 0;
	for (int r = 0; r < rounds; r++) {
		double start = now_ns();
		for (long i = 0; i < iters; i++) {
			regs.rax = pid; // the "sentry" answers getpid
			if (xptrace(PTRACE_SETREGS, pid, 0, &regs) < 0)
				die("PTRACE_SETREGS");
			if (xptrace(PTRACE_SYSEMU, pid, 0, 0) < 0)
				die("PTRACE_SYSEMU");
			wait_syscall_stop(pid);
			if (xptrace(PTRACE_GETREGS, pid, 0, &regs) < 0)
				die("PTRACE_GETREGS");
		}
		double ns = (now_ns() - start) / iters;
		printf("bare_tracer: %.1f ns per round trip\n", ns);
		if (r == 0 || ns < best)
			best = ns;
	}
	printf("best: %.1f\n", best);
	kill(pid, SIGKILL);
	waitpid(pid, &status, __WALL);
	return 0;
}
