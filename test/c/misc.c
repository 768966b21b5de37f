/* misc: getrandom, clock_gettime/clock_getres/gettimeofday/time, uname
 * (natively equal fields only: sysname and machine; the nodename and release
 * are the sandbox's own by design), getcwd/chdir/fchdir. argv[1] is a
 * directory to chdir into. */
#include "common.h"
#include <fcntl.h>
#include <limits.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <time.h>

static long long ns(const struct timespec *t) { return t->tv_sec * 1000000000LL + t->tv_nsec; }

int main(int argc, char **argv) {
	init_output();
	if (argc != 2) {
		fprintf(stderr, "usage: misc DIR\n");
		return 2;
	}

	/* getrandom: only lengths are printed. */
	unsigned char r1[64] = {0}, r2[64] = {0};
	report("getrandom 64", getrandom(r1, sizeof r1, 0));
	report("getrandom 64 GRND_NONBLOCK", getrandom(r2, sizeof r2, GRND_NONBLOCK));
	yesno("two draws differ", memcmp(r1, r2, sizeof r1) != 0);
	report("getrandom 0 bytes", getrandom(r1, 0, 0));
	report("getrandom bad flags", getrandom(r1, 8, 0x1000));
	report("getrandom bad buffer", syscall(SYS_getrandom, (void *)1, 8, 0));
	static unsigned char big[1 << 16];
	long n = getrandom(big, sizeof big, 0);
	yesno("getrandom 64KiB returns > 0", n > 0);

	/* Clocks: only relations are printed. */
	struct timespec a, b, res;
	report("clock_gettime MONOTONIC", clock_gettime(CLOCK_MONOTONIC, &a));
	int nondecreasing = 1;
	for (int i = 0; i < 1000; i++) {
		clock_gettime(CLOCK_MONOTONIC, &b);
		if (ns(&b) < ns(&a))
			nondecreasing = 0;
		a = b;
	}
	yesno("monotonic is non-decreasing", nondecreasing);
	struct timespec s0, s1;
	clock_gettime(CLOCK_MONOTONIC, &s0);
	struct timespec nap = {.tv_sec = 0, .tv_nsec = 20 * 1000 * 1000};
	report("nanosleep 20ms", nanosleep(&nap, NULL));
	clock_gettime(CLOCK_MONOTONIC, &s1);
	yesno("monotonic advanced by at least 20ms across nanosleep", ns(&s1) - ns(&s0) >= 20 * 1000 * 1000);
	report("clock_gettime REALTIME", clock_gettime(CLOCK_REALTIME, &a));
	yesno("realtime after 2020", a.tv_sec > 1577836800);
	struct timeval tv;
	report("gettimeofday", gettimeofday(&tv, NULL));
	yesno("gettimeofday within 10s of realtime", tv.tv_sec - a.tv_sec < 10 && a.tv_sec - tv.tv_sec < 10);
	time_t t = time(NULL);
	yesno("time() within 10s of realtime", t - a.tv_sec < 10 && a.tv_sec - t < 10);
	report("clock_gettime BOOTTIME", clock_gettime(CLOCK_BOOTTIME, &a));
	report("clock_gettime PROCESS_CPUTIME_ID", clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a));
	report("clock_gettime THREAD_CPUTIME_ID", clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a));
	report("clock_gettime MONOTONIC_RAW", clock_gettime(CLOCK_MONOTONIC_RAW, &a));
	report("clock_gettime bad clock", syscall(SYS_clock_gettime, 1000, &a));
	report("clock_gettime bad pointer", syscall(SYS_clock_gettime, CLOCK_MONOTONIC, (void *)1));
	report("clock_getres MONOTONIC", clock_getres(CLOCK_MONOTONIC, &res));
	yesno("monotonic resolution is 1ns", res.tv_sec == 0 && res.tv_nsec == 1);

	/* uname: the fields that are equal natively and in the sandbox. */
	struct utsname u;
	report("uname", uname(&u));
	printf("sysname: %s\n", u.sysname);
	printf("machine: %s\n", u.machine);
	yesno("nodename non-empty", u.nodename[0] != 0);
	yesno("release non-empty", u.release[0] != 0);

	/* getcwd / chdir / fchdir. */
	char cwd[PATH_MAX];
	report("chdir argv[1]", chdir(argv[1]));
	char *c = getcwd(cwd, sizeof cwd);
	yesno("getcwd equals argv[1]", c && strcmp(cwd, argv[1]) == 0);
	report("mkdir sub", mkdir("sub", 0755));
	report("chdir sub", chdir("sub"));
	c = getcwd(cwd, sizeof cwd);
	printf("getcwd ends in /sub: %s\n", c && strlen(cwd) > 4 && !strcmp(cwd + strlen(cwd) - 4, "/sub") ? "yes" : "no");
	report("chdir ..", chdir(".."));
	c = getcwd(cwd, sizeof cwd);
	yesno("back at argv[1]", c && strcmp(cwd, argv[1]) == 0);
	report("chdir /", chdir("/"));
	printf("getcwd: %s\n", getcwd(cwd, sizeof cwd));
	report("chdir /usr/bin", chdir("/usr/bin"));
	printf("getcwd: %s\n", getcwd(cwd, sizeof cwd));
	report("chdir missing", chdir("/nonexistent-runsc-lite"));
	report("chdir to a file", chdir("/etc/passwd"));
	printf("getcwd unchanged after failures: %s\n", getcwd(cwd, sizeof cwd));
	report("getcwd raw small buffer", syscall(SYS_getcwd, cwd, 3));
	report("getcwd raw exact length", syscall(SYS_getcwd, cwd, strlen("/usr/bin") + 1));
	report("getcwd raw bad pointer", syscall(SYS_getcwd, (void *)1, 100));
	int dfd = open(argv[1], O_RDONLY | O_DIRECTORY);
	report("fchdir", fchdir(dfd));
	c = getcwd(cwd, sizeof cwd);
	yesno("fchdir went to argv[1]", c && strcmp(cwd, argv[1]) == 0);
	int ffd = open("/etc/passwd", O_RDONLY);
	report("fchdir to a file", fchdir(ffd));
	report("fchdir bad fd", fchdir(1000));
	/* Relative paths resolve against the new cwd. */
	chdir("/etc");
	int pfd = open("passwd", O_RDONLY);
	yesno("relative open after chdir /etc", pfd >= 0);
	return 0;
}
