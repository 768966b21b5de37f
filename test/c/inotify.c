/* inotify: what a watcher of files and directories sees of this
 * process's own changes. Events of a watched directory (create, open,
 * access, modify, attrib, close, moves with their cookies, delete, and
 * the directory's own events), of a watched file (through to
 * DELETE_SELF and IGNORED, deferred while the file is open), MOVE_SELF,
 * the watch flags (IN_ONESHOT, IN_MASK_ADD, IN_MASK_CREATE, IN_ONLYDIR,
 * IN_DONT_FOLLOW, IN_EXCL_UNLINK), rm_watch, the errors, FIONREAD, poll
 * and epoll readiness, short reads, /proc/self/fdinfo, coalescing of
 * identical events, queue overflow at max_queued_events, and IN_UNMOUNT.
 *
 * argv[1] is a writable directory (the sandbox's overlay, a volume, or a
 * tmpfs). */
#include "common.h"
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sched.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <stdio.h>

static char dir[4096];
static int in;

static const char *path(const char *name) {
	static char buf[8][4200];
	static int n;
	char *b = buf[n++ % 8];
	snprintf(b, 4200, "%s/%s", dir, name);
	return b;
}

static void maskstr(uint32_t m, char *out, size_t size) {
	static const struct {
		uint32_t bit;
		const char *name;
	} names[] = {
	    {IN_ACCESS, "ACCESS"}, {IN_MODIFY, "MODIFY"}, {IN_ATTRIB, "ATTRIB"}, {IN_CLOSE_WRITE, "CLOSE_WRITE"},
	    {IN_CLOSE_NOWRITE, "CLOSE_NOWRITE"}, {IN_OPEN, "OPEN"}, {IN_MOVED_FROM, "MOVED_FROM"},
	    {IN_MOVED_TO, "MOVED_TO"}, {IN_CREATE, "CREATE"}, {IN_DELETE, "DELETE"}, {IN_DELETE_SELF, "DELETE_SELF"},
	    {IN_MOVE_SELF, "MOVE_SELF"}, {IN_UNMOUNT, "UNMOUNT"}, {IN_Q_OVERFLOW, "Q_OVERFLOW"},
	    {IN_IGNORED, "IGNORED"}, {IN_ISDIR, "ISDIR"},
	};
	out[0] = 0;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (m & names[i].bit) {
			if (out[0])
				strncat(out, "|", size - strlen(out) - 1);
			strncat(out, names[i].name, size - strlen(out) - 1);
			m &= ~names[i].bit;
		}
	}
	if (m) {
		char extra[32];
		snprintf(extra, sizeof extra, "%s%#x", out[0] ? "|" : "", m);
		strncat(out, extra, size - strlen(out) - 1);
	}
}

/* drain prints every queued event of fd (which must be non-blocking):
 * wd, mask, name, and whether the cookie is that of the previous event
 * (MOVED_FROM/MOVED_TO pairs share one). */
static void drain(const char *label, int fd) {
	char buf[65536] __attribute__((aligned(8)));
	uint32_t lastCookie = 0;
	printf("%s:\n", label);
	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n < 0) {
			if (errno != EAGAIN)
				printf("  read = -1 %s\n", errname(errno));
			break;
		}
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *e = (struct inotify_event *)p;
			char m[256];
			maskstr(e->mask, m, sizeof m);
			printf("  wd %d %s", e->wd, m);
			if (e->len)
				printf(" \"%s\"", e->name);
			if (e->cookie)
				printf(" cookie %s", e->cookie == lastCookie ? "same" : "new");
			printf("\n");
			lastCookie = e->cookie;
			p += sizeof *e + e->len;
		}
	}
}

static int wd(const char *label, int fd, const char *p, uint32_t mask) {
	int w = inotify_add_watch(fd, p, mask);
	report(label, w);
	return w;
}

static void touch(const char *p) {
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		die("touch");
	close(fd);
}

static void overflow(void) {
	FILE *f = fopen("/proc/sys/fs/inotify/max_queued_events", "r");
	int max = 0;
	if (!f || fscanf(f, "%d", &max) != 1)
		die("max_queued_events");
	fclose(f);
	printf("max_queued_events readable: yes\n");
	int fd = inotify_init1(IN_NONBLOCK);
	mkdir(path("ov"), 0755);
	int w = inotify_add_watch(fd, path("ov"), IN_ATTRIB);
	touch(path("ov/a"));
	touch(path("ov/b"));
	/* Alternating names: consecutive events differ, none coalesce. */
	for (int i = 0; i < max + 10; i++)
		chmod(path(i % 2 ? "ov/a" : "ov/b"), 0600 + (i % 2));
	int avail = 0;
	ioctl(fd, FIONREAD, &avail);
	char buf[65536] __attribute__((aligned(8)));
	int events = 0, overflows = 0, last = 0, lastwd = 0;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n <= 0)
			break;
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *e = (struct inotify_event *)p;
			events++;
			if (e->mask & IN_Q_OVERFLOW)
				overflows++;
			last = e->mask;
			lastwd = e->wd;
			p += sizeof *e + e->len;
		}
	}
	printf("overflow: events %s max+1, overflow events %d, last is Q_OVERFLOW %s wd %d\n",
	       events == max + 1 ? "==" : "!=", overflows, last == IN_Q_OVERFLOW ? "yes" : "no", lastwd);
	printf("FIONREAD before reading: %s\n", avail > 0 ? "positive" : "zero");
	(void)w;
	unlink(path("ov/a"));
	unlink(path("ov/b"));
	rmdir(path("ov"));
	close(fd);
}

