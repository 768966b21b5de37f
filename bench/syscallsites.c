/* syscallsites: counts the syscalls a program makes natively (following
 * forks and threads, by PTRACE_SYSCALL) and how many of them come from a
 * site that syscall-site patching could rewrite: the 7 bytes before the
 * return address are "mov $N,%eax; syscall" (b8 N N N N 0f 05), the
 * pattern gVisor's systrap patches (ARCHITECTURE.md, "Syscall-site
 * patching: a proposal"). Build: gcc -O2 -o syscallsites bench/syscallsites.c
 * Usage: syscallsites PROG ARGS... (the counts go to stderr) */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char **argv) {
	pid_t c = fork();
	if (c == 0) { ptrace(PTRACE_TRACEME, 0, 0, 0); raise(SIGSTOP); execvp(argv[1], argv + 1); _exit(127); }
	int st; waitpid(c, &st, 0);
	ptrace(PTRACE_SETOPTIONS, c, 0, PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE | PTRACE_O_EXITKILL);
	ptrace(PTRACE_SYSCALL, c, 0, 0);
	long total = 0, patchable = 0; static char in[1 << 22];
	for (;;) {
		pid_t p = waitpid(-1, &st, __WALL);
		if (p < 0) break;
		if (WIFEXITED(st) || WIFSIGNALED(st)) continue;
		int sig = 0;
		if (WIFSTOPPED(st)) {
			if (WSTOPSIG(st) == (SIGTRAP | 0x80)) {
				if (!in[p % sizeof in]) {
					struct user_regs_struct r; ptrace(PTRACE_GETREGS, p, 0, &r);
					errno = 0;
					unsigned long w = ptrace(PTRACE_PEEKTEXT, p, r.rip - 7, 0);
					total++;
					if (!errno && (w & 0xff) == 0xb8 && ((w >> 40) & 0xffff) == 0x050f) patchable++;
				}
				in[p % sizeof in] ^= 1;
			} else if (WSTOPSIG(st) != SIGTRAP && WSTOPSIG(st) != SIGSTOP) sig = WSTOPSIG(st);
		}
		ptrace(PTRACE_SYSCALL, p, 0, sig);
	}
	fprintf(stderr, "syscallsites: %ld syscalls, %ld from patchable sites (%.0f%%)\n", total, patchable, total ? 100.0 * patchable / total : 0);
	return 0;
}
