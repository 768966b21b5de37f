/* sock_unix: AF_UNIX sockets, natively and in the sandbox.
 *
 *   sock_unix DIR [SECTION]
 *
 * DIR is a writable directory for path-bound sockets (the sandbox's
 * overlay or a --volume); /dev/shm is used too (tmpfs). Each section
 * prints deterministic facts only: results as "label = value" or
 * "label = -1 ENAME", never PIDs, inode or descriptor numbers. With
 * SECTION only that section runs. */
#include "common.h"
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <time.h>

static const char *dir;
static volatile sig_atomic_t sigpipes, sigalrms;

static socklen_t mkabs(struct sockaddr_un *a, const char *name);
static int alarm_pipe = -1; /* the SIGALRM handler writes a byte here */

static void on_sigpipe(int s) { (void)s; sigpipes++; }
static void on_sigalrm(int s) {
	(void)s;
	sigalrms++;
	if (alarm_pipe >= 0)
		write(alarm_pipe, "a", 1);
}

/* after_alarm forks a child that waits for the parent's next SIGALRM (its
 * handler writes to a pipe) and then runs fn; it returns the child. So
 * whatever the machine's load, fn happens after the signal. */
static pid_t after_alarm(void (*fn)(void *), void *arg, int *pipefd) {
	if (pipe(pipefd) < 0)
		die("pipe");
	alarm_pipe = pipefd[1];
	pid_t pid = fork();
	if (pid == 0) {
		char c;
		close(pipefd[1]);
		if (read(pipefd[0], &c, 1) == 1)
			fn(arg);
		_exit(0);
	}
	close(pipefd[0]);
	return pid;
}

static void write_late(void *arg) { write(*(int *)arg, "late", 4); }

static void connect_late(void *arg) {
	int c = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un a;
	socklen_t al = mkabs(&a, (const char *)arg);
	connect(c, (struct sockaddr *)&a, al);
}

static long now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms) {
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static void pair(int type, int sv[2]) {
	if (socketpair(AF_UNIX, type, 0, sv) < 0)
		die("socketpair");
}

static socklen_t mkaddr(struct sockaddr_un *a, const char *path) {
	memset(a, 0, sizeof *a);
	a->sun_family = AF_UNIX;
	strncpy(a->sun_path, path, sizeof a->sun_path);
	return offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1;
}

/* abstract address: "\0" followed by name. */
static socklen_t mkabs(struct sockaddr_un *a, const char *name) {
	memset(a, 0, sizeof *a);
	a->sun_family = AF_UNIX;
	memcpy(a->sun_path + 1, name, strlen(name));
	return offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name);
}

static void pathin(char *out, size_t n, const char *base, const char *name) {
	snprintf(out, n, "%s/%s", base, name);
}

/* revents prints poll's events of fd for IN|OUT|RDHUP|PRI. */
static void revents(const char *label, int fd) {
	struct pollfd p = {fd, POLLIN | POLLOUT | POLLRDHUP | POLLPRI, 0};
	int n = poll(&p, 1, 0);
	printf("%s = %d%s%s%s%s%s\n", label, n, p.revents & POLLIN ? " IN" : "", p.revents & POLLOUT ? " OUT" : "",
	       p.revents & POLLRDHUP ? " RDHUP" : "", p.revents & POLLHUP ? " HUP" : "", p.revents & POLLERR ? " ERR" : "");
}

static void rdstr(const char *label, int fd, size_t n, int flags) {
	char buf[256] = {0};
	ssize_t r = recv(fd, buf, n < sizeof buf ? n : sizeof buf - 1, flags);
	if (r < 0)
		printf("%s = -1 %s\n", label, errname(errno));
	else
		printf("%s = %zd \"%.*s\"\n", label, r, (int)r, buf);
}

static int getint(int fd, int level, int name) {
	int v = -12345;
	socklen_t l = sizeof v;
	if (getsockopt(fd, level, name, &v, &l) < 0)
		return -errno;
	return v;
}

static void setint(const char *label, int fd, int level, int name, int v) {
	report(label, setsockopt(fd, level, name, &v, sizeof v));
}

/* ---------------------------------------------------------------- */

