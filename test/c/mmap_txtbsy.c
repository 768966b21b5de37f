/* mmap_txtbsy.c DIR: a file mapped from a description open for writing
 * cannot be executed (ETXTBSY) while any vma made from that mapping lasts,
 * though every descriptor of it is closed: the mapping keeps the file,
 * and so its write access (Linux's vma->vm_file and i_writecount). The
 * vmas are split (munmap of part), moved (mremap) and inherited (fork).
 * A mapping from a read-only description holds nothing.
 *
 * The program copies itself to DIR/prog and execs that copy with "exit"
 * (it exits 0 at once) in a child, printing the errno.
 *
 * The native half assumes a host kernel whose execve denies write access
 * to the program (deny_write_access): Linux dropped that denial for a
 * while from 6.11 and restored it later; on a kernel without it the
 * native run execs where this expects ETXTBSY. This host's 6.18 has it.
 */
#include "common.h"

#include <sys/mman.h>
#include <sys/wait.h>

static char prog[4096];

/* tryexec execs prog in a child and reports how it went. */
static void tryexec(const char *label) {
	pid_t c = fork();
	if (c < 0)
		die("fork");
	if (c == 0) {
		char *argv[] = {prog, "exit", NULL};
		execve(prog, argv, environ);
		_exit(errno);
	}
	int st = wait_status(c);
	printf("%s: execve %s\n", label, st == 0 ? "ok" : errname(st));
}

/* mapfile maps n pages of prog from a new description opened with
 * flags, then closes it. */
static char *mapfile(int flags, int prot, int type, size_t n) {
	int fd = open(prog, flags);
	if (fd < 0)
		die("open");
	char *p = mmap(NULL, n * 4096, prot, type, fd, 0);
	if (p == MAP_FAILED)
		die("mmap");
	close(fd);
	return p;
}

int main(int argc, char **argv) {
	if (argc == 2 && !strcmp(argv[1], "exit"))
		return 0;
	if (argc != 2) {
		fprintf(stderr, "usage: mmap_txtbsy DIR\n");
		return 2;
	}
	init_output();
	snprintf(prog, sizeof prog, "%s/prog", argv[1]);
	copy_file("/proc/self/exe", prog, 0755);
	tryexec("nothing mapped");

	char *p = mapfile(O_RDWR, PROT_READ | PROT_WRITE, MAP_SHARED, 2);
	tryexec("O_RDWR, MAP_SHARED, PROT_WRITE, fd closed");
	/* Writers are not refused: only execve is. */
	int w = open(prog, O_WRONLY);
	report("open O_WRONLY while mapped", w >= 0 ? 0 : -1);
	close(w);
	if (munmap(p, 4096))
		die("munmap");
	tryexec("first page unmapped, second still mapped");
	if (munmap(p + 4096, 4096))
		die("munmap");
	tryexec("both pages unmapped");

	p = mapfile(O_RDWR, PROT_READ, MAP_SHARED, 1);
	tryexec("O_RDWR, MAP_SHARED, PROT_READ");
	munmap(p, 4096);
	p = mapfile(O_RDWR, PROT_READ, MAP_PRIVATE, 1);
	tryexec("O_RDWR, MAP_PRIVATE, PROT_READ");
	munmap(p, 4096);
	p = mapfile(O_RDONLY, PROT_READ, MAP_SHARED, 1);
	tryexec("O_RDONLY, MAP_SHARED, PROT_READ");
	munmap(p, 4096);
	tryexec("all unmapped");

	/* Moved by mremap. */
	p = mapfile(O_RDWR, PROT_READ | PROT_WRITE, MAP_SHARED, 1);
	char *q = mremap(p, 4096, 2 * 4096, MREMAP_MAYMOVE);
	if (q == MAP_FAILED)
		die("mremap");
	tryexec("mremap'd");
	munmap(q, 2 * 4096);
	tryexec("mremap'd, unmapped");

	/* Inherited by fork: the child's copy holds it after the parent's
	 * is gone, until the child exits. */
	p = mapfile(O_RDWR, PROT_READ | PROT_WRITE, MAP_SHARED, 1);
	int go[2];
	if (pipe(go))
		die("pipe");
	pid_t c = fork();
	if (c < 0)
		die("fork");
	if (c == 0) {
		wait_closed(go);
		_exit(0);
	}
	close(go[0]);
	munmap(p, 4096);
	tryexec("parent unmapped, forked child still maps it");
	close(go[1]);
	printf("child exited: %d\n", wait_status(c));
	tryexec("child gone");
	return 0;
}
