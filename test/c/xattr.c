/* Extended attributes: user.* set, get, list, remove with XATTR_CREATE
 * and XATTR_REPLACE, the size protocol (0 asks the size, too small is
 * ERANGE), names and sizes out of bounds, namespaces (unknown prefixes,
 * trusted.*, security.*), user.* on a directory, a symlink and a FIFO,
 * the f* and l* variants, O_PATH descriptors, permissions of another
 * user, and attributes kept across rename and link.
 *
 * argv[1] is a writable directory (the overlay, a volume on the host's
 * filesystem, or a tmpfs). With argv[2] "useronly", trusted.* and
 * security.* are not set (on a volume the sandbox's root writes them
 * through the host, where the confined sentry may lack the capability). */
#include "common.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>

/* Linux 6.13's numbers (x86-64), for headers that predate them. */
#ifndef SYS_setxattrat
#define SYS_setxattrat 463
#define SYS_getxattrat 464
#define SYS_listxattrat 465
#define SYS_removexattrat 466
#endif

static char dir[4096];

static const char *path(const char *name) {
	static char buf[4][4200];
	static int n;
	char *b = buf[n++ % 4];
	snprintf(b, 4200, "%s/%s", dir, name);
	return b;
}

static void get(const char *label, const char *p, const char *name) {
	char v[256];
	ssize_t n = getxattr(p, name, v, sizeof v - 1);
	if (n < 0) {
		printf("%s: get %s = -1 %s\n", label, name, errname(errno));
		return;
	}
	v[n] = 0;
	printf("%s: get %s = %zd \"%s\"\n", label, name, n, v);
}

static int cmp(const void *a, const void *b) { return strcmp(*(char **)a, *(char **)b); }

/* list prints the names of user.* and trusted.* attributes, sorted
 * (security.* ones an LSM of the host may add are left out). */
static void list(const char *label, const char *p, int follow) {
	char buf[4096];
	ssize_t n = follow ? listxattr(p, buf, sizeof buf) : llistxattr(p, buf, sizeof buf);
	if (n < 0) {
		printf("%s: list = -1 %s\n", label, errname(errno));
		return;
	}
	char *names[64];
	int k = 0;
	for (char *s = buf; s < buf + n && k < 64; s += strlen(s) + 1)
		if (strncmp(s, "user.", 5) == 0 || strncmp(s, "trusted.", 8) == 0)
			names[k++] = s;
	qsort(names, k, sizeof names[0], cmp);
	printf("%s: list =", label);
	for (int i = 0; i < k; i++)
		printf(" %s", names[i]);
	printf("%s\n", k ? "" : " (none)");
}

