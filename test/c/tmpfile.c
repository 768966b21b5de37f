/* O_TMPFILE and linkat: the flag checks, what fstat shows of the unnamed
 * file, that it is not in the directory, linkat by AT_EMPTY_PATH and by
 * /proc/self/fd with AT_SYMLINK_FOLLOW, O_EXCL making it unlinkable, a
 * second link refused once the first is gone, the umask and a setgid
 * directory's group, and glibc's tmpfile(3).
 *
 * argv[1] is a writable directory: on the host's filesystem natively, the
 * overlay or /dev/shm in the sandbox (a volume answers EOPNOTSUPP, which
 * this program does not expect). */
#include "common.h"
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

static char dir[4096];

static const char *path(const char *name) {
	static char buf[4][4200];
	static int n;
	char *b = buf[n++ % 4];
	snprintf(b, 4200, "%s/%s", dir, name);
	return b;
}

static int entries(void) {
	DIR *d = opendir(dir);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void describe(const char *label, int fd) {
	struct stat st;
	if (fstat(fd, &st) < 0)
		die("fstat");
	printf("%s: mode %o nlink %lu size %ld mine %d\n", label, st.st_mode, (unsigned long)st.st_nlink, (long)st.st_size,
	       st.st_uid == geteuid());
}

static void procLink(const char *label, int fd) {
	char p[64], link[4300];
	snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(p, link, sizeof link - 1);
	link[n < 0 ? 0 : n] = 0;
	/* DIR/#INO (deleted): the directory, '#', and the suffix. */
	size_t dl = strlen(dir);
	int ok = n > 0 && strncmp(link, dir, dl) == 0 && link[dl] == '/' && link[dl + 1] == '#' &&
		 strstr(link, " (deleted)") != NULL;
	printf("%s: /proc/self/fd link is DIR/#INO (deleted): %s\n", label, ok ? "yes" : link);
}

int main(int argc, char **argv) {
	init_output();
	if (argc < 2) {
		fprintf(stderr, "usage: tmpfile DIR\n");
		return 2;
	}
	snprintf(dir, sizeof dir, "%s", argv[1]);
	umask(022);

	printf("== flags\n");
	report("read-only", open(dir, O_TMPFILE | O_RDONLY, 0600));
	report("with O_CREAT", open(dir, O_TMPFILE | O_CREAT | O_RDWR, 0600));
	report("a missing directory", open(path("missing"), O_TMPFILE | O_RDWR, 0600));
	int reg = open(path("regular"), O_CREAT | O_RDWR, 0644);
	close(reg);
	report("a regular file", open(path("regular"), O_TMPFILE | O_RDWR, 0600));
	unlink(path("regular"));
	mkdir(path("ro"), 0555);
	if (geteuid() != 0)
		report("a directory without write permission", open(path("ro"), O_TMPFILE | O_RDWR, 0600));
	rmdir(path("ro"));

	printf("== an unnamed file\n");
	int fd = open(dir, O_TMPFILE | O_RDWR, 0666);
	report("open O_TMPFILE|O_RDWR", fd >= 0 ? 0 : -1);
	describe("unnamed", fd);
	procLink("unnamed", fd);
	printf("entries in the directory: %d\n", entries());
	report("write", write(fd, "temporary", 9));
	report("fchmod 0640", fchmod(fd, 0640));
	describe("written", fd);
	report("linkat AT_EMPTY_PATH", linkat(fd, "", AT_FDCWD, path("named"), AT_EMPTY_PATH));
	describe("after linkat", fd);
	printf("entries in the directory: %d\n", entries());
	struct stat a, b;
	fstat(fd, &a);
	stat(path("named"), &b);
	yesno("the name is the same file", a.st_ino == b.st_ino && a.st_dev == b.st_dev);
	char buf[32] = {0};
	int rd = open(path("named"), O_RDONLY);
	read(rd, buf, sizeof buf - 1);
	printf("read through the name: %s\n", buf);
	close(rd);
	report("linkat a second name", linkat(fd, "", AT_FDCWD, path("named2"), AT_EMPTY_PATH));
	unlink(path("named"));
	unlink(path("named2"));
	describe("names removed", fd);
	report("linkat again after the names went", linkat(fd, "", AT_FDCWD, path("again"), AT_EMPTY_PATH));
	close(fd);

	printf("== linkat through /proc/self/fd\n");
	fd = open(dir, O_TMPFILE | O_WRONLY, 0600);
	write(fd, "via proc", 8);
	char p[64];
	snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
	report("linkat /proc/self/fd/N without AT_SYMLINK_FOLLOW", linkat(AT_FDCWD, p, AT_FDCWD, path("viaproc"), 0));
	unlink(path("viaproc"));
	fd = open(dir, O_TMPFILE | O_WRONLY, 0600);
	write(fd, "via proc", 8);
	snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
	report("linkat /proc/self/fd/N AT_SYMLINK_FOLLOW", linkat(AT_FDCWD, p, AT_FDCWD, path("viaproc"), AT_SYMLINK_FOLLOW));
	struct stat st;
	report("stat the name", stat(path("viaproc"), &st));
	printf("size %ld mode %o\n", (long)st.st_size, st.st_mode);
	report("linkat onto an existing name", linkat(fd, "", AT_FDCWD, path("viaproc"), AT_EMPTY_PATH));
	close(fd);
	unlink(path("viaproc"));

	printf("== O_EXCL\n");
	fd = open(dir, O_TMPFILE | O_RDWR | O_EXCL, 0600);
	report("open O_TMPFILE|O_EXCL", fd >= 0 ? 0 : -1);
	report("linkat", linkat(fd, "", AT_FDCWD, path("excl"), AT_EMPTY_PATH));
	snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
	report("linkat through /proc", linkat(AT_FDCWD, p, AT_FDCWD, path("excl"), AT_SYMLINK_FOLLOW));
	close(fd);

	printf("== umask and a setgid directory\n");
	mkdir(path("sg"), 0777);
	chmod(path("sg"), 02777);
	umask(077);
	fd = open(path("sg"), O_TMPFILE | O_RDWR, 0666);
	describe("umask 077", fd);
	struct stat ds;
	stat(path("sg"), &ds);
	fstat(fd, &st);
	yesno("group is the directory's", st.st_gid == ds.st_gid);
	close(fd);
	rmdir(path("sg"));
	printf("entries left: %d\n", entries());
	return 0;
}
