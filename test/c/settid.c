/* settid.c: clone3's set_tid (issue 15 item 6).
 *
 * set_tid[0] is the child's ID in its PID namespace, set_tid[1] in the
 * parent namespace, and so on (at most as many as there are levels). The
 * program checks the argument errors (EINVAL, EFAULT), EEXIST for an ID in
 * use at any level, EINVAL for an ID other than 1 in a namespace without
 * init, EPERM without CAP_SYS_ADMIN in the user namespace owning a level,
 * and children getting the IDs asked for — in a nested namespace (the
 * outer IDs of the host are not chosen, so the output is deterministic).
 */
#include "common.h"
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>

static pid_t outer_pid; /* P's ID in the outermost namespace */

static long clone3_tids(pid_t *tids, uint64_t n) {
	struct clone_args args;
	memset(&args, 0, sizeof args);
	args.exit_signal = SIGCHLD;
	args.set_tid = (uintptr_t)tids;
	args.set_tid_size = n;
	return syscall(SYS_clone3, &args, sizeof args);
}

/* try clones with set_tid; the child reports its getpid on a pipe and
 * waits until the parent closes the other pipe (so that its IDs stay
 * taken while hold is set). Returns the child's ID in the caller's
 * namespace, or -1. */
static int release_fd = -1;

static pid_t try(const char *label, pid_t *tids, uint64_t n, int hold) {
	int rep[2], rel[2];
	if (pipe(rep) < 0 || pipe(rel) < 0)
		_exit(97);
	long r = clone3_tids(tids, n);
	if (r == 0) {
		pid_t me = getpid();
		if (write(rep[1], &me, sizeof me) != sizeof me)
			_exit(96);
		char c;
		close(rel[1]);
		(void)!read(rel[0], &c, 1);
		_exit(0);
	}
	close(rep[1]);
	close(rel[0]);
	if (r < 0) {
		printf("%s: -1 %s\n", label, errname(errno));
		close(rep[0]);
		close(rel[1]);
		return -1;
	}
	pid_t child = -1;
	if (read(rep[0], &child, sizeof child) != sizeof child)
		child = -9;
	close(rep[0]);
	printf("%s: child's getpid %d\n", label, child);
	if (hold) {
		release_fd = rel[1];
	} else {
		close(rel[1]);
		waitpid(r, NULL, 0);
	}
	return r;
}

static void release(void) {
	if (release_fd >= 0)
		close(release_fd);
	release_fd = -1;
	while (waitpid(-1, NULL, 0) > 0)
		;
}

static void in_ns1(void) {
	printf("C: getpid %d\n", getpid());
	pid_t t5[] = {5};
	pid_t r = try("C: set_tid {5}", t5, 1, 1);
	printf("C: clone3 returned 5: %s\n", r == 5 ? "yes" : "no");
	try("C: set_tid {5} while 5 lives", t5, 1, 0);
	release();
	pid_t t1[] = {1};
	try("C: set_tid {1} (C's own)", t1, 1, 0);
	pid_t t3[] = {6, 7, 8};
	try("C: three IDs at level 1", t3, 3, 0);
	pid_t tout[] = {6, outer_pid};
	try("C: set_tid {6, P's outer ID}", tout, 2, 0);
	pid_t tzero[] = {6, 0};
	try("C: set_tid {6, 0}", tzero, 2, 0);
	pid_t tneg[] = {-1};
	try("C: set_tid {-1}", tneg, 1, 0);

	/* Without CAP_SYS_ADMIN. */
	pid_t d = fork();
	if (d == 0) {
		if (setresuid(1000, 1000, 1000) < 0)
			printf("D: setresuid: %s\n", errname(errno));
		pid_t t8[] = {8};
		try("D (uid 1000): set_tid {8}", t8, 1, 0);
		_exit(0);
	}
	waitpid(d, NULL, 0);

	/* A user namespace of its own: a PID namespace made in it is its
	 * own to number, its parent (owned by the first user namespace)
	 * is not. */
	pid_t e = fork();
	if (e == 0) {
		if (unshare(CLONE_NEWUSER | CLONE_NEWPID) < 0) {
			printf("E: unshare: %s\n", errname(errno));
			_exit(0);
		}
		pid_t t2[] = {2};
		try("E: set_tid {2} in a namespace without init", t2, 1, 0);
		pid_t t19[] = {1, 9};
		try("E: set_tid {1, 9}", t19, 2, 0);
		try("E: set_tid {1}", t1, 1, 0);
		_exit(0);
	}
	waitpid(e, NULL, 0);

	/* Two levels at once, privileged. */
	pid_t f = fork();
	if (f == 0) {
		if (unshare(CLONE_NEWPID) < 0) {
			printf("F: unshare: %s\n", errname(errno));
			_exit(0);
		}
		pid_t t19[] = {1, 9};
		pid_t r = try("F: set_tid {1, 9}", t19, 2, 0);
		printf("F: clone3 returned 9: %s\n", r == 9 ? "yes" : "no");
		_exit(0);
	}
	waitpid(f, NULL, 0);
	_exit(0);
}

int main(void) {
	init_output();
	outer_pid = getpid();
	struct clone_args args;
	memset(&args, 0, sizeof args);
	args.exit_signal = SIGCHLD;
	args.set_tid_size = 1;
	errno = 0;
	report("P: set_tid_size 1, set_tid NULL", syscall(SYS_clone3, &args, sizeof args));
	pid_t one[] = {1};
	args.set_tid = (uintptr_t)one;
	args.set_tid_size = 0;
	report("P: set_tid set, set_tid_size 0", syscall(SYS_clone3, &args, sizeof args));
	args.set_tid_size = 33;
	report("P: set_tid_size 33", syscall(SYS_clone3, &args, sizeof args));
	args.set_tid = 8;
	args.set_tid_size = 1;
	report("P: set_tid at a bad address", syscall(SYS_clone3, &args, sizeof args));
	char big[128];
	memset(big, 0, sizeof big);
	memcpy(big, &args, sizeof args);
	big[100] = 1;
	report("P: a larger struct with a non-zero tail", syscall(SYS_clone3, big, sizeof big));
	report("P: size 4097", syscall(SYS_clone3, big, 4097));
	report("P: size 63", syscall(SYS_clone3, big, 63));

	pid_t self[] = {outer_pid};
	try("P: set_tid {P's own ID}", self, 1, 0);
	pid_t two[] = {outer_pid, outer_pid};
	try("P: two IDs at the outermost level", two, 2, 0);

	if (unshare(CLONE_NEWPID) < 0) {
		printf("unshare(CLONE_NEWPID): %s\n", errname(errno));
		return 1;
	}
	pid_t t2[] = {2};
	try("P: set_tid {2} into a namespace without init", t2, 1, 0);
	long c = clone3_tids(one, 1);
	if (c == 0)
		in_ns1();
	if (c < 0) {
		printf("P: set_tid {1}: %s\n", errname(errno));
		return 1;
	}
	int st;
	waitpid(c, &st, 0);
	printf("P: C exited %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	return 0;
}