static void sec_create(void) {
	puts("== create");
	report("socket(-1)", socket(-1, SOCK_STREAM, 0));
	report("socket(AF_MAX)", socket(46, SOCK_STREAM, 0));
	report("socket(255)", socket(255, SOCK_STREAM, 0));
	report("socket(unix, type 0)", socket(AF_UNIX, 0, 0));
	report("socket(unix, SOCK_RDM)", socket(AF_UNIX, SOCK_RDM, 0));
	report("socket(unix, SOCK_PACKET)", socket(AF_UNIX, SOCK_PACKET, 0));
	report("socket(unix, type 11)", socket(AF_UNIX, 11, 0));
	report("socket(unix, type 15)", socket(AF_UNIX, 15, 0));
	report("socket(unix, type -1)", socket(AF_UNIX, -1, 0));
	report("socket(unix, bad flag)", socket(AF_UNIX, SOCK_STREAM | 0x100, 0));
	report("socket(unix, protocol 2)", socket(AF_UNIX, SOCK_STREAM, 2));
	report("socket(unix, protocol -1)", socket(AF_UNIX, SOCK_STREAM, -1));
	int s = socket(AF_UNIX, SOCK_STREAM, PF_UNIX);
	yesno("socket(unix, protocol PF_UNIX) ok", s >= 0);
	close(s);
	s = socket(AF_UNIX, SOCK_RAW, 0);
	yesno("socket(unix, SOCK_RAW) ok", s >= 0);
	printf("SOCK_RAW: SO_TYPE = %d SO_DOMAIN = %d SO_PROTOCOL = %d\n", getint(s, SOL_SOCKET, SO_TYPE),
	       getint(s, SOL_SOCKET, SO_DOMAIN), getint(s, SOL_SOCKET, SO_PROTOCOL));
	close(s);
	int types[] = {SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET};
	for (int i = 0; i < 3; i++) {
		s = socket(AF_UNIX, types[i] | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		printf("type %d: SO_TYPE = %d F_GETFL = %#x F_GETFD = %d\n", types[i], getint(s, SOL_SOCKET, SO_TYPE),
		       fcntl(s, F_GETFL) & ~O_LARGEFILE, fcntl(s, F_GETFD));
		close(s);
	}
	int sv[2] = {-1, -1};
	report("socketpair(NULL)", socketpair(AF_UNIX, SOCK_STREAM, 0, NULL));
	report("socketpair(unix, bad flag)", socketpair(AF_UNIX, SOCK_STREAM | 0x100, 0, sv));
	report("socketpair(unix, type 0)", socketpair(AF_UNIX, 0, 0, sv));
	report("socketpair(AF_MAX)", socketpair(46, SOCK_STREAM, 0, sv));
	report("socketpair(unix, protocol 2)", socketpair(AF_UNIX, SOCK_DGRAM, 2, sv));

	pair(SOCK_STREAM, sv);
	struct stat st;
	fstat(sv[0], &st);
	printf("fstat mode = %o size = %lld nlink = %ld\n", st.st_mode, (long long)st.st_size, (long)st.st_nlink);
	char path[64], link[64] = {0};
	snprintf(path, sizeof path, "/proc/self/fd/%d", sv[0]);
	readlink(path, link, sizeof link - 1);
	char want[64];
	snprintf(want, sizeof want, "socket:[%lu]", (unsigned long)st.st_ino);
	yesno("/proc/self/fd link is socket:[st_ino]", strcmp(link, want) == 0);
	report("open(/proc/self/fd/N)", open(path, O_RDWR));
	report("lseek", lseek(sv[0], 0, SEEK_SET));
	char c;
	report("pread", pread(sv[0], &c, 1, 0));
	report("pwrite", pwrite(sv[0], &c, 1, 0));
	report("fsync", fsync(sv[0]));
	report("ftruncate", ftruncate(sv[0], 0));
	report("mmap-able", (long)(mmap(NULL, 4096, PROT_READ, MAP_SHARED, sv[0], 0) == MAP_FAILED ? -1 : 0));
	printf("F_GETFL = %#x\n", fcntl(sv[0], F_GETFL) & ~O_LARGEFILE);
	report("F_SETFL O_NONBLOCK", fcntl(sv[0], F_SETFL, O_NONBLOCK));
	report("read (nonblock, empty)", read(sv[0], &c, 1));
	int on = 0;
	report("FIONBIO 0", ioctl(sv[0], FIONBIO, &on));
	report("read of 0 bytes", read(sv[0], &c, 0));
	close(sv[0]);
	close(sv[1]);
	int p[2];
	pipe(p);
	report("getsockname(pipe)", getsockname(p[0], NULL, NULL));
	report("shutdown(pipe)", shutdown(p[0], SHUT_RD));
	report("send(pipe)", send(p[1], "x", 1, 0));
	report("shutdown(bad fd)", shutdown(999, SHUT_RD));
	close(p[0]);
	close(p[1]);
}

static void sec_stream(void) {
	puts("== stream");
	int sv[2];
	pair(SOCK_STREAM, sv);
	revents("fresh pair", sv[0]);
	report("write hello", write(sv[0], "hello", 5));
	report("write world", write(sv[0], "world", 5));
	int n = -1;
	ioctl(sv[1], FIONREAD, &n);
	printf("FIONREAD = %d\n", n);
	ioctl(sv[0], SIOCOUTQ, &n);
	printf("SIOCOUTQ = %d\n", n);
	revents("with data", sv[1]);
	rdstr("peek 3", sv[1], 3, MSG_PEEK);
	rdstr("peek 100 (merges)", sv[1], 100, MSG_PEEK);
	rdstr("recv 3", sv[1], 3, 0);
	rdstr("recv 100", sv[1], 100, 0);
	rdstr("recv DONTWAIT empty", sv[1], 100, MSG_DONTWAIT);
	report("recv TRUNC flag len 0", recv(sv[1], NULL, 0, MSG_DONTWAIT));
	/* readv/writev across iovecs */
	char a[3], b[4];
	struct iovec w[2] = {{"abc", 3}, {"defg", 4}}, r[2] = {{a, 3}, {b, 4}};
	report("writev", writev(sv[0], w, 2));
	report("readv", readv(sv[1], r, 2));
	printf("readv data = %.3s|%.4s\n", a, b);
	/* bad buffers */
	report("recv into NULL", recv(sv[1], NULL, 10, MSG_DONTWAIT));
	write(sv[0], "x", 1);
	report("recv into NULL with data", recv(sv[1], NULL, 10, 0));
	rdstr("data still there", sv[1], 10, 0);
	report("send from NULL", send(sv[0], NULL, 10, 0));
	report("send from bad pointer", send(sv[0], (void *)16, 10, 0));
	/* MSG_WAITALL: a child writes in three pieces */
	pid_t pid = fork();
	if (pid == 0) {
		for (int i = 0; i < 3; i++) {
			sleep_ms(30);
			write(sv[0], "abcd", 4);
		}
		_exit(0);
	}
	rdstr("recv WAITALL 12", sv[1], 12, MSG_WAITALL);
	waitpid(pid, NULL, 0);
	/* shutdown */
	report("shutdown bad how", shutdown(sv[0], 3));
	report("shutdown -1", shutdown(sv[0], -1));
	write(sv[0], "tail", 4);
	report("shutdown SHUT_WR", shutdown(sv[0], SHUT_WR));
	revents("writer after SHUT_WR", sv[0]);
	revents("reader after peer SHUT_WR", sv[1]);
	rdstr("recv after SHUT_WR (data)", sv[1], 100, 0);
	rdstr("recv after SHUT_WR (EOF)", sv[1], 100, 0);
	sigpipes = 0;
	report("write after own SHUT_WR", write(sv[0], "x", 1));
	printf("SIGPIPEs = %d\n", sigpipes);
	report("send NOSIGNAL after SHUT_WR", send(sv[0], "x", 1, MSG_NOSIGNAL));
	printf("SIGPIPEs = %d\n", sigpipes);
	report("peer can still write", write(sv[1], "back", 4));
	rdstr("writer reads", sv[0], 10, 0);
	report("shutdown SHUT_RD on reader", shutdown(sv[1], SHUT_RD));
	revents("after both", sv[1]);
	report("write to peer that shut reads", write(sv[0], "x", 1));
	close(sv[0]);
	close(sv[1]);

	/* peer close: EOF then EPIPE with SIGPIPE */
	pair(SOCK_STREAM, sv);
	write(sv[1], "bye", 3);
	close(sv[1]);
	revents("after peer close", sv[0]);
	rdstr("recv rest", sv[0], 10, 0);
	rdstr("recv EOF", sv[0], 10, 0);
	sigpipes = 0;
	report("write to closed peer", write(sv[0], "x", 1));
	printf("SIGPIPEs = %d\n", sigpipes);
	report("MSG_NOSIGNAL to closed peer", send(sv[0], "x", 1, MSG_NOSIGNAL));
	printf("SIGPIPEs = %d\n", sigpipes);
	close(sv[0]);

	/* peer closes with unread data: ECONNRESET once */
	pair(SOCK_STREAM, sv);
	write(sv[0], "unread", 6);
	write(sv[1], "mine", 4);
	close(sv[1]);
	revents("after reset", sv[0]);
	rdstr("recv queued data first", sv[0], 10, 0);
	rdstr("then the reset", sv[0], 10, 0);
	rdstr("then EOF", sv[0], 10, 0);
	printf("SO_ERROR = %d\n", getint(sv[0], SOL_SOCKET, SO_ERROR));
	close(sv[0]);

	pair(SOCK_STREAM, sv);
	write(sv[0], "x", 1);
	close(sv[1]);
	printf("SO_ERROR after reset = %s\n", errname(getint(sv[0], SOL_SOCKET, SO_ERROR)));
	printf("SO_ERROR again = %d\n", getint(sv[0], SOL_SOCKET, SO_ERROR));
	close(sv[0]);

	/* a big transfer between processes, checksummed */
	pair(SOCK_STREAM, sv);
	pid = fork();
	if (pid == 0) {
		close(sv[1]);
		unsigned char buf[7001];
		uint32_t x = 1;
		for (int k = 0; k < 300; k++) {
			for (size_t i = 0; i < sizeof buf; i++) {
				x = x * 1103515245 + 12345;
				buf[i] = x >> 16;
			}
			size_t off = 0;
			while (off < sizeof buf) {
				ssize_t w = write(sv[0], buf + off, sizeof buf - off);
				if (w <= 0)
					_exit(1);
				off += w;
			}
		}
		_exit(0);
	}
	close(sv[0]);
	uint32_t x = 1, bad = 0;
	long total = 0;
	unsigned char buf[65536];
	ssize_t got;
	while ((got = read(sv[1], buf, sizeof buf)) > 0) {
		for (ssize_t i = 0; i < got; i++) {
			if (total % 7001 == 0 && total)
				;
			x = x * 1103515245 + 12345;
			if (buf[i] != (unsigned char)(x >> 16))
				bad++;
			total++;
		}
	}
	int status;
	waitpid(pid, &status, 0);
	printf("bulk transfer: %ld bytes, %u bad, writer status %d\n", total, bad, WEXITSTATUS(status));
	close(sv[1]);
}

static void sec_dgram(void) {
	puts("== dgram");
	int sv[2];
	pair(SOCK_DGRAM, sv);
	revents("fresh dgram pair", sv[0]);
	send(sv[0], "one", 3, 0);
	send(sv[0], "two!", 4, 0);
	report("send empty datagram", send(sv[0], "", 0, 0));
	int n = -1;
	ioctl(sv[1], FIONREAD, &n);
	printf("FIONREAD = %d\n", n);
	rdstr("peek", sv[1], 100, MSG_PEEK);
	rdstr("recv 2 of 3 (truncated)", sv[1], 2, 0);
	char buf[16];
	report("recv TRUNC of 2 returns", recv(sv[1], buf, 2, MSG_TRUNC));
	rdstr("empty datagram", sv[1], 100, 0);
	struct msghdr m = {0};
	struct iovec iov = {buf, 2};
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	send(sv[0], "12345", 5, 0);
	report("recvmsg 2 of 5", recvmsg(sv[1], &m, 0));
	printf("msg_flags = %#x\n", m.msg_flags);
	rdstr("DONTWAIT empty", sv[1], 10, MSG_DONTWAIT);
	/* sizes */
	int sndbuf = getint(sv[0], SOL_SOCKET, SO_SNDBUF);
	char *big = calloc(1, sndbuf);
	report("send sndbuf-31", send(sv[0], big, sndbuf - 31, 0));
	report("send sndbuf-32", send(sv[0], big, sndbuf - 32, 0) == sndbuf - 32 ? 0 : -1);
	report("recv big", recv(sv[1], big, sndbuf, 0) == sndbuf - 32 ? 0 : -1);
	free(big);
	/* how many 1-byte datagrams fit */
	int cnt = 0;
	while (send(sv[0], "x", 1, MSG_DONTWAIT) == 1 && cnt < 100000)
		cnt++;
	int wdef = -1;
	FILE *f = fopen("/proc/sys/net/core/wmem_default", "r");
	if (f) {
		fscanf(f, "%d", &wdef);
		fclose(f);
	}
	if (wdef == 212992)
		printf("1-byte datagrams until EAGAIN = %d (%s)\n", cnt, errname(errno));
	else
		printf("1-byte datagrams until EAGAIN: wmem_default is not 212992, count not compared\n");
	revents("sender when full", sv[0]);
	char c;
	recv(sv[1], &c, 1, 0);
	revents("sender after one recv", sv[0]);
	while (recv(sv[1], &c, 1, MSG_DONTWAIT) == 1)
		;
	revents("sender after draining", sv[0]);
	/* peer gone */
	close(sv[1]);
	revents("after peer close", sv[0]);
	report("send after peer close", send(sv[0], "x", 1, 0));
	report("send again", send(sv[0], "x", 1, 0));
	report("getpeername", getpeername(sv[0], NULL, NULL));
	close(sv[0]);
	/* shutdown on a dgram */
	pair(SOCK_DGRAM, sv);
	report("shutdown SHUT_RD", shutdown(sv[1], SHUT_RD));
	revents("after SHUT_RD", sv[1]);
	report("send to reader shut down", send(sv[0], "x", 1, 0));
	report("recv after SHUT_RD (blocking)", recv(sv[1], buf, 1, 0));
	report("recv after SHUT_RD (DONTWAIT)", recv(sv[1], buf, 1, MSG_DONTWAIT));
	sigpipes = 0;
	shutdown(sv[0], SHUT_WR);
	report("send after own SHUT_WR", send(sv[0], "x", 1, 0));
	printf("SIGPIPEs = %d\n", sigpipes);
	close(sv[0]);
	close(sv[1]);
}

static void sec_seqpacket(void) {
	puts("== seqpacket");
	int sv[2];
	pair(SOCK_SEQPACKET, sv);
	send(sv[0], "first", 5, 0);
	send(sv[0], "second", 6, 0);
	rdstr("recv 3 of first", sv[1], 3, 0);
	char buf[16];
	struct msghdr m = {0};
	struct iovec iov = {buf, 3};
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	report("recvmsg 3 of second", recvmsg(sv[1], &m, 0));
	printf("msg_flags has MSG_TRUNC: %s\n", m.msg_flags & MSG_TRUNC ? "yes" : "no");
	report("recvmsg with MSG_TRUNC", (send(sv[0], "abcdef", 6, 0), recv(sv[1], buf, 2, MSG_TRUNC)));
	sigpipes = 0;
	write(sv[1], "left", 4);
	close(sv[1]);
	revents("after peer close", sv[0]);
	rdstr("recv queued", sv[0], 10, 0);
	rdstr("recv EOF", sv[0], 10, 0);
	rdstr("recv EOF nonblock", sv[0], 10, MSG_DONTWAIT);
	report("send to closed peer", send(sv[0], "x", 1, 0));
	printf("SIGPIPEs = %d\n", sigpipes);
	close(sv[0]);
	int s = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	revents("unconnected seqpacket", s);
	report("send unconnected", send(s, "x", 1, 0));
	report("recv unconnected", recv(s, buf, 1, MSG_DONTWAIT));
	close(s);
}

/* print_proc_net_unix prints /proc/net/unix's Flags, Type, St and whether
 * the path is want, for the socket with inode ino. */
static void proc_line(const char *label, int fd, const char *want) {
	struct stat st;
	fstat(fd, &st);
	FILE *f = fopen("/proc/net/unix", "r");
	if (!f) {
		printf("%s: no /proc/net/unix (%s)\n", label, errname(errno));
		return;
	}
	char line[512];
	int found = 0;
	fgets(line, sizeof line, f);
	while (fgets(line, sizeof line, f)) {
		char num[32], path[300] = "";
		unsigned refs, proto, flags, type, state;
		unsigned long ino;
		int k = sscanf(line, "%31s %x %x %x %x %x %lu %299s", num, &refs, &proto, &flags, &type, &state, &ino, path);
		if (k >= 7 && ino == (unsigned long)st.st_ino) {
			printf("%s: flags %08x type %04x st %02x path %s\n", label, flags, type, state,
			       !path[0] ? "(none)" : want && strcmp(path, want) == 0 ? "as bound" : path);
			found = 1;
		}
	}
	fclose(f);
	if (!found)
		printf("%s: not listed\n", label);
}

static int listed(unsigned long ino) {
	FILE *f = fopen("/proc/net/unix", "r");
	char line[512];
	int found = 0;
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f)) {
		char num[32];
		unsigned a, b, c, d, e;
		unsigned long i;
		if (sscanf(line, "%31s %x %x %x %x %x %lu", num, &a, &b, &c, &d, &e, &i) == 7 && i == ino)
			found = 1;
	}
	fclose(f);
	return found;
}

