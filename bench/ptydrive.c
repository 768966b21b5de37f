/* ptydrive: a program's terminal, driven from outside (run natively).
 *
 *   ptydrive pty|pipe pong N -- PROG ARGS   PROG (ptypong echo, natively or
 *        under runsc-lite) gets a new pseudo-terminal as its controlling
 *        terminal and stdio (pty), or two pipes (pipe); after its "R", N
 *        bytes are sent one at a time and each echo awaited. Prints
 *        ns_per_op, the median round trip over 5 rounds.
 *   ptydrive pty|pipe drain MIB -- PROG ARGS   reads all PROG's output
 *        (ptypong spew MIB) and prints mib_per_s from the first byte to
 *        the end.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int main(int argc, char **argv) {
	if (argc < 6 || strcmp(argv[4], "--") != 0) {
		fprintf(stderr, "usage: ptydrive pty|pipe pong|drain N -- PROG ARGS\n");
		return 2;
	}
	int usepty = strcmp(argv[1], "pty") == 0;
	int pong = strcmp(argv[2], "pong") == 0;
	long n = atol(argv[3]);
	int rd, wr;
	pid_t c;
	if (usepty) {
		int m;
		struct winsize ws = {.ws_row = 24, .ws_col = 80};
		c = forkpty(&m, NULL, NULL, &ws);
		if (c == 0) {
			execv(argv[5], argv + 5);
			_exit(127);
		}
		rd = wr = m;
	} else {
		int in[2], out[2];
		pipe(in);
		pipe(out);
		c = fork();
		if (c == 0) {
			dup2(in[0], 0);
			dup2(out[1], 1);
			close(in[1]);
			close(out[0]);
			execv(argv[5], argv + 5);
			_exit(127);
		}
		close(in[0]);
		close(out[1]);
		rd = out[0];
		wr = in[1];
	}
	char b;
	if (pong) {
		do {
			if (read(rd, &b, 1) != 1)
				return perror("ready"), 1;
		} while (b != 'R');
		double r[5];
		for (int k = 0; k < 5; k++) {
			double t0 = now_ns();
			for (long i = 0; i < n; i++) {
				b = 'x';
				if (write(wr, &b, 1) != 1 || read(rd, &b, 1) != 1)
					return perror("pong"), 1;
			}
			r[k] = (now_ns() - t0) / n;
		}
		write(wr, "q", 1);
		qsort(r, 5, sizeof r[0], cmp);
		printf("ns_per_op: %.1f\n", r[2]);
	} else {
		static char buf[65536];
		long got = 0;
		double t0 = 0;
		for (;;) {
			ssize_t k = read(rd, buf, sizeof buf);
			if (k <= 0)
				break;
			if (got == 0)
				t0 = now_ns();
			got += k;
		}
		double dt = now_ns() - t0;
		printf("mib_per_s: %.1f\n", got / 1048576.0 / (dt / 1e9));
		(void)n;
	}
	int st;
	waitpid(c, &st, 0);
	return 0;
}
