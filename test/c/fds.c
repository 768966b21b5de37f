/* fds: dup/dup2/dup3, fcntl (F_GETFD/F_SETFD/F_GETFL/F_SETFL/F_DUPFD/
 * F_DUPFD_CLOEXEC), pipe2 (write then read in one process), close. */
#include "common.h"
#include <signal.h>
#include <fcntl.h>
#include <sys/syscall.h>

static void flags_of(const char *label, int fd) {
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0) {
		printf("%s F_GETFL = -1 %s\n", label, errname(errno));
		return;
	}
	const char *acc = (fl & O_ACCMODE) == O_RDONLY ? "O_RDONLY" : (fl & O_ACCMODE) == O_WRONLY ? "O_WRONLY" : "O_RDWR";
	printf("%s F_GETFL = %s%s%s\n", label, acc, fl & O_APPEND ? "|O_APPEND" : "", fl & O_NONBLOCK ? "|O_NONBLOCK" : "");
}

int main(void) {
	char buf[64];
	init_output();

	int d = dup(1);
	report("dup(1)", d);
	report("dup(1) F_GETFD", fcntl(d, F_GETFD));
	report("dup2(1, 10)", dup2(1, 10));
	report("dup2(10, 10)", dup2(10, 10));
	report("dup2 bad oldfd", dup2(1000, 11));
	report("dup3(1, 11, O_CLOEXEC)", dup3(1, 11, O_CLOEXEC));
	report("dup3 F_GETFD", fcntl(11, F_GETFD));
	report("dup3 same fd", dup3(11, 11, 0));
	report("dup3 bad flags", dup3(1, 12, 0x4));
	report("F_SETFD 0", fcntl(11, F_SETFD, 0));
	report("F_GETFD after clear", fcntl(11, F_GETFD));
	report("F_SETFD FD_CLOEXEC", fcntl(11, F_SETFD, FD_CLOEXEC));
	report("F_GETFD after set", fcntl(11, F_GETFD));
	report("F_DUPFD min 20", fcntl(1, F_DUPFD, 20));
	report("F_DUPFD min 20 again", fcntl(1, F_DUPFD, 20));
	report("F_DUPFD_CLOEXEC min 30", fcntl(1, F_DUPFD_CLOEXEC, 30));
	report("F_GETFD of F_DUPFD_CLOEXEC", fcntl(30, F_GETFD));
	report("F_DUPFD negative", fcntl(1, F_DUPFD, -1));
	report("fcntl bad fd", fcntl(1000, F_GETFD));
	report("fcntl bad cmd", fcntl(1, 9999));
	/* Duplicates share the file offset. */
	int fd = open("/etc/passwd", O_RDONLY);
	int fd2 = dup(fd);
	read(fd, buf, 5);
	report("offset shared by dup", lseek(fd2, 0, SEEK_CUR));
	close(fd);
	report("dup still usable after close of original", read(fd2, buf, 1));
	close(fd2);
	report("close dup", close(d));
	report("close 10", close(10));
	report("close 11", close(11));
	report("close 20", close(20));
	report("close 21", close(21));
	report("close 30", close(30));
	report("close unopened", close(40));
	report("close negative", close(-1));

	fd = open("/dev/null", O_RDWR | O_APPEND);
	flags_of("/dev/null O_RDWR|O_APPEND", fd);
	report("F_SETFL O_NONBLOCK", fcntl(fd, F_SETFL, O_NONBLOCK | O_APPEND));
	flags_of("after F_SETFL", fd);
	report("F_SETFL clears", fcntl(fd, F_SETFL, 0));
	flags_of("after clear", fd);
	close(fd);
	fd = open("/etc/passwd", O_RDONLY);
	flags_of("/etc/passwd O_RDONLY", fd);
	close(fd);

	/* pipe2 */
	int p[2];
	report("pipe2(0)", pipe2(p, 0));
	printf("pipe fds: %d %d\n", p[0], p[1]);
	flags_of("pipe read end", p[0]);
	flags_of("pipe write end", p[1]);
	report("pipe read end F_GETFD", fcntl(p[0], F_GETFD));
	report("write ping", write(p[1], "ping", 4));
	memset(buf, 0, sizeof buf);
	report("read ping", read(p[0], buf, sizeof buf));
	printf("pipe data: %s\n", buf);
	report("write to read end", write(p[0], "x", 1));
	report("read from write end", read(p[1], buf, 1));
	report("lseek on pipe", lseek(p[0], 0, SEEK_SET));
	report("pread on pipe", pread(p[0], buf, 1, 0));
	report("write two", write(p[1], "ab", 2));
	report("write three", write(p[1], "cde", 3));
	memset(buf, 0, sizeof buf);
	report("read 4 of 5", read(p[0], buf, 4));
	printf("pipe data: %s\n", buf);
	close(p[1]);
	memset(buf, 0, sizeof buf);
	report("read last byte", read(p[0], buf, 10));
	printf("pipe data: %s\n", buf);
	report("read at EOF", read(p[0], buf, 10));
	close(p[0]);

	report("pipe2(O_CLOEXEC|O_NONBLOCK)", pipe2(p, O_CLOEXEC | O_NONBLOCK));
	report("F_GETFD", fcntl(p[0], F_GETFD));
	flags_of("nonblocking read end", p[0]);
	report("read empty nonblocking pipe", read(p[0], buf, 1));
	/* Fill the pipe: a nonblocking write to a full pipe gets EAGAIN. */
	static char chunk[4096];
	long total = 0, w;
	while ((w = write(p[1], chunk, sizeof chunk)) > 0)
		total += w;
	printf("nonblocking fill stopped with: %s\n", errname(errno));
	yesno("pipe capacity at least 4KiB", total >= 4096);
	close(p[0]);
	close(p[1]);
	/* An anonymous pipe reopened through /proc/self/fd never waits for
	 * the other side: a reader whose writers are gone reads EOF (bash's
	 * process substitution), a writer without readers gets EPIPE. */
	signal(SIGPIPE, SIG_IGN);
	report("pipe2 for reopening", pipe2(p, 0));
	report("write before the writer goes", write(p[1], "ab", 2));
	close(p[1]);
	char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", p[0]);
	int re = open(path, O_RDONLY);
	yesno("reopen read end without writers", re >= 0);
	report("read through the reopened end", read(re, buf, sizeof buf));
	report("then EOF", read(re, buf, sizeof buf));
	close(re);
	close(p[0]);
	report("pipe2 again", pipe2(p, 0));
	close(p[0]);
	snprintf(path, sizeof path, "/proc/self/fd/%d", p[1]);
	int we = open(path, O_WRONLY | O_NONBLOCK);
	yesno("reopen write end without readers (O_NONBLOCK)", we >= 0);
	report("write through it", write(we, "x", 1));
	close(we);
	close(p[1]);
	/* F_SETPIPE_SZ rounds up to a power of two of at least a page. */
	report("pipe2 for sizes", pipe2(p, 0));
	report("F_GETPIPE_SZ default", fcntl(p[0], F_GETPIPE_SZ));
	report("F_SETPIPE_SZ 0", fcntl(p[0], F_SETPIPE_SZ, 0));
	report("F_SETPIPE_SZ 5000", fcntl(p[1], F_SETPIPE_SZ, 5000));
	report("F_GETPIPE_SZ after", fcntl(p[0], F_GETPIPE_SZ));
	report("F_SETPIPE_SZ -1", fcntl(p[0], F_SETPIPE_SZ, -1));
	report("fill 8192", write(p[1], chunk, 4096) + write(p[1], chunk, 4096));
	report("F_SETPIPE_SZ below the unread data", fcntl(p[0], F_SETPIPE_SZ, 4096));
	report("F_SETPIPE_SZ on a file", fcntl(0, F_SETPIPE_SZ, 4096));
	close(p[0]);
	close(p[1]);
	report("pipe2 bad flags", pipe2(p, 0x1));
	report("pipe2 bad pointer", syscall(SYS_pipe2, (int *)1, 0));
	return 0;
}
