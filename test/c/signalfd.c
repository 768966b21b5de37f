/* signalfd: reading blocked signals as records instead of having them
 * delivered; the mask changed on an existing file; non-blocking reads;
 * poll; several signals in one read; sigqueue's value; SIGCHLD's fields;
 * the errors. */
#include "common.h"
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static void show(struct signalfd_siginfo *si, pid_t self) {
	printf("  signo %u code %d pid is self %s", si->ssi_signo, si->ssi_code, si->ssi_pid == (unsigned)self ? "yes" : "no");
	if (si->ssi_code == SI_QUEUE)
		printf(" int %d", si->ssi_int);
	if (si->ssi_signo == SIGCHLD)
		printf(" status %d", si->ssi_status);
	printf("\n");
}

int main(void) {
	init_output();
	pid_t self = getpid();
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);

	sigset_t one;
	sigemptyset(&one);
	sigaddset(&one, SIGUSR1);
	int fd = signalfd(-1, &one, SFD_NONBLOCK | SFD_CLOEXEC);
	report("signalfd", fd >= 0 ? 0 : -1);
	report("FD_CLOEXEC", fcntl(fd, F_GETFD));
	yesno("O_NONBLOCK", fcntl(fd, F_GETFL) & O_NONBLOCK);
	struct signalfd_siginfo si[4];
	report("read, nothing pending", read(fd, si, sizeof si));
	report("read, buffer too small", read(fd, si, 64));
	struct pollfd p = {fd, POLLIN, 0};
	report("poll, nothing pending", poll(&p, 1, 0));
	kill(self, SIGUSR2);
	report("poll, SIGUSR2 not in the mask", poll(&p, 1, 0));
	kill(self, SIGUSR1);
	report("poll, SIGUSR1 pending", poll(&p, 1, 0));
	printf("revents %#x\n", p.revents);
	int n = read(fd, si, sizeof si);
	printf("read: %d bytes\n", n);
	for (int i = 0; i < n / (int)sizeof si[0]; i++)
		show(&si[i], self);
	report("read again", read(fd, si, sizeof si));
	/* The mask widened on the same file: SIGUSR2 is waiting. */
	report("signalfd on the same fd", signalfd(fd, &set, 0) == fd ? 0 : -1);
	union sigval v = {.sival_int = 42};
	sigqueue(self, SIGUSR1, v);
	n = read(fd, si, sizeof si);
	printf("read: %d bytes\n", n);
	for (int i = 0; i < n / (int)sizeof si[0]; i++)
		show(&si[i], self);
	/* A child's exit. */
	pid_t c = fork();
	if (c == 0)
		_exit(7);
	int fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	n = read(fd, si, sizeof si);
	printf("blocking read: %d bytes\n", n);
	for (int i = 0; i < n / (int)sizeof si[0]; i++) {
		show(&si[i], self);
		printf("  child pid matches: %s\n", si[i].ssi_pid == (unsigned)c ? "yes" : "no");
	}
	waitpid(c, NULL, 0);
	/* Errors. */
	report("bad mask size", syscall(SYS_signalfd4, -1, &set, 4, 0));
	report("bad flags", syscall(SYS_signalfd4, -1, &set, 8, 0x4000));
	report("bad mask pointer", syscall(SYS_signalfd4, -1, (void *)8, 8, 0));
	report("not a signalfd", signalfd(0, &set, 0));
	report("bad fd", signalfd(99, &set, 0));
	report("write", write(fd, si, sizeof si[0]));
	close(fd);
	return 0;
}
