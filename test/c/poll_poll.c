/* poll_poll: poll/ppoll and select/pselect6 over pipes, /dev/null, a
 * regular file, a directory and invalid descriptors: revents, POLLNVAL,
 * EBADF, timeouts that return 0, the remaining time select and ppoll write
 * back, and waits woken by another process. */
#include "common.h"
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

static const char *revname(short e) {
	static char buf[128];
	buf[0] = 0;
	if (e & POLLIN) strcat(buf, "|IN");
	if (e & POLLPRI) strcat(buf, "|PRI");
	if (e & POLLOUT) strcat(buf, "|OUT");
	if (e & POLLERR) strcat(buf, "|ERR");
	if (e & POLLHUP) strcat(buf, "|HUP");
	if (e & POLLNVAL) strcat(buf, "|NVAL");
	if (e & POLLRDNORM) strcat(buf, "|RDNORM");
	if (e & POLLWRNORM) strcat(buf, "|WRNORM");
	return buf[0] ? buf + 1 : "0";
}

static void showpoll(const char *label, struct pollfd *p, int n, int ms) {
	int r = poll(p, n, ms);
	if (r < 0) {
		printf("%s = -1 %s\n", label, errname(errno));
		return;
	}
	printf("%s = %d", label, r);
	for (int i = 0; i < n; i++)
		printf(" [%s]", revname(p[i].revents));
	printf("\n");
}

static long now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* child_act forks a child that sleeps ms, then writes a byte to fd (or
 * closes it when close_it). */
static pid_t child_act(int fd, int ms, int close_it) {
	pid_t pid = fork();
	if (pid == 0) {
		struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
		nanosleep(&ts, NULL);
		if (close_it)
			close(fd);
		else if (write(fd, "z", 1) != 1)
			_exit(1);
		_exit(0);
	}
	return pid;
}

/* showsel runs select over fds 0..n-1 with the given sets and prints which
 * descriptors each set kept. */
static void showsel(const char *label, int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *tv) {
	int ret = select(n, r, w, e, tv);
	if (ret < 0) {
		printf("%s = -1 %s\n", label, errname(errno));
		return;
	}
	printf("%s = %d", label, ret);
	const char *names[] = {"r", "w", "e"};
	fd_set *sets[] = {r, w, e};
	for (int s = 0; s < 3; s++) {
		if (!sets[s])
			continue;
		printf(" %s:", names[s]);
		for (int fd = 0; fd < n; fd++)
			if (FD_ISSET(fd, sets[s]))
				printf(" %d", fd);
	}
	printf("\n");
}

