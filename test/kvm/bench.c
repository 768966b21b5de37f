/* test/kvm/bench.c: the platform micro-benchmarks of the KVM issue, run
 * inside the QEMU guest under runsc-lite on each platform (run.sh
 * --bench): N iterations each of getpid, open+read+close of a small file,
 * and fork+wait, printing one line per benchmark:
 *
 *     BENCHMARK <name> <iterations> <nanoseconds per iteration>
 *
 * Usage: bench [SCALE [FILE]] (default 1: 2000 getpid, 500
 * open+read+close of FILE, default /proc/self/stat, 50 fork+wait).
 * Build: gcc -static -O2 -o bench bench.c */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void report(const char *name, long n, long long start) {
	printf("BENCHMARK %s %ld %lld\n", name, n, (now() - start) / n);
	fflush(stdout);
}

int main(int argc, char **argv) {
	long scale = argc > 1 ? atol(argv[1]) : 1;
	if (scale < 1)
		scale = 1;
	const char *path = argc > 2 ? argv[2] : "/proc/self/stat";
	if (argc <= 2 && access(path, R_OK) != 0)
		path = "/etc/passwd";

	long n = 2000 * scale;
	long long t = now();
	for (long i = 0; i < n; i++)
		syscall(SYS_getpid);
	report("getpid", n, t);

	n = 500 * scale;
	char buf[256];
	t = now();
	for (long i = 0; i < n; i++) {
		int fd = open(path, O_RDONLY);
		if (fd < 0 || read(fd, buf, sizeof buf) < 0) {
			perror(path);
			return 1;
		}
		close(fd);
	}
	report("open+read+close", n, t);

	n = 50 * scale;
	t = now();
	for (long i = 0; i < n; i++) {
		pid_t pid = fork();
		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0)
			_exit(0);
		int status;
		if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) {
			perror("waitpid");
			return 1;
		}
	}
	report("fork+wait", n, t);
	return 0;
}
