/* signalfd_epoll: a signalfd's readiness seen by epoll (level and edge
 * triggered) and select, and an epoll_wait that blocks until a child
 * sends the signal (the waiter is woken by the signal becoming pending,
 * not by a timeout). */
#include "common.h"
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/signalfd.h>
#include <sys/wait.h>

static void show(const char *what, int n, struct epoll_event *ev) {
	if (n < 0)
		printf("%s = -1 %s\n", what, errname(errno));
	else
		printf("%s = %d events %#x\n", what, n, n > 0 ? ev->events : 0);
}

int main(void) {
	init_output();
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	int fd = signalfd(-1, &set, SFD_NONBLOCK);
	int ep = epoll_create1(0), et = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
	report("epoll_ctl", epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev));
	ev.events = EPOLLIN | EPOLLET;
	report("epoll_ctl EPOLLET", epoll_ctl(et, EPOLL_CTL_ADD, fd, &ev));
	show("nothing pending", epoll_wait(ep, &ev, 1, 0), &ev);
	show("nothing pending, edge", epoll_wait(et, &ev, 1, 0), &ev);
	kill(getpid(), SIGUSR1);
	show("SIGUSR1 pending", epoll_wait(ep, &ev, 1, 0), &ev);
	show("SIGUSR1 pending, again", epoll_wait(ep, &ev, 1, 0), &ev);
	show("SIGUSR1 pending, edge", epoll_wait(et, &ev, 1, 0), &ev);
	show("SIGUSR1 pending, edge again", epoll_wait(et, &ev, 1, 0), &ev);
	fd_set rs;
	FD_ZERO(&rs);
	FD_SET(fd, &rs);
	struct timeval tv = {0, 0};
	report("select", select(fd + 1, &rs, NULL, NULL, &tv));
	struct signalfd_siginfo si;
	report("read", read(fd, &si, sizeof si));
	show("after the read", epoll_wait(ep, &ev, 1, 0), &ev);

	pid_t parent = getpid();
	pid_t c = fork();
	if (c == 0) {
		wait_sleeping(parent);
		kill(parent, SIGUSR1);
		_exit(0);
	}
	show("blocking epoll_wait", epoll_wait(ep, &ev, 1, 60000), &ev);
	report("read", read(fd, &si, sizeof si));
	printf("signo %u from the child: %s\n", si.ssi_signo, si.ssi_pid == (unsigned)c ? "yes" : "no");
	waitpid(c, NULL, 0);
	return 0;
}