static void fdinfo(int fd) {
	char p[64], line[512];
	snprintf(p, sizeof p, "/proc/self/fdinfo/%d", fd);
	FILE *f = fopen(p, "r");
	if (!f)
		die("fdinfo");
	printf("fdinfo:\n");
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, "flags:", 6) == 0) {
			printf("  %s", line);
			continue;
		}
		if (strncmp(line, "inotify ", 8) != 0)
			continue;
		/* inotify wd:N ino:X sdev:Y mask:M ignored_mask:0 fhandle-... */
		int w;
		unsigned mask, ign;
		char *m = strstr(line, "mask:");
		char *i = strstr(line, "ignored_mask:");
		if (sscanf(line, "inotify wd:%d", &w) == 1 && m && i && sscanf(m, "mask:%x", &mask) == 1 && sscanf(i, "ignored_mask:%x", &ign) == 1)
			printf("  inotify wd:%d mask:%x ignored_mask:%x ino: %s sdev: %s\n", w, mask, ign, strstr(line, " ino:") ? "yes" : "no", strstr(line, " sdev:") ? "yes" : "no");
	}
	fclose(f);
}

int main(int argc, char **argv) {
	init_output();
	if (argc < 2) {
		fprintf(stderr, "usage: inotify DIR\n");
		return 2;
	}
	snprintf(dir, sizeof dir, "%s", argv[1]);

	printf("== creation and errors\n");
	report("inotify_init1 bad flags", inotify_init1(0x1234));
	in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	report("inotify_init1", in >= 0 ? 0 : -1);
	report("FD_CLOEXEC", fcntl(in, F_GETFD));
	yesno("O_NONBLOCK", fcntl(in, F_GETFL) & O_NONBLOCK);
	report("add_watch empty mask", inotify_add_watch(in, dir, 0));
	report("add_watch missing path", inotify_add_watch(in, path("nope"), IN_ALL_EVENTS));
	report("add_watch bad fd", inotify_add_watch(99, dir, IN_ALL_EVENTS));
	int notin = open(dir, O_RDONLY);
	report("add_watch on a directory descriptor", inotify_add_watch(notin, dir, IN_ALL_EVENTS));
	report("rm_watch not an inotify fd", inotify_rm_watch(notin, 1));
	close(notin);
	report("add_watch IN_MASK_ADD|IN_MASK_CREATE", inotify_add_watch(in, dir, IN_ALL_EVENTS | IN_MASK_ADD | IN_MASK_CREATE));
	report("rm_watch unknown wd", inotify_rm_watch(in, 42));
	report("add_watch bad path pointer", inotify_add_watch(in, (char *)8, IN_ALL_EVENTS));

	printf("== a watched directory\n");
	int dw = wd("add_watch dir", in, dir, IN_ALL_EVENTS);
	report("add_watch dir again (same wd)", inotify_add_watch(in, dir, IN_ALL_EVENTS) == dw ? 0 : -1);
	report("add_watch IN_MASK_CREATE on a watched dir", inotify_add_watch(in, dir, IN_ALL_EVENTS | IN_MASK_CREATE));
	int fd = open(path("f"), O_RDWR | O_CREAT, 0644);
	report("write", write(fd, "hello", 5));
	report("pread", pread(fd, (char[8]){0}, 8, 0));
	report("pread at end (nothing read)", pread(fd, (char[8]){0}, 8, 100));
	report("ftruncate", ftruncate(fd, 2));
	report("fchmod", fchmod(fd, 0600));
	close(fd);
	drain("create, write, read, truncate, chmod, close", in);
	fd = open(path("f"), O_RDONLY);
	close(fd);
	drain("open read-only and close", in);
	report("rename f g", rename(path("f"), path("g")));
	report("link g h", link(path("g"), path("h")));
	report("symlink", symlink("g", path("s")));
	report("mkdir d", mkdir(path("d"), 0755));
	report("rename d e", rename(path("d"), path("e")));
	report("rmdir e", rmdir(path("e")));
	report("unlink h", unlink(path("h")));
	report("unlink s", unlink(path("s")));
	report("mknod fifo", mknod(path("p"), S_IFIFO | 0644, 0));
	report("unlink p", unlink(path("p")));
	drain("rename, link, symlink, mkdir, rmdir, unlink, mknod", in);
	touch(path("x"));
	report("rename g x (replacing)", rename(path("g"), path("x")));
	drain("rename over an existing file", in);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	char dents[4096];
	report("getdents of the watched dir", syscall(SYS_getdents64, dfd, dents, sizeof dents) > 0 ? 0 : -1);
	close(dfd);
	drain("listing the watched directory", in);
	struct timespec ts[2] = {{1, 0}, {2, 0}};
	report("utimensat", utimensat(AT_FDCWD, path("x"), ts, 0));
	drain("utimensat", in);
	int src = open(path("x"), O_RDWR);
	int dst = open(path("y"), O_RDWR | O_CREAT, 0644);
	report("write", write(src, "abcdef", 6));
	lseek(src, 0, SEEK_SET);
	report("sendfile", sendfile(dst, src, NULL, 6));
	report("copy_file_range", copy_file_range(src, &(off_t){0}, dst, &(off_t){10}, 3, 0));
	close(src);
	close(dst);
	drain("sendfile and copy_file_range", in);

	printf("== a watched file\n");
	int fw = wd("add_watch file", in, path("x"), IN_ALL_EVENTS);
	report("add_watch file IN_ONLYDIR", inotify_add_watch(in, path("x"), IN_ALL_EVENTS | IN_ONLYDIR));
	fd = open(path("x"), O_WRONLY | O_APPEND);
	report("write", write(fd, "!", 1));
	close(fd);
	drain("file written", in);
	report("rename x z", rename(path("x"), path("z")));
	drain("watched file renamed", in);
	fd = open(path("z"), O_RDONLY);
	report("unlink z while open", unlink(path("z")));
	drain("watched file unlinked while open", in);
	report("read", read(fd, (char[4]){0}, 4));
	close(fd);
	drain("... and closed", in);
	report("rm_watch of the deleted file's wd", inotify_rm_watch(in, fw));
	report("unlink y", unlink(path("y")));
	drain("unlink y", in);

	printf("== deletes, renames and links of watched files and directories\n");
	touch(path("k"));
	int kw = wd("add_watch k", in, path("k"), IN_ALL_EVENTS);
	report("link k k2", link(path("k"), path("k2")));
	report("unlink k2 (a link is left)", unlink(path("k2")));
	report("truncate k", truncate(path("k"), 3));
	struct timespec onlyM[2] = {{0, UTIME_OMIT}, {5, 0}};
	struct timespec onlyA[2] = {{5, 0}, {0, UTIME_OMIT}};
	report("utimensat mtime only", utimensat(AT_FDCWD, path("k"), onlyM, 0));
	report("utimensat atime only", utimensat(AT_FDCWD, path("k"), onlyA, 0));
	report("chown to itself", chown(path("k"), getuid(), getgid()));
	report("unlink k (closed: the last link)", unlink(path("k")));
	drain("link, truncate, times, chown, unlink", in);
	(void)kw;
	touch(path("r1"));
	touch(path("r2"));
	int r1 = wd("add_watch r1", in, path("r1"), IN_ALL_EVENTS);
	int r2 = wd("add_watch r2", in, path("r2"), IN_ALL_EVENTS);
	report("renameat2 RENAME_EXCHANGE", renameat2(AT_FDCWD, path("r1"), AT_FDCWD, path("r2"), RENAME_EXCHANGE));
	report("rename r1 r2 (replacing a watched file)", rename(path("r1"), path("r2")));
	drain("exchange and replace", in);
	(void)r1;
	(void)r2;
	unlink(path("r2"));
	mkdir(path("sub"), 0755);
	int sw = wd("add_watch sub", in, path("sub"), IN_ALL_EVENTS);
	int in3 = inotify_init1(IN_NONBLOCK);
	wd("add_watch sub from a second instance", in3, path("sub"), IN_CREATE | IN_DELETE_SELF);
	touch(path("sub/inner"));
	unlink(path("sub/inner"));
	report("chmod sub", chmod(path("sub"), 0700));
	report("rename sub sub2", rename(path("sub"), path("sub2")));
	report("rmdir sub2", rmdir(path("sub2")));
	drain("a watched directory: entries, chmod, move, rmdir", in);
	drain("the second instance", in3);
	close(in3);
	(void)sw;

	printf("== watch flags\n");
	touch(path("o"));
	int ow = wd("add_watch IN_ONESHOT", in, path("o"), IN_ATTRIB | IN_ONESHOT);
	chmod(path("o"), 0600);
	chmod(path("o"), 0644);
	drain("oneshot", in);
	ow = wd("add_watch IN_MODIFY", in, path("o"), IN_MODIFY);
	report("add_watch IN_ATTRIB|IN_MASK_ADD (same wd)", inotify_add_watch(in, path("o"), IN_ATTRIB | IN_MASK_ADD) == ow ? 0 : -1);
	chmod(path("o"), 0600);
	report("add_watch IN_CLOSE (replacing)", inotify_add_watch(in, path("o"), IN_CLOSE) == ow ? 0 : -1);
	chmod(path("o"), 0644);
	touch(path("o"));
	fdinfo(in);
	drain("mask add and replace (the directory's watch too)", in);
	report("rm_watch", inotify_rm_watch(in, ow));
	report("rm_watch again", inotify_rm_watch(in, ow));
	drain("after rm_watch", in);
	report("symlink l -> o", symlink("o", path("l")));
	int lw = wd("add_watch IN_DONT_FOLLOW on a symlink", in, path("l"), IN_ATTRIB | IN_DONT_FOLLOW);
	int tw = wd("add_watch through the symlink", in, path("l"), IN_ATTRIB);
	chmod(path("o"), 0600);
	drain("chmod of the target", in);
	inotify_rm_watch(in, lw);
	inotify_rm_watch(in, tw);
	unlink(path("l"));
	drain("rm_watch both", in);
	/* IN_EXCL_UNLINK: no events of an unlinked child on the dir watch. */
	int in2 = inotify_init1(IN_NONBLOCK);
	wd("add_watch dir IN_EXCL_UNLINK", in2, dir, IN_ALL_EVENTS | IN_EXCL_UNLINK);
	fd = open(path("o"), O_RDWR);
	unlink(path("o"));
	report("write after unlink", write(fd, "x", 1));
	close(fd);
	drain("IN_EXCL_UNLINK", in2);
	close(in2);
	drain("the first instance saw", in);

	printf("== coalescing, FIONREAD, readiness, short reads\n");
	touch(path("c"));
	drain("touch c", in);
	fd = open(path("c"), O_WRONLY);
	write(fd, "1", 1);
	write(fd, "2", 1);
	write(fd, "3", 1);
	int avail = -1;
	report("FIONREAD", ioctl(in, FIONREAD, &avail));
	printf("FIONREAD bytes: %d\n", avail);
	struct pollfd p = {in, POLLIN, 0};
	report("poll with events queued", poll(&p, 1, 0));
	printf("revents %#x\n", p.revents);
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN}, out;
	epoll_ctl(ep, EPOLL_CTL_ADD, in, &ev);
	report("epoll_wait with events queued", epoll_wait(ep, &out, 1, 0));
	char small[16];
	report("read into 16 bytes (one event needs more)", read(in, small, sizeof small));
	char one[sizeof(struct inotify_event) + 16] __attribute__((aligned(8)));
	report("read room for one event with a short name", read(in, one, sizeof one));
	drain("three writes (coalesced)", in);
	close(fd);
	drain("close", in);
	report("poll with nothing queued", poll(&p, 1, 0));
	report("epoll_wait with nothing queued", epoll_wait(ep, &out, 1, 0));
	report("FIONREAD", ioctl(in, FIONREAD, &avail));
	printf("FIONREAD bytes: %d\n", avail);
	/* A blocking read waits for the next event. */
	int blk = inotify_init1(0);
	inotify_add_watch(blk, path("c"), IN_ATTRIB);
	if (fork() == 0) {
		usleep(100000);
		chmod(path("c"), 0600);
		_exit(0);
	}
	char bb[256] __attribute__((aligned(8)));
	ssize_t n = read(blk, bb, sizeof bb);
	printf("blocking read: %zd bytes, mask %#x\n", n, n > 0 ? ((struct inotify_event *)bb)->mask : 0);
	close(blk);
	close(ep);
	unlink(path("c"));
	drain("unlink c", in);

	printf("== overflow\n");
	overflow();
	drain("the first instance (watching the parent only)", in);

	printf("== unmount\n");
	mkdir(path("mnt"), 0755);
	int um = inotify_init1(IN_NONBLOCK);
	if (unshare(CLONE_NEWNS) == 0)
		mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL);
	if (mount("tmpfs", path("mnt"), "tmpfs", 0, NULL) == 0) {
		touch(path("mnt/t"));
		wd("add_watch on the tmpfs", um, path("mnt/t"), IN_ALL_EVENTS);
		wd("add_watch on its root", um, path("mnt"), IN_ATTRIB);
		report("umount", umount2(path("mnt"), 0));
		drain("unmounted", um);
	} else {
		printf("mount: %s\n", errname(errno));
	}
	close(um);
	rmdir(path("mnt"));
	drain("the directory watch", in);
	close(in);
	return 0;
}
