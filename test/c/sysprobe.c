/* sysprobe.c: calls each syscall number given with all six arguments zero,
 * each in a child process of its own under a one-second alarm, and prints
 * one line per number: "NR ENAME" (the errno it failed with), "NR ok" (it
 * returned), or "NR gone" (the child ended or was killed before reporting:
 * exit, a blocking call the alarm ended, a signal it sent itself). Only the
 * sandbox runs it (test/syscalls_test.go compares the answers with the
 * syscall table): zero arguments are harmless to the sandbox but not to a
 * host running it as root.
 *
 * Usage: sysprobe NR... */
#include "common.h"
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>

int main(int argc, char **argv) {
	init_output();
	signal(SIGPIPE, SIG_IGN);
	for (int i = 1; i < argc; i++) {
		long nr = atol(argv[i]);
		int p[2];
		if (pipe(p) != 0)
			die("pipe");
		pid_t kid = fork();
		if (kid < 0)
			die("fork");
		if (kid == 0) {
			close(p[0]);
			alarm(1);
			long r = syscall(nr, 0L, 0L, 0L, 0L, 0L, 0L);
			int e = r == -1 ? errno : 0;
			write(p[1], &e, sizeof e);
			_exit(0);
		}
		close(p[1]);
		int e, st;
		ssize_t n = read(p[0], &e, sizeof e);
		close(p[0]);
		kill(kid, SIGKILL);
		waitpid(kid, &st, 0);
		if (n != sizeof e)
			printf("%ld gone\n", nr);
		else if (e == 0)
			printf("%ld ok\n", nr);
		else
			printf("%ld %s\n", nr, errname(e));
	}
	return 0;
}