int main(int argc, char **argv) {
	init_output();
	if (argc < 2) {
		fprintf(stderr, "usage: xattr DIR\n");
		return 2;
	}
	snprintf(dir, sizeof dir, "%s", argv[1]);
	char f[4200];
	snprintf(f, sizeof f, "%s", path("f"));
	int useronly = argc > 2 && strcmp(argv[2], "useronly") == 0;
	int fd = open(f, O_RDWR | O_CREAT, 0644);
	if (fd < 0)
		die("open");

	printf("== user.* on a file\n");
	list("new file", f, 1);
	get("new file", f, "user.missing");
	report("set user.a", setxattr(f, "user.a", "alpha", 5, 0));
	report("set user.b (empty)", setxattr(f, "user.b", "", 0, 0));
	report("set user.a XATTR_CREATE", setxattr(f, "user.a", "x", 1, XATTR_CREATE));
	report("set user.c XATTR_REPLACE", setxattr(f, "user.c", "x", 1, XATTR_REPLACE));
	report("set user.a XATTR_REPLACE", setxattr(f, "user.a", "ALPHA!", 6, XATTR_REPLACE));
	report("set bad flags", setxattr(f, "user.a", "x", 1, 4));
	get("file", f, "user.a");
	get("file", f, "user.b");
	list("file", f, 1);
	report("getxattr size 0", getxattr(f, "user.a", NULL, 0));
	char small[2];
	report("getxattr too small", getxattr(f, "user.a", small, sizeof small));
	report("listxattr size 0 (at least user.a and user.b)", listxattr(f, NULL, 0) >= 14 ? 0 : -1);
	report("listxattr too small", listxattr(f, small, sizeof small));
	report("fgetxattr", fgetxattr(fd, "user.a", NULL, 0));
	report("fsetxattr user.fd", fsetxattr(fd, "user.fd", "by fd", 5, 0));
	get("file", f, "user.fd");
	report("flistxattr size 0 > 0", flistxattr(fd, NULL, 0) > 0 ? 0 : -1);
	report("fremovexattr user.fd", fremovexattr(fd, "user.fd"));
	report("removexattr user.b", removexattr(f, "user.b"));
	report("removexattr user.b again", removexattr(f, "user.b"));
	list("after removes", f, 1);
	struct stat before, after;
	fstat(fd, &before);
	usleep(10000);
	setxattr(f, "user.t", "t", 1, 0);
	fstat(fd, &after);
	yesno("setxattr changes ctime", after.st_ctim.tv_sec != before.st_ctim.tv_sec || after.st_ctim.tv_nsec != before.st_ctim.tv_nsec);
	removexattr(f, "user.t");

	printf("== bounds and bad input\n");
	char longname[300];
	memset(longname, 'n', sizeof longname);
	memcpy(longname, "user.", 5);
	longname[255] = 0;
	report("255-byte name", setxattr(f, longname, "x", 1, 0));
	removexattr(f, longname);
	longname[255] = 'n';
	longname[256] = 0;
	report("256-byte name", setxattr(f, longname, "x", 1, 0));
	report("empty name", setxattr(f, "", "x", 1, 0));
	report("bad name pointer", getxattr(f, (char *)8, NULL, 0));
	static char big[65537];
	report("value of 65536 bytes", setxattr(f, "user.big", big, 65536, 0) == 0 || errno == ENOSPC ? 0 : -1);
	removexattr(f, "user.big");
	report("value of 65537 bytes", setxattr(f, "user.big", big, 65537, 0));
	report("bad value pointer", syscall(SYS_setxattr, f, "user.v", (char *)8, 4, 0));
	report("bad buffer", syscall(SYS_getxattr, f, "user.a", (char *)8, 100));
	report("missing file", getxattr(path("missing"), "user.a", NULL, 0));
	report("bad fd", fgetxattr(99, "user.a", NULL, 0));
	int op = open(f, O_PATH);
	report("fgetxattr of an O_PATH fd", fgetxattr(op, "user.a", NULL, 0));
	report("fsetxattr of an O_PATH fd", fsetxattr(op, "user.a", "x", 1, 0));
	close(op);

	printf("== namespaces\n");
	report("set unknown prefix", setxattr(f, "other.x", "x", 1, 0));
	report("get unknown prefix", getxattr(f, "other.x", NULL, 0));
	report("set bare \"user.\"", setxattr(f, "user.", "x", 1, 0));
	if (!useronly) {
		report("set trusted.t (root)", setxattr(f, "trusted.t", "tv", 2, 0));
		get("root", f, "trusted.t");
		report("set security.s (root)", setxattr(f, "security.s", "sv", 2, 0));
		get("root", f, "security.s");
		list("root sees", f, 1);
	}
	pid_t pid = fork();
	if (pid == 0) {
		if (setgid(65534) < 0 || setuid(65534) < 0)
			die("setuid");
		get("nobody", f, "user.a");
		if (!useronly) {
			get("nobody", f, "trusted.t");
			get("nobody", f, "security.s");
		}
		list("nobody sees", f, 1);
		report("nobody: set user.n on a file it cannot write", setxattr(f, "user.n", "x", 1, 0));
		report("nobody: set trusted.n", setxattr(f, "trusted.n", "x", 1, 0));
		report("nobody: set security.n", setxattr(f, "security.n", "x", 1, 0));
		report("nobody: remove security.s", removexattr(f, "security.s"));
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	removexattr(f, "trusted.t");
	removexattr(f, "security.s");

	printf("== other file types\n");
	char d[4200];
	snprintf(d, sizeof d, "%s", path("d"));
	mkdir(d, 0755);
	report("set user.* on a directory", setxattr(d, "user.dir", "dv", 2, 0));
	get("directory", d, "user.dir");
	symlink("f", path("l"));
	report("lsetxattr user.* on a symlink", lsetxattr(path("l"), "user.s", "x", 1, 0));
	report("lgetxattr user.* of a symlink", lgetxattr(path("l"), "user.a", NULL, 0));
	list("llistxattr of the symlink", path("l"), 0);
	get("through the symlink", path("l"), "user.a");
	report("setxattr through the symlink", setxattr(path("l"), "user.vial", "x", 1, 0));
	mkfifo(path("p"), 0644);
	report("set user.* on a FIFO", setxattr(path("p"), "user.p", "x", 1, 0));
	report("get user.* of a FIFO", getxattr(path("p"), "user.p", NULL, 0));
	int pp[2];
	pipe(pp);
	report("fsetxattr on a pipe", fsetxattr(pp[1], "user.p", "x", 1, 0));
	report("fgetxattr on a pipe", fgetxattr(pp[0], "user.p", NULL, 0));
	report("flistxattr on a pipe", flistxattr(pp[0], NULL, 0));

	printf("== the *xattrat calls (Linux 6.13)\n");
	{
		struct {
			unsigned long long value;
			unsigned size, flags;
		} xa = {(unsigned long)"at!", 3, 0};
		int dfd = open(dir, O_RDONLY | O_DIRECTORY);
		report("setxattrat", syscall(SYS_setxattrat, dfd, "f", 0, "user.at", &xa, sizeof xa));
		char v[16] = {0};
		xa.value = (unsigned long)v;
		xa.size = sizeof v;
		report("getxattrat", syscall(SYS_getxattrat, dfd, "f", 0, "user.at", &xa, sizeof xa));
		printf("value \"%s\"\n", v);
		xa.flags = 1;
		report("getxattrat with flags", syscall(SYS_getxattrat, dfd, "f", 0, "user.at", &xa, sizeof xa));
		xa.flags = 0;
		report("getxattrat small args", syscall(SYS_getxattrat, dfd, "f", 0, "user.at", &xa, 8));
		char bigargs[64] = {0};
		memcpy(bigargs, &xa, sizeof xa);
		report("getxattrat larger zeroed args", syscall(SYS_getxattrat, dfd, "f", 0, "user.at", bigargs, sizeof bigargs));
		bigargs[40] = 1;
		report("getxattrat larger args, non-zero tail", syscall(SYS_getxattrat, dfd, "f", 0, "user.at", bigargs, sizeof bigargs));
		report("getxattrat bad at_flags", syscall(SYS_getxattrat, dfd, "f", 0x1, "user.at", &xa, sizeof xa));
		report("listxattrat size 0 > 0", syscall(SYS_listxattrat, dfd, "f", 0, NULL, 0) > 0 ? 0 : -1);
		int ffd = open(f, O_RDONLY);
		report("getxattrat AT_EMPTY_PATH", syscall(SYS_getxattrat, ffd, "", AT_EMPTY_PATH, "user.at", &xa, sizeof xa));
		report("getxattrat empty path without AT_EMPTY_PATH", syscall(SYS_getxattrat, ffd, "", 0, "user.at", &xa, sizeof xa));
		int opath = open(f, O_PATH);
		report("getxattrat AT_EMPTY_PATH on O_PATH", syscall(SYS_getxattrat, opath, "", AT_EMPTY_PATH, "user.at", &xa, sizeof xa));
		report("removexattrat", syscall(SYS_removexattrat, dfd, "f", 0, "user.at"));
		report("removexattrat again", syscall(SYS_removexattrat, dfd, "f", 0, "user.at"));
		close(opath);
		close(ffd);
		close(dfd);
	}

	printf("== rename and link keep them\n");
	rename(f, path("g"));
	get("renamed", path("g"), "user.a");
	link(path("g"), path("h"));
	setxattr(path("h"), "user.h", "via link", 8, 0);
	get("the other name", path("g"), "user.h");
	list("renamed", path("g"), 1);

	close(fd);
	unlink(path("g"));
	unlink(path("h"));
	unlink(path("l"));
	unlink(path("p"));
	rmdir(d);
	return 0;
}
