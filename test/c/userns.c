/* userns.c: user namespaces (issue 15 item 6), run as root; each case runs
 * in a child, most as the unprivileged uid 1000 (setuid in the child):
 * unshare(CLONE_NEWUSER) without privilege, the IDs seen before and after
 * the maps are written (overflow 65534 while unmapped), uid_map and gid_map
 * writes allowed and refused (EPERM, EINVAL, write-once), setgroups "deny"
 * before an unprivileged gid_map, capabilities full inside and none over
 * the parent's objects, sethostname and mount in a UTS and mount namespace
 * made inside, stat and chown through the maps, /proc/self/status, clone
 * with CLONE_NEWUSER (and its EINVAL with CLONE_FS), setns back refused,
 * and the nesting limit (32). */
#include "common.h"
#include <grp.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/capability.h>

static int writefile(const char *p, const char *s) {
	int fd = open(p, O_WRONLY);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, s, strlen(s));
	int e = errno;
	close(fd);
	errno = e;
	return n < 0 ? -1 : 0;
}

static void showfile(const char *label, const char *p) {
	char buf[512];
	int fd = open(p, O_RDONLY);
	if (fd < 0) {
		printf("%s: open -1 %s\n", label, errname(errno));
		return;
	}
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	printf("%s: [%s]\n", label, buf);
}

static void statusids(const char *label) {
	char buf[8192], *l;
	int fd = open("/proc/self/status", O_RDONLY);
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	for (l = strtok(buf, "\n"); l; l = strtok(NULL, "\n"))
		if (!strncmp(l, "Uid:", 4) || !strncmp(l, "Gid:", 4) || !strncmp(l, "Groups:", 7))
			printf("%s %s\n", label, l);
}

static int hascap(int cap) {
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d))
		return -1;
	return (d[cap / 32].effective >> (cap % 32)) & 1;
}

static void ids(const char *label) {
	uid_t r, e, s;
	gid_t gr, ge, gs, g[8];
	getresuid(&r, &e, &s);
	getresgid(&gr, &ge, &gs);
	int n = getgroups(8, g);
	printf("%s: uid %u %u %u gid %u %u %u groups", label, r, e, s, gr, ge, gs);
	for (int i = 0; i < n; i++)
		printf(" %u", g[i]);
	printf(" cap_sys_admin %d cap_setuid %d\n", hascap(CAP_SYS_ADMIN), hascap(CAP_SETUID));
}

static void drop(void) {
	gid_t g = 5;
	if (setgroups(1, &g) || setgid(1000) || setuid(1000))
		die("drop");
	/* setuid from root made the process non-dumpable, its /proc files
	 * root's: make them its own again, as a login would have them. */
	prctl(PR_SET_DUMPABLE, 1);
}

static int run(const char *name, void (*fn)(void)) {
	fflush(stdout);
	pid_t p = fork();
	if (p == 0) {
		printf("== %s\n", name);
		fn();
		fflush(stdout);
		_exit(0);
	}
	return wait_status(p);
}

/* unprivileged: unshare, ids unmapped, map writes, ids mapped. */
static void unpriv(void) {
	drop();
	ids("before");
	report("unshare(NEWUSER)", unshare(CLONE_NEWUSER));
	ids("unmapped");
	statusids("unmapped");
	showfile("uid_map empty", "/proc/self/uid_map");
	showfile("setgroups", "/proc/self/setgroups");
	report("uid_map garbage", writefile("/proc/self/uid_map", "0 1000\n"));
	report("uid_map count 0", writefile("/proc/self/uid_map", "0 1000 0\n"));
	report("uid_map other uid", writefile("/proc/self/uid_map", "0 0 1\n"));
	report("uid_map range", writefile("/proc/self/uid_map", "0 1000 2\n"));
	report("uid_map overlap", writefile("/proc/self/uid_map", "0 1000 1\n0 1001 1\n"));
	report("uid_map own", writefile("/proc/self/uid_map", "0 1000 1\n"));
	report("uid_map again", writefile("/proc/self/uid_map", "1 1000 1\n"));
	report("gid_map before deny", writefile("/proc/self/gid_map", "0 1000 1\n"));
	report("setgroups bogus", writefile("/proc/self/setgroups", "maybe"));
	report("setgroups deny", writefile("/proc/self/setgroups", "deny"));
	showfile("setgroups", "/proc/self/setgroups");
	report("setgroups allow again", writefile("/proc/self/setgroups", "allow"));
	report("gid_map other", writefile("/proc/self/gid_map", "0 0 1\n"));
	report("gid_map own", writefile("/proc/self/gid_map", "0 1000 1\n"));
	showfile("uid_map", "/proc/self/uid_map");
	showfile("gid_map", "/proc/self/gid_map");
	ids("mapped");
	statusids("mapped");
	gid_t g = 0;
	report("setgroups(2) denied", setgroups(1, &g));
	report("setuid(0)", setuid(0));
	report("setuid(5) unmapped", setuid(5));
}

