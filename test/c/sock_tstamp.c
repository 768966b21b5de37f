/* sock_tstamp.c: a datagram's receive timestamp (SO_TIMESTAMPNS,
 * SO_TIMESTAMP) reads the clock the program reads: it is no earlier than
 * clock_gettime(CLOCK_REALTIME) before the send and no later than after
 * the read. ping compares the two: a stamp before the send time it wrote
 * into the packet is its "time of day goes back" warning.
 *
 * UDP over 127.0.0.1 and ::1 (ping's ICMP socket stamps its packets the
 * same way; natively an ICMP socket needs ping_group_range or CAP_NET_RAW).
 */
#include "common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>

enum { ROUNDS = 500 };

static long long now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* stamped receives one datagram on s and returns its stamp in ns (-1 if
 * it has none). */
static long long stamped(int s, int opt) {
	char buf[256], cbuf[256];
	struct iovec iov = {buf, sizeof(buf)};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	if (recvmsg(s, &m, 0) < 0)
		die("recvmsg");
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
		if (c->cmsg_level != SOL_SOCKET)
			continue;
		if (opt == SO_TIMESTAMPNS && c->cmsg_type == SCM_TIMESTAMPNS) {
			struct timespec ts;
			memcpy(&ts, CMSG_DATA(c), sizeof(ts));
			return ts.tv_sec * 1000000000LL + ts.tv_nsec;
		}
		if (opt == SO_TIMESTAMP && c->cmsg_type == SCM_TIMESTAMP) {
			struct timeval tv;
			memcpy(&tv, CMSG_DATA(c), sizeof(tv));
			return tv.tv_sec * 1000000000LL + tv.tv_usec * 1000LL;
		}
	}
	return -1;
}

/* run sends ROUNDS datagrams from tx to rx's address and checks each
 * stamp against the clock read around it (a SO_TIMESTAMP stamp is whole
 * microseconds: the bounds are rounded down to them). */
static void run(const char *what, int tx, int rx, int opt, const struct sockaddr *to, socklen_t tolen, const void *msg, size_t len) {
	int one = 1, early = 0, late = 0, none = 0;
	if (setsockopt(rx, SOL_SOCKET, opt, &one, sizeof(one)))
		die("setsockopt");
	for (int i = 0; i < ROUNDS; i++) {
		long long before = now_ns();
		if (sendto(tx, msg, len, 0, to, tolen) != (ssize_t)len)
			die("sendto");
		long long ts = stamped(rx, opt);
		long long after = now_ns();
		if (opt == SO_TIMESTAMP)
			before -= before % 1000, after -= after % 1000;
		if (ts < 0)
			none++;
		else if (ts < before)
			early++;
		else if (ts > after)
			late++;
	}
	printf("%s %s: %d datagrams, %d without a stamp, %d stamped before the send, %d after the read\n", what,
	       opt == SO_TIMESTAMPNS ? "SO_TIMESTAMPNS" : "SO_TIMESTAMP", ROUNDS, none, early, late);
}

static void udp(int family) {
	struct sockaddr_storage ss = {0};
	socklen_t sl;
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sl = sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
		sl = sizeof(*a);
	}
	int rx = socket(family, SOCK_DGRAM, 0), tx = socket(family, SOCK_DGRAM, 0);
	if (rx < 0 || tx < 0)
		die("socket");
	if (bind(rx, (struct sockaddr *)&ss, sl) || getsockname(rx, (struct sockaddr *)&ss, &sl))
		die("bind");
	const char *what = family == AF_INET ? "udp 127.0.0.1" : "udp ::1";
	run(what, tx, rx, SO_TIMESTAMPNS, (struct sockaddr *)&ss, sl, "x", 1);
	run(what, tx, rx, SO_TIMESTAMP, (struct sockaddr *)&ss, sl, "x", 1);
	close(rx);
	close(tx);
}

int main(void) {
	init_output();
	udp(AF_INET);
	udp(AF_INET6);
	return 0;
}
