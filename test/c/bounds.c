/* bounds: resource limits that bound what a program may take.
 *
 *   vm      brk and mmap under RLIMIT_DATA and RLIMIT_AS, and the overcommit
 *           heuristic: a single private writable mapping larger than memory
 *           plus swap (16 TiB here) is refused, PROT_NONE and MAP_NORESERVE
 *           reservations are not.
 *   nproc   RLIMIT_NPROC per real UID (run as root: it becomes uid 54321,
 *           a user with no other process): fork fails with EAGAIN at the
 *           limit, root ignores it, and an execve after a setuid that left
 *           the user over its limit fails with EAGAIN.
 *
 * What a failure looks like: "granted" or "ok" where Linux refuses (brk
 * handing out 16 TiB, a fork beyond RLIMIT_NPROC). */
#include "common.h"

#include <grp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static void *brk_to(void *p) { return (void *)syscall(SYS_brk, p); }

static void mm(const char *label, size_t len, int prot, int flags) {
	void *m = mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);
	if (m == MAP_FAILED) {
		printf("%s = -1 %s\n", label, errname(errno));
		return;
	}
	printf("%s = ok\n", label);
	munmap(m, len);
}

static void case_vm(void) {
	char *b = brk_to(0);
	printf("brk +16 TiB: %s\n", brk_to(b + (16UL << 40)) == b ? "refused" : "granted");
	printf("brk +1 MiB: %s\n", brk_to(b + (1 << 20)) == b + (1 << 20) ? "granted" : "refused");
	brk_to(b);
	mm("mmap 16 TiB rw", 16UL << 40, PROT_READ | PROT_WRITE, 0);
	mm("mmap 16 TiB PROT_NONE", 16UL << 40, PROT_NONE, 0);
	mm("mmap 16 TiB rw MAP_NORESERVE", 16UL << 40, PROT_READ | PROT_WRITE, MAP_NORESERVE);
	mm("mmap 16 TiB shared read-only", 16UL << 40, PROT_READ, 0);

	/* Soft limits only: raising a hard limit again needs
	 * CAP_SYS_RESOURCE, which some hosts withhold even from root. */
	struct rlimit rl, data;
	getrlimit(RLIMIT_DATA, &data);
	rl = data;
	rl.rlim_cur = 64 << 20;
	report("setrlimit DATA 64 MiB", setrlimit(RLIMIT_DATA, &rl));
	b = brk_to(0);
	printf("brk +100 MiB under DATA 64 MiB: %s\n", brk_to(b + (100 << 20)) == b ? "refused" : "granted");
	printf("brk +1 MiB under DATA 64 MiB: %s\n", brk_to(b + (1 << 20)) == b + (1 << 20) ? "granted" : "refused");
	brk_to(b);
	mm("mmap 100 MiB rw under DATA", 100 << 20, PROT_READ | PROT_WRITE, 0);
	mm("mmap 100 MiB read-only under DATA", 100 << 20, PROT_READ, 0);
	mm("mmap 100 MiB rw stack under DATA", 100 << 20, PROT_READ | PROT_WRITE, MAP_GROWSDOWN);
	void *m = mmap(NULL, 100 << 20, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	report("mprotect 100 MiB to rw under DATA", mprotect(m, 100 << 20, PROT_READ | PROT_WRITE));
	report("mprotect 1 MiB to rw under DATA", mprotect(m, 1 << 20, PROT_READ | PROT_WRITE));
	munmap(m, 100 << 20);
	report("setrlimit DATA back", setrlimit(RLIMIT_DATA, &data));

	getrlimit(RLIMIT_AS, &rl);
	struct rlimit as = {1UL << 30, rl.rlim_max};
	report("setrlimit AS 1 GiB", setrlimit(RLIMIT_AS, &as));
	mm("mmap 2 GiB PROT_NONE under AS 1 GiB", 2UL << 30, PROT_NONE, 0);
	mm("mmap 256 MiB PROT_NONE under AS 1 GiB", 256 << 20, PROT_NONE, 0);
	b = brk_to(0);
	printf("brk +2 GiB under AS 1 GiB: %s\n", brk_to(b + (2UL << 30)) == b ? "refused" : "granted");
	m = mmap(NULL, 256 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	void *r = mremap(m, 256 << 20, 2UL << 30, MREMAP_MAYMOVE);
	printf("mremap 256 MiB to 2 GiB under AS 1 GiB = %s\n", r == MAP_FAILED ? errname(errno) : "ok");
}

/* forks returns how many children could be forked (each waits on the
 * pipe) before fork failed, and the errno. */
static int forks(int max, int *err, int wake[2]) {
	int n = 0;
	*err = 0;
	for (; n < max; n++) {
		pid_t p = fork();
		if (p < 0) {
			*err = errno;
			break;
		}
		if (p == 0) {
			wait_closed(wake);
			_exit(0);
		}
	}
	return n;
}

static void reap(int wake[2]) {
	close(wake[1]);
	close(wake[0]);
	while (wait(NULL) > 0)
		;
}

static void case_nproc(void) {
	int wake[2], err, n;
	struct rlimit rl = {4, 4};
	report("setrlimit NPROC 4", setrlimit(RLIMIT_NPROC, &rl));
	pipe(wake);
	n = forks(10, &err, wake);
	printf("root forks under NPROC 4: %d, then %s\n", n, err ? errname(err) : "none");
	reap(wake);

	pid_t p = fork();
	if (p == 0) {
		if (setgroups(0, NULL) || setresgid(54321, 54321, 54321) || setresuid(54321, 54321, 54321))
			die("become");
		pipe(wake);
		n = forks(10, &err, wake);
		printf("uid 54321 forks under NPROC 4: %d, then %s\n", n, err ? errname(err) : "none");
		reap(wake);
		rl.rlim_cur = rl.rlim_max = 2;
		setrlimit(RLIMIT_NPROC, &rl);
		pipe(wake);
		n = forks(10, &err, wake);
		printf("uid 54321 forks under NPROC 2: %d, then %s\n", n, err ? errname(err) : "none");
		reap(wake);
		_exit(0);
	}
	waitpid(p, NULL, 0);

	/* setuid leaves the user over its limit: the next execve fails. */
	p = fork();
	if (p == 0) {
		pipe(wake);
		/* Two processes of uid 54321 already exist: these children. */
		pid_t kids[2];
		for (int i = 0; i < 2; i++) {
			if ((kids[i] = fork()) == 0) {
				setresuid(54321, 54321, 54321);
				wait_closed(wake);
				_exit(0);
			}
		}
		/* Both have become the user once they sleep in wait_closed
		 * (a fixed sleep could end first on a loaded machine). */
		for (int i = 0; i < 2; i++)
			wait_sleeping(kids[i]);
		rl.rlim_cur = rl.rlim_max = 1;
		setrlimit(RLIMIT_NPROC, &rl);
		report("setresuid to a user over NPROC 1", setresuid(54321, 54321, 54321));
		char *argv[] = {"/bin/true", NULL};
		execv(argv[0], argv);
		printf("execve over NPROC = -1 %s\n", errname(errno));
		reap(wake);
		_exit(0);
	}
	waitpid(p, NULL, 0);
}

int main(int argc, char **argv) {
	init_output();
	if (argc < 2) {
		fprintf(stderr, "usage: bounds vm|nproc\n");
		return 2;
	}
	if (!strcmp(argv[1], "vm"))
		case_vm();
	else if (!strcmp(argv[1], "nproc"))
		case_nproc();
	else
		return 2;
	return 0;
}
