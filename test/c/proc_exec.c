/* proc_exec.c: what execve does to the descriptor table and how a program
 * can be executed: a CLONE_FILES|CLONE_VFORK child that execs keeps its
 * parent's close-on-exec descriptors open (execve unshares the table
 * first), and fexecve (execveat with AT_EMPTY_PATH) runs an open file.
 *
 * Usage: proc_exec [exec-child]. Only counts and errno names are printed. */
#include "common.h"
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static char child_stack[64 * 1024] __attribute__((aligned(16)));

static int exec_true(void *arg) {
	(void)arg;
	execl("/bin/true", "true", (char *)NULL);
	_exit(127);
}

int main(int argc, char **argv) {
	init_output();
	if (argc > 1 && !strcmp(argv[1], "exec-child")) {
		printf("exec-child ran with %d arguments\n", argc);
		return 3;
	}

	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	int plain = open("/dev/null", O_RDONLY);
	pid_t pid = clone(exec_true, child_stack + sizeof child_stack, CLONE_FILES | CLONE_VFORK | SIGCHLD, NULL);
	yesno("clone CLONE_FILES|CLONE_VFORK", pid > 0);
	int st;
	waitpid(pid, &st, 0);
	yesno("child exec'd /bin/true", WIFEXITED(st) && WEXITSTATUS(st) == 0);
	report("parent's close-on-exec descriptor after the child's exec", fcntl(fd, F_GETFD));
	report("parent's plain descriptor after the child's exec", fcntl(plain, F_GETFD));

	/* fexecve: execveat(fd, "", argv, envp, AT_EMPTY_PATH). */
	int self = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	pid = fork();
	if (pid == 0) {
		char *args[] = {"proc_exec", "exec-child", "x", NULL};
		char *env[] = {NULL};
		syscall(SYS_execveat, self, "", args, env, AT_EMPTY_PATH);
		printf("execveat AT_EMPTY_PATH failed: %s\n", errname(errno));
		_exit(99);
	}
	waitpid(pid, &st, 0);
	printf("fexecve child status %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	report("execveat empty path without AT_EMPTY_PATH", syscall(SYS_execveat, self, "", argv, NULL, 0));
	report("execveat of a symlink with AT_SYMLINK_NOFOLLOW", syscall(SYS_execveat, AT_FDCWD, "/proc/self/exe", argv, NULL, AT_SYMLINK_NOFOLLOW));
	int bin = open("/bin", O_RDONLY | O_DIRECTORY);
	pid = fork();
	if (pid == 0) {
		char *args[] = {"true", NULL};
		syscall(SYS_execveat, bin, "true", args, NULL, 0);
		_exit(99);
	}
	waitpid(pid, &st, 0);
	printf("execveat relative to a directory fd: status %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	return 0;
}
