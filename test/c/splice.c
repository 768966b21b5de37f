/* splice, tee, vmsplice and sync_file_range: errors in Linux's order,
 * file <-> pipe with and without offsets (and what happens to the file
 * position), pipe <-> pipe, tee duplicating without consuming, vmsplice
 * both ways, EPIPE, EAGAIN with SPLICE_F_NONBLOCK, waits that end when
 * another process writes or drains, a 1 MiB copy file -> pipe -> file,
 * sockets on either side, and sync_file_range's checks.
 *
 * argv[1] is a writable directory. */
#include "common.h"
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>

static char dir[4096];

static const char *path(const char *name) {
	static char buf[4][4200];
	static int n;
	char *b = buf[n++ % 4];
	snprintf(b, 4200, "%s/%s", dir, name);
	return b;
}

static void drainp(const char *label, int fd) {
	char buf[256];
	int fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	ssize_t n = read(fd, buf, sizeof buf - 1);
	fcntl(fd, F_SETFL, fl);
	if (n < 0) {
		printf("%s: read = -1 %s\n", label, errname(errno));
		return;
	}
	buf[n] = 0;
	printf("%s: \"%s\"\n", label, buf);
}

static int mkfile(const char *name, const char *content) {
	int fd = open(path(name), O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		die("open");
	if (content && write(fd, content, strlen(content)) < 0)
		die("write");
	return fd;
}

static void show(const char *label, int fd) {
	char buf[256];
	ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
	buf[n < 0 ? 0 : n] = 0;
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == 0)
			buf[i] = '.';
	printf("%s: \"%s\" (position %ld)\n", label, buf, (long)lseek(fd, 0, SEEK_CUR));
}

static unsigned long sum(int fd) {
	unsigned char buf[65536];
	unsigned long s = 0;
	ssize_t n;
	lseek(fd, 0, SEEK_SET);
	while ((n = read(fd, buf, sizeof buf)) > 0)
		for (ssize_t i = 0; i < n; i++)
			s = s * 31 + buf[i];
	return s;
}

