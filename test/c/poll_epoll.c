/* poll_epoll: epoll_create/create1, epoll_ctl (ADD/MOD/DEL and their
 * errors), epoll_wait/epoll_pwait/epoll_pwait2 on pipes: level-triggered,
 * EPOLLET, EPOLLONESHOT, EPOLLHUP/EPOLLERR, data round trip, maxevents,
 * timeouts, a wake-up by another process, an eventfd, and an epoll
 * instance inside another.
 *
 * With the argument "close": closing the last descriptor of a watched
 * file removes it from the interest list. */
#include "common.h"
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

static const char *evname(uint32_t e) {
	static char buf[128];
	buf[0] = 0;
	if (e & EPOLLIN) strcat(buf, "|IN");
	if (e & EPOLLOUT) strcat(buf, "|OUT");
	if (e & EPOLLPRI) strcat(buf, "|PRI");
	if (e & EPOLLRDHUP) strcat(buf, "|RDHUP");
	if (e & EPOLLERR) strcat(buf, "|ERR");
	if (e & EPOLLHUP) strcat(buf, "|HUP");
	if (e & EPOLLRDNORM) strcat(buf, "|RDNORM");
	if (e & EPOLLWRNORM) strcat(buf, "|WRNORM");
	return buf[0] ? buf + 1 : "0";
}

static int bydata(const void *a, const void *b) {
	uint64_t x = ((const struct epoll_event *)a)->data.u64, y = ((const struct epoll_event *)b)->data.u64;
	return x < y ? -1 : x > y;
}

/* show waits with timeout ms and prints the result and the events, sorted
 * by data: the order of events that one wake-up made ready is not
 * specified (Linux's follows its wait queue). */
static void show(const char *label, int ep, int maxev, int ms) {
	struct epoll_event evs[8];
	int n = epoll_wait(ep, evs, maxev, ms);
	if (n > 1)
		qsort(evs, n, sizeof evs[0], bydata);
	if (n < 0) {
		printf("%s = -1 %s\n", label, errname(errno));
		return;
	}
	printf("%s = %d", label, n);
	for (int i = 0; i < n; i++)
		printf(" [%s data=%llu]", evname(evs[i].events), (unsigned long long)evs[i].data.u64);
	printf("\n");
}

static int add(int ep, int fd, uint32_t events, uint64_t data) {
	struct epoll_event e = {.events = events, .data.u64 = data};
	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
}

static int mod(int ep, int fd, uint32_t events, uint64_t data) {
	struct epoll_event e = {.events = events, .data.u64 = data};
	return epoll_ctl(ep, EPOLL_CTL_MOD, fd, &e);
}

static long now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* child_write forks a child that sleeps ms and then writes one byte to fd. */
static pid_t child_write(int fd, int ms) {
	pid_t pid = fork();
	if (pid == 0) {
		struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
		nanosleep(&ts, NULL);
		if (write(fd, "z", 1) != 1)
			_exit(1);
		_exit(0);
	}
	return pid;
}

static void drain(int fd) {
	char buf[256];
	while (read(fd, buf, sizeof buf) > 0)
		;
}

static int close_case(void) {
	int p[2], ep = epoll_create1(0);
	pipe2(p, O_NONBLOCK);
	report("add write end", add(ep, p[1], EPOLLOUT, 1));
	show("wait before close", ep, 8, 0);
	int d = dup(p[1]);
	close(p[1]);
	show("wait after close of one of two descriptors", ep, 8, 0);
	report("DEL under the closed number", epoll_ctl(ep, EPOLL_CTL_DEL, p[1], NULL));
	report("DEL under the duplicate", epoll_ctl(ep, EPOLL_CTL_DEL, d, NULL));
	report("re-add under the duplicate", add(ep, d, EPOLLOUT, 2));
	close(d);
	show("wait after the last close", ep, 8, 0);
	int q[2];
	pipe2(q, O_NONBLOCK);
	report("add read end", add(ep, q[0], EPOLLIN, 3));
	write(q[1], "x", 1);
	close(q[0]);
	show("wait after close of a readable end", ep, 8, 0);
	return 0;
}

