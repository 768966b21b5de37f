/* pidfd.c: process file descriptors (issue 15, item 3): pidfd_open,
 * CLONE_PIDFD (clone and clone3), pidfd_send_signal, pidfd_getfd,
 * waitid(P_PIDFD) and a pidfd's readiness in poll and epoll. */
#include "common.h"
#include <linux/sched.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#ifndef PIDFD_NONBLOCK
#define PIDFD_NONBLOCK O_NONBLOCK
#endif

static int pidfd_open(pid_t pid, unsigned flags) { return syscall(SYS_pidfd_open, pid, flags); }
static int pidfd_send_signal(int fd, int sig, siginfo_t *info, unsigned flags) {
	return syscall(SYS_pidfd_send_signal, fd, sig, info, flags);
}
static int pidfd_getfd(int fd, int target, unsigned flags) { return syscall(SYS_pidfd_getfd, fd, target, flags); }

static void show_waitid(const char *label, int fd, int opts) {
	siginfo_t si;
	memset(&si, 0, sizeof si);
	int r = waitid(P_PIDFD, fd, &si, opts);
	if (r == -1)
		printf("%s = -1 %s\n", label, errname(errno));
	else
		printf("%s = %d code %d status %d pid set %s\n", label, r, si.si_code, si.si_status, si.si_pid ? "yes" : "no");
}

static int cloexec(int fd) { return (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0; }

static _Atomic int thread_tid;
static void *thread_fn(void *arg) {
	thread_tid = syscall(SYS_gettid);
	pause();
	return NULL;
}

int main(void) {
	init_output();
	int self = pidfd_open(getpid(), 0);
	report("pidfd_open(self) >= 0", self >= 0);
	yesno("close-on-exec", cloexec(self));
	char link[64] = "";
	char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", self);
	if (readlink(path, link, sizeof link - 1) < 0)
		strcpy(link, errname(errno));
	printf("link: %s\n", link);
	char b;
	report("read(pidfd)", read(self, &b, 1));
	report("pidfd_open(0)", pidfd_open(0, 0));
	report("pidfd_open(-1)", pidfd_open(-1, 0));
	report("pidfd_open bad flags", pidfd_open(getpid(), 1));
	report("pidfd_open missing pid", pidfd_open(0x3ffff0, 0));
	pthread_t th;
	pthread_create(&th, NULL, thread_fn, NULL);
	while (!thread_tid)
		usleep(1000);
	report("pidfd_open(a thread's TID)", pidfd_open(thread_tid, 0));
	report("pidfd_send_signal(self, 0)", pidfd_send_signal(self, 0, NULL, 0));
	report("pidfd_send_signal flags 8", pidfd_send_signal(self, 0, NULL, 8));
	report("pidfd_send_signal sig 99", pidfd_send_signal(self, 99, NULL, 0));
	report("pidfd_send_signal on stdin", pidfd_send_signal(0, 0, NULL, 0));
	report("pidfd_send_signal bad info", pidfd_send_signal(self, SIGUSR1, (void *)8, 0));
	show_waitid("waitid(P_PIDFD, self)", self, WEXITED | WNOHANG);
	show_waitid("waitid(P_PIDFD, stdin)", 0, WEXITED | WNOHANG);

	int p[2];
	if (pipe(p))
		die("pipe");
	pid_t c = fork();
	if (c == 0) {
		close(p[1]);
		read(p[0], &b, 1);
		_exit(3);
	}
	int fd = pidfd_open(c, 0);
	int nb = pidfd_open(c, PIDFD_NONBLOCK);
	struct pollfd pf = {fd, POLLIN, 0};
	report("poll while alive", poll(&pf, 1, 0));
	show_waitid("waitid on a non-blocking pidfd while alive", nb, WEXITED);
	show_waitid("waitid WNOHANG while alive", fd, WEXITED | WNOHANG);
	siginfo_t si;
	memset(&si, 0, sizeof si);
	si.si_signo = SIGUSR1;
	si.si_code = SI_USER;
	report("pidfd_send_signal info SI_USER to another", pidfd_send_signal(fd, SIGUSR1, &si, 0));
	si.si_code = SI_QUEUE;
	si.si_signo = SIGUSR2;
	report("pidfd_send_signal info signo differs", pidfd_send_signal(fd, SIGUSR1, &si, 0));
	int got = pidfd_getfd(fd, p[0], 0);
	struct stat s1, s2;
	fstat(p[0], &s1);
	fstat(got, &s2);
	yesno("pidfd_getfd gives the child's pipe", got >= 0 && s1.st_ino == s2.st_ino);
	yesno("pidfd_getfd's copy is close-on-exec", cloexec(got));
	report("pidfd_getfd bad target fd", pidfd_getfd(fd, 999, 0));
	report("pidfd_getfd flags 1", pidfd_getfd(fd, p[0], 1));
	report("pidfd_getfd on stdin", pidfd_getfd(0, p[0], 0));
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 7};
	report("epoll_ctl ADD pidfd", epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev));
	report("pidfd_send_signal SIGKILL", pidfd_send_signal(fd, SIGKILL, NULL, 0));
	report("poll after the kill", poll(&pf, 1, 10000));
	printf("revents %s\n", pf.revents & POLLIN ? "POLLIN" : "-");
	struct epoll_event out;
	int n = epoll_wait(ep, &out, 1, 10000);
	printf("epoll_wait = %d data %u %s\n", n, out.data.u32, out.events & EPOLLIN ? "EPOLLIN" : "-");
	report("pidfd_send_signal to a zombie", pidfd_send_signal(fd, SIGTERM, NULL, 0));
	show_waitid("waitid WNOWAIT", fd, WEXITED | WNOWAIT);
	show_waitid("waitid", fd, WEXITED);
	show_waitid("waitid after the reap", fd, WEXITED);
	report("pidfd_send_signal after the reap", pidfd_send_signal(fd, 0, NULL, 0));
	report("pidfd_getfd after the reap", pidfd_getfd(fd, 0, 0));

	/* CLONE_PIDFD with clone(2): the pidfd is stored at parent_tid. */
	int cfd = -1;
	long r = syscall(SYS_clone, CLONE_PIDFD | SIGCHLD, 0, &cfd, 0, 0);
	if (r == 0)
		_exit(7);
	yesno("clone(CLONE_PIDFD) made a pidfd", r > 0 && cfd >= 0);
	yesno("close-on-exec", cloexec(cfd));
	show_waitid("waitid(P_PIDFD) of the clone", cfd, WEXITED);
	int dummy;
	report("clone CLONE_PIDFD|CLONE_PARENT_SETTID", syscall(SYS_clone, CLONE_PIDFD | CLONE_PARENT_SETTID | SIGCHLD, 0, &dummy, &dummy, 0));
	report("clone CLONE_PIDFD bad pointer", syscall(SYS_clone, CLONE_PIDFD | SIGCHLD, 0, (void *)8, 0, 0));

	/* And with clone3. */
	int c3fd = -1;
	struct clone_args ca;
	memset(&ca, 0, sizeof ca);
	ca.flags = CLONE_PIDFD;
	ca.pidfd = (uintptr_t)&c3fd;
	ca.exit_signal = SIGCHLD;
	r = syscall(SYS_clone3, &ca, sizeof ca);
	if (r == 0)
		_exit(9);
	yesno("clone3(CLONE_PIDFD) made a pidfd", r > 0 && c3fd >= 0);
	show_waitid("waitid(P_PIDFD) of the clone3 child", c3fd, WEXITED);
	return 0;
}