/* unprivileged: user+uts+mnt namespaces: hostname, mount, stat, chown. */
static void inside(void) {
	drop();
	report("unshare(NEWUTS) without privilege", unshare(CLONE_NEWUTS));
	report("sethostname without privilege", sethostname("x", 1));
	report("chroot without privilege", chroot("/"));
	report("unshare(NEWUSER|NEWUTS|NEWNS)", unshare(CLONE_NEWUSER | CLONE_NEWUTS | CLONE_NEWNS));
	writefile("/proc/self/uid_map", "0 1000 1\n");
	writefile("/proc/self/setgroups", "deny");
	writefile("/proc/self/gid_map", "0 1000 1\n");
	report("sethostname inside", sethostname("inner", 5));
	report("chroot inside", chroot("/"));
	report("mount tmpfs inside", mount("none", "/tmp", "tmpfs", 0, NULL));
	int fd = open("/tmp/f", O_CREAT | O_WRONLY, 0644);
	report("create in tmpfs", fd < 0 ? -1 : 0);
	close(fd);
	struct stat st;
	stat("/tmp/f", &st);
	printf("tmpfs file owner %u:%u\n", st.st_uid, st.st_gid);
	stat("/proc/1", &st);
	printf("/proc/1 owner %u:%u\n", st.st_uid, st.st_gid);
	report("chown own file to 0:0", chown("/tmp/f", 0, 0));
	report("chown to unmapped", chown("/tmp/f", 7, 7));
	report("umount inside", umount("/tmp"));
	report("unshare(NEWUSER) again (nested)", unshare(CLONE_NEWUSER));
	ids("nested unmapped");
}

/* root: unshare, caps inside, parent's UTS namespace out of reach. */
static void rootcase(void) {
	report("unshare(NEWUSER) as root", unshare(CLONE_NEWUSER));
	ids("root inside unmapped");
	report("sethostname in parent's UTS ns", sethostname("y", 1));
	report("mount in parent's mount ns", mount("none", "/tmp", "tmpfs", 0, NULL));
	report("uid_map wide from inside", writefile("/proc/self/uid_map", "0 0 100\n"));
	report("uid_map own from inside", writefile("/proc/self/uid_map", "0 0 1\n"));
}

/* root writes a child's wide maps from the parent namespace. */
static void parentwrites(void) {
	int r[2], w[2];
	if (pipe(r) || pipe(w))
		die("pipe");
	pid_t p = fork();
	if (p == 0) {
		char c;
		close(r[0]);
		close(w[1]);
		if (unshare(CLONE_NEWUSER))
			_exit(1);
		write(r[1], "x", 1);
		read(w[0], &c, 1);
		ids("child with wide map");
		report("setuid(50) inside", setuid(50));
		ids("after setuid(50)");
		fflush(stdout);
		_exit(0);
	}
	close(r[1]);
	close(w[0]);
	char c, path[64];
	read(r[0], &c, 1);
	snprintf(path, sizeof path, "/proc/%d/uid_map", p);
	report("parent writes uid_map 0 100000 65536", writefile(path, "0 100000 65536\n"));
	snprintf(path, sizeof path, "/proc/%d/gid_map", p);
	report("parent writes gid_map 0 100000 65536", writefile(path, "0 100000 65536\n"));
	snprintf(path, sizeof path, "/proc/%d/uid_map", p);
	showfile("child's uid_map from parent", path);
	write(w[1], "x", 1);
	wait_status(p);
}

