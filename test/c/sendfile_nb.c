/* sendfile_nb.c: sendfile(2) from a file, at its position (no offset
 * pointer), to a non-blocking TCP socket that fills up: the position
 * moves only by what the socket took, so a sender that waits for POLLOUT
 * on EAGAIN and calls again sends the whole file (Go's io.Copy from a
 * file to a TCP connection does this; os.TestLargeCopyViaNetwork).
 *
 * Usage: sendfile_nb. Prints counts and yes/no answers only. */
#include "common.h"
#include <arpa/inet.h>
#include <poll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/wait.h>

#define SIZE (8L << 20)

static unsigned char pattern(long i) { return (unsigned char)(i * 7 + (i >> 13)); }

int main(void) {
	init_output();
	char path[] = "/tmp/sendfile_nb.XXXXXX";
	int f = mkstemp(path);
	if (f < 0)
		die("mkstemp");
	unlink(path);
	static unsigned char buf[1 << 16];
	for (long off = 0; off < SIZE; off += sizeof buf) {
		for (long i = 0; i < (long)sizeof buf; i++)
			buf[i] = pattern(off + i);
		if (write(f, buf, sizeof buf) != (ssize_t)sizeof buf)
			die("write");
	}
	lseek(f, 0, SEEK_SET);
	int l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	if (l < 0 || bind(l, (void *)&a, sizeof a) || listen(l, 1) || getsockname(l, (void *)&a, &al))
		die("listen");
	int p[2];
	if (pipe(p))
		die("pipe");
	pid_t kid = fork();
	if (kid == 0) {
		/* The receiver: slow at first, so that the sender's socket
		 * fills, then reads to the end and checks every byte. */
		int c = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(c, (void *)&a, sizeof a))
			die("connect");
		wait_closed(p);
		long total = 0, bad = 0;
		ssize_t n;
		while ((n = read(c, buf, sizeof buf)) > 0) {
			for (ssize_t i = 0; i < n; i++)
				bad += buf[i] != pattern(total + i);
			total += n;
		}
		printf("received %ld bytes, %ld of them wrong\n", total, bad);
		_exit(0);
	}
	close(p[0]);
	int s = accept4(l, NULL, NULL, SOCK_NONBLOCK);
	if (s < 0)
		die("accept4");
	long total = 0, eof = 0, eagain = 0;
	while (total < SIZE) {
		ssize_t n = sendfile(s, f, NULL, SIZE - total);
		if (n < 0 && errno == EAGAIN) {
			eagain++;
			if (eagain == 1)
				close(p[1]); /* let the receiver go */
			struct pollfd pf = {s, POLLOUT, 0};
			poll(&pf, 1, -1);
			continue;
		}
		if (n < 0)
			die("sendfile");
		if (n == 0) {
			eof++;
			break;
		}
		total += n;
	}
	close(p[1]);
	printf("sent %ld bytes\n", total);
	yesno("sendfile said end of file before the end", eof > 0);
	yesno("the socket filled up (EAGAIN)", eagain > 0);
	report("file position after sending", lseek(f, 0, SEEK_CUR));
	close(s);
	waitpid(kid, NULL, 0);
	return 0;
}
