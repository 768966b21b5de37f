/* memfd_create and file seals: flags, names, what fstat and /proc/self/fd
 * show, F_GET_SEALS/F_ADD_SEALS and every seal enforced against write,
 * pwrite, ftruncate, fallocate and shared mappings (F_SEAL_WRITE refused
 * while a writable shared mapping exists, F_SEAL_FUTURE_WRITE letting the
 * existing one write), F_SEAL_EXEC and MFD_NOEXEC_SEAL, reopening through
 * /proc/self/fd, and seals of files that are not memfds.
 *
 * argv[1] is a writable directory (its files are not on a tmpfs). */
#include "common.h"
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif
#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif
#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x0020
#endif

static void seals(const char *label, int fd) {
	int s = fcntl(fd, F_GET_SEALS);
	if (s < 0) {
		printf("%s: seals = -1 %s\n", label, errname(errno));
		return;
	}
	printf("%s: seals =%s%s%s%s%s%s%s\n", label, s ? "" : " none", s & F_SEAL_SEAL ? " SEAL" : "",
	       s & F_SEAL_SHRINK ? " SHRINK" : "", s & F_SEAL_GROW ? " GROW" : "", s & F_SEAL_WRITE ? " WRITE" : "",
	       s & F_SEAL_FUTURE_WRITE ? " FUTURE_WRITE" : "", s & F_SEAL_EXEC ? " EXEC" : "");
}

static void describe(const char *label, int fd) {
	struct stat st;
	char link[256], p[64];
	if (fstat(fd, &st) < 0)
		die("fstat");
	snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(p, link, sizeof link - 1);
	link[n < 0 ? 0 : n] = 0;
	printf("%s: mode %o nlink %lu size %ld uid-is-mine %d link %s\n", label, st.st_mode, (unsigned long)st.st_nlink,
	       (long)st.st_size, st.st_uid == geteuid(), link);
}

static long fsize(int fd) {
	struct stat st;
	fstat(fd, &st);
	return st.st_size;
}

