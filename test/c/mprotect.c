/* mprotect: protection changes on anonymous pages, an executable page, and
 * (with argv[1] == "segv") a write to a read-only page, which must kill the
 * program with SIGSEGV (exit status 139 as seen by a shell or runsc-lite).
 * With argv[1] == "exec-none", a call into a page without PROT_EXEC (SIGSEGV
 * too). */
#include "common.h"
#include <fcntl.h>
#include <sys/mman.h>

#define PG 4096L

int main(int argc, char **argv) {
	init_output();
	unsigned char *p = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		die("mmap");
	memset(p, 0x5A, 3 * PG);

	if (argc > 1 && strcmp(argv[1], "segv") == 0) {
		report("mprotect middle page read-only", mprotect(p + PG, PG, PROT_READ));
		printf("read from read-only page: %d\n", p[PG + 10]);
		printf("writing to the read-only page now\n");
		*(volatile unsigned char *)(p + PG + 10) = 1;
		printf("still alive after the write (wrong)\n");
		return 0;
	}
	if (argc > 1 && strcmp(argv[1], "exec-none") == 0) {
		p[0] = 0xC3; /* ret */
		printf("calling into a page without PROT_EXEC now\n");
		((void (*)(void))p)();
		printf("still alive after the call (wrong)\n");
		return 0;
	}

	report("mprotect read-only", mprotect(p, 3 * PG, PROT_READ));
	printf("read after mprotect: %d\n", p[2 * PG + 7]);
	report("mprotect read-write", mprotect(p, 3 * PG, PROT_READ | PROT_WRITE));
	p[2 * PG + 7] = 7;
	printf("write after restoring: %d\n", p[2 * PG + 7]);
	report("mprotect middle none", mprotect(p + PG, PG, PROT_NONE));
	printf("neighbours still readable: %d %d\n", p[0], p[2 * PG]);
	report("mprotect none back to rw", mprotect(p + PG, PG, PROT_READ | PROT_WRITE));
	printf("contents kept across PROT_NONE: %d\n", p[PG + 1]);
	report("mprotect unaligned", mprotect(p + 1, PG, PROT_READ));
	report("mprotect bad prot", mprotect(p, PG, 0x100));
	report("mprotect zero length", mprotect(p, 0, PROT_READ));
	munmap(p + 2 * PG, PG);
	report("mprotect range with unmapped tail", mprotect(p, 3 * PG, PROT_READ));

	/* x86 page tables cannot express write-only: PROT_WRITE reads too,
	 * for the program and for syscalls reading its memory. */
	unsigned char *w = mmap(NULL, 2 * PG, PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	printf("read of an untouched PROT_WRITE page: %d\n", w[5]);
	w[PG + 3] = 'w';
	printf("read back from a PROT_WRITE page: %c\n", w[PG + 3]);
	int null = open("/dev/null", O_WRONLY);
	report("write(2) from a PROT_WRITE page", write(null, w + PG + 3, 1));
	close(null);
	unsigned char *rw = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	rw[9] = 9;
	report("mprotect to PROT_WRITE", mprotect(rw, PG, PROT_WRITE));
	printf("read after mprotect to PROT_WRITE: %d\n", rw[9]);

	/* An executable page: mov eax, 42; ret. */
	unsigned char *x = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	static const unsigned char code[] = {0xB8, 0x2A, 0x00, 0x00, 0x00, 0xC3};
	memcpy(x, code, sizeof code);
	report("mprotect exec", mprotect(x, PG, PROT_READ | PROT_EXEC));
	int (*fn)(void) = (int (*)(void))x;
	printf("code in mprotected page returns: %d\n", fn());
	/* Change the code while writable, run it again. */
	report("mprotect rw", mprotect(x, PG, PROT_READ | PROT_WRITE));
	x[1] = 0x07;
	report("mprotect exec again", mprotect(x, PG, PROT_READ | PROT_EXEC));
	printf("modified code returns: %d\n", fn());
	return 0;
}