static void bind_tests(const char *base, const char *tag) {
	char path[300], p2[300];
	struct sockaddr_un a;
	socklen_t al;
	printf("-- paths in %s\n", tag);
	pathin(path, sizeof path, base, "srv.sock");
	unlink(path);
	int l = socket(AF_UNIX, SOCK_STREAM, 0);
	al = mkaddr(&a, path);
	mode_t old = umask(022);
	report("bind path", bind(l, (struct sockaddr *)&a, al));
	umask(old);
	struct stat st;
	report("stat path", stat(path, &st));
	printf("is socket: %s mode %o\n", S_ISSOCK(st.st_mode) ? "yes" : "no", st.st_mode & 07777);
	struct sockaddr_un got;
	socklen_t gl = sizeof got;
	getsockname(l, (struct sockaddr *)&got, &gl);
	printf("getsockname len == strlen+3: %s, path same: %s\n", gl == strlen(path) + 3 ? "yes" : "no",
	       strcmp(got.sun_path, path) == 0 ? "yes" : "no");
	report("bind again (bound)", bind(l, (struct sockaddr *)&a, al));
	pathin(p2, sizeof p2, base, "other.sock");
	struct sockaddr_un a2;
	socklen_t al2 = mkaddr(&a2, p2);
	report("bind bound socket to new path", bind(l, (struct sockaddr *)&a2, al2));
	report("new path left behind", access(p2, F_OK));
	int s2 = socket(AF_UNIX, SOCK_STREAM, 0);
	report("bind existing path", bind(s2, (struct sockaddr *)&a, al));
	char reg[300];
	pathin(reg, sizeof reg, base, "regular");
	close(open(reg, O_CREAT | O_WRONLY, 0644));
	struct sockaddr_un ar;
	socklen_t arl = mkaddr(&ar, reg);
	report("bind over regular file", bind(s2, (struct sockaddr *)&ar, arl));
	report("connect to regular file", connect(s2, (struct sockaddr *)&ar, arl));
	report("connect to not listening", connect(s2, (struct sockaddr *)&a, al));
	report("listen", listen(l, 2));
	proc_line("/proc/net/unix listener", l, path);
	int d = socket(AF_UNIX, SOCK_DGRAM, 0);
	report("connect dgram to stream", connect(d, (struct sockaddr *)&a, al));
	close(d);
	/* backlog: 3 connections fit a backlog of 2 */
	int c[4], okc = 0;
	for (int i = 0; i < 4; i++) {
		c[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (connect(c[i], (struct sockaddr *)&a, al) == 0)
			okc++;
		else
			printf("connect %d = -1 %s\n", i, errname(errno));
	}
	printf("connects within backlog 2 = %d\n", okc);
	revents("listener with pending", l);
	proc_line("/proc/net/unix connector", c[0], path);
	report("connect again", connect(c[0], (struct sockaddr *)&a, al));
	report("send before accept", send(c[0], "early", 5, 0));
	report("accept4 bad flags", accept4(l, NULL, NULL, 0x1234));
	struct sockaddr_un pa;
	socklen_t pl = sizeof pa;
	int acc = accept4(l, (struct sockaddr *)&pa, &pl, SOCK_NONBLOCK | SOCK_CLOEXEC);
	yesno("accept4 ok", acc >= 0);
	printf("accepted: peer addr len %d F_GETFL %#x F_GETFD %d\n", pl, fcntl(acc, F_GETFL) & ~O_LARGEFILE,
	       fcntl(acc, F_GETFD));
	rdstr("data sent before accept", acc, 10, 0);
	gl = sizeof got;
	getsockname(acc, (struct sockaddr *)&got, &gl);
	printf("accepted getsockname is listener's: %s\n", strcmp(got.sun_path, path) == 0 ? "yes" : "no");
	gl = sizeof got;
	getpeername(c[0], (struct sockaddr *)&got, &gl);
	printf("connector getpeername is listener's: %s\n", strcmp(got.sun_path, path) == 0 ? "yes" : "no");
	proc_line("/proc/net/unix accepted", acc, path);
	report("listen on connected", listen(c[0], 5));
	report("listen on accepted", listen(acc, 5));
	report("connect listening socket", connect(l, (struct sockaddr *)&a, al));
	report("accept on connected", accept(c[0], NULL, NULL));
	report("recv on listener", recv(l, path, 1, MSG_DONTWAIT));
	report("send on listener", send(l, "x", 1, 0));
	int more = 0;
	fcntl(l, F_SETFL, O_NONBLOCK);
	while (1) {
		int x = accept(l, NULL, NULL);
		if (x < 0)
			break;
		more++;
		close(x);
	}
	printf("accepted %d more, then %s\n", more, errname(errno));
	for (int i = 0; i < 4; i++)
		close(c[i]);
	close(acc);
	/* unlink removes the name; the listener keeps working by its fd */
	report("unlink", unlink(path));
	int c2 = socket(AF_UNIX, SOCK_STREAM, 0);
	report("connect after unlink", connect(c2, (struct sockaddr *)&a, al));
	/* stale path: the socket file stays after close */
	close(l);
	l = socket(AF_UNIX, SOCK_STREAM, 0);
	bind(l, (struct sockaddr *)&a, al);
	listen(l, 1);
	close(l);
	report("stale path exists", access(path, F_OK));
	report("connect to stale path", connect(c2, (struct sockaddr *)&a, al));
	report("bind stale path", bind(c2, (struct sockaddr *)&a, al));
	unlink(path);
	report("bind after unlink", bind(c2, (struct sockaddr *)&a, al));
	unlink(path);
	unlink(reg);
	close(c2);
	close(s2);
	/* relative path, from the working directory */
	char cwd[300];
	getcwd(cwd, sizeof cwd);
	chdir(base);
	int r = socket(AF_UNIX, SOCK_DGRAM, 0);
	al = mkaddr(&a, "rel.sock");
	report("bind relative", bind(r, (struct sockaddr *)&a, al));
	gl = sizeof got;
	getsockname(r, (struct sockaddr *)&got, &gl);
	printf("relative getsockname = %s\n", got.sun_path);
	proc_line("/proc/net/unix relative", r, "rel.sock");
	int s3 = socket(AF_UNIX, SOCK_DGRAM, 0);
	report("sendto relative", sendto(s3, "rel", 3, 0, (struct sockaddr *)&a, al));
	rdstr("recv relative", r, 10, 0);
	unlink("rel.sock");
	chdir(cwd);
	close(r);
	close(s3);
	/* write permission on the socket file is needed to connect (only in
	 * /dev/shm: DIR's ancestors may not be searchable by nobody) */
	if (strcmp(base, "/dev/shm") != 0)
		return;
	l = socket(AF_UNIX, SOCK_STREAM, 0);
	al = mkaddr(&a, path);
	bind(l, (struct sockaddr *)&a, al);
	listen(l, 5);
	chmod(path, 0700);
	pid_t pid = fork();
	if (pid == 0) {
		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(2);
		int s = socket(AF_UNIX, SOCK_STREAM, 0);
		int rc = connect(s, (struct sockaddr *)&a, al);
		printf("connect as nobody to 0700 socket = %d %s\n", rc, rc < 0 ? errname(errno) : "");
		fflush(stdout);
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	chmod(path, 0777);
	chmod(base, 0777);
	pid = fork();
	if (pid == 0) {
		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(2);
		int s = socket(AF_UNIX, SOCK_STREAM, 0);
		int rc = connect(s, (struct sockaddr *)&a, al);
		printf("connect as nobody to 0777 socket = %d %s\n", rc, rc < 0 ? errname(errno) : "");
		fflush(stdout);
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	chmod(base, 0755);
	close(l);
	unlink(path);
}

static void sec_bind(void) {
	puts("== bind");
	struct sockaddr_un a;
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	memset(&a, 0, sizeof a);
	a.sun_family = AF_UNIX;
	report("bind len -1", bind(s, (struct sockaddr *)&a, -1));
	report("bind len 0", bind(s, (struct sockaddr *)&a, 0));
	report("bind len 1", bind(s, (struct sockaddr *)&a, 1));
	report("bind len 129", bind(s, (struct sockaddr *)&a, 129));
	report("bind len 111", bind(s, (struct sockaddr *)&a, 111));
	report("bind NULL", bind(s, NULL, 10));
	report("bind bad pointer", bind(s, (struct sockaddr *)16, 10));
	a.sun_family = AF_INET;
	strcpy(a.sun_path, "x");
	report("bind AF_INET family", bind(s, (struct sockaddr *)&a, 4));
	a.sun_family = AF_UNSPEC;
	report("bind AF_UNSPEC, len 2", bind(s, (struct sockaddr *)&a, 2));
	report("connect len 2", connect(s, (struct sockaddr *)&a, 2));
	a.sun_family = AF_UNIX;
	report("connect NULL", connect(s, NULL, 10));
	report("connect bad pointer", connect(s, (struct sockaddr *)16, 10));
	report("connect len 200", connect(s, (struct sockaddr *)&a, 200));
	int p[2];
	pipe(p);
	report("connect pipe, bad address", connect(p[0], (struct sockaddr *)16, 10));
	report("connect pipe", connect(p[0], (struct sockaddr *)&a, 4));
	report("bind pipe, bad address", bind(p[0], (struct sockaddr *)16, 10));
	close(p[0]);
	close(p[1]);
	report("listen unbound", listen(s, 5));
	report("accept unbound", accept(s, NULL, NULL));
	int d = socket(AF_UNIX, SOCK_DGRAM, 0);
	report("listen dgram", listen(d, 5));
	report("accept dgram", accept(d, NULL, NULL));
	close(d);
	/* a path of 108 bytes without a NUL */
	char longp[300];
	snprintf(longp, sizeof longp, "%s/", dir);
	size_t bl = strlen(longp);
	if (bl < 100) {
		memset(longp + bl, 'L', 108 - bl);
		longp[108] = 0;
		memset(&a, 0, sizeof a);
		a.sun_family = AF_UNIX;
		memcpy(a.sun_path, longp, 108);
		int lp = socket(AF_UNIX, SOCK_STREAM, 0);
		report("bind 108-byte path, len 110", bind(lp, (struct sockaddr *)&a, 110));
		struct sockaddr_storage ss;
		socklen_t sl = sizeof ss;
		getsockname(lp, (struct sockaddr *)&ss, &sl);
		printf("getsockname len = %d\n", sl);
		unlink(longp);
		close(lp);
	}
	close(s);
	bind_tests(dir, "DIR");
	bind_tests("/dev/shm", "/dev/shm");
}

static void sec_abstract(void) {
	puts("== abstract");
	struct sockaddr_un a, got;
	socklen_t al = mkabs(&a, "runsc-lite-test-abstract"), gl;
	int l = socket(AF_UNIX, SOCK_STREAM, 0);
	report("bind abstract", bind(l, (struct sockaddr *)&a, al));
	gl = sizeof got;
	getsockname(l, (struct sockaddr *)&got, &gl);
	printf("getsockname len == bound len: %s, name same: %s\n", gl == al ? "yes" : "no",
	       memcmp(&got, &a, al) == 0 ? "yes" : "no");
	int l2 = socket(AF_UNIX, SOCK_STREAM, 0);
	report("bind same abstract name", bind(l2, (struct sockaddr *)&a, al));
	int dd = socket(AF_UNIX, SOCK_DGRAM, 0);
	report("bind same name, other type", bind(dd, (struct sockaddr *)&a, al));
	report("bind bound abstract", bind(l, (struct sockaddr *)&a, al));
	proc_line("/proc/net/unix abstract", l, "@runsc-lite-test-abstract");
	report("connect not listening", connect(l2, (struct sockaddr *)&a, al));
	listen(l, 5);
	report("connect", connect(l2, (struct sockaddr *)&a, al));
	int d2 = socket(AF_UNIX, SOCK_DGRAM, 0);
	report("dgram connect to name bound by both types", connect(d2, (struct sockaddr *)&a, al));
	report("send", send(d2, "abs", 3, 0));
	rdstr("recv", dd, 10, 0);
	close(d2);
	close(dd);
	int acc = accept(l, NULL, NULL);
	report("accept", acc >= 0 ? 0 : -1);
	close(acc);
	close(l);
	close(l2);
	l = socket(AF_UNIX, SOCK_STREAM, 0);
	report("rebind after close", bind(l, (struct sockaddr *)&a, al));
	close(l);
	struct sockaddr_un none;
	socklen_t nl = mkabs(&none, "runsc-lite-nobody-here");
	int c = socket(AF_UNIX, SOCK_STREAM, 0);
	report("connect to unknown abstract", connect(c, (struct sockaddr *)&none, nl));
	/* autobind */
	int s = socket(AF_UNIX, SOCK_DGRAM, 0);
	memset(&a, 0, sizeof a);
	a.sun_family = AF_UNIX;
	report("autobind", bind(s, (struct sockaddr *)&a, 2));
	gl = sizeof got;
	getsockname(s, (struct sockaddr *)&got, &gl);
	int hex = 1;
	for (int i = 1; i < 6; i++)
		if (!strchr("0123456789abcdef", got.sun_path[i]))
			hex = 0;
	printf("autobound: len %d, leading NUL %s, 5 hex digits %s\n", gl, got.sun_path[0] == 0 ? "yes" : "no", hex ? "yes" : "no");
	struct sockaddr_un first = got;
	report("autobind again", bind(s, (struct sockaddr *)&a, 2));
	gl = sizeof got;
	getsockname(s, (struct sockaddr *)&got, &gl);
	printf("name kept: %s\n", memcmp(&first, &got, 8) == 0 ? "yes" : "no");
	/* unbound socket names */
	int u = socket(AF_UNIX, SOCK_STREAM, 0);
	gl = sizeof got;
	getsockname(u, (struct sockaddr *)&got, &gl);
	printf("unbound getsockname len = %d\n", gl);
	report("unbound getpeername", getpeername(u, (struct sockaddr *)&got, &gl));
	gl = 1;
	report("getsockname len 1", getsockname(s, (struct sockaddr *)&got, &gl));
	printf("returned len = %d\n", gl);
	int neg = -1;
	report("getsockname len -1", getsockname(s, (struct sockaddr *)&got, (socklen_t *)&neg));
	report("getsockname bad len pointer", getsockname(s, (struct sockaddr *)&got, (socklen_t *)16));
	gl = sizeof got;
	report("getsockname bad addr pointer", getsockname(s, (struct sockaddr *)16, &gl));
	/* a datagram's sender address */
	int r = socket(AF_UNIX, SOCK_DGRAM, 0);
	al = mkabs(&a, "runsc-lite-dgram-recv");
	bind(r, (struct sockaddr *)&a, al);
	sendto(s, "from bound", 10, 0, (struct sockaddr *)&a, al);
	sendto(u = socket(AF_UNIX, SOCK_DGRAM, 0), "from unbound", 12, 0, (struct sockaddr *)&a, al);
	char buf[32];
	gl = sizeof got;
	ssize_t n = recvfrom(r, buf, sizeof buf, 0, (struct sockaddr *)&got, &gl);
	printf("recvfrom %zd: addr len %d, is sender's: %s\n", n, gl, memcmp(&got, &first, 8) == 0 ? "yes" : "no");
	gl = sizeof got;
	n = recvfrom(r, buf, sizeof buf, 0, (struct sockaddr *)&got, &gl);
	printf("recvfrom %zd: addr len %d\n", n, gl);
	sendto(s, "x", 1, 0, (struct sockaddr *)&a, al);
	report("recvfrom, addr but bad len pointer", recvfrom(r, buf, sizeof buf, 0, (struct sockaddr *)&got, (socklen_t *)16));
	report("data was taken", recv(r, buf, sizeof buf, MSG_DONTWAIT));
	/* SO_PASSCRED autobinds a sender */
	int pc = socket(AF_UNIX, SOCK_DGRAM, 0);
	setint("SO_PASSCRED", pc, SOL_SOCKET, SO_PASSCRED, 1);
	sendto(pc, "pc", 2, 0, (struct sockaddr *)&a, al);
	gl = sizeof got;
	n = recvfrom(r, buf, sizeof buf, 0, (struct sockaddr *)&got, &gl);
	printf("from SO_PASSCRED sender: addr len %d\n", gl);
	/* dgram receiver connected elsewhere refuses */
	int x = socket(AF_UNIX, SOCK_DGRAM, 0);
	struct sockaddr_un xa;
	socklen_t xal = mkabs(&xa, "runsc-lite-dgram-x");
	bind(x, (struct sockaddr *)&xa, xal);
	report("connect receiver to x", connect(r, (struct sockaddr *)&xa, xal));
	report("sendto receiver connected to another", sendto(s, "no", 2, 0, (struct sockaddr *)&a, al));
	report("connect to receiver connected to another", connect(s, (struct sockaddr *)&a, al));
	report("sendto x from its peer", sendto(r, "ok", 2, 0, (struct sockaddr *)&xa, xal));
	rdstr("x got", x, 10, 0);
	struct sockaddr unspec = {.sa_family = AF_UNSPEC};
	report("disconnect with AF_UNSPEC", connect(r, &unspec, sizeof unspec));
	report("send after disconnect", send(r, "x", 1, 0));
	report("sendto works again", sendto(s, "yes", 3, 0, (struct sockaddr *)&a, al));
	rdstr("receiver got", r, 10, 0);
	/* unconnected receiver queue limit */
	int qlen = -1;
	FILE *f = fopen("/proc/sys/net/unix/max_dgram_qlen", "r");
	if (f) {
		fscanf(f, "%d", &qlen);
		fclose(f);
	}
	int cnt = 0;
	while (sendto(u, "q", 1, MSG_DONTWAIT, (struct sockaddr *)&a, al) == 1 && cnt < 1000)
		cnt++;
	printf("datagrams to an unconnected receiver until %s: max_dgram_qlen+%d\n", errname(errno), cnt - qlen);
	close(pc);
	close(x);
	close(r);
	close(u);
	close(s);
	close(c);
}

/* ------------------------------------------------------------ rights */

static int send_fds(int s, const char *data, size_t len, int *fds, int n) {
	char cbuf[CMSG_SPACE(sizeof(int) * 300)];
	struct iovec iov = {(void *)data, len};
	struct msghdr m = {0};
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	if (n > 0) {
		memset(cbuf, 0, sizeof cbuf);
		m.msg_control = cbuf;
		m.msg_controllen = CMSG_SPACE(sizeof(int) * n);
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * n);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
	}
	return sendmsg(s, &m, 0);
}

/* recv_fds receives with a control buffer of clen bytes; it prints the
 * data, the flags and the descriptors' count, and stores them. */
static int recv_fds(const char *label, int s, size_t clen, int flags, int *fds, int max) {
	char data[64] = {0};
	char cbuf[4096] __attribute__((aligned(8)));
	struct iovec iov = {data, sizeof data - 1};
	struct msghdr m = {0};
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = clen ? cbuf : NULL;
	m.msg_controllen = clen;
	ssize_t r = recvmsg(s, &m, flags);
	if (r < 0) {
		printf("%s = -1 %s\n", label, errname(errno));
		return -1;
	}
	int n = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			int k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (int i = 0; i < k && n < max; i++)
				memcpy(&fds[n++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
		}
	}
	printf("%s = %zd \"%s\" flags%s%s controllen %zu fds %d\n", label, r, data, m.msg_flags & MSG_CTRUNC ? " CTRUNC" : "",
	       m.msg_flags & MSG_TRUNC ? " TRUNC" : "", (size_t)m.msg_controllen, n);
	return n;
}

static int open_fds(void) {
	int n = 0;
	for (int fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
}

static void sec_rights(void) {
	puts("== rights");
	int sv[2], p[2], fds[8], got[300];
	pair(SOCK_STREAM, sv);
	pipe(p);
	char file[300];
	pathin(file, sizeof file, dir, "rights.txt");
	int ff = open(file, O_CREAT | O_RDWR | O_TRUNC, 0644);
	write(ff, "file data", 9);
	int ps[2];
	pair(SOCK_DGRAM, ps);
	int opath = open(dir, O_PATH);
	fds[0] = p[1];
	fds[1] = ff;
	fds[2] = ps[0];
	fds[3] = opath;
	int base = open_fds();
	report("send 4 fds", send_fds(sv[0], "four", 4, fds, 4));
	int n = recv_fds("recv 4 fds", sv[1], CMSG_SPACE(sizeof(int) * 4), 0, got, 8);
	printf("open fds grew by %d\n", open_fds() - base);
	if (n == 4) {
		write(got[0], "via pipe", 8);
		char b[16] = {0};
		read(p[0], b, sizeof b);
		printf("pipe end works: %s\n", b);
		char fb[16] = {0};
		pread(got[1], fb, sizeof fb, 0);
		printf("file works: %s, offset shared: %s\n", fb, lseek(got[1], 0, SEEK_CUR) == lseek(ff, 0, SEEK_CUR) ? "yes" : "no");
		send(got[2], "dg", 2, 0);
		rdstr("socket works", ps[1], 10, 0);
		printf("O_PATH kept: %s, cloexec: %d\n", (fcntl(got[3], F_GETFL) & O_PATH) ? "yes" : "no", fcntl(got[3], F_GETFD));
		for (int i = 0; i < 4; i++)
			close(got[i]);
	}
	/* MSG_CMSG_CLOEXEC */
	send_fds(sv[0], "c", 1, fds, 1);
	n = recv_fds("recv CMSG_CLOEXEC", sv[1], CMSG_SPACE(sizeof(int)), MSG_CMSG_CLOEXEC, got, 8);
	if (n == 1) {
		printf("FD_CLOEXEC = %d\n", fcntl(got[0], F_GETFD));
		close(got[0]);
	}
	/* truncation: room for one of three */
	base = open_fds();
	send_fds(sv[0], "3", 1, fds, 3);
	n = recv_fds("recv 3 with room for 1", sv[1], CMSG_SPACE(sizeof(int)), 0, got, 8);
	printf("open fds grew by %d\n", open_fds() - base);
	for (int i = 0; i < n; i++)
		close(got[i]);
	send_fds(sv[0], "3", 1, fds, 3);
	n = recv_fds("recv 3 with a header only", sv[1], sizeof(struct cmsghdr), 0, got, 8);
	send_fds(sv[0], "3", 1, fds, 3);
	n = recv_fds("recv 3 without control", sv[1], 0, 0, got, 8);
	send_fds(sv[0], "3", 1, fds, 3);
	char buf[16];
	report("recv() of a message with fds", recv(sv[1], buf, sizeof buf, 0));
	printf("open fds grew by %d\n", open_fds() - base);
	/* streams stop after a message with fds */
	send(sv[0], "a", 1, 0);
	send_fds(sv[0], "b", 1, fds, 1);
	send(sv[0], "c", 1, 0);
	n = recv_fds("stream recv a+b", sv[1], CMSG_SPACE(sizeof(int)), 0, got, 8);
	for (int i = 0; i < n; i++)
		close(got[i]);
	n = recv_fds("stream recv c", sv[1], CMSG_SPACE(sizeof(int)), 0, got, 8);
	/* peek clones the descriptors */
	send_fds(sv[0], "pk", 2, fds, 1);
	n = recv_fds("peek", sv[1], CMSG_SPACE(sizeof(int)), MSG_PEEK, got, 8);
	for (int i = 0; i < n; i++)
		close(got[i]);
	n = recv_fds("recv after peek", sv[1], CMSG_SPACE(sizeof(int)), 0, got, 8);
	for (int i = 0; i < n; i++)
		close(got[i]);
	/* a zero-length stream send carries no descriptors */
	report("zero-length stream send with fds", send_fds(sv[0], "", 0, fds, 1));
	report("nothing queued", recv(sv[1], buf, sizeof buf, MSG_DONTWAIT));
	/* datagrams keep fds with their message */
	int dv[2];
	pair(SOCK_DGRAM, dv);
	send_fds(dv[0], "d1", 2, fds, 2);
	send(dv[0], "d2", 2, 0);
	n = recv_fds("dgram with fds", dv[1], CMSG_SPACE(sizeof(int) * 2), 0, got, 8);
	for (int i = 0; i < n; i++)
		close(got[i]);
	n = recv_fds("dgram without", dv[1], CMSG_SPACE(sizeof(int) * 2), 0, got, 8);
	/* errors */
	int bad[2] = {ff, 999};
	report("SCM_RIGHTS with a closed fd", send_fds(sv[0], "x", 1, bad, 2));
	bad[1] = -1;
	report("SCM_RIGHTS with fd -1", send_fds(sv[0], "x", 1, bad, 2));
	int many[254];
	for (int i = 0; i < 254; i++)
		many[i] = 0;
	report("SCM_RIGHTS with 254 fds", send_fds(sv[0], "x", 1, many, 254));
	report("SCM_RIGHTS with 253 fds", send_fds(sv[0], "x", 1, many, 253));
	n = recv_fds("recv 253", sv[1], CMSG_SPACE(sizeof(int) * 253), 0, got, 300);
	for (int i = 0; i < n; i++)
		close(got[i]);
	report("nothing left", recv(sv[1], buf, sizeof buf, MSG_DONTWAIT));
	/* across fork: the child receives a pipe end and writes to it */
	int pp[2];
	pipe(pp);
	pid_t pid = fork();
	if (pid == 0) {
		close(sv[0]);
		int g[4];
		int k = recv_fds("child recv", sv[1], CMSG_SPACE(sizeof(int)), 0, g, 4);
		if (k == 1)
			write(g[0], "from child", 10);
		fflush(stdout);
		_exit(0);
	}
	send_fds(sv[0], "p", 1, &pp[1], 1);
	close(pp[1]);
	waitpid(pid, NULL, 0);
	char cb[32] = {0};
	read(pp[0], cb, sizeof cb);
	printf("parent read: %s\n", cb);
	report("pipe EOF once every writer is gone", read(pp[0], cb, sizeof cb));
	close(pp[0]);
	close(dv[0]);
	close(dv[1]);
	close(sv[0]);
	close(sv[1]);
	close(p[0]);
	close(p[1]);
	close(ps[0]);
	close(ps[1]);
	close(ff);
	close(opath);
	unlink(file);

	/* a cycle of in-flight sockets is collected */
	int a[2], b[2];
	pair(SOCK_STREAM, a);
	pair(SOCK_STREAM, b);
	struct stat sa, sb;
	fstat(a[0], &sa);
	fstat(b[0], &sb);
	yesno("cycle sockets listed while open", listed(sa.st_ino) == 1 && listed(sb.st_ino) == 1);
	send_fds(a[1], "x", 1, &a[0], 1); /* a[0] queued in itself */
	send_fds(b[0], "y", 1, &b[0], 1); /* b[0] queued in b[1] */
	send_fds(b[1], "z", 1, &b[1], 1); /* b[1] queued in b[0] */
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
	/* Linux collects when a socket is released; wait for it. */
	int gone = 0;
	for (int i = 0; i < 100 && !gone; i++) {
		int t = socket(AF_UNIX, SOCK_STREAM, 0);
		close(t);
		gone = listed(sa.st_ino) == 0 && listed(sb.st_ino) == 0;
		if (!gone)
			sleep_ms(20);
	}
	yesno("cycle collected", gone);
}

static void sec_cmsg(void) {
	puts("== cmsg");
	int sv[2];
	pair(SOCK_DGRAM, sv);
	char data[4] = "abc", cbuf[256] __attribute__((aligned(8)));
	struct iovec iov = {data, 3};
	struct msghdr m = {0};
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = cbuf;
	struct cmsghdr *c = (struct cmsghdr *)cbuf;
	memset(cbuf, 0, sizeof cbuf);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = 8;
	m.msg_controllen = 32;
	report("cmsg_len 8", sendmsg(sv[0], &m, 0));
	c->cmsg_len = 40;
	report("cmsg_len beyond controllen", sendmsg(sv[0], &m, 0));
	c->cmsg_len = 16;
	report("empty SCM_RIGHTS", sendmsg(sv[0], &m, 0));
	c->cmsg_type = 99;
	report("unknown SOL_SOCKET type", sendmsg(sv[0], &m, 0));
	c->cmsg_level = SOL_IP;
	c->cmsg_type = 1;
	report("other level on AF_UNIX", sendmsg(sv[0], &m, 0));
	m.msg_controllen = 8;
	report("controllen 8 (no header fits)", sendmsg(sv[0], &m, 0));
	/* second header malformed */
	memset(cbuf, 0, sizeof cbuf);
	c->cmsg_level = SOL_IP;
	c->cmsg_type = 1;
	c->cmsg_len = 20;
	struct cmsghdr *c2 = (struct cmsghdr *)(cbuf + 24);
	c2->cmsg_len = 100;
	m.msg_controllen = 48;
	report("second cmsg too long", sendmsg(sv[0], &m, 0));
	c2->cmsg_len = 16;
	c2->cmsg_level = SOL_SOCKET;
	c2->cmsg_type = SCM_CREDENTIALS;
	report("SCM_CREDENTIALS of 0 bytes", sendmsg(sv[0], &m, 0));
	m.msg_controllen = 0x7fffffffUL + 1;
	report("controllen > INT_MAX", sendmsg(sv[0], &m, 0));
	m.msg_controllen = 1 << 20;
	report("controllen 1 MiB", sendmsg(sv[0], &m, 0));
	m.msg_controllen = 64;
	m.msg_control = (void *)16;
	report("bad control pointer", sendmsg(sv[0], &m, 0));
	m.msg_control = NULL;
	m.msg_controllen = 0;
	m.msg_iov = (void *)16;
	report("bad iov pointer", sendmsg(sv[0], &m, 0));
	m.msg_iov = &iov;
	iov.iov_base = (void *)16;
	report("bad iov_base", sendmsg(sv[0], &m, 0));
	iov.iov_base = data;
	iov.iov_len = (size_t)-1;
	report("negative iov_len", sendmsg(sv[0], &m, 0));
	iov.iov_len = 3;
	m.msg_iovlen = 1025;
	report("iovlen 1025", sendmsg(sv[0], &m, 0));
	m.msg_iovlen = 1;
	struct sockaddr_un a;
	m.msg_name = &a;
	m.msg_namelen = -1;
	report("namelen -1", sendmsg(sv[0], &m, 0));
	m.msg_namelen = 2;
	a.sun_family = AF_UNIX;
	report("namelen 2 (just the family) on a connected dgram", sendmsg(sv[0], &m, 0));
	m.msg_name = (void *)16;
	m.msg_namelen = 10;
	report("bad name pointer", sendmsg(sv[0], &m, 0));
	m.msg_name = NULL;
	report("NULL name with namelen 10", sendmsg(sv[0], &m, 0));
	report("msghdr NULL", sendmsg(sv[0], NULL, 0));
	report("msghdr bad pointer", sendmsg(sv[0], (void *)16, 0));
	int drained = 0;
	char buf[16];
	while (recv(sv[1], buf, sizeof buf, MSG_DONTWAIT) >= 0)
		drained++;
	printf("messages that got through = %d\n", drained);
	/* receive side */
	send(sv[0], "r", 1, 0);
	struct msghdr rm = {0};
	rm.msg_iov = (void *)16;
	rm.msg_iovlen = 1;
	report("recvmsg bad iov pointer", recvmsg(sv[1], &rm, 0));
	struct iovec riov = {(void *)16, 10};
	rm.msg_iov = &riov;
	report("recvmsg bad buffer", recvmsg(sv[1], &rm, 0));
	riov.iov_base = buf;
	report("the datagram went with the EFAULT", recv(sv[1], buf, sizeof buf, MSG_DONTWAIT));
	send(sv[0], "r", 1, 0);
	rm.msg_iovlen = 1025;
	report("recvmsg iovlen 1025", recvmsg(sv[1], &rm, 0));
	rm.msg_iovlen = 1;
	rm.msg_name = &a;
	rm.msg_namelen = -1;
	report("recvmsg namelen -1", recvmsg(sv[1], &rm, 0));
	rm.msg_namelen = sizeof a;
	rm.msg_control = (void *)16;
	rm.msg_controllen = 64;
	report("recvmsg bad control pointer, no control data", recvmsg(sv[1], &rm, 0));
	printf("msg_controllen = %zu msg_flags = %#x\n", (size_t)rm.msg_controllen, rm.msg_flags);
	report("recvmsg NULL", recvmsg(sv[1], NULL, MSG_DONTWAIT));
	close(sv[0]);
	close(sv[1]);
	/* mmsg */
	pair(SOCK_DGRAM, sv);
	struct mmsghdr mm[3];
	struct iovec mi[3] = {{"m0", 2}, {"m11", 3}, {"m222", 4}};
	memset(mm, 0, sizeof mm);
	for (int i = 0; i < 3; i++) {
		mm[i].msg_hdr.msg_iov = &mi[i];
		mm[i].msg_hdr.msg_iovlen = 1;
	}
	report("sendmmsg 3", sendmmsg(sv[0], mm, 3, 0));
	printf("msg_len = %u %u %u\n", mm[0].msg_len, mm[1].msg_len, mm[2].msg_len);
	mm[1].msg_hdr.msg_iov = (void *)16;
	report("sendmmsg with a bad second", sendmmsg(sv[0], mm, 3, 0));
	report("sendmmsg bad vector", sendmmsg(sv[0], (void *)16, 3, 0));
	char rb[3][8];
	struct iovec ri[3] = {{rb[0], 8}, {rb[1], 8}, {rb[2], 8}};
	memset(mm, 0, sizeof mm);
	for (int i = 0; i < 3; i++) {
		mm[i].msg_hdr.msg_iov = &ri[i];
		mm[i].msg_hdr.msg_iovlen = 1;
	}
	report("recvmmsg 3", recvmmsg(sv[1], mm, 3, 0, NULL));
	printf("msg_len = %u %u %u\n", mm[0].msg_len, mm[1].msg_len, mm[2].msg_len);
	report("recvmmsg WAITFORONE", recvmmsg(sv[1], mm, 3, MSG_WAITFORONE, NULL));
	report("recvmmsg DONTWAIT empty", recvmmsg(sv[1], mm, 3, MSG_DONTWAIT, NULL));
	struct timespec ts = {0, 50000000};
	send(sv[0], "t", 1, 0);
	report("recvmmsg with timeout", recvmmsg(sv[1], mm, 1, 0, &ts));
	report("recvmmsg bad timeout pointer", recvmmsg(sv[1], mm, 1, 0, (void *)16));
	close(sv[0]);
	close(sv[1]);
}

static void sec_creds(void) {
	puts("== creds");
	int sv[2];
	pair(SOCK_STREAM, sv);
	struct ucred u;
	socklen_t ul = sizeof u;
	getsockopt(sv[0], SOL_SOCKET, SO_PEERCRED, &u, &ul);
	printf("pair SO_PEERCRED: len %d pid is mine %s uid %d gid %d\n", ul, u.pid == getpid() ? "yes" : "no", u.uid, u.gid);
	ul = 4;
	report("SO_PEERCRED with 4 bytes", getsockopt(sv[0], SOL_SOCKET, SO_PEERCRED, &u, &ul));
	printf("len = %d\n", ul);
	char ctx[256];
	socklen_t cl = sizeof ctx;
	report("SO_PEERSEC", getsockopt(sv[0], SOL_SOCKET, SO_PEERSEC, ctx, &cl));
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	ul = sizeof u;
	getsockopt(s, SOL_SOCKET, SO_PEERCRED, &u, &ul);
	printf("unconnected SO_PEERCRED: pid %d uid %d gid %d\n", u.pid, (int)u.uid, (int)u.gid);
	close(s);
	printf("SO_PASSCRED default = %d\n", getint(sv[1], SOL_SOCKET, SO_PASSCRED));
	setint("SO_PASSCRED on", sv[1], SOL_SOCKET, SO_PASSCRED, 1);
	printf("SO_PASSCRED = %d\n", getint(sv[1], SOL_SOCKET, SO_PASSCRED));
	send(sv[0], "plain", 5, 0);
	char data[32] = {0}, cbuf[256] __attribute__((aligned(8)));
	struct iovec iov = {data, sizeof data};
	struct msghdr m = {0};
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = cbuf;
	m.msg_controllen = sizeof cbuf;
	ssize_t r = recvmsg(sv[1], &m, 0);
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	if (r > 0 && c && c->cmsg_type == SCM_CREDENTIALS) {
		memcpy(&u, CMSG_DATA(c), sizeof u);
		printf("SCM_CREDENTIALS: len %zu pid is mine %s uid %d gid %d\n", (size_t)c->cmsg_len, u.pid == getpid() ? "yes" : "no", u.uid, u.gid);
	} else
		printf("no SCM_CREDENTIALS (r=%zd)\n", r);
	/* a short control buffer truncates the credentials */
	send(sv[0], "short", 5, 0);
	m.msg_controllen = 20;
	r = recvmsg(sv[1], &m, 0);
	printf("creds into 20 bytes: r %zd controllen %zu ctrunc %s cmsg_len %zu\n", r, (size_t)m.msg_controllen,
	       m.msg_flags & MSG_CTRUNC ? "yes" : "no", (size_t)((struct cmsghdr *)cbuf)->cmsg_len);
	send(sv[0], "none", 4, 0);
	m.msg_control = NULL;
	m.msg_controllen = 0;
	r = recvmsg(sv[1], &m, 0);
	printf("creds without a control buffer: r %zd ctrunc %s\n", r, m.msg_flags & MSG_CTRUNC ? "yes" : "no");
	/* explicit credentials */
	struct msghdr sm = {0};
	struct iovec siov = {"cr", 2};
	char scb[CMSG_SPACE(sizeof(struct ucred))] __attribute__((aligned(8)));
	sm.msg_iov = &siov;
	sm.msg_iovlen = 1;
	sm.msg_control = scb;
	sm.msg_controllen = sizeof scb;
	struct cmsghdr *sc = CMSG_FIRSTHDR(&sm);
	sc->cmsg_level = SOL_SOCKET;
	sc->cmsg_type = SCM_CREDENTIALS;
	sc->cmsg_len = CMSG_LEN(sizeof(struct ucred));
	struct ucred mine = {getpid(), getuid(), getgid()};
	memcpy(CMSG_DATA(sc), &mine, sizeof mine);
	report("send own credentials", sendmsg(sv[0], &sm, 0));
	struct ucred bad = {getpid(), (uid_t)-1, getgid()};
	memcpy(CMSG_DATA(sc), &bad, sizeof bad);
	report("send uid -1", sendmsg(sv[0], &sm, 0));
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(2);
		struct ucred o = {1, 65534, 65534};
		memcpy(CMSG_DATA(sc), &o, sizeof o);
		report("nobody claims pid 1", sendmsg(sv[0], &sm, 0));
		struct ucred o2 = {getpid(), 0, 65534};
		memcpy(CMSG_DATA(sc), &o2, sizeof o2);
		report("nobody claims uid 0", sendmsg(sv[0], &sm, 0));
		struct ucred o3 = {getpid(), 65534, 65534};
		memcpy(CMSG_DATA(sc), &o3, sizeof o3);
		report("nobody sends its own", sendmsg(sv[0], &sm, 0));
		fflush(stdout);
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	m.msg_control = cbuf;
	m.msg_controllen = sizeof cbuf;
	for (int i = 0; i < 2; i++) {
		memset(data, 0, sizeof data);
		m.msg_controllen = sizeof cbuf;
		r = recvmsg(sv[1], &m, MSG_DONTWAIT);
		c = CMSG_FIRSTHDR(&m);
		if (r > 0 && c) {
			memcpy(&u, CMSG_DATA(c), sizeof u);
			printf("received \"%s\" with uid %d, pid is mine: %s\n", data, u.uid, u.pid == getpid() ? "yes" : "no");
		} else
			printf("recv %d = %zd %s\n", i, r, r < 0 ? errname(errno) : "");
	}
	close(sv[0]);
	close(sv[1]);
	/* SO_PEERCRED across connect/accept */
	struct sockaddr_un a;
	socklen_t al = mkabs(&a, "runsc-lite-peercred");
	int l = socket(AF_UNIX, SOCK_STREAM, 0);
	bind(l, (struct sockaddr *)&a, al);
	listen(l, 1);
	int p[2], q[2];
	pipe(p);
	pipe(q);
	pid = fork();
	if (pid == 0) {
		int cs = socket(AF_UNIX, SOCK_STREAM, 0);
		connect(cs, (struct sockaddr *)&a, al);
		struct ucred lu;
		socklen_t lul = sizeof lu;
		getsockopt(cs, SOL_SOCKET, SO_PEERCRED, &lu, &lul);
		printf("connector sees the listener's pid: %s\n", lu.pid == getppid() ? "yes" : "no");
		fflush(stdout);
		write(q[1], "p", 1);
		char x;
		read(p[0], &x, 1);
		_exit(0);
	}
	int acc = accept(l, NULL, NULL);
	char x;
	read(q[0], &x, 1);
	ul = sizeof u;
	getsockopt(acc, SOL_SOCKET, SO_PEERCRED, &u, &ul);
	printf("accepted sees the connector's pid: %s\n", u.pid == pid ? "yes" : "no");
	write(p[1], "x", 1);
	waitpid(pid, NULL, 0);
	close(q[0]);
	close(q[1]);
	close(acc);
	close(l);
	close(p[0]);
	close(p[1]);
}

static void sec_opts(void) {
	puts("== options");
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	int wdef = -1, wmax = -1, rmax = -1;
	FILE *f = fopen("/proc/sys/net/core/wmem_default", "r");
	if (f) {
		fscanf(f, "%d", &wdef);
		fclose(f);
	}
	if ((f = fopen("/proc/sys/net/core/wmem_max", "r"))) {
		fscanf(f, "%d", &wmax);
		fclose(f);
	}
	if ((f = fopen("/proc/sys/net/core/rmem_max", "r"))) {
		fscanf(f, "%d", &rmax);
		fclose(f);
	}
	printf("SO_SNDBUF default is wmem_default: %s\n", getint(s, SOL_SOCKET, SO_SNDBUF) == wdef ? "yes" : "no");
	setint("SO_SNDBUF 1", s, SOL_SOCKET, SO_SNDBUF, 1);
	printf("SO_SNDBUF = %d\n", getint(s, SOL_SOCKET, SO_SNDBUF));
	setint("SO_SNDBUF 4096", s, SOL_SOCKET, SO_SNDBUF, 4096);
	printf("SO_SNDBUF = %d\n", getint(s, SOL_SOCKET, SO_SNDBUF));
	setint("SO_SNDBUF huge", s, SOL_SOCKET, SO_SNDBUF, 1 << 30);
	printf("SO_SNDBUF is 2*wmem_max: %s\n", getint(s, SOL_SOCKET, SO_SNDBUF) == 2 * wmax ? "yes" : "no");
	setint("SO_SNDBUF -1", s, SOL_SOCKET, SO_SNDBUF, -1);
	printf("SO_SNDBUF is 2*wmem_max: %s\n", getint(s, SOL_SOCKET, SO_SNDBUF) == 2 * wmax ? "yes" : "no");
	setint("SO_RCVBUF 1", s, SOL_SOCKET, SO_RCVBUF, 1);
	printf("SO_RCVBUF = %d\n", getint(s, SOL_SOCKET, SO_RCVBUF));
	setint("SO_RCVBUF huge", s, SOL_SOCKET, SO_RCVBUF, 1 << 30);
	printf("SO_RCVBUF is 2*rmem_max: %s\n", getint(s, SOL_SOCKET, SO_RCVBUF) == 2 * rmax ? "yes" : "no");
	printf("SO_ERROR = %d SO_ACCEPTCONN = %d SO_KEEPALIVE = %d SO_REUSEADDR = %d SO_RCVLOWAT = %d SO_SNDLOWAT = %d\n",
	       getint(s, SOL_SOCKET, SO_ERROR), getint(s, SOL_SOCKET, SO_ACCEPTCONN), getint(s, SOL_SOCKET, SO_KEEPALIVE),
	       getint(s, SOL_SOCKET, SO_REUSEADDR), getint(s, SOL_SOCKET, SO_RCVLOWAT), getint(s, SOL_SOCKET, SO_SNDLOWAT));
	setint("SO_REUSEADDR", s, SOL_SOCKET, SO_REUSEADDR, 5);
	setint("SO_KEEPALIVE", s, SOL_SOCKET, SO_KEEPALIVE, 1);
	printf("SO_REUSEADDR = %d SO_KEEPALIVE = %d\n", getint(s, SOL_SOCKET, SO_REUSEADDR), getint(s, SOL_SOCKET, SO_KEEPALIVE));
	struct linger lg = {1, 5}, lg2;
	report("SO_LINGER", setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg));
	socklen_t ll = sizeof lg2;
	getsockopt(s, SOL_SOCKET, SO_LINGER, &lg2, &ll);
	printf("SO_LINGER = %d %d len %d\n", lg2.l_onoff, lg2.l_linger, ll);
	report("SO_LINGER short", setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, 4));
	setint("SO_TYPE", s, SOL_SOCKET, SO_TYPE, 1);
	setint("SO_PEERCRED", s, SOL_SOCKET, SO_PEERCRED, 1);
	setint("unknown option 999", s, SOL_SOCKET, 999, 1);
	printf("getsockopt 999 = %s\n", errname(-getint(s, SOL_SOCKET, 999)));
	short sh = 1;
	report("setsockopt optlen 2", setsockopt(s, SOL_SOCKET, SO_KEEPALIVE, &sh, 2));
	report("setsockopt optlen -1", setsockopt(s, SOL_SOCKET, SO_KEEPALIVE, &sh, -1));
	report("setsockopt bad pointer", setsockopt(s, SOL_SOCKET, SO_KEEPALIVE, (void *)16, 4));
	setint("SOL_IP option", s, SOL_IP, IP_TOS, 1);
	setint("IPPROTO_TCP option", s, IPPROTO_TCP, 1, 1);
	int v;
	socklen_t vl = sizeof v;
	report("getsockopt IPPROTO_TCP", getsockopt(s, IPPROTO_TCP, 1, &v, &vl));
	vl = 2;
	v = -1;
	report("getsockopt SO_TYPE len 2", getsockopt(s, SOL_SOCKET, SO_TYPE, &v, &vl));
	printf("len %d value low bytes %#x\n", vl, v & 0xffff);
	int neg = -1;
	report("getsockopt len -1", getsockopt(s, SOL_SOCKET, SO_TYPE, &v, (socklen_t *)&neg));
	report("getsockopt bad len pointer", getsockopt(s, SOL_SOCKET, SO_TYPE, &v, (socklen_t *)16));
	vl = 4;
	report("getsockopt bad value pointer", getsockopt(s, SOL_SOCKET, SO_TYPE, (void *)16, &vl));
	vl = 0;
	report("getsockopt len 0", getsockopt(s, SOL_SOCKET, SO_TYPE, &v, &vl));
	printf("len %d\n", vl);
	/* timeouts */
	struct timeval tv = {0, 500000}, tg;
	report("SO_RCVTIMEO 0.5s", setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
	socklen_t tl = sizeof tg;
	getsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tg, &tl);
	printf("SO_RCVTIMEO = %ld.%06ld len %d\n", (long)tg.tv_sec, (long)tg.tv_usec, tl);
	tv.tv_sec = 2;
	tv.tv_usec = 500000; /* whole jiffies at HZ 100, 250, 300 and 1000 */
	setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	tl = sizeof tg;
	getsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tg, &tl);
	printf("SO_SNDTIMEO = %ld.%06ld\n", (long)tg.tv_sec, (long)tg.tv_usec);
	tv.tv_usec = 1000000;
	report("SO_RCVTIMEO usec 1000000", setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
	report("SO_RCVTIMEO optlen 8", setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, 8));
	close(s);
	int sv[2];
	pair(SOCK_STREAM, sv);
	tv.tv_sec = 0;
	tv.tv_usec = 100000;
	setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	long t0 = now_ms();
	char c;
	report("recv with 100ms timeout", recv(sv[0], &c, 1, 0));
	long el = now_ms() - t0;
	printf("waited at least 90 ms: %s, less than 5 s: %s\n", el >= 90 ? "yes" : "no", el < 5000 ? "yes" : "no");
	tv.tv_sec = -1;
	setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	tl = sizeof tg;
	getsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tg, &tl);
	printf("negative SO_RCVTIMEO reads back as %ld.%06ld\n", (long)tg.tv_sec, (long)tg.tv_usec);
	t0 = now_ms();
	report("recv with negative timeout", recv(sv[0], &c, 1, 0));
	printf("returned at once: %s\n", now_ms() - t0 < 1000 ? "yes" : "no");
	tv.tv_sec = 0;
	tv.tv_usec = 0;
	setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	/* a send timeout with a full buffer */
	setint("SO_SNDBUF small", sv[0], SOL_SOCKET, SO_SNDBUF, 4096);
	tv.tv_usec = 100000;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	char blk[4096] = {0};
	long sent = 0;
	ssize_t w;
	t0 = now_ms();
	while ((w = send(sv[0], blk, sizeof blk, 0)) > 0 && sent < (1 << 24))
		sent += w;
	printf("send until %s, less than the default buffer: %s\n", errname(errno), sent < 212992 ? "yes" : "no");
	printf("waited at least 90 ms: %s\n", now_ms() - t0 >= 90 ? "yes" : "no");
	int n;
	ioctl(sv[0], SIOCOUTQ, &n);
	printf("SIOCOUTQ == bytes sent: %s\n", n == sent ? "yes" : "no");
	/* SO_RCVLOWAT: a receive waits for that many bytes */
	int lw[2];
	pair(SOCK_STREAM, lw);
	setint("SO_RCVLOWAT 4", lw[1], SOL_SOCKET, SO_RCVLOWAT, 4);
	printf("SO_RCVLOWAT = %d\n", getint(lw[1], SOL_SOCKET, SO_RCVLOWAT));
	write(lw[0], "ab", 2);
	pid_t lp = fork();
	if (lp == 0) {
		sleep_ms(100);
		write(lw[0], "cd", 2);
		_exit(0);
	}
	rdstr("recv with SO_RCVLOWAT 4", lw[1], 10, 0);
	waitpid(lp, NULL, 0);
	write(lw[0], "e", 1);
	rdstr("non-blocking recv below SO_RCVLOWAT", lw[1], 10, MSG_DONTWAIT);
	close(lw[0]);
	close(lw[1]);
	ioctl(sv[1], FIONREAD, &n);
	printf("FIONREAD == bytes sent: %s\n", n == sent ? "yes" : "no");
	close(sv[0]);
	close(sv[1]);
	int l = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un a;
	socklen_t al = mkabs(&a, "runsc-lite-opts");
	bind(l, (struct sockaddr *)&a, al);
	listen(l, 1);
	printf("listener SO_ACCEPTCONN = %d\n", getint(l, SOL_SOCKET, SO_ACCEPTCONN));
	report("FIONREAD on listener", ioctl(l, FIONREAD, &n));
	tv.tv_sec = 0;
	tv.tv_usec = 100000;
	setsockopt(l, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	report("accept with 100ms timeout", accept(l, NULL, NULL));
	report("unknown ioctl", ioctl(l, 0x1234, &n));
	/* a listener closed with a connection it never accepted resets it */
	int pc = socket(AF_UNIX, SOCK_STREAM, 0);
	connect(pc, (struct sockaddr *)&a, al);
	send(pc, "lost", 4, 0);
	close(l);
	revents("connector after the listener closed", pc);
	rdstr("recv", pc, 10, MSG_DONTWAIT);
	rdstr("recv again", pc, 10, MSG_DONTWAIT);
	report("send", send(pc, "x", 1, MSG_NOSIGNAL));
	close(pc);
	/* shutdown of a listener wakes accept with EINVAL */
	l = socket(AF_UNIX, SOCK_STREAM, 0);
	bind(l, (struct sockaddr *)&a, al);
	listen(l, 1);
	report("shutdown listener", shutdown(l, SHUT_RD));
	report("accept after shutdown", accept(l, NULL, NULL));
	close(l);
}