int main(int argc, char **argv) {
	init_output();
	if (argc < 2) {
		fprintf(stderr, "usage: memfd DIR\n");
		return 2;
	}
	printf("== creation\n");
	report("unknown flag", memfd_create("x", 0x40));
	report("MFD_EXEC|MFD_NOEXEC_SEAL", memfd_create("x", MFD_EXEC | MFD_NOEXEC_SEAL));
	report("bad name pointer", syscall(SYS_memfd_create, (char *)8, 0));
	char name[300];
	memset(name, 'n', sizeof name);
	name[249] = 0;
	int fd = memfd_create(name, 0);
	report("249-byte name", fd >= 0 ? 0 : -1);
	close(fd);
	name[249] = 'n';
	name[250] = 0;
	report("250-byte name", memfd_create(name, 0));
	report("empty name", (fd = memfd_create("", 0)) >= 0 ? 0 : -1);
	describe("empty name", fd);
	close(fd);

	int a = memfd_create("plain", MFD_CLOEXEC);
	report("FD_CLOEXEC", fcntl(a, F_GETFD));
	report("O_RDWR", fcntl(a, F_GETFL) & O_ACCMODE);
	describe("plain", a);
	seals("plain", a);
	report("plain: F_ADD_SEALS", fcntl(a, F_ADD_SEALS, F_SEAL_WRITE));
	report("write", write(a, "hello memfd", 11));
	char buf[64] = {0};
	report("pread", pread(a, buf, sizeof buf, 0));
	printf("read back: %s\n", buf);
	describe("plain after write", a);
	report("ftruncate 100000", ftruncate(a, 100000));
	report("lseek SEEK_END", lseek(a, 0, SEEK_END));
	close(a);

	printf("== seals\n");
	int s = memfd_create("sealed", MFD_ALLOW_SEALING);
	seals("allow sealing", s);
	report("unknown seal", fcntl(s, F_ADD_SEALS, 0x100));
	write(s, "0123456789", 10);
	report("F_SEAL_SHRINK", fcntl(s, F_ADD_SEALS, F_SEAL_SHRINK));
	report("ftruncate 5 (shrink)", ftruncate(s, 5));
	report("ftruncate 8192 (grow)", ftruncate(s, 8192));
	report("ftruncate 8192 (same)", ftruncate(s, 8192));
	report("F_SEAL_GROW", fcntl(s, F_ADD_SEALS, F_SEAL_GROW));
	seals("shrink+grow", s);
	report("ftruncate 9000", ftruncate(s, 9000));
	report("pwrite inside", pwrite(s, "abc", 3, 100));
	report("pwrite at the end", pwrite(s, "abc", 3, 8192));
	report("pwrite across the end", pwrite(s, "abc", 3, 8190));
	char big[10000];
	memset(big, 'b', sizeof big);
	report("pwrite 10000 at 0 (pages within the size)", pwrite(s, big, sizeof big, 0));
	report("pwrite 5000 at 4000", pwrite(s, big, 5000, 4000));
	report("fallocate inside", fallocate(s, 0, 0, 4096));
	report("fallocate beyond", fallocate(s, 0, 8000, 4096));
	report("fallocate beyond KEEP_SIZE", fallocate(s, FALLOC_FL_KEEP_SIZE, 8000, 4096));
	report("size", fsize(s));
	/* F_SEAL_WRITE: refused while a writable shared mapping exists. */
	char *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, s, 0);
	if (m == MAP_FAILED)
		die("mmap");
	m[0] = 'M';
	report("F_SEAL_WRITE with a writable shared mapping", fcntl(s, F_ADD_SEALS, F_SEAL_WRITE));
	char *ro = mmap(NULL, 8192, PROT_READ, MAP_SHARED, s, 0);
	report("munmap the writable mapping", munmap(m, 8192));
	report("F_SEAL_WRITE with a read-only shared mapping (may become writable)", fcntl(s, F_ADD_SEALS, F_SEAL_WRITE));
	report("munmap the read-only mapping", munmap(ro, 8192));
	char *priv = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE, s, 0);
	report("F_SEAL_WRITE with a private mapping", fcntl(s, F_ADD_SEALS, F_SEAL_WRITE));
	seals("after F_SEAL_WRITE", s);
	priv[1] = 'P';
	pread(s, buf, 2, 0);
	printf("the private write stays private: %c%c\n", buf[0], buf[1]);
	munmap(priv, 8192);
	report("write", write(s, "x", 1));
	report("pwrite", pwrite(s, "x", 1, 0));
	report("fallocate punch hole", fallocate(s, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096));
	errno = 0;
	report("mmap shared writable", mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, s, 0) == MAP_FAILED ? -1 : 0);
	ro = mmap(NULL, 4096, PROT_READ, MAP_SHARED, s, 0);
	report("mmap shared read-only", ro == MAP_FAILED ? -1 : 0);
	report("mprotect it writable", mprotect(ro, 4096, PROT_READ | PROT_WRITE));
	munmap(ro, 4096);
	priv = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, s, 0);
	report("mmap private writable", priv == MAP_FAILED ? -1 : 0);
	priv[0] = 'q';
	munmap(priv, 4096);
	report("F_SEAL_SEAL", fcntl(s, F_ADD_SEALS, F_SEAL_SEAL));
	report("F_ADD_SEALS after F_SEAL_SEAL", fcntl(s, F_ADD_SEALS, F_SEAL_FUTURE_WRITE));
	report("F_ADD_SEALS 0 after F_SEAL_SEAL", fcntl(s, F_ADD_SEALS, 0));
	seals("all", s);
	/* The seals belong to the file: another description sees them. */
	char p[64];
	snprintf(p, sizeof p, "/proc/self/fd/%d", s);
	int again = open(p, O_RDWR);
	report("reopen through /proc/self/fd", again >= 0 ? 0 : -1);
	seals("the reopened description", again);
	pread(again, buf, 3, 0);
	printf("reopened reads: %.3s\n", buf);
	report("write through it", write(again, "x", 1));
	close(again);
	int rdonly = open(p, O_RDONLY);
	close(s);
	s = memfd_create("ro", MFD_ALLOW_SEALING);
	snprintf(p, sizeof p, "/proc/self/fd/%d", s);
	rdonly = open(p, O_RDONLY);
	report("F_ADD_SEALS on a read-only description", fcntl(rdonly, F_ADD_SEALS, F_SEAL_GROW));
	seals("read-only description", rdonly);
	close(rdonly);
	close(s);

	printf("== F_SEAL_FUTURE_WRITE\n");
	int fw = memfd_create("future", MFD_ALLOW_SEALING);
	ftruncate(fw, 4096);
	m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fw, 0);
	report("F_SEAL_FUTURE_WRITE with a writable shared mapping", fcntl(fw, F_ADD_SEALS, F_SEAL_FUTURE_WRITE));
	strcpy(m, "still writable");
	pread(fw, buf, 14, 0);
	printf("the old mapping writes: %.14s\n", buf);
	report("write", write(fw, "x", 1));
	report("mmap shared writable", mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fw, 0) == MAP_FAILED ? -1 : 0);
	report("ftruncate (grow)", ftruncate(fw, 8192));
	report("F_SEAL_WRITE now (the mapping is still there)", fcntl(fw, F_ADD_SEALS, F_SEAL_WRITE));
	munmap(m, 4096);
	report("F_SEAL_WRITE after munmap", fcntl(fw, F_ADD_SEALS, F_SEAL_WRITE));
	/* A forked child's copy of a shared writable mapping counts too. */
	close(fw);
	fw = memfd_create("fork", MFD_ALLOW_SEALING);
	ftruncate(fw, 4096);
	m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fw, 0);
	int go[2], ready[2];
	pipe(go);
	pipe(ready);
	pid_t pid = fork();
	if (pid == 0) {
		close(ready[0]);
		close(ready[1]);
		wait_closed(go);
		strcpy(m, "child");
		_exit(0);
	}
	close(go[0]);
	munmap(m, 4096);
	report("F_SEAL_WRITE while a child maps it writable", fcntl(fw, F_ADD_SEALS, F_SEAL_WRITE));
	close(go[1]);
	int st;
	waitpid(pid, &st, 0);
	pread(fw, buf, 5, 0);
	printf("the child wrote: %.5s\n", buf);
	report("F_SEAL_WRITE after it exited", fcntl(fw, F_ADD_SEALS, F_SEAL_WRITE));
	close(fw);

	printf("== exec seals\n");
	int ne = memfd_create("noexec", MFD_NOEXEC_SEAL);
	describe("MFD_NOEXEC_SEAL", ne);
	seals("MFD_NOEXEC_SEAL", ne);
	report("fchmod 0755", fchmod(ne, 0755));
	report("fchmod 0600", fchmod(ne, 0600));
	report("F_ADD_SEALS F_SEAL_GROW", fcntl(ne, F_ADD_SEALS, F_SEAL_GROW));
	close(ne);
	int ex = memfd_create("exec", MFD_ALLOW_SEALING | MFD_EXEC);
	describe("MFD_EXEC", ex);
	report("F_SEAL_EXEC on an executable memfd", fcntl(ex, F_ADD_SEALS, F_SEAL_EXEC));
	seals("F_SEAL_EXEC", ex);
	report("fchmod 0644", fchmod(ex, 0644));
	close(ex);
	ex = memfd_create("exec2", MFD_ALLOW_SEALING);
	fchmod(ex, 0644);
	report("F_SEAL_EXEC on a memfd without exec bits", fcntl(ex, F_ADD_SEALS, F_SEAL_EXEC));
	seals("F_SEAL_EXEC without exec bits", ex);
	report("fchmod 0755", fchmod(ex, 0755));
	close(ex);

	printf("== other files\n");
	int pp[2];
	pipe(pp);
	seals("a pipe", pp[0]);
	report("F_ADD_SEALS on a pipe", fcntl(pp[1], F_ADD_SEALS, F_SEAL_GROW));
	char path[4200];
	snprintf(path, sizeof path, "%s/regular", argv[1]);
	int r = open(path, O_RDWR | O_CREAT, 0644);
	seals("a regular file", r);
	report("F_ADD_SEALS on it", fcntl(r, F_ADD_SEALS, F_SEAL_GROW));
	close(r);
	unlink(path);
	int shm = open("/dev/shm/memfd-test-seals", O_RDWR | O_CREAT | O_EXCL, 0600);
	if (shm >= 0) {
		seals("a /dev/shm file", shm);
		report("F_ADD_SEALS on it", fcntl(shm, F_ADD_SEALS, F_SEAL_GROW));
		close(shm);
		unlink("/dev/shm/memfd-test-seals");
	}
	return 0;
}