/* clone(CLONE_NEWUSER) and its EINVAL with CLONE_FS; nesting limit. */
static void cloneuser(void) {
	drop();
	long r = syscall(SYS_clone, CLONE_NEWUSER | CLONE_FS | SIGCHLD, 0, 0, 0, 0);
	report("clone(NEWUSER|FS)", r == 0 ? (_exit(0), 0) : r);
	r = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
	if (r == 0) {
		ids("clone child");
		fflush(stdout);
		_exit(0);
	}
	report("clone(NEWUSER) child exit", r < 0 ? r : wait_status(r));
	int level = 0;
	for (;;) {
		uid_t u = geteuid();
		gid_t g = getegid();
		if (unshare(CLONE_NEWUSER)) {
			printf("nesting stops after %d: %s\n", level, errname(errno));
			break;
		}
		level++;
		char m[64];
		snprintf(m, sizeof m, "%u %u 1\n", u, u);
		if (writefile("/proc/self/uid_map", m))
			die("uid_map");
		writefile("/proc/self/setgroups", "deny");
		snprintf(m, sizeof m, "%u %u 1\n", g, g);
		if (writefile("/proc/self/gid_map", m))
			die("gid_map");
		if (level > 40)
			break;
	}
}

/* SCM_CREDENTIALS and SO_PEERCRED across a user namespace boundary: the
 * child, root of its namespace (uid 1000 outside), claims uid 0; the
 * parent outside receives 1000. The child sees the parent's 1000 as 0. */
static void scmcreds(void) {
	drop();
	int sv[2], go[2];
	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) || pipe(go))
		die("socketpair");
	int on = 1;
	setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &on, sizeof on);
	pid_t p = fork();
	if (p == 0) {
		unshare(CLONE_NEWUSER);
		writefile("/proc/self/uid_map", "0 1000 1\n");
		writefile("/proc/self/setgroups", "deny");
		writefile("/proc/self/gid_map", "0 1000 1\n");
		struct ucred pc;
		socklen_t l = sizeof pc;
		getsockopt(sv[1], SOL_SOCKET, SO_PEERCRED, &pc, &l);
		printf("child sees peer uid %u gid %u\n", pc.uid, pc.gid);
		struct ucred uc = {getpid(), 0, 0};
		char cbuf[CMSG_SPACE(sizeof uc)], d = 'x';
		struct iovec iov = {&d, 1};
		struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_CREDENTIALS;
		c->cmsg_len = CMSG_LEN(sizeof uc);
		memcpy(CMSG_DATA(c), &uc, sizeof uc);
		report("send uid 0 from inside", sendmsg(sv[1], &m, 0));
		uc.uid = 5;
		memcpy(CMSG_DATA(c), &uc, sizeof uc);
		report("send unmapped uid 5", sendmsg(sv[1], &m, 0));
		fflush(stdout);
		_exit(0);
	}
	wait_status(p);
	struct ucred uc;
	char cbuf[CMSG_SPACE(sizeof uc)], d;
	struct iovec iov = {&d, 1};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
	if (recvmsg(sv[0], &m, 0) == 1 && CMSG_FIRSTHDR(&m)) {
		memcpy(&uc, CMSG_DATA(CMSG_FIRSTHDR(&m)), sizeof uc);
		printf("parent receives uid %u gid %u\n", uc.uid, uc.gid);
	}
}

int main(void) {
	init_output();
	run("unprivileged", unpriv);
	run("inside", inside);
	run("root", rootcase);
	run("parent writes", parentwrites);
	run("clone", cloneuser);
	run("scm credentials", scmcreds);
	return 0;
}