/* ------------------------------------------------------- blocking */

static void sec_signals(void) {
	puts("== signals");
	struct sigaction sa = {0};
	sa.sa_handler = on_sigalrm;
	int sv[2];
	char buf[16];
	/* restarted with SA_RESTART; the data comes after the signal */
	sa.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sa, NULL);
	pair(SOCK_STREAM, sv);
	int gp[2];
	pid_t pid = after_alarm(write_late, &sv[1], gp);
	sigalrms = 0;
	struct itimerval it = {{0, 0}, {0, 100000}};
	setitimer(ITIMER_REAL, &it, NULL);
	rdstr("recv with SA_RESTART", sv[0], sizeof buf, 0);
	printf("SIGALRMs = %d\n", sigalrms);
	waitpid(pid, NULL, 0);
	close(gp[1]);
	alarm_pipe = -1;
	/* EINTR without */
	sa.sa_flags = 0;
	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
	rdstr("recv without SA_RESTART", sv[0], sizeof buf, 0);
	/* a socket with a timeout is not restarted */
	sa.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sa, NULL);
	struct timeval tv = {5, 0};
	setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setitimer(ITIMER_REAL, &it, NULL);
	long t0 = now_ms();
	rdstr("recv with SO_RCVTIMEO and SA_RESTART", sv[0], sizeof buf, 0);
	printf("returned before the timeout: %s\n", now_ms() - t0 < 4000 ? "yes" : "no");
	/* WAITALL keeps what it got when interrupted */
	tv.tv_sec = 0;
	setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	sa.sa_flags = 0;
	sigaction(SIGALRM, &sa, NULL);
	write(sv[1], "part", 4);
	setitimer(ITIMER_REAL, &it, NULL);
	rdstr("WAITALL interrupted after data", sv[0], 10, MSG_WAITALL);
	/* accept restarted */
	sa.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sa, NULL);
	struct sockaddr_un a;
	socklen_t al = mkabs(&a, "runsc-lite-sig-accept");
	int l = socket(AF_UNIX, SOCK_STREAM, 0);
	bind(l, (struct sockaddr *)&a, al);
	listen(l, 1);
	pid = after_alarm(connect_late, "runsc-lite-sig-accept", gp);
	sigalrms = 0;
	setitimer(ITIMER_REAL, &it, NULL);
	int acc = accept(l, NULL, NULL);
	printf("accept restarted: %s, SIGALRMs = %d\n", acc >= 0 ? "yes" : errname(errno), sigalrms);
	waitpid(pid, NULL, 0);
	close(gp[1]);
	alarm_pipe = -1;
	close(acc);
	close(l);
	close(sv[0]);
	close(sv[1]);
	signal(SIGALRM, SIG_DFL);
}

