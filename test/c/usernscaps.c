/* usernscaps.c: capabilities of root in a nested user namespace over files
 * and processes (issue 15 item 6).
 *
 * Linux's capable_wrt_inode_uidgid: a capability counts over a file only
 * when the file's owner and group are mapped into the caller's user
 * namespace. Root makes files owned by 1000 (mapped) and 2000 (not) in a
 * sticky directory; a child U in a user namespace whose uid_map and
 * gid_map (written by root) map 0-1499 reads, chmods, chowns, touches and
 * unlinks (from a sticky directory of a third user) each:
 * CAP_DAC_OVERRIDE, CAP_FOWNER and CAP_CHOWN work on the first and not the
 * second; for a file whose owner is mapped and group is not, DAC_OVERRIDE
 * does not work and FOWNER (which looks at the owner only) does. Over processes: CAP_KILL and CAP_SYS_PTRACE
 * count in the target's user namespace, so U may signal and trace its
 * child that became uid 1000 inside (and exec'd), but not a uid 1000
 * process of the first namespace; a child that did not exec after
 * setresuid is not dumpable and its address space is the first
 * namespace's, so U may signal it but not trace it.
 */
#include "common.h"
#include <sched.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/time.h>

static char dir[64];

static char *f(const char *rel) { return path_in(dir, rel); }

static void make(const char *name, uid_t u, gid_t g) {
	int fd = open(f(name), O_CREAT | O_WRONLY, 0600);
	if (fd < 0 || fchown(fd, u, g) < 0)
		printf("make %s: %s\n", name, errname(errno));
	close(fd);
}

static void files(const char *who) {
	const char *names[] = {"u1000", "u2000", "g2000"};
	for (int i = 0; i < 3; i++) {
		const char *n = names[i];
		int fd = open(f(n), O_RDONLY);
		reportf(fd < 0 ? -1 : 0, "%s: open %s for reading", who, n);
		if (fd >= 0)
			close(fd);
		reportf(chmod(f(n), 0640), "%s: chmod %s", who, n);
		reportf(utimes(f(n), NULL), "%s: utimes %s now", who, n);
		struct timeval tv[2] = {{1, 0}, {2, 0}};
		reportf(utimes(f(n), tv), "%s: utimes %s to a time", who, n);
		int nfd = open(f(n), O_RDONLY | O_NOATIME);
		reportf(nfd < 0 ? -1 : 0, "%s: open %s O_NOATIME", who, n);
		if (nfd >= 0)
			close(nfd);
	}
	reportf(chown(f("u1000"), 0, 0), "%s: chown u1000 to 0:0", who);
	reportf(chown(f("u2000"), 0, 0), "%s: chown u2000 to 0:0", who);
	reportf(unlink(f("s/u1000")), "%s: unlink sticky s/u1000", who);
	reportf(unlink(f("s/u2000")), "%s: unlink sticky s/u2000", who);
}

int main(int argc, char **argv) {
	init_output();
	if (argc > 1 && strcmp(argv[1], "pause") == 0) {
		/* The re-executed target: wait to be killed. */
		for (;;)
			pause();
	}
	snprintf(dir, sizeof dir, "/tmp/usernscapsXXXXXX");
	if (!mkdtemp(dir)) {
		printf("mkdtemp: %s\n", errname(errno));
		return 1;
	}
	chmod(dir, 0755);
	make("u1000", 1000, 1000);
	make("u2000", 2000, 2000);
	make("g2000", 1000, 2000); /* owner mapped, group not */
	mkdir(f("s"), 01777);
	chmod(f("s"), 01777);
	if (chown(f("s"), 3000, 3000) < 0) /* U does not own the directory */
		printf("chown s: %s\n", errname(errno));
	make("s/u1000", 1000, 1000);
	make("s/u2000", 2000, 2000);

	/* A uid 1000 process of the first user namespace, uid 1000 before
	 * anything looks at it. */
	int oready[2];
	if (pipe(oready) < 0)
		return 1;
	pid_t outsider = fork();
	if (outsider == 0) {
		if (setresgid(1000, 1000, 1000) < 0 || setresuid(1000, 1000, 1000) < 0)
			_exit(97);
		put_byte(oready[1]);
		for (;;)
			pause();
	}
	wait_byte(oready[0]);

	int go[2], ready[2];
	if (pipe(go) < 0 || pipe(ready) < 0)
		return 1;
	pid_t u = fork();
	if (u == 0) {
		if (unshare(CLONE_NEWUSER) < 0) {
			printf("unshare(CLONE_NEWUSER): %s\n", errname(errno));
			_exit(1);
		}
		put_byte(ready[1]);
		wait_byte(go[0]); /* maps written */
		printf("U: uid %d gid %d\n", getuid(), getgid());
		files("U");

		/* Its child becomes uid 1000 inside, and execs (its address
		 * space then belongs to the namespace). */
		int cready[2];
		if (pipe(cready) < 0)
			_exit(96);
		pid_t c = fork();
		if (c == 0) {
			if (setresgid(1000, 1000, 1000) < 0 || setresuid(1000, 1000, 1000) < 0)
				_exit(95);
			put_byte(cready[1]);
			execl("/proc/self/exe", "usernscaps", "pause", (char *)NULL);
			_exit(94);
		}
		wait_byte(cready[0]);
		/* It sleeps once the exec is done and it is in pause (a fixed
		 * sleep could end first on a loaded machine: before the exec
		 * it is not dumpable, and the attach is refused). */
		wait_sleeping(c);
		report("U: kill(its uid 1000 child, 0)", kill(c, 0));
		long r = ptrace(PTRACE_ATTACH, c, NULL, NULL);
		report("U: PTRACE_ATTACH its uid 1000 child", r);
		if (r == 0) {
			int st;
			waitpid(c, &st, 0);
			ptrace(PTRACE_DETACH, c, NULL, NULL);
		}
		/* Without the exec its address space is still the first
		 * namespace's, and setresuid made it non-dumpable. */
		pid_t g = fork();
		if (g == 0) {
			if (setresgid(1000, 1000, 1000) < 0 || setresuid(1000, 1000, 1000) < 0)
				_exit(95);
			put_byte(cready[1]);
			for (;;)
				pause();
		}
		wait_byte(cready[0]);
		report("U: kill(its uid 1000 child that did not exec, 0)", kill(g, 0));
		report("U: PTRACE_ATTACH its uid 1000 child that did not exec", ptrace(PTRACE_ATTACH, g, NULL, NULL));
		kill(g, SIGKILL);
		waitpid(g, NULL, 0);
		report("U: kill(first namespace's uid 1000 process, 0)", kill(outsider, 0));
		report("U: PTRACE_ATTACH first namespace's uid 1000 process", ptrace(PTRACE_ATTACH, outsider, NULL, NULL));
		kill(c, SIGKILL);
		waitpid(c, NULL, 0);
		_exit(0);
	}
	wait_byte(ready[0]);
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/uid_map", u);
	write_text(path, "0 0 1500");
	snprintf(path, sizeof path, "/proc/%d/gid_map", u);
	write_text(path, "0 0 1500");
	put_byte(go[1]);
	int st;
	waitpid(u, &st, 0);
	kill(outsider, SIGKILL);
	waitpid(outsider, NULL, 0);
	printf("U exited %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);

	const char *names[] = {"u1000", "u2000", "g2000", "s/u1000", "s/u2000", "s"};
	for (int i = 0; i < 6; i++) {
		unlink(f(names[i]));
		rmdir(f(names[i]));
	}
	rmdir(dir);
	return 0;
}
