/* stat: stat/fstat/lstat/newfstatat (fstatat)/statx/getdents64 on files the
 * program creates in the writable directory argv[1], plus a few host files.
 * Prints stable fields only: type, permission bits, size, link count; never
 * inode or device numbers. */
#include "common.h"
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

static const char *ftype(mode_t m) {
	switch (m & S_IFMT) {
	case S_IFREG: return "reg";
	case S_IFDIR: return "dir";
	case S_IFLNK: return "lnk";
	case S_IFCHR: return "chr";
	case S_IFIFO: return "fifo";
	case S_IFSOCK: return "sock";
	case S_IFBLK: return "blk";
	}
	return "?";
}

static void show(const char *label, int ret, const struct stat *st) {
	if (ret < 0) {
		printf("%s = -1 %s\n", label, errname(errno));
		return;
	}
	/* A directory's size is a property of the filesystem (4096 on ext4,
	 * something else on tmpfs), not of the syscall: it is not printed. */
	if (S_ISDIR(st->st_mode))
		printf("%s = %s %04o nlink=%ld\n", label, ftype(st->st_mode), st->st_mode & 07777,
		       (long)st->st_nlink);
	else
		printf("%s = %s %04o size=%ld nlink=%ld\n", label, ftype(st->st_mode), st->st_mode & 07777,
		       (long)st->st_size, (long)st->st_nlink);
}

/* showmode prints only the type and permission bits (for host directories
 * whose link count depends on what else is mounted). */
static void showmode(const char *label, int ret, const struct stat *st) {
	if (ret < 0)
		printf("%s = -1 %s\n", label, errname(errno));
	else
		printf("%s = %s %04o\n", label, ftype(st->st_mode), st->st_mode & 07777);
}

static const char *dtype(unsigned char t) {
	switch (t) {
	case DT_REG: return "reg";
	case DT_DIR: return "dir";
	case DT_LNK: return "lnk";
	case DT_CHR: return "chr";
	case DT_FIFO: return "fifo";
	case DT_UNKNOWN: return "unknown";
	}
	return "?";
}

/* listdir prints the entries of path (sorted, with d_type) read with raw
 * getdents64 calls through a small buffer, so several calls are needed. */
static void listdir(const char *path) {
	int fd = open(path, O_RDONLY | O_DIRECTORY);
	if (fd < 0) {
		printf("getdents64 %s: open = -1 %s\n", path, errname(errno));
		return;
	}
	char *names[256];
	int count = 0, calls = 0;
	char buf[128] __attribute__((aligned(8)));
	report("getdents64 tiny buffer", syscall(SYS_getdents64, fd, buf, 8));
	report("getdents64 bad fd", syscall(SYS_getdents64, 1000, buf, sizeof buf));
	for (;;) {
		long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
		if (n < 0) {
			printf("getdents64 = -1 %s\n", errname(errno));
			break;
		}
		if (n == 0)
			break;
		calls++;
		for (long off = 0; off < n;) {
			struct dirent64 *d = (struct dirent64 *)(buf + off);
			if (count < 256) {
				char *s = malloc(300);
				snprintf(s, 300, "%s %s", d->d_name, dtype(d->d_type));
				names[count++] = s;
			}
			off += d->d_reclen;
		}
	}
	qsort(names, count, sizeof names[0], cmpstr);
	printf("getdents64 %s: %d entries, more than one call: %s\n", path, count, calls > 1 ? "yes" : "no");
	for (int i = 0; i < count; i++)
		printf("  %s\n", names[i]);
	report("getdents64 at end", syscall(SYS_getdents64, fd, buf, sizeof buf));
	report("lseek dir to 0", lseek(fd, 0, SEEK_SET));
	long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
	printf("getdents64 after rewind returns entries: %s\n", n > 0 ? "yes" : "no");
	close(fd);
	int rfd = open("a", O_RDONLY);
	report("getdents64 on a file", syscall(SYS_getdents64, rfd, buf, sizeof buf));
	close(rfd);
}