static void sec_readiness(void) {
	puts("== readiness");
	int sv[2];
	pair(SOCK_STREAM, sv);
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN | EPOLLET | EPOLLRDHUP, .data.u32 = 1};
	epoll_ctl(ep, EPOLL_CTL_ADD, sv[1], &ev);
	struct epoll_event lvl = {.events = EPOLLIN, .data.u32 = 2};
	epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &lvl);
	struct epoll_event out[4];
	report("edge: nothing yet", epoll_wait(ep, out, 4, 0));
	write(sv[0], "1", 1);
	int n = epoll_wait(ep, out, 4, 0);
	printf("edge after write = %d events %#x\n", n, n > 0 ? out[0].events : 0);
	report("edge again without new data", epoll_wait(ep, out, 4, 0));
	write(sv[0], "2", 1);
	report("edge after second write", epoll_wait(ep, out, 4, 0));
	write(sv[1], "x", 1);
	report("level, twice (1)", epoll_wait(ep, out, 4, 0));
	report("level, twice (2)", epoll_wait(ep, out, 4, 0));
	shutdown(sv[0], SHUT_WR);
	n = epoll_wait(ep, out, 4, 0);
	unsigned evs = 0;
	for (int i = 0; i < n; i++)
		if (out[i].data.u32 == 1)
			evs = out[i].events;
	printf("edge after peer SHUT_WR: %s%s\n", evs & EPOLLIN ? "IN " : "", evs & EPOLLRDHUP ? "RDHUP" : "");
	close(ep);
	close(sv[0]);
	close(sv[1]);
	/* blocking poll woken by a child */
	pair(SOCK_DGRAM, sv);
	pid_t pid = fork();
	if (pid == 0) {
		sleep_ms(100);
		send(sv[1], "wake", 4, 0);
		_exit(0);
	}
	struct pollfd p = {sv[0], POLLIN, 0};
	report("poll woken by child", poll(&p, 1, 10000));
	rdstr("data", sv[0], 10, 0);
	waitpid(pid, NULL, 0);
	close(sv[0]);
	close(sv[1]);
	/* a listener becomes readable; select sees it */
	struct sockaddr_un a;
	socklen_t al = mkabs(&a, "runsc-lite-ready");
	int l = socket(AF_UNIX, SOCK_STREAM, 0);
	bind(l, (struct sockaddr *)&a, al);
	listen(l, 4);
	revents("listener idle", l);
	int c = socket(AF_UNIX, SOCK_STREAM, 0);
	revents("unconnected stream", c);
	connect(c, (struct sockaddr *)&a, al);
	revents("connected, not accepted", c);
	fd_set rs;
	FD_ZERO(&rs);
	FD_SET(l, &rs);
	struct timeval tv = {0, 0};
	report("select listener", select(l + 1, &rs, NULL, NULL, &tv));
	int acc = accept(l, NULL, NULL);
	revents("listener after accept", l);
	close(acc);
	close(c);
	close(l);
	/* a dgram sender blocked by a full unconnected receiver */
	int r = socket(AF_UNIX, SOCK_DGRAM, 0);
	al = mkabs(&a, "runsc-lite-ready-dgram");
	bind(r, (struct sockaddr *)&a, al);
	int s = socket(AF_UNIX, SOCK_DGRAM, 0);
	connect(s, (struct sockaddr *)&a, al);
	while (send(s, "q", 1, MSG_DONTWAIT) == 1)
		;
	revents("sender to a full receiver", s);
	pid = fork();
	if (pid == 0) {
		sleep_ms(100);
		char ch;
		recv(r, &ch, 1, 0);
		_exit(0);
	}
	struct pollfd sp = {s, POLLOUT, 0};
	report("poll for room woken by a receive", poll(&sp, 1, 10000));
	report("send fits now", send(s, "q", 1, MSG_DONTWAIT));
	waitpid(pid, NULL, 0);
	close(s);
	close(r);
}

