/* dirops: mkdir/rmdir/unlink/rename/symlink/readlink/chmod/truncate/
 * ftruncate/utimensat/fsync in the writable directory argv[1]. */
#include "common.h"
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

static void mode_of(const char *path) {
	struct stat st;
	if (lstat(path, &st) < 0)
		printf("mode %s = -1 %s\n", path, errname(errno));
	else
		printf("mode %s = %04o\n", path, st.st_mode & 07777);
}

static void size_of(const char *path) {
	struct stat st;
	if (stat(path, &st) < 0)
		printf("size %s = -1 %s\n", path, errname(errno));
	else
		printf("size %s = %ld\n", path, (long)st.st_size);
}

static void times_of(const char *path) {
	struct stat st;
	if (lstat(path, &st) < 0) {
		printf("times %s = -1 %s\n", path, errname(errno));
		return;
	}
	printf("times %s: atime=%ld.%09ld mtime=%ld.%09ld\n", path, (long)st.st_atim.tv_sec, st.st_atim.tv_nsec,
	       (long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
}

static void contents_of(const char *path) {
	char buf[128] = {0};
	int fd = open(path, O_RDONLY);
	if (fd < 0) {
		printf("contents %s = -1 %s\n", path, errname(errno));
		return;
	}
	long n = read(fd, buf, sizeof buf - 1);
	close(fd);
	printf("contents %s (%ld bytes): ", path, n);
	for (long i = 0; i < n; i++)
		putchar(buf[i] ? buf[i] : '0');
	putchar('\n');
}

static void list(const char *path) {
	DIR *d = opendir(path);
	if (!d) {
		printf("list %s = -1 %s\n", path, errname(errno));
		return;
	}
	char *names[128];
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < 128)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			names[n++] = strdup(e->d_name);
	closedir(d);
	qsort(names, n, sizeof names[0], cmpstr);
	printf("list %s:", path);
	for (int i = 0; i < n; i++)
		printf(" %s", names[i]);
	printf("\n");
}

static void create(const char *path, const char *data) {
	int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	if (fd < 0)
		die(path);
	if (write(fd, data, strlen(data)) != (long)strlen(data))
		die("write");
	close(fd);
}

int main(int argc, char **argv) {
	char buf[64];
	init_output();
	if (argc != 2) {
		fprintf(stderr, "usage: dirops DIR\n");
		return 2;
	}
	umask(022);
	report("chdir", chdir(argv[1]));

	/* mkdir / rmdir */
	report("mkdir d", mkdir("d", 0755));
	report("mkdir d again", mkdir("d", 0755));
	report("mkdir missing/parent", mkdir("missing/parent", 0755));
	report("mkdir d/e 0750", mkdir("d/e", 0750));
	mode_of("d/e");
	report("mkdir umask 0777", mkdir("u", 0777));
	mode_of("u");
	report("rmdir d (not empty)", rmdir("d"));
	report("rmdir d/e", rmdir("d/e"));
	report("rmdir missing", rmdir("missing"));
	report("rmdir .", rmdir("."));
	create("file", "content\n");
	report("rmdir file", rmdir("file"));
	report("mkdir over file", mkdir("file", 0755));
	report("mkdirat", mkdirat(AT_FDCWD, "d/m", 0700));
	report("unlinkat AT_REMOVEDIR", unlinkat(AT_FDCWD, "d/m", AT_REMOVEDIR));

	/* unlink */
	create("gone", "x");
	report("unlink gone", unlink("gone"));
	report("unlink gone again", unlink("gone"));
	report("unlink dir", unlink("d"));
	int fd = open("open-unlinked", O_CREAT | O_RDWR, 0644);
	write(fd, "still here", 10);
	report("unlink open file", unlink("open-unlinked"));
	memset(buf, 0, sizeof buf);
	report("pread unlinked open file", pread(fd, buf, sizeof buf, 0));
	printf("unlinked data: %s\n", buf);
	close(fd);

	/* rename */
	create("r1", "one");
	create("r2", "two");
	report("rename r1 -> r3", rename("r1", "r3"));
	report("rename r3 -> r2 (replace)", rename("r3", "r2"));
	contents_of("r2");
	report("rename missing", rename("r1", "r4"));
	report("rename into dir", rename("r2", "d/r2"));
	contents_of("d/r2");
	report("mkdir full", mkdir("full", 0755));
	create("full/x", "x");
	report("rename dir over non-empty dir", rename("d", "full"));
	report("mkdir empty", mkdir("empty", 0755));
	report("rename dir over empty dir", rename("d", "empty"));
	list("empty");
	report("rename file over dir", rename("file", "full"));
	report("rename dir over file", rename("empty", "file"));
	report("rename dir into itself", rename("empty", "empty/sub"));
	report("renameat", renameat(AT_FDCWD, "empty", AT_FDCWD, "moved"));

	/* symlink / readlink */
	report("symlink target -> ln", symlink("target-does-not-exist", "ln"));
	ssize_t n = readlink("ln", buf, sizeof buf);
	report("readlink ln", n);
	printf("readlink ln data: %.*s\n", (int)(n > 0 ? n : 0), buf);
	n = readlink("ln", buf, 4);
	printf("readlink short buffer: %ld %.*s\n", (long)n, (int)(n > 0 ? n : 0), buf);
	report("readlink non-link", readlink("file", buf, sizeof buf));
	report("readlink missing", readlink("missing", buf, sizeof buf));
	report("symlink existing", symlink("x", "ln"));
	/* A new name with a trailing slash asks for a directory: ENOENT for
	 * link, symlink and mknod, EEXIST first if the name exists. */
	report("link to a new name ending in /", link("file", "hardlink/"));
	report("link to an existing name ending in /", link("file", "ln/"));
	report("symlink to a new name ending in /", symlink("x", "sl/"));
	report("mknod a new name ending in /", mknod("fifo/", S_IFIFO | 0600, 0));
	report("link to a new name", link("file", "hardlink"));
	report("unlink it", unlink("hardlink"));
	report("open dangling symlink", open("ln", O_RDONLY));
	report("symlink rel -> file", symlink("file", "rel"));
	contents_of("rel");
	report("open O_NOFOLLOW on symlink", open("rel", O_RDONLY | O_NOFOLLOW));
	report("symlink loop a", symlink("loopb", "loopa"));
	report("symlink loop b", symlink("loopa", "loopb"));
	report("open loop", open("loopa", O_RDONLY));
	report("readlinkat", readlinkat(AT_FDCWD, "rel", buf, sizeof buf));

	/* chmod */
	report("chmod file 0600", chmod("file", 0600));
	mode_of("file");
	report("chmod file 04755", chmod("file", 04755));
	mode_of("file");
	fd = open("file", O_RDONLY);
	report("fchmod 0640", fchmod(fd, 0640));
	close(fd);
	mode_of("file");
	report("fchmodat", fchmodat(AT_FDCWD, "file", 0444, 0));
	mode_of("file");
	report("chmod missing", chmod("missing", 0644));
	mode_of("rel");

	/* truncate / ftruncate */
	create("t", "0123456789");
	report("truncate 4", truncate("t", 4));
	size_of("t");
	contents_of("t");
	report("truncate 100", truncate("t", 100));
	size_of("t");
	report("truncate -1", truncate("t", -1));
	report("truncate dir", truncate("moved", 0));
	fd = open("t", O_RDWR);
	report("ftruncate 2", ftruncate(fd, 2));
	size_of("t");
	contents_of("t");
	report("ftruncate 8", ftruncate(fd, 8));
	contents_of("t");
	close(fd);
	fd = open("t", O_RDONLY);
	report("ftruncate read-only fd", ftruncate(fd, 0));
	close(fd);

	/* utimensat */
	struct timespec ts[2] = {{.tv_sec = 1000000000, .tv_nsec = 123456789},
				 {.tv_sec = 1234567890, .tv_nsec = 500}};
	report("utimensat t", utimensat(AT_FDCWD, "t", ts, 0));
	times_of("t");
	struct timespec omit[2] = {{.tv_sec = 0, .tv_nsec = UTIME_OMIT}, {.tv_sec = 1500000000, .tv_nsec = 0}};
	report("utimensat atime omitted", utimensat(AT_FDCWD, "t", omit, 0));
	times_of("t");
	struct timespec lts[2] = {{.tv_sec = 1100000000, .tv_nsec = 0}, {.tv_sec = 1200000000, .tv_nsec = 0}};
	report("utimensat symlink nofollow", utimensat(AT_FDCWD, "rel", lts, AT_SYMLINK_NOFOLLOW));
	times_of("rel");
	struct timespec bad[2] = {{.tv_sec = 0, .tv_nsec = 2000000000}, {.tv_sec = 0, .tv_nsec = 0}};
	report("utimensat bad nsec", utimensat(AT_FDCWD, "t", bad, 0));
	report("utimensat missing", utimensat(AT_FDCWD, "missing", ts, 0));
	fd = open("t", O_RDONLY);
	report("futimens", futimens(fd, lts));
	times_of("t");

	/* fsync / fdatasync */
	report("fsync", fsync(fd));
	report("fdatasync", fdatasync(fd));
	close(fd);
	report("fsync bad fd", fsync(1000));
	int dfd = open(".", O_RDONLY | O_DIRECTORY);
	report("fsync dir", fsync(dfd));
	close(dfd);

	list(".");
	list("moved");
	list("full");
	return 0;
}