int main(int argc, char **argv) {
	struct stat st;
	init_output();
	if (argc != 2) {
		fprintf(stderr, "usage: stat DIR\n");
		return 2;
	}
	umask(022);
	if (chdir(argv[1]) < 0)
		die("chdir");
	int fd = open("a", O_CREAT | O_WRONLY | O_TRUNC, 0640);
	if (fd < 0 || write(fd, "0123456789", 10) != 10)
		die("create a");
	close(fd);
	if (mkdir("b", 0755) < 0 || symlink("a", "c") < 0)
		die("mkdir/symlink");
	fd = open("d", O_CREAT | O_WRONLY, 0600);
	close(fd);
	if (mkdir("b/inner", 0700) < 0)
		die("mkdir b/inner");
	for (int i = 0; i < 12; i++) {
		char name[64];
		snprintf(name, sizeof name, "b/file-with-a-longish-name-%02d", i);
		close(open(name, O_CREAT | O_WRONLY, 0644));
	}

	show("stat a", stat("a", &st), &st);
	show("stat b", stat("b", &st), &st);
	show("stat c (follows)", stat("c", &st), &st);
	show("lstat c", lstat("c", &st), &st);
	show("stat d", stat("d", &st), &st);
	show("stat b/inner", stat("b/inner", &st), &st);
	show("stat missing", stat("missing", &st), &st);
	show("stat a/x (not a dir)", stat("a/x", &st), &st);
	show("stat empty path", stat("", &st), &st);
	showmode("stat /", stat("/", &st), &st);
	showmode("stat /etc", stat("/etc", &st), &st);
	show("stat /etc/passwd", stat("/etc/passwd", &st), &st);
	show("stat /dev/null", stat("/dev/null", &st), &st);

	fd = open("a", O_RDONLY);
	show("fstat a", fstat(fd, &st), &st);
	show("fstat bad fd", fstat(1000, &st), &st);

	int dfd = open(".", O_RDONLY | O_DIRECTORY);
	show("fstatat a", fstatat(dfd, "a", &st, 0), &st);
	show("fstatat c nofollow", fstatat(dfd, "c", &st, AT_SYMLINK_NOFOLLOW), &st);
	show("fstatat AT_FDCWD b", fstatat(AT_FDCWD, "b", &st, 0), &st);
	show("fstatat empty path AT_EMPTY_PATH", fstatat(fd, "", &st, AT_EMPTY_PATH), &st);
	show("fstatat empty path no flag", fstatat(fd, "", &st, 0), &st);
	show("fstatat bad flags", fstatat(dfd, "a", &st, 0x12345), &st);
	show("newfstatat raw", syscall(SYS_newfstatat, dfd, "d", &st, 0), &st);

	struct statx sx;
	unsigned basic = STATX_BASIC_STATS;
	long r = statx(dfd, "a", 0, STATX_BASIC_STATS, &sx);
	report("statx a", r);
	if (r == 0)
		printf("statx a: basic mask: %s, %s %04o size=%llu nlink=%u blksize nonzero: %s\n",
		       (sx.stx_mask & basic) == basic ? "yes" : "no", ftype(sx.stx_mode), sx.stx_mode & 07777,
		       (unsigned long long)sx.stx_size, sx.stx_nlink, sx.stx_blksize ? "yes" : "no");
	r = statx(dfd, "c", AT_SYMLINK_NOFOLLOW, STATX_TYPE | STATX_SIZE, &sx);
	report("statx c nofollow", r);
	if (r == 0)
		printf("statx c: %s size=%llu\n", ftype(sx.stx_mode), (unsigned long long)sx.stx_size);
	r = statx(fd, "", AT_EMPTY_PATH, STATX_SIZE, &sx);
	report("statx fd AT_EMPTY_PATH", r);
	if (r == 0)
		printf("statx fd size=%llu\n", (unsigned long long)sx.stx_size);
	report("statx missing", statx(dfd, "missing", 0, STATX_BASIC_STATS, &sx));
	report("statx reserved mask bit", statx(dfd, "a", 0, 0x80000000u, &sx));
	close(fd);
	close(dfd);

	listdir(".");
	listdir("b");
	return 0;
}