/* voluntary returns this process's voluntary context switches. */
static long voluntary(void) {
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "voluntary_ctxt_switches: %ld", &v) == 1)
			break;
	fclose(f);
	return v;
}

/* sec_pingpong: two processes bounce a byte 2000 times over a stream
 * pair. A blocked read gives up the CPU: each waiting read is a
 * voluntary context switch, and in every round trip at least one side
 * has to wait for the other (a spinning wait would instead be
 * preempted: involuntary switches). */
static void sec_pingpong(void) {
	puts("== pingpong");
	enum { rounds = 2000 };
	int sv[2];
	pair(SOCK_STREAM, sv);
	pid_t pid = fork();
	if (pid == 0) {
		char c;
		long v0 = voluntary();
		for (int i = 0; i < rounds; i++) {
			if (read(sv[1], &c, 1) != 1)
				_exit(1);
			c++;
			write(sv[1], &c, 1);
		}
		long slept = voluntary() - v0;
		write(sv[1], &slept, sizeof slept);
		_exit(0);
	}
	char c = 0;
	int ok = 1;
	long v0 = voluntary();
	for (int i = 0; i < rounds; i++) {
		char want = c + 1;
		write(sv[0], &c, 1);
		if (read(sv[0], &c, 1) != 1 || c != want)
			ok = 0;
	}
	long slept = voluntary() - v0, child = 0;
	if (read(sv[0], &child, sizeof child) != sizeof child)
		ok = 0;
	int st;
	waitpid(pid, &st, 0);
	printf("%d round trips: %s, child status %d\n", rounds, ok ? "ok" : "wrong", WEXITSTATUS(st));
	printf("the two sides slept in at least half of them: %s\n", slept + child >= rounds / 2 ? "yes" : "no");
	close(sv[0]);
	close(sv[1]);
}

struct section {
	const char *name;
	void (*fn)(void);
} sections[] = {
	{"create", sec_create},   {"stream", sec_stream}, {"dgram", sec_dgram},         {"seqpacket", sec_seqpacket},
	{"bind", sec_bind},       {"abstract", sec_abstract}, {"rights", sec_rights},   {"cmsg", sec_cmsg},
	{"creds", sec_creds},     {"options", sec_opts},  {"signals", sec_signals},     {"readiness", sec_readiness},
	{"pingpong", sec_pingpong},
};

int main(int argc, char **argv) {
	init_output();
	if (argc < 2) {
		fprintf(stderr, "usage: sock_unix DIR [SECTION]\n");
		return 2;
	}
	dir = argv[1];
	struct sigaction sa = {0};
	sa.sa_handler = on_sigpipe;
	sigaction(SIGPIPE, &sa, NULL);
	for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++)
		if (argc < 3 || strcmp(argv[2], sections[i].name) == 0) {
			sections[i].fn();
			fflush(stdout);
		}
	return 0;
}
