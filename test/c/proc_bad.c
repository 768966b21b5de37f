/* proc_bad.c: bad input to the process syscalls (issue 3, item 7): waiting
 * with no children (ECHILD), signalling processes, groups and threads that
 * do not exist (ESRCH), and executing what is not an executable (EACCES,
 * ENOENT, ENOTDIR; the program's error before a bad argv's or envp's). */
#include "common.h"
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>

/* deadpid returns the PID of a child that has exited and been reaped. */
static pid_t deadpid(void) {
	pid_t p = fork();
	if (p < 0)
		die("fork");
	if (p == 0)
		_exit(0);
	if (waitpid(p, NULL, 0) != p)
		die("waitpid");
	return p;
}

int main(void) {
	init_output();
	int st;
	siginfo_t si;
	report("wait no children", wait(&st));
	report("waitpid -1 WNOHANG no children", waitpid(-1, &st, WNOHANG));
	report("waitid P_ALL no children", waitid(P_ALL, 0, &si, WEXITED));
	report("wait4 bad options", wait4(-1, &st, 0x12345678, NULL));

	pid_t child = fork();
	if (child == 0) {
		pause();
		_exit(0);
	}
	report("waitpid of own child WNOHANG", waitpid(child, &st, WNOHANG));
	kill(child, SIGKILL);
	yesno("child reaped", waitpid(child, &st, 0) == child && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	report("waitpid of reaped child", waitpid(child, &st, 0));

	pid_t dead = deadpid();
	report("kill dead pid", kill(dead, SIGTERM));
	report("kill dead pid sig 0", kill(dead, 0));
	report("kill group of dead pid", kill(-dead, SIGTERM));
	report("tgkill dead tid", syscall(SYS_tgkill, getpid(), dead, SIGTERM));
	report("tkill dead tid", syscall(SYS_tkill, dead, SIGTERM));
	report("kill bad signal", kill(getpid(), 999));
	report("kill self sig 0", kill(getpid(), 0));

	char *argv[] = {"x", NULL};
	char *envp[] = {NULL};
	report("execve non-executable file", execve("/etc/passwd", argv, envp));
	report("execve directory", execve("/", argv, envp));
	report("execve missing file", execve("/nonexistent/prog", argv, envp));
	report("execve through a file", execve("/etc/passwd/x", argv, envp));
	report("execve empty path", execve("", argv, envp));
	/* The program is opened before argv and envp are read: its errors
	 * come first. */
	char **badv = (char **)8;
	char *badstr[] = {(char *)8, NULL};
	report("execve missing file, bad argv", syscall(SYS_execve, "/nonexistent/prog", badv, envp));
	report("execve missing file, bad envp", syscall(SYS_execve, "/nonexistent/prog", argv, badv));
	report("execve missing file, bad argv string", syscall(SYS_execve, "/nonexistent/prog", badstr, envp));
	report("execve directory, bad argv", syscall(SYS_execve, "/", badv, envp));
	report("execve non-executable file, bad envp", syscall(SYS_execve, "/etc/passwd", argv, badv));
	report("execve program, bad argv", syscall(SYS_execve, "/bin/true", badv, envp));
	report("execve program, bad envp string", syscall(SYS_execve, "/bin/true", argv, badstr));

	/* A program or script open for writing cannot be executed, and that
	 * is found at the open, before argv is read (ETXTBSY, Linux 6.8 on;
	 * 6.11 and 6.12 briefly allowed it: this host behaviour is assumed);
	 * once execve has failed or the child has run it, it is writable
	 * again. */
	char dir[] = "/tmp/procbadXXXXXX";
	if (!mkdtemp(dir))
		die("mkdtemp");
	char *prog = strdup(path_in(dir, "prog")), *script = strdup(path_in(dir, "script"));
	copy_file("/bin/true", prog, 0755);
	int sfd = open(script, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	if (sfd < 0 || write(sfd, "#!/bin/sh\nexit 7\n", 18) != 18)
		die("script");
	close(sfd);
	int wfd = open(prog, O_WRONLY);
	sfd = open(script, O_WRONLY);
	if (wfd < 0 || sfd < 0)
		die("open for writing");
	report("execve program open for writing, bad argv", syscall(SYS_execve, prog, badv, envp));
	report("execve program open for writing", execve(prog, argv, envp));
	report("execve script open for writing, bad argv", syscall(SYS_execve, script, badv, envp));
	report("execve script open for writing", execve(script, argv, envp));
	close(wfd);
	close(sfd);
	report("execve program, bad argv, then open it for writing", syscall(SYS_execve, prog, badv, envp));
	wfd = open(prog, O_WRONLY);
	report("open for writing after the failed execve", wfd < 0 ? -1 : 0);
	if (wfd >= 0)
		close(wfd);
	pid_t sp = fork();
	if (sp == 0) {
		execve(script, argv, envp);
		_exit(99);
	}
	printf("script exit status: %d\n", wait_status(sp));
	sfd = open(script, O_WRONLY);
	report("open the script for writing after it ran", sfd < 0 ? -1 : 0);
	if (sfd >= 0)
		close(sfd);
	unlink(prog);
	unlink(script);
	rmdir(dir);
	printf("still running\n");
	return 0;
}
