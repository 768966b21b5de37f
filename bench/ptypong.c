/* ptypong: terminal round trips and throughput.
 *
 *   ptypong inner N      a pty pair made here: a child echoes each byte on
 *                        the raw replica; the parent writes a byte to the
 *                        master and reads it back, N times. Prints
 *                        ns_per_op (one round trip, median of 5 rounds),
 *                        then mib_per_s: the child writes 16 MiB to the
 *                        replica, the parent reads them from the master.
 *   ptypong echo         the peer of ptydrive: puts stdin in raw mode when
 *                        it is a terminal, says "R", then echoes each byte
 *                        of stdin to stdout until 'q'.
 *   ptypong spew MIB     writes MIB MiB to stdout in 4 KiB writes.
 */
#define _GNU_SOURCE
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void rawmode(int fd) {
	struct termios t;
	if (tcgetattr(fd, &t) == 0) {
		cfmakeraw(&t);
		tcsetattr(fd, TCSANOW, &t);
	}
}

static int echo(int in, int out) {
	char c;
	for (;;) {
		if (read(in, &c, 1) != 1)
			return 1;
		if (c == 'q')
			return 0;
		if (write(out, &c, 1) != 1)
			return 1;
	}
}

int main(int argc, char **argv) {
	if (argc > 1 && strcmp(argv[1], "echo") == 0) {
		rawmode(0);
		write(1, "R", 1);
		return echo(0, 1);
	}
	if (argc > 2 && strcmp(argv[1], "spew") == 0) {
		static char buf[4096];
		memset(buf, 'x', sizeof buf);
		long n = atol(argv[2]) * 256;
		for (long i = 0; i < n; i++)
			if (write(1, buf, sizeof buf) != sizeof buf)
				return 1;
		return 0;
	}
	long n = argc > 2 ? atol(argv[2]) : 10000;
	int m, s;
	if (openpty(&m, &s, NULL, NULL, NULL) < 0)
		return perror("openpty"), 1;
	rawmode(s);
	pid_t c = fork();
	if (c == 0) {
		close(m);
		_exit(echo(s, s));
	}
	double r[5];
	char b = 'x';
	for (int k = 0; k < 5; k++) {
		double t0 = now_ns();
		for (long i = 0; i < n; i++) {
			if (write(m, &b, 1) != 1 || read(m, &b, 1) != 1)
				return perror("pong"), 1;
		}
		r[k] = (now_ns() - t0) / n;
	}
	write(m, "q", 1);
	waitpid(c, NULL, 0);
	qsort(r, 5, sizeof r[0], cmp);
	printf("ns_per_op: %.1f\n", r[2]);
	/* Throughput: 16 MiB from the replica to the master. */
	long total = 16L << 20;
	c = fork();
	if (c == 0) {
		static char buf[4096];
		memset(buf, 'y', sizeof buf);
		for (long done = 0; done < total; done += sizeof buf)
			if (write(s, buf, sizeof buf) != sizeof buf)
				_exit(1);
		_exit(0);
	}
	static char buf[65536];
	double t0 = now_ns();
	for (long got = 0; got < total;) {
		ssize_t k = read(m, buf, sizeof buf);
		if (k <= 0)
			return perror("read"), 1;
		got += k;
	}
	double dt = now_ns() - t0;
	waitpid(c, NULL, 0);
	printf("mib_per_s: %.1f\n", 16 / (dt / 1e9));
	return 0;
}
