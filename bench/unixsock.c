/* unixsock: AF_UNIX stream sockets between two processes.
 *
 *   unixsock rtt N R       a byte bounced over a socket pair N times;
 *                          prints "ns_per_op: X", the median over R rounds
 *                          of the time per round trip (two sends, two
 *                          receives, two wake-ups)
 *   unixsock tput MIB R    MIB MiB written in 64 KiB writes by one process
 *                          and read by the other; prints "mib_per_s: X",
 *                          the median over R rounds */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
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

static void die(const char *what) {
	perror(what);
	exit(1);
}

enum { chunk = 64 << 10 };

int main(int argc, char **argv) {
	if (argc < 4) {
		fprintf(stderr, "usage: unixsock rtt|tput N R\n");
		return 2;
	}
	int tput = strcmp(argv[1], "tput") == 0;
	long n = atol(argv[2]);
	int rounds = atoi(argv[3]);
	if (rounds < 1 || rounds > 64 || n < 1)
		return 2;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		die("socketpair");
	pid_t child = fork();
	if (child < 0)
		die("fork");
	static char buf[chunk];
	if (child == 0) {
		close(sv[0]);
		if (tput) {
			/* The reader: count bytes, acknowledge each round. */
			long want = n << 20;
			for (int k = 0; k < rounds; k++) {
				long got = 0;
				while (got < want) {
					ssize_t r = read(sv[1], buf, sizeof buf);
					if (r <= 0)
						_exit(1);
					got += r;
				}
				if (write(sv[1], "k", 1) != 1)
					_exit(1);
			}
		} else {
			char c;
			while (read(sv[1], &c, 1) == 1)
				if (write(sv[1], &c, 1) != 1)
					_exit(1);
		}
		_exit(0);
	}
	close(sv[1]);
	double r[64];
	for (int k = 0; k < rounds; k++) {
		double t0 = now_ns();
		if (tput) {
			long left = n << 20;
			while (left > 0) {
				ssize_t w = write(sv[0], buf, left < chunk ? left : chunk);
				if (w <= 0)
					die("write");
				left -= w;
			}
			char c;
			if (read(sv[0], &c, 1) != 1)
				die("read ack");
			r[k] = (double)n / ((now_ns() - t0) / 1e9);
		} else {
			for (long i = 0; i < n; i++) {
				char c = 'x';
				if (write(sv[0], &c, 1) != 1 || read(sv[0], &c, 1) != 1)
					die("ping-pong");
			}
			r[k] = (now_ns() - t0) / n;
		}
	}
	close(sv[0]);
	waitpid(child, NULL, 0);
	qsort(r, rounds, sizeof r[0], cmp);
	printf("%s: %.1f\n", tput ? "mib_per_s" : "ns_per_op", r[rounds / 2]);
	return 0;
}