int main(int argc, char **argv) {
	init_output();
	if (argc > 1 && strcmp(argv[1], "close") == 0)
		return close_case();

	/* Creation. */
	report("epoll_create(0)", epoll_create(0));
	report("epoll_create(-1)", epoll_create(-1));
	report("epoll_create1(bad flags)", epoll_create1(1));
	int ep = epoll_create(10);
	yesno("epoll_create(10) ok", ep >= 0);
	close(ep);
	ep = epoll_create1(EPOLL_CLOEXEC);
	report("F_GETFD of EPOLL_CLOEXEC", fcntl(ep, F_GETFD));
	report("F_GETFL of an epoll fd", fcntl(ep, F_GETFL));
	char c;
	report("read of an epoll fd", read(ep, &c, 1));

	int p[2];
	if (pipe2(p, O_NONBLOCK) < 0)
		die("pipe2");

	/* ctl errors. */
	struct epoll_event e = {.events = EPOLLIN};
	report("ctl bad epfd", epoll_ctl(1000, EPOLL_CTL_ADD, p[0], &e));
	report("ctl bad fd", epoll_ctl(ep, EPOLL_CTL_ADD, 1000, &e));
	report("ctl epfd not epoll", epoll_ctl(p[1], EPOLL_CTL_ADD, p[0], &e));
	report("ctl add self", epoll_ctl(ep, EPOLL_CTL_ADD, ep, &e));
	report("ctl bad op", epoll_ctl(ep, 99, p[0], &e));
	report("ctl MOD of unwatched", epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &e));
	report("ctl DEL of unwatched", epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL));
	report("ctl ADD bad pointer", epoll_ctl(ep, EPOLL_CTL_ADD, p[0], (void *)8));
	int reg = open("/etc/passwd", O_RDONLY);
	report("ctl ADD regular file", epoll_ctl(ep, EPOLL_CTL_ADD, reg, &e));
	int dir = open("/", O_RDONLY | O_DIRECTORY);
	report("ctl ADD directory", epoll_ctl(ep, EPOLL_CTL_ADD, dir, &e));
	report("ctl ADD regular file to non-epoll", epoll_ctl(p[1], EPOLL_CTL_ADD, reg, &e));
	report("ctl ADD EPOLLEXCLUSIVE|EPOLLPRI", add(ep, p[0], EPOLLIN | EPOLLEXCLUSIVE | EPOLLPRI, 0));
	report("ctl MOD EPOLLEXCLUSIVE of unwatched", mod(ep, p[0], EPOLLIN | EPOLLEXCLUSIVE, 0));
	int opath = open("/etc", O_PATH);
	report("ctl ADD O_PATH", epoll_ctl(ep, EPOLL_CTL_ADD, opath, &e));
	close(opath);

	/* Level-triggered. */
	report("ADD read end LT", add(ep, p[0], EPOLLIN, 111));
	report("ADD again", add(ep, p[0], EPOLLIN, 111));
	show("LT empty, timeout 0", ep, 8, 0);
	long t0 = now_ms();
	show("LT empty, timeout 50ms", ep, 8, 50);
	yesno("waited at least 50ms", now_ms() - t0 >= 49);
	write(p[1], "abc", 3);
	show("LT after write", ep, 8, 0);
	show("LT again (still readable)", ep, 8, 0);
	drain(p[0]);
	show("LT after drain", ep, 8, 0);
	report("maxevents 0", epoll_wait(ep, (struct epoll_event[1]){}, 0, 0));
	report("maxevents -1", syscall(SYS_epoll_wait, ep, (struct epoll_event[1]){}, -1, 0));
	report("epoll_wait bad epfd", epoll_wait(1000, (struct epoll_event[1]){}, 1, 0));
	report("epoll_wait non-epoll fd", epoll_wait(p[0], (struct epoll_event[1]){}, 1, 0));
	write(p[1], "x", 1);
	report("epoll_wait bad buffer", syscall(SYS_epoll_wait, ep, (void *)8, 1, 0));

	/* Both ends, maxevents 1: round robin. */
	report("ADD write end", add(ep, p[1], EPOLLOUT, 222));
	show("maxevents 1 (a)", ep, 1, 0);
	show("maxevents 1 (b)", ep, 1, 0);
	show("maxevents 8", ep, 8, 0);
	report("DEL write end", epoll_ctl(ep, EPOLL_CTL_DEL, p[1], NULL));
	drain(p[0]);

	/* Edge-triggered. */
	report("MOD to EPOLLET", mod(ep, p[0], EPOLLIN | EPOLLET, 333));
	show("ET empty", ep, 8, 0);
	write(p[1], "a", 1);
	show("ET after write", ep, 8, 0);
	show("ET again (no new edge)", ep, 8, 0);
	write(p[1], "b", 1);
	show("ET after second write", ep, 8, 0);
	read(p[0], &c, 1);
	show("ET after partial read", ep, 8, 0);
	drain(p[0]);

	/* One-shot. */
	report("MOD to EPOLLONESHOT", mod(ep, p[0], EPOLLIN | EPOLLONESHOT, 444));
	write(p[1], "a", 1);
	show("ONESHOT first", ep, 8, 0);
	show("ONESHOT disabled", ep, 8, 0);
	write(p[1], "b", 1);
	show("ONESHOT disabled after write", ep, 8, 0);
	report("ADD of a disabled interest", add(ep, p[0], EPOLLIN, 0));
	report("MOD re-arms", mod(ep, p[0], EPOLLIN | EPOLLONESHOT, 555));
	show("ONESHOT re-armed", ep, 8, 0);
	report("MOD with EPOLLEXCLUSIVE", mod(ep, p[0], EPOLLIN | EPOLLEXCLUSIVE, 0));
	report("DEL read end", epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL));
	drain(p[0]);

	/* Data round trip: all 64 bits. */
	report("ADD with data", add(ep, p[1], EPOLLOUT, 0xfedcba9876543210ULL));
	{
		struct epoll_event out[2];
		int n = epoll_wait(ep, out, 2, 0);
		printf("data round trip: n=%d data=%#llx fd-union=%d\n", n, (unsigned long long)out[0].data.u64, (int)(uint32_t)out[0].data.u64);
	}
	epoll_ctl(ep, EPOLL_CTL_DEL, p[1], NULL);

	/* Hang-up and error. */
	int q[2];
	pipe2(q, O_NONBLOCK);
	report("ADD read end, no events", add(ep, q[0], 0, 1));
	report("ADD read end RDHUP", add(ep, dup(q[0]), EPOLLIN | EPOLLRDHUP, 2));
	show("before the writer closes", ep, 8, 0);
	close(q[1]);
	show("after the writer closed", ep, 8, 0);
	int r2[2];
	pipe2(r2, O_NONBLOCK);
	int ep2 = epoll_create1(0);
	report("ADD write end", add(ep2, r2[1], EPOLLOUT, 3));
	close(r2[0]);
	show("write end after the reader closed", ep2, 8, 0);
	close(ep2);
	close(ep);

	/* Blocking: a child writes after 100ms; epoll_wait(-1) wakes. */
	ep = epoll_create1(0);
	int b[2];
	pipe2(b, O_NONBLOCK);
	add(ep, b[0], EPOLLIN, 7);
	t0 = now_ms();
	pid_t pid = child_write(b[1], 100);
	show("blocking wait woken by a child", ep, 8, -1);
	yesno("blocked until the child wrote", now_ms() - t0 >= 90);
	waitpid(pid, NULL, 0);
	drain(b[0]);

	/* epoll_pwait with a signal mask, then epoll_pwait2. */
	sigset_t ss;
	sigemptyset(&ss);
	sigaddset(&ss, SIGUSR1);
	struct epoll_event out[4];
	report("epoll_pwait timeout 20ms with mask", epoll_pwait(ep, out, 4, 20, &ss));
	report("epoll_pwait bad sigsetsize", syscall(SYS_epoll_pwait, ep, out, 4, 0, &ss, 4));
	sigset_t cur;
	sigprocmask(SIG_SETMASK, NULL, &cur);
	yesno("mask restored after epoll_pwait", !sigismember(&cur, SIGUSR1));
	struct timespec ts = {0, 20 * 1000000};
	t0 = now_ms();
	report("epoll_pwait2 20ms", syscall(SYS_epoll_pwait2, ep, out, 4, &ts, NULL, 8));
	yesno("epoll_pwait2 waited", now_ms() - t0 >= 19);
	struct timespec zero = {0, 0};
	report("epoll_pwait2 zero", syscall(SYS_epoll_pwait2, ep, out, 4, &zero, NULL, 8));
	struct timespec badts = {0, 2000000000L};
	report("epoll_pwait2 bad timespec", syscall(SYS_epoll_pwait2, ep, out, 4, &badts, NULL, 8));
	write(b[1], "q", 1);
	report("epoll_pwait2 NULL timeout, ready", syscall(SYS_epoll_pwait2, ep, out, 4, NULL, NULL, 8));
	drain(b[0]);

	/* eventfd under epoll, edge-triggered. */
	int efd = eventfd(0, EFD_NONBLOCK);
	report("ADD eventfd ET", add(ep, efd, EPOLLIN | EPOLLOUT | EPOLLET, 9));
	show("eventfd writable", ep, 8, 0);
	show("eventfd no new edge", ep, 8, 0);
	uint64_t one = 1;
	write(efd, &one, 8);
	show("eventfd after write", ep, 8, 0);

	/* Nested: an epoll inside another. */
	int outer = epoll_create1(0), inner = epoll_create1(0);
	int n[2];
	pipe2(n, O_NONBLOCK);
	report("inner ADD pipe", add(inner, n[0], EPOLLIN, 10));
	report("outer ADD inner", add(outer, inner, EPOLLIN, 20));
	report("inner ADD outer (loop)", add(inner, outer, EPOLLIN, 0));
	report("outer ADD inner EPOLLEXCLUSIVE", add(outer, dup(inner), EPOLLIN | EPOLLEXCLUSIVE, 0));
	show("outer, nothing ready", outer, 8, 0);
	write(n[1], "x", 1);
	show("outer, inner ready", outer, 8, 0);
	show("inner", inner, 8, 0);
	struct pollfd pfd = {.fd = inner, .events = POLLIN};
	report("poll of an epoll fd", poll(&pfd, 1, 0));
	printf("poll revents = %#x\n", pfd.revents);
	drain(n[0]);
	show("outer after drain", outer, 8, 0);
	/* Nesting depth: a chain of instances. */
	int chain[8];
	chain[0] = epoll_create1(0);
	int depth = 1;
	for (int i = 1; i < 8; i++) {
		chain[i] = epoll_create1(0);
		if (add(chain[i], chain[i - 1], EPOLLIN, 0) < 0) {
			printf("chain add %d = -1 %s\n", i, errname(errno));
			break;
		}
		depth++;
	}
	printf("longest chain = %d\n", depth);
	/* Blocking on the outer instance, woken through the inner one. */
	t0 = now_ms();
	pid = child_write(n[1], 50);
	show("outer blocking wait", outer, 8, -1);
	yesno("outer blocked until the child wrote", now_ms() - t0 >= 40);
	waitpid(pid, NULL, 0);
	return 0;
}
