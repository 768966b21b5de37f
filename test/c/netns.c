/* netns.c: network namespaces: unshare(CLONE_NEWNET) gives a namespace
 * whose only interface is lo, down and without addresses (connect to
 * 127.0.0.1 is ENETUNREACH), and whose AF_UNIX abstract names are its own
 * (the parent's is not reachable, and may be bound again); SIOCSIFFLAGS
 * brings lo up with 127.0.0.1 and ::1; a listener of the parent's
 * namespace is not reachable from it, one of its own is; down again, lo
 * says so; its /proc/self/ns/net differs; setns by the parent's
 * /proc/PID/ns/net file reaches the parent's listener again; an open nsfs
 * file keeps a namespace whose processes are gone, for a later setns;
 * clone with CLONE_NEWNET makes another; unprivileged callers get EPERM;
 * and many namespaces made and left one after another all work. */
#include "common.h"
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <stddef.h>
#include <sys/un.h>
#include <sys/wait.h>

/* abstract fills a with the abstract name "\0netns-PID" and returns its
 * length. */
static socklen_t abstract(struct sockaddr_un *a, pid_t pid) {
	memset(a, 0, sizeof *a);
	a->sun_family = AF_UNIX;
	int n = snprintf(a->sun_path + 1, sizeof a->sun_path - 1, "netns-%d", (int)pid);
	return offsetof(struct sockaddr_un, sun_path) + 1 + n;
}

/* lines returns the number of lines of a /proc file. */
static int lines(const char *p) {
	FILE *f = fopen(p, "r");
	int n = 0, c;
	if (!f)
		return -1;
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

static ino_t nsino(void) {
	struct stat st;
	if (stat("/proc/self/ns/net", &st))
		return 0;
	return st.st_ino;
}

/* listener returns a TCP socket listening on 127.0.0.1:*port (0: any). */
static int listener(int *port) {
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(*port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 4))
		return -1;
	socklen_t l = sizeof a;
	getsockname(s, (struct sockaddr *)&a, &l);
	*port = ntohs(a.sin_port);
	return s;
}

/* dial connects to 127.0.0.1:port: 0 or -errno. */
static int dial(int port) {
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int r = connect(s, (struct sockaddr *)&a, sizeof a) ? -errno : 0;
	close(s);
	return r;
}

static void show_dial(const char *label, int port) {
	int r = dial(port);
	printf("%s: %s\n", label, r == 0 ? "connected" : errname(-r));
}

/* lo_flags prints lo's IFF_UP and sets it when up >= 0. */
static void lo_flags(int up) {
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct ifreq ifr = {0};
	strcpy(ifr.ifr_name, "lo");
	if (up >= 0) {
		report("SIOCGIFFLAGS", ioctl(s, SIOCGIFFLAGS, &ifr));
		if (up)
			ifr.ifr_flags |= IFF_UP;
		else
			ifr.ifr_flags &= ~IFF_UP;
		report("SIOCSIFFLAGS", ioctl(s, SIOCSIFFLAGS, &ifr));
	}
	ioctl(s, SIOCGIFFLAGS, &ifr);
	printf("lo up: %s, loopback: %s\n", ifr.ifr_flags & IFF_UP ? "yes" : "no", ifr.ifr_flags & IFF_LOOPBACK ? "yes" : "no");
	close(s);
}

static int clone_child(void *arg) {
	(void)arg;
	printf("clone child: own namespace: %s, /proc/net/dev lines %d\n", nsino() != *(ino_t *)arg ? "yes" : "no", lines("/proc/net/dev"));
	return 0;
}

