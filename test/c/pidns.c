/* pidns: the semantics of init in a PID namespace (pid_namespaces(7)),
 * run as PID 1: natively under `unshare --fork --pid`, in the sandbox as
 * its first program.
 *
 *   - signals other processes send to init while it has no handler for
 *     them are ignored: SIGTERM, SIGINT, SIGKILL and SIGSTOP included, and
 *     a signal init had blocked is dropped when unblocked;
 *   - a signal with a handler is delivered;
 *   - orphans are reparented to init, which reaps them;
 *   - init's exit status is the namespace's (the sandbox's) status: 7.
 *
 * What an escape looks like: init dying of (or stopped by) a child's
 * kill(1, ...) — the sandbox ends with 128+N instead of 7 and the lines
 * after that case are missing. */
#include "common.h"

#include <signal.h>
#include <sys/wait.h>

static volatile sig_atomic_t got_usr1;
static void on_usr1(int sig) { got_usr1 = sig; }

/* from_child forks a child that sends sig to init (as kill(2), or
 * sigqueue when queue), waits for it, and reports. */
static void from_child(const char *name, int sig, int queue) {
	pid_t p = fork();
	if (p == 0) {
		int r;
		if (queue) {
			union sigval v = {.sival_int = 1};
			r = sigqueue(1, sig, v);
		} else {
			r = kill(1, sig);
		}
		_exit(r == 0 ? 0 : 10 + errno);
	}
	int st;
	waitpid(p, &st, 0);
	printf("child's %s(1, %s): %s; init is still running\n", queue ? "sigqueue" : "kill", name,
	       WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "returned 0" : "failed");
}

int main(void) {
	init_output();
	printf("init is pid 1: %s\n", getpid() == 1 ? "yes" : "no");
	from_child("SIGTERM", SIGTERM, 0);
	from_child("SIGINT", SIGINT, 1);
	from_child("SIGKILL", SIGKILL, 0);
	from_child("SIGSTOP", SIGSTOP, 0);
	from_child("SIGHUP", SIGHUP, 0);

	signal(SIGUSR1, on_usr1);
	from_child("SIGUSR1 (handled)", SIGUSR1, 0);
	printf("handler ran: %s\n", got_usr1 == SIGUSR1 ? "yes" : "no");

	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	from_child("SIGTERM (blocked)", SIGTERM, 0);
	sigset_t pend;
	sigpending(&pend);
	printf("SIGTERM pending while blocked: %s\n", sigismember(&pend, SIGTERM) ? "yes" : "no");
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	printf("unblocked without a handler: init is still running\n");

	/* An orphan: the child exits, the grandchild is reparented to 1. */
	int pfd[2];
	if (pipe(pfd))
		die("pipe");
	pid_t c = fork();
	if (c == 0) {
		pid_t g = fork();
		if (g == 0) {
			close(pfd[0]);
			while (getppid() != 1)
				usleep(1000);
			char msg[64];
			int n = snprintf(msg, sizeof msg, "%d", (int)getppid());
			write(pfd[1], msg, n);
			_exit(3);
		}
		_exit(0);
	}
	close(pfd[1]);
	int st;
	waitpid(c, &st, 0);
	char buf[64] = {0};
	read(pfd[0], buf, sizeof buf - 1);
	printf("the orphan's parent is now: %s\n", buf);
	pid_t w = wait(&st);
	printf("init reaped the orphan: %s, its status %d\n", w > 0 ? "yes" : "no", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	return 7;
}
