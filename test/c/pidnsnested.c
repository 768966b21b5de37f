/* pidnsnested.c: nested PID namespaces (issue 15 item 6).
 *
 * unshare(CLONE_NEWPID) makes the caller's next child the init (PID 1) of
 * a new namespace. The program prints what the processes inside and
 * outside see: the caller keeps its PID, init is 1 with parent 0, its
 * children number on from 2, /proc/PID/status's NSpid from outside shows
 * both IDs, SIGCHLD's and waitid's si_pid are inside IDs, an orphan
 * inside is reparented to the namespace's init, init ignores an unhandled
 * SIGTERM from inside but takes a handled signal the outside sends by the
 * outer PID (si_pid 0: the sender is not in its namespace), SO_PEERCRED
 * and SCM_CREDENTIALS carry inside IDs (a child may claim its own), and init's
 * exit kills every other process of the namespace; a fork into the dead
 * namespace is ENOMEM; clone(CLONE_NEWPID), its EINVAL with CLONE_THREAD,
 * a second unshare, setns back to the caller's own namespace. Only
 * relations and inside IDs are printed, never outer PIDs.
 */
#include "common.h"
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>

static volatile sig_atomic_t usr1_pid = -1;

static void on_usr1(int sig, siginfo_t *si, void *uc) {
	(void)sig;
	(void)uc;
	usr1_pid = si->si_pid;
}

static volatile sig_atomic_t chld_pid = -1;

static void on_chld(int sig, siginfo_t *si, void *uc) {
	(void)sig;
	(void)uc;
	if (chld_pid == -1)
		chld_pid = si->si_pid;
}

static char *nsfield(pid_t pid, const char *key) {
	static char line[256];
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/status", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return "open failed";
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, key, strlen(key)) == 0 && line[strlen(key)] == ':') {
			fclose(f);
			char *v = line + strlen(key) + 1;
			while (*v == '\t' || *v == ' ')
				v++;
			v[strcspn(v, "\n")] = 0;
			return v;
		}
	}
	fclose(f);
	return "missing";
}

/* creds_inside: SO_PEERCRED and SCM_CREDENTIALS between init and its
 * child carry inside IDs (the child claims its own getpid()). */
static void creds_inside(void) {
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv))
		return;
	struct ucred uc;
	socklen_t len = sizeof uc;
	getsockopt(sv[0], SOL_SOCKET, SO_PEERCRED, &uc, &len);
	printf("init: SO_PEERCRED pid = %d\n", uc.pid);
	int on = 1;
	setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &on, sizeof on);
	pid_t c = fork();
	if (c == 0) {
		struct ucred mine = {getpid(), getuid(), getgid()};
		char cbuf[CMSG_SPACE(sizeof mine)] = {0};
		char b = 'c';
		struct iovec iov = {&b, 1};
		struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
		struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_CREDENTIALS;
		cm->cmsg_len = CMSG_LEN(sizeof mine);
		memcpy(CMSG_DATA(cm), &mine, sizeof mine);
		int ok = sendmsg(sv[1], &m, 0) == 1;
		if (!ok && write(sv[1], "f", 1) != 1) /* init must not wait forever */
			_exit(3);
		/* Alive until init has read it. */
		char w;
		if (read(sv[1], &w, 1) != 1)
			_exit(2);
		_exit(ok ? 0 : 1);
	}
	char b, cbuf[CMSG_SPACE(sizeof uc)] = {0};
	struct iovec iov = {&b, 1};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
	ssize_t got = recvmsg(sv[0], &m, 0);
	if (sendto(sv[0], "g", 1, 0, NULL, 0) != 1)
		printf("init: sendto failed: %s\n", errname(errno));
	int st;
	waitpid(c, &st, 0);
	printf("init: child's sendmsg with its own pid: %s\n", WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "ok" : "failed");
	if (got == 1 && CMSG_FIRSTHDR(&m)) {
		memcpy(&uc, CMSG_DATA(CMSG_FIRSTHDR(&m)), sizeof uc);
		printf("init: SCM_CREDENTIALS pid = %d (child %d)\n", uc.pid, c);
	} else {
		printf("init: no credentials received\n");
	}
	close(sv[0]);
	close(sv[1]);
}