int main(void) {
	init_output();
	ino_t parent_ns = nsino();
	int port = 0;
	int l = listener(&port);
	yesno("parent listener", l >= 0);
	show_dial("parent dials its listener", port);
	struct sockaddr_un ua;
	socklen_t ulen = abstract(&ua, getpid());
	int ul = socket(AF_UNIX, SOCK_STREAM, 0);
	report("bind an abstract name", bind(ul, (struct sockaddr *)&ua, ulen));
	report("listen on it", listen(ul, 4));
	pid_t pid = fork();
	if (pid == 0) {
		int back = open("/proc/self/ns/net", O_RDONLY);
		report("unshare(NEWNET)", unshare(CLONE_NEWNET));
		int uc = socket(AF_UNIX, SOCK_STREAM, 0);
		report("connect to the parent's abstract name", connect(uc, (struct sockaddr *)&ua, ulen));
		int ub = socket(AF_UNIX, SOCK_STREAM, 0);
		report("bind the same abstract name", bind(ub, (struct sockaddr *)&ua, ulen));
		close(uc);
		close(ub);
		yesno("new namespace inode", nsino() != parent_ns && nsino() != 0);
		printf("/proc/net/dev lines: %d\n", lines("/proc/net/dev"));
		lo_flags(-1);
		show_dial("dial before lo is up", port);
		lo_flags(1);
		show_dial("dial the parent's port", port);
		int p2 = port;
		int l2 = listener(&p2);
		yesno("own listener on the parent's port", l2 >= 0);
		show_dial("dial own listener", p2);
		int s6 = socket(AF_INET6, SOCK_STREAM, 0);
		struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
		report("bind ::1", bind(s6, (struct sockaddr *)&a6, sizeof a6));
		close(s6);
		lo_flags(0);
		report("setns(parent's net)", setns(back, CLONE_NEWNET));
		yesno("back in the parent's namespace", nsino() == parent_ns);
		show_dial("dial the parent's listener", port);
		_exit(0);
	}
	printf("child: %d\n", wait_status(pid));

	static char stack[64 * 1024];
	int cpid = clone(clone_child, stack + sizeof stack, CLONE_NEWNET | SIGCHLD, &parent_ns);
	/* The child prints while the parent waits: the parent says what
	 * clone returned only after, so the order is the same everywhere. */
	int cstatus = cpid > 0 ? wait_status(cpid) : -1;
	yesno("clone(NEWNET)", cpid > 0);
	if (cpid > 0)
		printf("clone child: %d\n", cstatus);

	/* An open /proc/PID/ns/net keeps a namespace after its last
	 * process is gone: a later setns finds it as it was left. */
	int ready[2], done[2];
	if (pipe(ready) || pipe(done))
		die("pipe");
	pid = fork();
	if (pid == 0) {
		char c;
		if (unshare(CLONE_NEWNET))
			_exit(1);
		lo_flags(1);
		write(ready[1], "r", 1);
		read(done[0], &c, 1);
		_exit(0);
	}
	char c;
	read(ready[0], &c, 1);
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/ns/net", pid);
	int kept = open(path, O_RDONLY);
	yesno("opened the child's namespace", kept >= 0);
	struct stat kst;
	fstat(kept, &kst);
	write(done[1], "d", 1);
	printf("child: %d\n", wait_status(pid));
	pid = fork();
	if (pid == 0) {
		report("setns(the gone child's net)", setns(kept, CLONE_NEWNET));
		yesno("in it", nsino() == kst.st_ino);
		lo_flags(-1);
		int p3 = 0;
		yesno("listener there", listener(&p3) >= 0);
		show_dial("dial it", p3);
		_exit(0);
	}
	printf("child: %d\n", wait_status(pid));
	close(kept);

	/* Many namespaces, one after another: each works, and each is
	 * gone when its process is. */
	int ok = 0;
	for (int i = 0; i < 64; i++) {
		pid_t p = fork();
		if (p == 0) {
			struct ifreq ifr = {0};
			strcpy(ifr.ifr_name, "lo");
			ifr.ifr_flags = IFF_UP;
			int pp = 0;
			if (unshare(CLONE_NEWNET))
				_exit(1);
			/* A socket of the new namespace configures its lo. */
			int s = socket(AF_INET, SOCK_DGRAM, 0);
			if (ioctl(s, SIOCSIFFLAGS, &ifr) || listener(&pp) < 0 || dial(pp))
				_exit(1);
			_exit(0);
		}
		int st;
		waitpid(p, &st, 0);
		ok += WIFEXITED(st) && WEXITSTATUS(st) == 0;
	}
	printf("namespaces made and left: %d\n", ok);

	pid = fork();
	if (pid == 0) {
		if (setresuid(65534, 65534, 65534))
			die("setresuid");
		report("unprivileged unshare(NEWNET)", unshare(CLONE_NEWNET));
		_exit(0);
	}
	printf("child: %d\n", wait_status(pid));
	return 0;
}
