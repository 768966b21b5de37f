/* mmap: anonymous, private file and shared file mappings, munmap, mremap
 * (grow in place or move, preserving contents), shared mappings of a file
 * that grows and shrinks between them, brk and mincore. Uses files in the
 * writable directory argv[1]. Prints no addresses. */
#include "common.h"
#include <sys/wait.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#define PG 4096L

static int mapped(void *addr, long len) {
	unsigned char vec[64];
	return mincore(addr, len, vec) == 0;
}

static void fill(unsigned char *p, long len, int seed) {
	for (long i = 0; i < len; i++)
		p[i] = (unsigned char)(i * 13 + seed + (i >> 12));
}

static int check(const unsigned char *p, long len, int seed) {
	for (long i = 0; i < len; i++)
		if (p[i] != (unsigned char)(i * 13 + seed + (i >> 12)))
			return 0;
	return 1;
}

static int all_zero(const unsigned char *p, long len) {
	for (long i = 0; i < len; i++)
		if (p[i])
			return 0;
	return 1;
}

/* grow_and_remap maps a file shared, writes it, unmaps it, grows it (with
 * fallocate or ftruncate), maps it again and writes past the old end of
 * file, in the page that held it too (Go's linker writes its output this
 * way); then shrinks it and maps it again. */
static void grow_and_remap(const char *how, int falloc) {
	long s = 3 * PG + 0x180, t = s + 3 * PG;
	char label[128];
	int fd = open("grow", O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || ftruncate(fd, s) < 0)
		die("grow: create");
	unsigned char *p = mmap(NULL, s, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("grow: mmap");
	fill(p, s, 20);
	munmap(p, s);
	if (falloc ? fallocate(fd, 0, 0, t) : ftruncate(fd, t))
		die("grow: grow");
	p = mmap(NULL, t, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("grow: mmap again");
	snprintf(label, sizeof label, "grown by %s: the first mapping's bytes are in the second", how);
	yesno(label, check(p, s, 20));
	snprintf(label, sizeof label, "grown by %s: the old end of file's page reads zeros past it", how);
	yesno(label, all_zero(p + s, PG - (s % PG)));
	memset(p + s, 0x5a, t - s);
	munmap(p, t);
	static unsigned char buf[8 * PG];
	long n = pread(fd, buf, sizeof buf, 0);
	snprintf(label, sizeof label, "grown by %s: file size after both mappings", how);
	report(label, n);
	int ok = n == t && check(buf, s, 20);
	for (long i = s; ok && i < t; i++)
		ok = buf[i] == 0x5a;
	snprintf(label, sizeof label, "grown by %s: read(2) sees what both mappings wrote", how);
	yesno(label, ok);
	/* Shrink into the first page: the rest of that page reads zeros in a
	 * new mapping, and growing again reads zeros. */
	if (ftruncate(fd, PG + 10) || ftruncate(fd, 2 * PG))
		die("grow: shrink");
	p = mmap(NULL, 2 * PG, PROT_READ, MAP_SHARED, fd, 0);
	snprintf(label, sizeof label, "grown by %s, shrunk and grown: zeros past the shrunk end", how);
	yesno(label, p != MAP_FAILED && check(p, PG + 10, 20) && all_zero(p + PG + 10, PG - 10));
	munmap(p, 2 * PG);
	close(fd);
	unlink("grow");
}

int main(int argc, char **argv) {
	init_output();
	if (argc != 2) {
		fprintf(stderr, "usage: mmap DIR\n");
		return 2;
	}
	if (chdir(argv[1]) < 0)
		die("chdir");

	/* Anonymous private memory. */
	unsigned char *a = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	yesno("anon mmap ok", a != MAP_FAILED);
	yesno("anon page aligned", ((uintptr_t)a & (PG - 1)) == 0);
	yesno("anon zero-filled", all_zero(a, 4 * PG));
	fill(a, 4 * PG, 1);
	yesno("anon pattern reads back", check(a, 4 * PG, 1));
	yesno("anon mincore mapped", mapped(a, 4 * PG));

	/* munmap a page in the middle; the hole is unmapped, neighbours stay. */
	report("munmap middle page", munmap(a + PG, PG));
	yesno("hole unmapped (mincore ENOMEM)", !mapped(a + PG, PG) && errno == ENOMEM);
	yesno("page before hole intact", check(a, PG, 1));
	yesno("pages after hole intact", a[2 * PG] == (unsigned char)(2 * PG * 13 + 1 + 2));
	void *r = mmap(a + PG, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	yesno("MAP_FIXED_NOREPLACE into hole", r == a + PG);
	yesno("refilled hole is zero", r == a + PG && all_zero(a + PG, PG));
	r = mmap(a, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	printf("MAP_FIXED_NOREPLACE over mapping = %s\n", r == MAP_FAILED ? errname(errno) : "mapped");
	r = mmap(a + 2 * PG, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	yesno("MAP_FIXED replaces with zero page", r == a + 2 * PG && all_zero(a + 2 * PG, PG));
	report("munmap all", munmap(a, 4 * PG));
	yesno("unmapped after munmap", !mapped(a, 4 * PG));
	report("munmap unaligned", munmap(a + 1, PG));
	report("munmap zero length", munmap(a, 0));
	report("munmap unmapped range", munmap(a, PG));

	/* Errors. */
	r = mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	printf("mmap zero length = %s\n", r == MAP_FAILED ? errname(errno) : "mapped");
	r = mmap(NULL, PG, PROT_READ, MAP_PRIVATE, 1000, 0);
	printf("mmap bad fd = %s\n", r == MAP_FAILED ? errname(errno) : "mapped");
	r = mmap(NULL, PG, PROT_READ, MAP_PRIVATE | MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	printf("mmap private|shared = %s\n", r == MAP_FAILED ? errname(errno) : "mapped");
	r = mmap((void *)0x10001, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	printf("mmap unaligned fixed = %s\n", r == MAP_FAILED ? errname(errno) : "mapped");

	/* Shared anonymous memory. */
	unsigned char *sa = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	yesno("shared anon mmap ok", sa != MAP_FAILED);
	fill(sa, 2 * PG, 5);
	yesno("shared anon pattern", check(sa, 2 * PG, 5));
	munmap(sa, 2 * PG);

	/* A file to map: 3 pages of pattern 7 plus a partial page. */
	long flen = 3 * PG + 100;
	unsigned char *src = malloc(flen);
	fill(src, flen, 7);
	int fd = open("mapped", O_CREAT | O_RDWR | O_TRUNC, 0644);
	if (fd < 0 || write(fd, src, flen) != flen)
		die("write mapped");

	/* Private file mapping: contents visible, writes stay private. */
	unsigned char *p = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	yesno("private file mmap ok", p != MAP_FAILED);
	yesno("private mapping shows file", memcmp(p, src, flen) == 0);
	yesno("tail of last page is zero", all_zero(p + flen, 4 * PG - flen));
	memset(p, 'P', 100);
	unsigned char back[100];
	pread(fd, back, 100, 0);
	yesno("private write not in file", memcmp(back, src, 100) == 0);
	munmap(p, 4 * PG);
	p = mmap(NULL, PG, PROT_READ, MAP_PRIVATE, fd, PG);
	yesno("private mapping at offset 1 page", p != MAP_FAILED && memcmp(p, src + PG, PG) == 0);
	munmap(p, PG);
	p = mmap(NULL, PG, PROT_READ, MAP_PRIVATE, fd, 100);
	printf("mmap unaligned offset = %s\n", p == MAP_FAILED ? errname(errno) : "mapped");

	/* Shared file mapping: writes through the mapping reach the file. */
	unsigned char *s = mmap(NULL, flen, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	yesno("shared file mmap ok", s != MAP_FAILED);
	yesno("shared mapping shows file", memcmp(s, src, flen) == 0);
	memcpy(s + PG - 3, "SHARED", 6); /* across a page boundary */
	report("msync", msync(s, flen, MS_SYNC));
	unsigned char b6[7] = {0};
	pread(fd, b6, 6, PG - 3);
	printf("file after shared write: %s\n", b6);
	report("pwrite into mapped file", pwrite(fd, "WRITE", 5, 2 * PG));
	printf("mapping sees pwrite: %s\n", memcmp(s + 2 * PG, "WRITE", 5) == 0 ? "yes" : "no");
	/* read(2) sees a write through the live shared mapping, without msync. */
	memcpy(s + 2 * PG + 5, "LIVE", 4);
	unsigned char b9[10] = {0};
	lseek(fd, 2 * PG, SEEK_SET);
	report("read after a write through the mapping", read(fd, b9, 9));
	printf("read sees the mapping's write: %s\n", b9);
	memcpy(s + 3 * PG, "TAIL", 4);
	report("munmap shared", munmap(s, flen));
	close(fd);
	fd = open("mapped", O_RDONLY);
	unsigned char *all = malloc(flen);
	report("read file back", read(fd, all, flen));
	memcpy(src + PG - 3, "SHARED", 6);
	memcpy(src + 2 * PG, "WRITE", 5);
	memcpy(src + 2 * PG + 5, "LIVE", 4);
	memcpy(src + 3 * PG, "TAIL", 4);
	yesno("file has every shared write", memcmp(all, src, flen) == 0);
	/* Mapping a read-only descriptor shared+writable is refused. */
	r = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	printf("shared writable map of O_RDONLY fd = %s\n", r == MAP_FAILED ? errname(errno) : "mapped");
	r = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	yesno("private writable map of O_RDONLY fd ok", r != MAP_FAILED);
	close(fd);
	yesno("mapping survives close", r != MAP_FAILED && memcmp(r, src, 64) == 0);

	/* A host library file, as ld.so maps it. */
	fd = open("/etc/passwd", O_RDONLY);
	p = mmap(NULL, PG, PROT_READ, MAP_PRIVATE, fd, 0);
	yesno("map /etc/passwd starts with root:", p != MAP_FAILED && memcmp(p, "root:", 5) == 0);
	close(fd);

	/* mremap: grow (may move), contents preserved. */
	unsigned char *m = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	fill(m, 2 * PG, 9);
	unsigned char *m2 = mremap(m, 2 * PG, 64 * PG, MREMAP_MAYMOVE);
	yesno("mremap grow ok", m2 != MAP_FAILED);
	yesno("mremap grow keeps contents", check(m2, 2 * PG, 9));
	yesno("grown part is zero", all_zero(m2 + 2 * PG, 62 * PG));
	m2[63 * PG] = 1;
	/* Shrink in place. */
	unsigned char *m3 = mremap(m2, 64 * PG, PG, 0);
	yesno("mremap shrink in place", m3 == m2);
	yesno("shrunk tail unmapped", !mapped(m2 + PG, PG));
	/* Move to a fixed address. */
	unsigned char *dst = mmap(NULL, 8 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(dst, 8 * PG);
	unsigned char *m4 = mremap(m3, PG, PG, MREMAP_MAYMOVE | MREMAP_FIXED, dst + 4 * PG);
	yesno("mremap fixed moves", m4 == dst + 4 * PG);
	yesno("moved contents preserved", check(m4, PG, 9));
	yesno("old address unmapped", !mapped(m3, PG));
	/* dst+0..dst+8 was unmapped: m4 (at dst+4) can grow in place to dst+6;
	 * with a blocker at dst+7 it cannot grow to 4 pages without moving. */
	r = mremap(m4, PG, 2 * PG, 0);
	printf("mremap grow in place = %s\n", r == MAP_FAILED ? errname(errno) : (r == m4 ? "in place" : "moved"));
	r = mmap(dst + 7 * PG, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	yesno("blocker mapped", r == dst + 7 * PG);
	r = mremap(m4, 2 * PG, 4 * PG, 0);
	printf("mremap grow into blocker without MAYMOVE = %s\n", r == MAP_FAILED ? errname(errno) : "ok");
	r = mremap(m4, 2 * PG, 4 * PG, MREMAP_MAYMOVE);
	yesno("mremap grow past blocker with MAYMOVE moves", r != MAP_FAILED && r != m4 && check(r, PG, 9));
	m4 = r;
	r = mremap(m4 + 1, PG, PG, 0);
	printf("mremap unaligned = %s\n", r == MAP_FAILED ? errname(errno) : "ok");
	r = mremap(m4, PG, 2 * PG, 0x100);
	printf("mremap bad flags = %s\n", r == MAP_FAILED ? errname(errno) : "ok");
	/* A private file mapping moved by mremap keeps its file contents. */
	fd = open("mapped", O_RDONLY);
	p = mmap(NULL, 2 * PG, PROT_READ, MAP_PRIVATE, fd, 0);
	unsigned char *p2 = mremap(p, 2 * PG, 3 * PG, MREMAP_MAYMOVE);
	yesno("file mapping grown by mremap shows file", p2 != MAP_FAILED && memcmp(p2, src, 3 * PG) == 0);
	close(fd);

	/* A shared mapping keeps its file alive after unlink and close, even
	 * when no page was touched before (POSIX named semaphores do this). */
	fd = open("unlinked", O_RDWR | O_CREAT | O_TRUNC, 0600);
	report("ftruncate before unlink", ftruncate(fd, 2 * PG));
	unsigned char *u = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	yesno("shared mapping of a file to unlink", u != MAP_FAILED);
	report("unlink mapped file", unlink("unlinked"));
	report("close mapped file", close(fd));
	yesno("untouched pages read as zero after unlink and close", all_zero(u, 2 * PG));
	fill(u, 2 * PG, 9);
	yesno("and take writes", check(u, 2 * PG, 9));
	pid_t kid = fork();
	if (kid == 0) {
		fill(u, PG, 10);
		_exit(0);
	}
	waitpid(kid, NULL, 0);
	yesno("shared with a child across fork", check(u, PG, 10));
	report("munmap unlinked mapping", munmap(u, 2 * PG));

	/* Shared mappings of a file that grows and shrinks between them. */
	grow_and_remap("ftruncate", 0);
	grow_and_remap("fallocate", 1);

	/* brk. */
	uintptr_t cur = syscall(SYS_brk, 0);
	yesno("brk(0) nonzero", cur != 0);
	uintptr_t grown = syscall(SYS_brk, cur + 64 * 1024);
	yesno("brk grows by 64KiB", grown == cur + 64 * 1024);
	memset((void *)cur, 0xAB, 64 * 1024);
	yesno("brk memory writable", ((unsigned char *)cur)[64 * 1024 - 1] == 0xAB);
	uintptr_t shrunk = syscall(SYS_brk, cur + 4096);
	yesno("brk shrinks", shrunk == cur + 4096);
	uintptr_t regrown = syscall(SYS_brk, cur + 8192);
	yesno("brk regrown", regrown == cur + 8192);
	yesno("regrown brk page is zero", all_zero((unsigned char *)cur + 4096, 4096));
	uintptr_t low = syscall(SYS_brk, 4096);
	yesno("brk below start refused (unchanged)", low == cur + 8192);
	yesno("brk restored", (uintptr_t)syscall(SYS_brk, cur) == cur);
	void *mem = malloc(1 << 20);
	yesno("malloc 1MiB", mem != NULL);
	memset(mem, 1, 1 << 20);
	free(mem);
	return 0;
}