int main(void) {
	init_output();
	int p[2];
	if (pipe2(p, O_NONBLOCK) < 0)
		die("pipe2");
	int null = open("/dev/null", O_RDWR);
	int reg = open("/etc/passwd", O_RDONLY);
	int dir = open("/", O_RDONLY | O_DIRECTORY);
	/* Renumber to fixed descriptors so that select's output is stable. */
	dup2(p[0], 10), dup2(p[1], 11), dup2(null, 12), dup2(reg, 13), dup2(dir, 14);
	close(p[0]), close(p[1]), close(null), close(reg), close(dir);
	int R = 10, W = 11, N = 12, F = 13, D = 14;

	/* poll. */
	struct pollfd a[] = {
		{R, POLLIN, 0}, {W, POLLOUT, 0}, {N, POLLIN | POLLOUT, 0},
		{F, POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM | POLLPRI, 0}, {D, POLLIN, 0},
		{-1, POLLIN, 0}, {500, POLLIN, 0}, {R, 0, 0},
	};
	showpoll("poll mix", a, 8, 0);
	write(W, "hello", 5);
	showpoll("poll after write", a, 2, 0);
	struct pollfd rd = {R, POLLIN | POLLRDNORM, 0};
	showpoll("poll RDNORM", &rd, 1, 0);
	char buf[16];
	read(R, buf, sizeof buf);
	long t0 = now_ms();
	showpoll("poll empty pipe 50ms", &rd, 1, 50);
	printf("poll waited at least 50ms: %s\n", now_ms() - t0 >= 49 ? "yes" : "no");
	showpoll("poll nfds 0, 20ms", NULL, 0, 20);
	int opath = open("/etc", O_PATH);
	struct pollfd op = {opath, POLLIN, 0};
	showpoll("poll O_PATH", &op, 1, 0);
	{
		fd_set os;
		FD_ZERO(&os);
		FD_SET(opath, &os);
		struct timeval z = {0, 0};
		report("select O_PATH", select(opath + 1, &os, NULL, NULL, &z));
	}
	close(opath);
	report("poll bad pointer", syscall(SYS_poll, (void *)8, 1, 0));
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	report("poll nfds above RLIMIT_NOFILE", syscall(SYS_poll, a, rl.rlim_cur + 1, 0));

	/* Hang-up and error. */
	int q[2];
	pipe2(q, O_NONBLOCK);
	struct pollfd h[] = {{q[0], POLLIN, 0}, {q[1], POLLOUT, 0}};
	close(q[1]);
	showpoll("read end after the writer closed", h, 1, 0);
	pipe2(q, O_NONBLOCK);
	h[1].fd = q[1];
	close(q[0]);
	showpoll("write end after the reader closed", &h[1], 1, 0);
	close(q[1]);

	/* ppoll: timespec, remaining time, signal mask. */
	struct timespec ts = {0, 30 * 1000000};
	rd.fd = R;
	report("ppoll 30ms", ppoll(&rd, 1, &ts, NULL));
	printf("ppoll remaining after timeout: %ld.%09ld\n", (long)ts.tv_sec, ts.tv_nsec);
	write(W, "x", 1);
	ts.tv_sec = 5, ts.tv_nsec = 0;
	sigset_t ss;
	sigemptyset(&ss);
	sigaddset(&ss, SIGUSR2);
	report("ppoll ready, 5s, with mask", ppoll(&rd, 1, &ts, &ss));
	printf("ppoll remaining in (4s, 5s]: %s\n", (ts.tv_sec == 4 || (ts.tv_sec == 5 && ts.tv_nsec == 0)) ? "yes" : "no");
	sigset_t cur;
	sigprocmask(SIG_SETMASK, NULL, &cur);
	yesno("mask restored after ppoll", !sigismember(&cur, SIGUSR2));
	ts.tv_sec = 0, ts.tv_nsec = 1000000000L;
	report("ppoll bad timespec", ppoll(&rd, 1, &ts, NULL));
	report("ppoll bad sigsetsize", syscall(SYS_ppoll, &rd, 1, NULL, &ss, 4));
	read(R, buf, sizeof buf);
	/* glibc's ppoll passes the kernel a copy; the raw call shows the
	 * remaining time Linux writes back. */
	ts.tv_sec = 0, ts.tv_nsec = 30 * 1000000;
	report("ppoll raw 30ms", syscall(SYS_ppoll, &rd, 1, &ts, NULL, 8));
	printf("ppoll raw remaining after timeout: %ld.%09ld\n", (long)ts.tv_sec, ts.tv_nsec);

	/* select. */
	fd_set r, w, e;
	FD_ZERO(&r);
	FD_ZERO(&w);
	FD_ZERO(&e);
	FD_SET(R, &r), FD_SET(N, &r), FD_SET(F, &r), FD_SET(D, &r);
	FD_SET(W, &w), FD_SET(N, &w), FD_SET(F, &w), FD_SET(R, &w);
	FD_SET(R, &e), FD_SET(F, &e);
	struct timeval tv = {0, 0};
	showsel("select mix", 15, &r, &w, &e, &tv);
	FD_ZERO(&r);
	FD_SET(R, &r);
	tv.tv_sec = 0, tv.tv_usec = 50000;
	t0 = now_ms();
	showsel("select empty pipe 50ms", 15, &r, NULL, NULL, &tv);
	printf("select waited at least 50ms: %s\n", now_ms() - t0 >= 49 ? "yes" : "no");
	printf("select remaining after timeout: %ld.%06ld\n", (long)tv.tv_sec, (long)tv.tv_usec);
	write(W, "y", 1);
	FD_SET(R, &r);
	tv.tv_sec = 5, tv.tv_usec = 0;
	showsel("select ready, 5s", 15, &r, NULL, NULL, &tv);
	printf("select remaining in (4s, 5s]: %s\n", (tv.tv_sec == 4 || (tv.tv_sec == 5 && tv.tv_usec == 0)) ? "yes" : "no");
	read(R, buf, sizeof buf);
	FD_ZERO(&r);
	FD_SET(R, &r), FD_SET(20, &r);
	tv.tv_sec = 0, tv.tv_usec = 0;
	showsel("select closed descriptor", 21, &r, NULL, NULL, &tv);
	showsel("select nfds -1", -1, NULL, NULL, NULL, &tv);
	tv.tv_sec = -1;
	showsel("select negative timeout", 1, NULL, NULL, NULL, &tv);
	tv.tv_sec = 0, tv.tv_usec = 1500000; /* normalised: 1.5s */
	FD_ZERO(&w);
	FD_SET(W, &w);
	showsel("select usec above a second", 15, NULL, &w, NULL, &tv);
	tv.tv_sec = 0, tv.tv_usec = 20000;
	t0 = now_ms();
	showsel("select no descriptors, 20ms", 0, NULL, NULL, NULL, &tv);
	printf("select slept at least 20ms: %s\n", now_ms() - t0 >= 19 ? "yes" : "no");
	/* A hung-up read end is readable; it is not writable. */
	pipe2(q, O_NONBLOCK);
	dup2(q[0], 16), dup2(q[1], 17);
	close(q[0]), close(q[1]), close(17);
	FD_ZERO(&r);
	FD_ZERO(&w);
	FD_SET(16, &r);
	FD_SET(16, &w);
	tv.tv_sec = 0, tv.tv_usec = 0;
	showsel("select hung-up read end", 17, &r, &w, NULL, &tv);
	close(16);

	/* pselect6. */
	FD_ZERO(&r);
	FD_SET(R, &r);
	ts.tv_sec = 0, ts.tv_nsec = 20 * 1000000;
	report("pselect 20ms with mask", pselect(15, &r, NULL, NULL, &ts, &ss));
	sigprocmask(SIG_SETMASK, NULL, &cur);
	yesno("mask restored after pselect", !sigismember(&cur, SIGUSR2));
	{
		struct timespec t6 = {0, 20 * 1000000};
		struct {
			const sigset_t *ss;
			size_t len;
		} arg = {&ss, 8};
		FD_SET(R, &r);
		report("pselect6 raw 20ms", syscall(SYS_pselect6, 15, &r, NULL, NULL, &t6, &arg));
		printf("pselect6 remaining after timeout: %ld.%09ld\n", (long)t6.tv_sec, t6.tv_nsec);
		arg.len = 4;
		report("pselect6 bad sigsetsize", syscall(SYS_pselect6, 15, &r, NULL, NULL, &t6, &arg));
	}

	/* Waits woken by another process. */
	rd.fd = R;
	t0 = now_ms();
	pid_t pid = child_act(W, 100, 0);
	showpoll("poll woken by a child's write", &rd, 1, -1);
	yesno("poll blocked until the write", now_ms() - t0 >= 90);
	waitpid(pid, NULL, 0);
	read(R, buf, sizeof buf);
	FD_ZERO(&r);
	FD_SET(R, &r);
	t0 = now_ms();
	pid = child_act(W, 100, 0);
	showsel("select woken by a child's write", 15, &r, NULL, NULL, NULL);
	yesno("select blocked until the write", now_ms() - t0 >= 90);
	waitpid(pid, NULL, 0);
	read(R, buf, sizeof buf);
	/* The child's close alone is no hang-up: this process still has the
	 * write end. Close ours, and the child's close is the last. */
	pid = child_act(W, 100, 1);
	close(W);
	t0 = now_ms();
	showpoll("poll woken by the last writer's close", &rd, 1, -1);
	yesno("poll blocked until the close", now_ms() - t0 >= 90);
	waitpid(pid, NULL, 0);
	return 0;
}
