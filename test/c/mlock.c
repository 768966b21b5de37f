/* mlock.c: mlock, mlock2, munlock, mlockall, munlockall (issue 15, item
 * 3): errors, RLIMIT_MEMLOCK without CAP_IPC_LOCK, VmLck in
 * /proc/self/status, residence (mincore) after locking, fork not
 * inheriting locks.
 *   mlock pressure MIB: lock 8 MiB, then touch MIB more of anonymous
 *   memory; prints how much of the locked and of an unlocked control
 *   region stayed resident (run under a small --total-memory with swap). */
#include "common.h"
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 1
#endif

static long pg;

static long vmlck(void) {
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "VmLck: %ld kB", &v) == 1)
			break;
	if (f)
		fclose(f);
	return v;
}

static long resident(char *p, size_t n) {
	unsigned char vec[4096];
	if (mincore(p, n, vec))
		return -1;
	long r = 0;
	for (size_t i = 0; i < n / pg; i++)
		r += vec[i] & 1;
	return r;
}

static int pressure(long mib) {
	size_t n = 8 << 20;
	char *locked = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *control = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	for (size_t i = 0; i < n; i += pg) {
		locked[i] = 1;
		control[i] = 1;
	}
	if (mlock(locked, n))
		die("mlock");
	size_t big = (size_t)mib << 20;
	char *b = mmap(NULL, big, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b == MAP_FAILED)
		die("mmap");
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < big; i += pg)
			b[i] = pass + 1;
	printf("locked resident %ld of %ld pages\n", resident(locked, n), (long)(n / pg));
	printf("control resident %ld of %ld pages\n", resident(control, n), (long)(n / pg));
	printf("VmLck %ld kB\n", vmlck());
	return 0;
}

int main(int argc, char **argv) {
	init_output();
	pg = sysconf(_SC_PAGESIZE);
	if (argc > 2 && !strcmp(argv[1], "pressure"))
		return pressure(atol(argv[2]));
	size_t n = 16 * pg;
	char *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	printf("VmLck at start %ld kB\n", vmlck());
	report("mlock 4 pages", mlock(p, 4 * pg));
	printf("VmLck %ld kB; resident %ld of 4\n", vmlck(), resident(p, 4 * pg));
	report("mlock unaligned start and length", mlock(p + 5 * pg + 100, pg));
	printf("VmLck %ld kB\n", vmlck());
	report("mlock again (overlapping)", mlock(p, 6 * pg));
	printf("VmLck %ld kB\n", vmlck());
	report("munlock the middle", munlock(p + 2 * pg, 2 * pg));
	printf("VmLck %ld kB\n", vmlck());
	report("mlock2 ONFAULT", syscall(SYS_mlock2, p + 8 * pg, 4 * pg, MLOCK_ONFAULT));
	printf("VmLck %ld kB; resident %ld of 4\n", vmlck(), resident(p + 8 * pg, 4 * pg));
	report("mlock2 flags 2", syscall(SYS_mlock2, p, pg, 2));
	report("mlock length 0", mlock(p, 0));
	report("mlock of unmapped memory", mlock((void *)pg, pg));
	munmap(p + 13 * pg, pg);
	report("mlock across a hole", mlock(p + 12 * pg, 3 * pg));
	report("munlock across a hole", munlock(p + 12 * pg, 3 * pg));
	report("mlock wrapping", mlock(p, -pg));
	pid_t c = fork();
	if (c == 0) {
		printf("child VmLck %ld kB\n", vmlck());
		fflush(stdout);
		_exit(0);
	}
	waitpid(c, NULL, 0);
	report("munlockall", munlockall());
	printf("VmLck %ld kB\n", vmlck());
	report("mlockall 0", mlockall(0));
	report("mlockall ONFAULT alone", mlockall(MCL_ONFAULT));
	report("mlockall 8", mlockall(8));
	report("mlockall FUTURE", mlockall(MCL_FUTURE));
	char *q = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	printf("a new mapping after MCL_FUTURE: resident %ld of 4\n", resident(q, 4 * pg));
	report("munlockall", munlockall());
	char *r = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	printf("a new mapping after munlockall: resident %ld of 4\n", resident(r, 4 * pg));

	char *ml = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED, -1, 0);
	printf("MAP_LOCKED: VmLck %ld kB; resident %ld of 4\n", vmlck(), resident(ml, 4 * pg));
	munmap(ml, 4 * pg);
	printf("after munmap: VmLck %ld kB\n", vmlck());

	/* Without CAP_IPC_LOCK RLIMIT_MEMLOCK counts. */
	c = fork();
	if (c == 0) {
		struct rlimit rl = {8 * pg, 8 * pg};
		setrlimit(RLIMIT_MEMLOCK, &rl);
		if (setuid(65534))
			die("setuid");
		report("unprivileged mlock 4 pages (limit 8)", mlock(p, 4 * pg));
		report("unprivileged mlock 6 more pages", mlock(p + 6 * pg, 6 * pg));
		report("unprivileged mlock the same 4 again", mlock(p, 4 * pg));
		report("unprivileged mlockall CURRENT", mlockall(MCL_CURRENT));
		void *big = mmap(NULL, 16 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED, -1, 0);
		printf("unprivileged MAP_LOCKED past the limit: %s\n", big == MAP_FAILED ? errname(errno) : "mapped");
		struct rlimit zero = {0, 0};
		setrlimit(RLIMIT_MEMLOCK, &zero);
		report("unprivileged mlock with a limit of 0", mlock(p, pg));
		report("unprivileged munlock with a limit of 0", munlock(p, pg));
		fflush(stdout);
		_exit(0);
	}
	waitpid(c, NULL, 0);
	return 0;
}
