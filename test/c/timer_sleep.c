/* timer_sleep.c: sleep accuracy and a softirq-heavy load.
 *
 *   timer_sleep lateness N MS    N nanosleeps of MS ms: prints the
 *                                least, median and p99 lateness in
 *                                microseconds (CLOCK_MONOTONIC after -
 *                                before - MS; negative: woke early)
 *   timer_sleep softirqs         prints /proc/softirqs, does 200 1 ms
 *                                sleeps, prints it again (sandbox only)
 *   timer_sleep storm MS         keeps 64 timerfds with 100 us periods
 *                                armed for MS ms, reading them with epoll
 *                                (a load of many short timers)
 */
#include "common.h"
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>

static long long now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int cmpll(const void *a, const void *b) {
	long long x = *(const long long *)a, y = *(const long long *)b;
	return x < y ? -1 : x > y;
}

static void cat(const char *path) {
	FILE *f = fopen(path, "r");
	if (!f)
		die(path);
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof buf, f)) > 0)
		fwrite(buf, 1, n, stdout);
	fclose(f);
}

/* ksoftirqd_ns returns the CPU time of every ksoftirqd/N in nanoseconds
 * (the first field of /proc/PID/schedstat), or -1 if there is none. */
static long long ksoftirqd_ns(void) {
	long long total = -1;
	for (int pid = 1; pid < 128; pid++) {
		char path[64], comm[64] = "";
		snprintf(path, sizeof path, "/proc/%d/comm", pid);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		if (!fgets(comm, sizeof comm, f))
			comm[0] = 0;
		fclose(f);
		if (strncmp(comm, "ksoftirqd/", 10) != 0)
			continue;
		snprintf(path, sizeof path, "/proc/%d/schedstat", pid);
		f = fopen(path, "r");
		long long ns = 0;
		if (f && fscanf(f, "%lld", &ns) == 1)
			total = (total < 0 ? 0 : total) + ns;
		if (f)
			fclose(f);
	}
	return total;
}

int main(int argc, char **argv) {
	init_output();
	if (argc >= 4 && !strcmp(argv[1], "lateness")) {
		int n = atoi(argv[2]);
		long long ms = atoll(argv[3]);
		long long *late = calloc(n, sizeof *late);
		for (int i = 0; i < n; i++) {
			struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
			long long t0 = now_ns();
			nanosleep(&ts, NULL);
			late[i] = now_ns() - t0 - ms * 1000000LL;
		}
		qsort(late, n, sizeof *late, cmpll);
		printf("min_us %.1f\n", late[0] / 1000.0);
		printf("median_us %.1f\n", late[n / 2] / 1000.0);
		printf("p99_us %.1f\n", late[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1] / 1000.0);
		return 0;
	}
	if (argc >= 2 && !strcmp(argv[1], "softirqs")) {
		cat("/proc/softirqs");
		printf("--\n");
		for (int i = 0; i < 200; i++) {
			struct timespec ts = {0, 1000000};
			nanosleep(&ts, NULL);
		}
		cat("/proc/softirqs");
		printf("--\n");
		cat("/proc/stat");
		return 0;
	}
	if (argc >= 3 && !strcmp(argv[1], "storm")) {
		long long before = ksoftirqd_ns();
		long long end = now_ns() + atoll(argv[2]) * 1000000LL;
		int ep = epoll_create1(0);
		for (int i = 0; i < 64; i++) {
			int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
			struct itimerspec its = {{0, 100000}, {0, 100000 + i * 1000}};
			timerfd_settime(fd, 0, &its, NULL);
			struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
			epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
		}
		unsigned long long total = 0;
		while (now_ns() < end) {
			struct epoll_event evs[64];
			int r = epoll_wait(ep, evs, 64, 100);
			for (int i = 0; i < r; i++) {
				uint64_t v;
				if (read(evs[i].data.fd, &v, sizeof v) == 8)
					total += v;
			}
		}
		printf("expirations %llu\n", total);
		printf("ksoftirqd_ns_before %lld\n", before);
		printf("ksoftirqd_ns_after %lld\n", ksoftirqd_ns());
		return 0;
	}
	return 2;
}