/* init runs as PID 1 of the new namespace. */
static int init_main(int to_parent, int from_parent, int alive_w) {
	printf("init: getpid = %d, getppid = %d\n", getpid(), getppid());
	printf("init: getpgid(0) = %d, getsid(0) = %d\n", getpgid(0), getsid(0));
	struct sigaction sa = {0};
	sa.sa_sigaction = on_chld;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGCHLD, &sa, NULL);
	sa.sa_sigaction = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);

	/* A child: ID 2, parent 1; it tries to kill init with SIGTERM. */
	int p[2];
	if (pipe(p))
		return 90;
	pid_t c = fork();
	if (c == 0) {
		printf("child: getpid = %d, getppid = %d\n", getpid(), getppid());
		printf("child: kill(1, SIGTERM) = %d\n", kill(1, SIGTERM));
		/* An orphan-to-be: its parent exits before it looks. */
		pid_t g = fork();
		if (g == 0) {
			char b;
			close(p[1]);
			if (read(p[0], &b, 1) != 1)
				_exit(97);
			printf("orphan: getpid = %d, getppid = %d\n", getpid(), getppid());
			_exit(5);
		}
		_exit(4);
	}
	siginfo_t si = {0};
	waitid(P_PID, c, &si, WEXITED);
	printf("init: fork returned %d\n", c);
	printf("init: waitid si_pid = %d, status %d; SIGCHLD si_pid = %d\n", si.si_pid, si.si_status, (int)chld_pid);
	printf("init: still running after SIGTERM from inside\n");
	put_byte(p[1]);
	int st;
	pid_t w = wait(&st);
	printf("init: reaped the orphan %d, status %d\n", w, WEXITSTATUS(st));
	close(p[0]);
	close(p[1]);
	chld_pid = 0;
	creds_inside();

	/* The outside sends SIGUSR1 by the outer PID. */
	put_byte(to_parent);
	while (usr1_pid == -1)
		pause();
	printf("init: SIGUSR1 from outside, si_pid = %d\n", (int)usr1_pid);
	put_byte(to_parent);

	/* A process that would live on: init's exit kills it. */
	pid_t s = fork();
	if (s == 0) {
		close(to_parent);
		for (;;)
			pause();
	}
	(void)alive_w;
	printf("init: made process %d to outlive it\n", s);
	put_byte(to_parent);
	wait_byte(from_parent);
	return 3;
}

static int clone_child(void *arg) {
	(void)arg;
	printf("clone child: getpid = %d, getppid = %d\n", getpid(), getppid());
	return 6;
}

int main(void) {
	init_output();
	pid_t me = getpid();
	char own[64] = {0}, kids[64] = {0};
	report("unshare(CLONE_NEWPID)", unshare(CLONE_NEWPID));
	printf("getpid unchanged: %s\n", getpid() == me ? "yes" : "no");
	readlink("/proc/self/ns/pid", own, sizeof own - 1);
	readlink("/proc/self/ns/pid_for_children", kids, sizeof kids - 1);
	printf("pid_for_children differs from pid: %s\n", strcmp(own, kids) ? "yes" : "no");
	errno = 0;
	report("second unshare(CLONE_NEWPID)", unshare(CLONE_NEWPID));

	int up[2], down[2], alive[2];
	if (pipe(up) || pipe(down) || pipe(alive))
		return 1;
	pid_t init = fork();
	if (init == 0) {
		close(up[0]);
		close(down[1]);
		close(alive[0]);
		_exit(init_main(up[1], down[0], alive[1]));
	}
	close(up[1]);
	close(down[0]);
	close(alive[1]);
	wait_byte(up[0]);
	printf("parent: init's outer pid is 1: %s\n", init == 1 ? "yes" : "no");
	char want[32];
	snprintf(want, sizeof want, "%d\t1", init);
	printf("parent: init's NSpid is outer and 1: %s\n", strcmp(nsfield(init, "NSpid"), want) == 0 ? "yes" : nsfield(init, "NSpid"));
	long k = kill(init, SIGUSR1);
	wait_byte(up[0]);
	wait_byte(up[0]);
	report("parent: kill(init, SIGUSR1)", k);
	/* init's exit (after this byte) kills its sleeper, which held
	 * alive's write end: read then sees end of file. */
	put_byte(down[1]);
	int st;
	waitpid(init, &st, 0);
	printf("parent: init exited with %d\n", WEXITSTATUS(st));
	char b;
	printf("parent: the namespace's other process is gone: %s\n", read(alive[0], &b, 1) == 0 ? "yes" : "no");
	errno = 0;
	pid_t late = fork();
	if (late == 0)
		_exit(0);
	report("parent: fork into the dead namespace", late);
	if (late > 0)
		waitpid(late, NULL, 0);

	/* setns back to its own namespace for children. */
	int fd = open("/proc/self/ns/pid", O_RDONLY);
	report("setns(own pid ns)", setns(fd, CLONE_NEWPID));
	close(fd);
	pid_t again = fork();
	if (again == 0)
		_exit(getppid() == me ? 0 : 1);
	waitpid(again, &st, 0);
	printf("child after setns sees its parent: %s\n", WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "yes" : "no");

	/* clone(CLONE_NEWPID) directly. */
	static char stack[65536];
	pid_t cc = clone(clone_child, stack + sizeof stack, CLONE_NEWPID | SIGCHLD, NULL);
	waitpid(cc, &st, 0);
	printf("clone(CLONE_NEWPID) child exited with %d\n", WEXITSTATUS(st));
	errno = 0;
	report("clone(CLONE_NEWPID|CLONE_THREAD)", syscall(SYS_clone, CLONE_NEWPID | CLONE_THREAD | CLONE_SIGHAND | CLONE_VM, 0, 0, 0, 0));
	return 0;
}
