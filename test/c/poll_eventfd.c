/* poll_eventfd: eventfd/eventfd2 counters (plain and EFD_SEMAPHORE), flags,
 * short and bad reads and writes, overflow, poll readiness, fstat, the
 * /proc/self/fd name, and blocking reads and writes woken by another
 * process. */
#include "common.h"
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

static void rd(const char *label, int fd) {
	uint64_t v = 0;
	ssize_t n = read(fd, &v, sizeof v);
	if (n < 0)
		printf("%s = -1 %s\n", label, errname(errno));
	else
		printf("%s = %zd value %llu\n", label, n, (unsigned long long)v);
}

static void wr(const char *label, int fd, uint64_t v) { report(label, write(fd, &v, sizeof v)); }

static void readiness(const char *label, int fd) {
	struct pollfd p = {fd, POLLIN | POLLOUT, 0};
	int n = poll(&p, 1, 0);
	printf("%s = %d%s%s\n", label, n, p.revents & POLLIN ? " IN" : "", p.revents & POLLOUT ? " OUT" : "");
}

static long now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms) {
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

int main(void) {
	init_output();
	report("eventfd2 bad flags", syscall(SYS_eventfd2, 0, 0x10));
	int e = syscall(SYS_eventfd, 5);
	yesno("eventfd(5) ok", e >= 0);
	rd("read eventfd(5)", e);
	close(e);

	e = eventfd(3, EFD_NONBLOCK | EFD_CLOEXEC);
	report("F_GETFD", fcntl(e, F_GETFD));
	printf("F_GETFL = %#x\n", fcntl(e, F_GETFL) & ~O_LARGEFILE);
	struct stat st;
	fstat(e, &st);
	printf("fstat mode = %o\n", st.st_mode);
	char link[64] = {0}, path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", e);
	readlink(path, link, sizeof link - 1);
	printf("fd link = %s\n", link);
	readiness("readiness at 3", e);
	rd("read", e);
	rd("read empty (nonblock)", e);
	readiness("readiness at 0", e);
	char small[4];
	report("read of 4 bytes", read(e, small, 4));
	report("write of 4 bytes", write(e, small, 4));
	wr("write ULLONG_MAX", e, UINT64_MAX);
	wr("write 0", e, 0);
	wr("write 7", e, 7);
	wr("write 8", e, 8);
	char big[16] = {0};
	big[0] = 1;
	report("write of 16 bytes", write(e, big, 16));
	rd("read sum", e);
	wr("write max-1", e, UINT64_MAX - 1);
	readiness("readiness when full", e);
	wr("write 1 when full", e, 1);
	rd("read max-1", e);

	/* Semaphore mode. */
	int s = eventfd(2, EFD_SEMAPHORE | EFD_NONBLOCK);
	rd("sem read 1", s);
	rd("sem read 2", s);
	rd("sem read 3", s);
	wr("sem write 3", s, 3);
	rd("sem read after write", s);
	char big2[16];
	report("sem read of 16 bytes", read(s, big2, 16));
	close(s);

	/* Blocking read woken by a child's write (the counter is shared
	 * across fork). */
	int b = eventfd(0, 0);
	long t0 = now_ms();
	pid_t pid = fork();
	if (pid == 0) {
		sleep_ms(100);
		uint64_t v = 42;
		_exit(write(b, &v, 8) == 8 ? 0 : 1);
	}
	rd("blocking read", b);
	yesno("read blocked until the write", now_ms() - t0 >= 90);
	waitpid(pid, NULL, 0);

	/* Blocking write woken by a child's read. */
	wr("fill", b, UINT64_MAX - 1);
	t0 = now_ms();
	pid = fork();
	if (pid == 0) {
		sleep_ms(100);
		uint64_t v;
		_exit(read(b, &v, 8) == 8 ? 0 : 1);
	}
	wr("blocking write", b, 5);
	yesno("write blocked until the read", now_ms() - t0 >= 90);
	int status;
	waitpid(pid, &status, 0);
	report("child status", WEXITSTATUS(status));
	rd("after", b);
	return 0;
}
