/* utsns.c: UTS namespaces (issue 15 item 6): unshare and clone with
 * CLONE_NEWUTS, sethostname/setdomainname in the new namespace, uname and
 * /proc/sys/kernel/{hostname,domainname} there, the parent's names
 * untouched, /proc/PID/ns/uts, setns into another process's UTS namespace,
 * and EPERM without CAP_SYS_ADMIN. Names are compared, never printed when
 * they are the host's. */
#include "common.h"
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>

static void readfile(const char *p, char *buf, size_t n) {
	buf[0] = 0;
	int fd = open(p, O_RDONLY);
	if (fd < 0)
		return;
	ssize_t r = read(fd, buf, n - 1);
	buf[r > 0 ? r : 0] = 0;
	close(fd);
	char *nl = strchr(buf, '\n');
	if (nl)
		*nl = 0;
}

int main(void) {
	init_output();
	struct utsname before, u;
	uname(&before);
	int ready[2], done[2];
	if (pipe(ready) || pipe(done))
		die("pipe");
	pid_t pid = fork();
	if (pid == 0) {
		char c, buf[128];
		report("unshare(NEWUTS)", unshare(CLONE_NEWUTS));
		report("sethostname", sethostname("inner-host", 10));
		report("setdomainname", setdomainname("inner.dom", 9));
		static char longname[80];
		memset(longname, 'x', sizeof longname);
		report("sethostname too long", sethostname(longname, 65));
		uname(&u);
		printf("child uname: %s %s\n", u.nodename, u.domainname);
		readfile("/proc/sys/kernel/hostname", buf, sizeof buf);
		printf("child /proc/sys/kernel/hostname: %s\n", buf);
		readfile("/proc/sys/kernel/domainname", buf, sizeof buf);
		printf("child /proc/sys/kernel/domainname: %s\n", buf);
		write(ready[1], "r", 1);
		read(done[0], &c, 1);
		_exit(0);
	}
	char c;
	read(ready[0], &c, 1);
	uname(&u);
	yesno("parent's names unchanged", strcmp(u.nodename, before.nodename) == 0 && strcmp(u.domainname, before.domainname) == 0);
	char p1[64], l1[64] = "", l2[64] = "";
	snprintf(p1, sizeof p1, "/proc/%d/ns/uts", pid);
	readlink(p1, l1, sizeof l1 - 1);
	readlink("/proc/self/ns/uts", l2, sizeof l2 - 1);
	yesno("ns/uts names uts:[N]", strncmp(l2, "uts:[", 5) == 0);
	yesno("child's ns/uts differs", strcmp(l1, l2) != 0);
	pid_t g = fork();
	if (g == 0) {
		int fd = open(p1, O_RDONLY);
		if (fd < 0)
			_exit(20);
		if (setns(fd, CLONE_NEWNS) != -1 || errno != EINVAL)
			_exit(21);
		if (setns(fd, CLONE_NEWUTS) != 0)
			_exit(22);
		struct utsname v;
		uname(&v);
		_exit(strcmp(v.nodename, "inner-host") == 0 ? 0 : 23);
	}
	printf("setns into the child's UTS namespace: %d\n", wait_status(g));
	write(done[1], "d", 1);
	printf("child: %d\n", wait_status(pid));
	/* clone(CLONE_NEWUTS): the child's sethostname stays its own. */
	pid = syscall(SYS_clone, CLONE_NEWUTS | SIGCHLD, 0, 0, 0, 0);
	if (pid == 0) {
		sethostname("cloned", 6);
		_exit(0);
	}
	printf("clone(NEWUTS) child: %d\n", wait_status(pid));
	uname(&u);
	yesno("parent's name still unchanged", strcmp(u.nodename, before.nodename) == 0);
	pid = fork();
	if (pid == 0) {
		if (setgid(65534) || setuid(65534))
			_exit(50);
		report("unprivileged unshare(NEWUTS)", unshare(CLONE_NEWUTS));
		report("unprivileged sethostname", sethostname("x", 1));
		report("unprivileged setdomainname", setdomainname("x", 1));
		report("unprivileged clone(NEWUTS)", syscall(SYS_clone, CLONE_NEWUTS | SIGCHLD, 0, 0, 0, 0));
		_exit(0);
	}
	printf("unprivileged child: %d\n", wait_status(pid));
	return 0;
}