int main(int argc, char **argv) {
	init_output();
	if (argc < 2) {
		fprintf(stderr, "usage: splice DIR\n");
		return 2;
	}
	snprintf(dir, sizeof dir, "%s", argv[1]);
	signal(SIGPIPE, SIG_IGN);
	int p[2], q[2];
	if (pipe(p) < 0 || pipe(q) < 0)
		die("pipe");
	int f = mkfile("src", "0123456789abcdef");
	int g = mkfile("dst", NULL);
	loff_t off;

	printf("== errors\n");
	report("len 0 with bad descriptors", splice(99, NULL, 98, NULL, 0, 0));
	report("unknown flag", splice(p[0], NULL, q[1], NULL, 10, 0x100));
	report("bad in", splice(99, NULL, p[1], NULL, 10, 0));
	report("bad out", splice(f, NULL, 99, NULL, 10, 0));
	report("two files", splice(f, NULL, g, NULL, 10, 0));
	report("in is a pipe's write end", splice(p[1], NULL, g, NULL, 10, 0));
	report("out is a pipe's read end", splice(f, NULL, p[0], NULL, 10, 0));
	off = 0;
	report("offset on the pipe side", splice(f, NULL, p[1], &off, 10, 0));
	report("off_in on a pipe", splice(p[0], &off, g, NULL, 10, 0));
	report("one pipe on both sides", splice(p[0], NULL, p[1], NULL, 10, 0));
	report("bad offset pointer", splice(f, (loff_t *)8, p[1], NULL, 10, 0));
	off = -1;
	report("negative offset", splice(f, &off, p[1], NULL, 10, 0));
	int ap = open(path("dst"), O_WRONLY | O_APPEND);
	write(p[1], "x", 1);
	report("into an O_APPEND file", splice(p[0], NULL, ap, NULL, 10, 0));
	drainp("the pipe still holds", p[0]);
	close(ap);
	int ro = open(path("src"), O_RDONLY);
	report("into a read-only file", splice(p[0], NULL, ro, NULL, 10, 0));
	close(ro);
	report("tee unknown flag", tee(p[0], q[1], 10, 0x100));
	report("tee len 0", tee(p[0], q[1], 0, 0));
	report("tee from a file", tee(f, q[1], 10, 0));
	report("tee to a file", tee(p[0], g, 10, 0));
	report("tee one pipe", tee(p[0], p[1], 10, 0));
	report("tee bad fd", tee(99, q[1], 10, 0));
	struct iovec iov[2] = {{"hello ", 6}, {"world", 5}};
	report("vmsplice unknown flag", vmsplice(p[1], iov, 2, 0x100));
	report("vmsplice bad fd", vmsplice(99, iov, 2, 0));
	report("vmsplice a file", vmsplice(g, iov, 2, 0));
	report("vmsplice too many iovecs", vmsplice(p[1], iov, 1025, 0));
	report("vmsplice bad iovec array", vmsplice(p[1], (struct iovec *)8, 2, 0));
	report("vmsplice no iovecs", vmsplice(p[1], iov, 0, 0));

	printf("== file to pipe\n");
	off = 4;
	report("splice off_in 4, 6 bytes", splice(f, &off, p[1], NULL, 6, 0));
	printf("off_in now %ld, file position %ld\n", (long)off, (long)lseek(f, 0, SEEK_CUR));
	drainp("pipe", p[0]);
	lseek(f, 10, SEEK_SET);
	report("splice at the position, 100 bytes", splice(f, NULL, p[1], NULL, 100, 0));
	printf("file position %ld\n", (long)lseek(f, 0, SEEK_CUR));
	drainp("pipe", p[0]);
	report("splice at end of file", splice(f, NULL, p[1], NULL, 100, 0));

	printf("== pipe to file\n");
	write(p[1], "ABCDEFGH", 8);
	off = 2;
	report("splice 3 bytes to off_out 2", splice(p[0], NULL, g, &off, 3, 0));
	printf("off_out now %ld\n", (long)off);
	show("dst", g);
	report("splice the rest at the position", splice(p[0], NULL, g, NULL, 100, 0));
	show("dst", g);
	report("empty pipe, SPLICE_F_NONBLOCK", splice(p[0], NULL, g, NULL, 100, SPLICE_F_NONBLOCK));
	int e[2];
	pipe(e);
	close(e[1]);
	report("empty pipe without writers", splice(e[0], NULL, g, NULL, 100, 0));
	close(e[0]);

	printf("== pipe to pipe and tee\n");
	write(p[1], "through", 7);
	report("splice pipe to pipe, 4 bytes", splice(p[0], NULL, q[1], NULL, 4, 0));
	drainp("out pipe", q[0]);
	drainp("in pipe", p[0]);
	write(p[1], "twice", 5);
	report("tee", tee(p[0], q[1], 100, 0));
	drainp("tee's out pipe", q[0]);
	drainp("tee's in pipe (not consumed)", p[0]);
	report("tee empty, SPLICE_F_NONBLOCK", tee(p[0], q[1], 100, SPLICE_F_NONBLOCK));
	report("splice pipe to pipe, empty, nonblock", splice(p[0], NULL, q[1], NULL, 100, SPLICE_F_NONBLOCK));
	pipe(e);
	close(e[0]);
	write(p[1], "x", 1);
	report("splice to a pipe without readers", splice(p[0], NULL, e[1], NULL, 100, 0));
	report("tee to a pipe without readers", tee(p[0], e[1], 100, 0));
	report("file to a pipe without readers", splice(f, &(loff_t){0}, e[1], NULL, 100, 0));
	close(e[1]);
	drainp("in pipe", p[0]);

	printf("== vmsplice\n");
	report("vmsplice to the pipe", vmsplice(p[1], iov, 2, 0));
	char a[4] = {0}, b[16] = {0};
	struct iovec out[2] = {{a, 3}, {b, 15}};
	report("vmsplice from the pipe", vmsplice(p[0], out, 2, 0));
	printf("got \"%.3s\" \"%s\"\n", a, b);
	report("vmsplice from an empty pipe, nonblock", vmsplice(p[0], out, 2, SPLICE_F_NONBLOCK));
	write(p[1], "kept", 4);
	struct iovec bad[1] = {{(void *)8, 4}};
	report("vmsplice from the pipe into a bad buffer", vmsplice(p[0], bad, 1, 0));
	drainp("the pipe kept", p[0]);

	printf("== waits\n");
	pid_t pid = fork();
	if (pid == 0) {
		usleep(100000);
		write(p[1], "late", 4);
		_exit(0);
	}
	ftruncate(g, 0);
	report("splice waits for the writer", splice(p[0], NULL, g, &(loff_t){0}, 100, 0));
	show("dst", g);
	waitpid(pid, NULL, 0);
	/* Fill q, then splice into it: the wait ends when a child drains it. */
	fcntl(q[1], F_SETFL, O_NONBLOCK);
	char fill[4096];
	memset(fill, 'f', sizeof fill);
	long filled = 0;
	ssize_t w;
	while ((w = write(q[1], fill, sizeof fill)) > 0)
		filled += w;
	fcntl(q[1], F_SETFL, 0);
	printf("filled %ld\n", filled);
	write(p[1], "more", 4);
	report("splice into a full pipe, nonblock", splice(p[0], NULL, q[1], NULL, 100, SPLICE_F_NONBLOCK));
	pid = fork();
	if (pid == 0) {
		usleep(100000);
		char buf[8192];
		read(q[0], buf, sizeof buf);
		_exit(0);
	}
	report("splice waits for room", splice(p[0], NULL, q[1], NULL, 100, 0));
	waitpid(pid, NULL, 0);
	fcntl(q[0], F_SETFL, O_NONBLOCK);
	char big[1 << 17], tail[5] = {0};
	long got = 0;
	ssize_t r;
	while ((r = read(q[0], big, sizeof big)) > 0) {
		got += r;
		if (r >= 4)
			memcpy(tail, big + r - 4, 4);
	}
	fcntl(q[0], F_SETFL, 0);
	printf("drained %ld, ends with \"%s\"\n", got, tail);

	printf("== a 1 MiB copy through a pipe\n");
	int src = mkfile("big", NULL);
	for (int i = 0; i < 256; i++) {
		char chunk[4096];
		for (int j = 0; j < 4096; j++)
			chunk[j] = (char)(i * 7 + j);
		write(src, chunk, sizeof chunk);
	}
	lseek(src, 0, SEEK_SET);
	int dst = mkfile("copy", NULL);
	long total = 0, calls = 0;
	for (;;) {
		ssize_t in = splice(src, NULL, p[1], NULL, 1 << 20, SPLICE_F_MOVE);
		if (in <= 0)
			break;
		while (in > 0) {
			ssize_t o = splice(p[0], NULL, dst, NULL, in, SPLICE_F_MOVE);
			if (o <= 0)
				die("splice out");
			in -= o;
			total += o;
		}
		calls++;
	}
	printf("copied %ld bytes, same: %s\n", total, sum(src) == sum(dst) ? "yes" : "no");
	close(src);
	close(dst);

	printf("== sockets\n");
	int sv[2], sw[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	socketpair(AF_UNIX, SOCK_STREAM, 0, sw);
	write(sv[0], "over sockets", 12);
	report("socket to pipe", splice(sv[1], NULL, p[1], NULL, 100, 0));
	report("pipe to socket", splice(p[0], NULL, sw[0], NULL, 100, 0));
	char sbuf[32] = {0};
	read(sw[1], sbuf, sizeof sbuf);
	printf("the other socket reads \"%s\"\n", sbuf);
	report("socket with an offset", splice(sv[1], &(loff_t){0}, p[1], NULL, 100, 0));

	printf("== sync_file_range\n");
	report("unknown flag", sync_file_range(g, 0, 0, 8));
	report("negative offset", sync_file_range(g, -1, 0, SYNC_FILE_RANGE_WRITE));
	report("negative length", sync_file_range(g, 0, -1, SYNC_FILE_RANGE_WRITE));
	report("overflow", sync_file_range(g, 1L << 62, 1L << 62, SYNC_FILE_RANGE_WRITE));
	report("bad fd", sync_file_range(99, 0, 0, SYNC_FILE_RANGE_WRITE));
	report("a pipe", sync_file_range(p[0], 0, 0, SYNC_FILE_RANGE_WRITE));
	report("all flags", sync_file_range(g, 0, 0, SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER));
	report("no flags", sync_file_range(g, 0, 10, 0));
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	report("a directory", sync_file_range(dfd, 0, 0, SYNC_FILE_RANGE_WRITE));
	close(dfd);
	ftruncate(g, 4096);
	char *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, g, 0);
	memcpy(m, "mapped", 6);
	report("after a store through a shared mapping", sync_file_range(g, 0, 4096, SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER));
	int other = open(path("dst"), O_RDONLY);
	char mb[7] = {0};
	read(other, mb, 6);
	printf("another description reads \"%s\"\n", mb);
	munmap(m, 4096);
	close(other);
	unlink(path("src"));
	unlink(path("dst"));
	unlink(path("big"));
	unlink(path("copy"));
	return 0;
}
