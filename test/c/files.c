/* files: open/openat/read/write/pread/pwrite/readv/writev/lseek/close in the
 * writable directory argv[1]. */
#include "common.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>

int main(int argc, char **argv) {
	char buf[256];
	long n;
	init_output();
	if (argc != 2) {
		fprintf(stderr, "usage: files DIR\n");
		return 2;
	}
	int dfd = open(argv[1], O_RDONLY | O_DIRECTORY);
	report("open dir", dfd);

	int fd = openat(dfd, "f1", O_CREAT | O_RDWR | O_TRUNC, 0644);
	report("openat f1 O_CREAT|O_RDWR|O_TRUNC", fd);
	report("write hello world", write(fd, "hello world\n", 12));
	report("lseek cur", lseek(fd, 0, SEEK_CUR));
	report("lseek set 0", lseek(fd, 0, SEEK_SET));
	memset(buf, 0, sizeof buf);
	n = read(fd, buf, sizeof buf);
	report("read", n);
	printf("read data: %.*s", (int)(n > 0 ? n : 0), buf);
	report("read at eof", read(fd, buf, sizeof buf));

	report("pwrite HELLO at 0", pwrite(fd, "HELLO", 5, 0));
	report("lseek cur after pwrite", lseek(fd, 0, SEEK_CUR));
	memset(buf, 0, sizeof buf);
	report("pread 5 at 6", pread(fd, buf, 5, 6));
	printf("pread data: %s\n", buf);
	report("pread past eof", pread(fd, buf, 5, 1000));
	report("pread negative offset", pread(fd, buf, 5, -1));

	struct iovec wv[3] = {
		{.iov_base = "one ", .iov_len = 4},
		{.iov_base = "", .iov_len = 0},
		{.iov_base = "two three\n", .iov_len = 10},
	};
	report("writev", writev(fd, wv, 3));
	report("lseek end", lseek(fd, 0, SEEK_END));
	report("lseek end -10", lseek(fd, -10, SEEK_END));
	char a[4] = {0}, b[16] = {0};
	struct iovec rv[2] = {{.iov_base = a, .iov_len = 3}, {.iov_base = b, .iov_len = 15}};
	n = readv(fd, rv, 2);
	report("readv", n);
	printf("readv data: [%s] [%s]\n", a, b);
	report("lseek negative", lseek(fd, -100, SEEK_SET));
	report("lseek bad whence", lseek(fd, 0, 42));
	report("lseek past end", lseek(fd, 4096, SEEK_SET));
	report("write after hole", write(fd, "X", 1));
	struct stat st;
	report("fstat", fstat(fd, &st));
	printf("size after hole: %ld\n", (long)st.st_size);
	report("pread inside hole", pread(fd, buf, 4, 100));
	printf("hole bytes zero: %s\n", (buf[0] | buf[1] | buf[2] | buf[3]) == 0 ? "yes" : "no");
	report("close", close(fd));
	report("close again", close(fd));
	report("read closed fd", read(fd, buf, 1));

	/* Read-only and append descriptors. */
	fd = openat(dfd, "f1", O_RDONLY);
	report("openat f1 O_RDONLY", fd);
	report("write to O_RDONLY fd", write(fd, "x", 1));
	close(fd);
	fd = openat(dfd, "f1", O_WRONLY);
	report("read from O_WRONLY fd", read(fd, buf, 1));
	close(fd);
	fd = openat(dfd, "app", O_CREAT | O_WRONLY | O_APPEND, 0600);
	report("openat app O_APPEND", fd);
	report("write app 1", write(fd, "abc", 3));
	report("lseek app 0", lseek(fd, 0, SEEK_SET));
	report("write app 2", write(fd, "def", 3));
	report("fstat app", fstat(fd, &st));
	printf("app size: %ld\n", (long)st.st_size);
	close(fd);
	fd = openat(dfd, "app", O_RDONLY);
	memset(buf, 0, sizeof buf);
	report("read app", read(fd, buf, sizeof buf));
	printf("app data: %s\n", buf);
	close(fd);

	/* O_TRUNC and O_EXCL. */
	fd = openat(dfd, "f1", O_WRONLY | O_TRUNC);
	report("openat f1 O_TRUNC", fd);
	report("fstat truncated", fstat(fd, &st));
	printf("truncated size: %ld\n", (long)st.st_size);
	close(fd);
	report("openat f1 O_CREAT|O_EXCL", openat(dfd, "f1", O_CREAT | O_EXCL | O_WRONLY, 0644));

	/* Errors. */
	report("open missing", open("/nonexistent-runsc-lite/x", O_RDONLY));
	report("openat missing", openat(dfd, "missing", O_RDONLY));
	report("open dir O_WRONLY", openat(dfd, ".", O_WRONLY));
	report("open file O_DIRECTORY", openat(dfd, "app", O_RDONLY | O_DIRECTORY));
	report("openat bad dirfd", openat(1000, "x", O_RDONLY));
	report("openat file as dirfd", openat(1, "x", O_RDONLY));
	report("open empty path", open("", O_RDONLY));

	/* A larger write and read back, across page boundaries. */
	fd = openat(dfd, "big", O_CREAT | O_RDWR | O_TRUNC, 0644);
	static unsigned char big[1 << 20], back[1 << 20];
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (unsigned char)(i * 7 + (i >> 9));
	report("write 1MiB", write(fd, big, sizeof big));
	report("pread 1MiB", pread(fd, back, sizeof back, 0));
	printf("1MiB round trip equal: %s\n", memcmp(big, back, sizeof big) == 0 ? "yes" : "no");
	report("pread 3 at 4095", pread(fd, back, 3, 4095));
	printf("bytes at 4095: %d %d %d\n", back[0], back[1], back[2]);
	close(fd);

	/* A host file through the sandbox's read-only root. */
	fd = open("/etc/passwd", O_RDONLY);
	report("open /etc/passwd", fd >= 0 ? 0 : -1);
	memset(buf, 0, sizeof buf);
	report("read 5 /etc/passwd", read(fd, buf, 5));
	printf("passwd starts: %s\n", buf);
	close(fd);

	/* Lowest free descriptor is reused. */
	int f1 = open("/dev/null", O_RDONLY), f2 = open("/dev/null", O_RDONLY);
	close(f1);
	int f3 = open("/dev/null", O_RDONLY);
	printf("lowest fd reused: %s\n", f3 == f1 ? "yes" : "no");
	close(f2);
	close(f3);
	report("close dirfd", close(dfd));

	/* copy_file_range within one file: overlapping ranges are EINVAL
	 * (after shortening the copy to the end of the source). */
	int cf = open("cfr", O_RDWR | O_CREAT | O_TRUNC, 0644);
	char block[4096];
	for (int i = 0; i < 2; i++) {
		memset(block, 'a' + i, sizeof block);
		write(cf, block, sizeof block);
	}
	loff_t in = 0, out = 100;
	report("copy_file_range onto itself, overlapping", copy_file_range(cf, &in, cf, &out, 4096, 0));
	in = 0, out = 8192;
	report("copy_file_range onto itself, after the end", copy_file_range(cf, &in, cf, &out, 4096, 0));
	printf("offsets now %lld %lld\n", (long long)in, (long long)out);
	in = 8192, out = 0;
	report("copy_file_range the copy back over the start", copy_file_range(cf, &in, cf, &out, 100000, 0));
	in = 20000, out = 0;
	report("copy_file_range from beyond the end", copy_file_range(cf, &in, cf, &out, 4096, 0));
	lseek(cf, 4096, SEEK_SET);
	report("copy_file_range at the file positions, overlapping", copy_file_range(cf, NULL, cf, NULL, 4096, 0));
	report("copy_file_range bad flags", copy_file_range(cf, NULL, cf, NULL, 1, 1));
	int cf2 = open("cfr2", O_RDWR | O_CREAT | O_TRUNC, 0644);
	in = 4096;
	report("copy_file_range to another file", copy_file_range(cf, &in, cf2, NULL, 8192, 0));
	report("pread the copy", pread(cf2, block, 8, 0));
	printf("copy starts with %.8s\n", block);
	close(cf2);
	close(cf);
	unlink("cfr");
	unlink("cfr2");
	return 0;
}
