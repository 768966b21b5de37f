/* cgroupns.c: cgroup namespaces (issue 15 item 6).
 *
 * unshare(CLONE_NEWCGROUP) makes a namespace rooted at the caller's
 * cgroup: /proc/self/cgroup's unified line then reads "0::/" (natively too, whatever
 * cgroup the program started in), /proc/self/ns/cgroup names a new
 * namespace, a forked child shares it, clone(CLONE_NEWCGROUP) makes
 * another, and setns with the first namespace's file returns to it.
 */
#include "common.h"
#include <sched.h>
#include <sys/syscall.h>

static void link_of(const char *path, char *buf, size_t n) {
	memset(buf, 0, n);
	if (readlink(path, buf, n - 1) < 0)
		snprintf(buf, n, "readlink failed: %s", errname(errno));
}

static void show_cgroup(const char *who) {
	char buf[256] = {0};
	int fd = open("/proc/self/cgroup", O_RDONLY);
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	/* The unified hierarchy's line (a host may list v1 ones too). */
	char *line = n > 0 ? strstr(buf, "0::") : NULL;
	if (line && line != buf && line[-1] != '\n')
		line = NULL;
	printf("%s: /proc/self/cgroup's 0:: line = %.*s\n", who, line ? (int)strcspn(line, "\n") : 6, line ? line : "(none)");
}

int main(void) {
	init_output();
	char first[64], now[64], child[64];
	link_of("/proc/self/ns/cgroup", first, sizeof first);
	int orig = open("/proc/self/ns/cgroup", O_RDONLY);
	report("unshare(CLONE_NEWCGROUP)", unshare(CLONE_NEWCGROUP));
	link_of("/proc/self/ns/cgroup", now, sizeof now);
	printf("new namespace: %s\n", strcmp(first, now) ? "yes" : "no");
	show_cgroup("after unshare");
	int p[2];
	if (pipe(p))
		return 1;
	pid_t c = fork();
	if (c == 0) {
		link_of("/proc/self/ns/cgroup", child, sizeof child);
		if (write(p[1], child, sizeof child) != sizeof child)
			_exit(1);
		_exit(0);
	}
	waitpid(c, NULL, 0);
	if (read(p[0], child, sizeof child) != sizeof child)
		return 1;
	printf("forked child shares it: %s\n", strcmp(child, now) == 0 ? "yes" : "no");
	c = syscall(SYS_clone, CLONE_NEWCGROUP | SIGCHLD, 0, 0, 0, 0);
	if (c == 0) {
		link_of("/proc/self/ns/cgroup", child, sizeof child);
		if (write(p[1], child, sizeof child) != sizeof child)
			_exit(1);
		_exit(0);
	}
	waitpid(c, NULL, 0);
	if (read(p[0], child, sizeof child) != sizeof child)
		return 1;
	printf("clone(CLONE_NEWCGROUP) child has its own: %s\n", strcmp(child, now) && strcmp(child, first) ? "yes" : "no");
	report("setns(first cgroup ns)", setns(orig, CLONE_NEWCGROUP));
	link_of("/proc/self/ns/cgroup", now, sizeof now);
	printf("back in the first: %s\n", strcmp(first, now) == 0 ? "yes" : "no");
	errno = 0;
	report("setns(cgroup fd, CLONE_NEWUTS)", setns(orig, CLONE_NEWUTS));
	return 0;
}
