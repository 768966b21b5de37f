/* proc_exec.c: what execve does to the descriptor table and how a program
 * can be executed: a CLONE_FILES|CLONE_VFORK child that execs keeps its
 * parent's close-on-exec descriptors open (execve unshares the table
 * first), fexecve (execveat with AT_EMPTY_PATH) runs an open file, and
 * /proc/self/exe stays the executed file after its path is unlinked or
 * renamed over: readlink adds " (deleted)" and opening it still opens the
 * program (Go's os.Executable and TestExecutableDeleted rely on this).
 *
 * Usage: proc_exec [exec-child | exe-child PATH]. Only counts, errno names
 * and yes/no answers are printed. */
#include "common.h"
#include <fcntl.h>
#include <limits.h>
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

/* exe_link_is reports whether /proc/self/exe reads as want. */
static int exe_link_is(const char *want) {
	char buf[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
	if (n < 0)
		return 0;
	buf[n] = 0;
	return !strcmp(buf, want);
}

/* exe_opens_elf reports whether /proc/self/exe opens a file that starts
 * with the ELF magic. */
static int exe_opens_elf(void) {
	char magic[4];
	int fd = open("/proc/self/exe", O_RDONLY);
	if (fd < 0)
		return 0;
	int ok = read(fd, magic, 4) == 4 && !memcmp(magic, "\177ELF", 4);
	close(fd);
	return ok;
}

/* exe_child runs as a copy of this program at path: it unlinks itself,
 * and then another file is renamed to its path. */
static int exe_child(const char *path) {
	char deleted[PATH_MAX];
	snprintf(deleted, sizeof deleted, "%s (deleted)", path);
	yesno("exe link names the copy", exe_link_is(path));
	report("unlink the running copy", unlink(path));
	yesno("exe link after unlink says (deleted)", exe_link_is(deleted));
	yesno("exe opens the unlinked program", exe_opens_elf());
	char other[PATH_MAX];
	snprintf(other, sizeof other, "%s.other", path);
	int fd = open(other, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	if (fd < 0 || write(fd, "#!/bin/sh\n", 10) != 10)
		die("create the other file");
	close(fd);
	report("rename another file to the copy's path", rename(other, path));
	yesno("exe link after a rename over its path says (deleted)", exe_link_is(deleted));
	yesno("exe still opens the program", exe_opens_elf());
	unlink(path);
	return 5;
}

int main(int argc, char **argv) {
	init_output();
	if (argc > 1 && !strcmp(argv[1], "exec-child")) {
		printf("exec-child ran with %d arguments\n", argc);
		return 3;
	}
	if (argc > 2 && !strcmp(argv[1], "exe-child"))
		return exe_child(argv[2]);

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

	/* /proc/self/exe of a program whose file is unlinked, then replaced. */
	char dir[] = "/tmp/proc_exec.XXXXXX";
	if (!mkdtemp(dir))
		die("mkdtemp");
	char copy[PATH_MAX];
	snprintf(copy, sizeof copy, "%s/copy", dir);
	copy_file("/proc/self/exe", copy, 0755);
	pid = fork();
	if (pid == 0) {
		char *args[] = {copy, "exe-child", copy, NULL};
		execv(copy, args);
		_exit(99);
	}
	waitpid(pid, &st, 0);
	printf("exe-child status %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	rmdir(dir);
	return 0;
}
