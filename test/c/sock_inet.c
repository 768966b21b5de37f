/* sock_inet.c: AF_INET and AF_INET6 sockets over loopback, natively and in
 * the sandbox: TCP and UDP calls, options, readiness, sendfile, and the
 * error cases (bad lengths and families, bad pointers, refused
 * connections, listen on a connected socket, EPIPE and SIGPIPE).
 *
 * Ports are ephemeral (the host's tests and the sandbox's share nothing),
 * so only whether a port was assigned is printed, never its number.
 *
 * With argument "caps" it checks what needs a capability, with and
 * without it (capset drops it from the effective set and raises it again):
 * binding a port below 1024 (CAP_NET_BIND_SERVICE), raw sockets
 * (CAP_NET_RAW), SO_MARK, SO_PRIORITY above 6 and SO_RCVBUFFORCE
 * (CAP_NET_ADMIN). "caps host" leaves out what succeeds with the
 * capability (run on the host's network, a low port may be taken).
 *
 * With argument "raw" it uses raw IP sockets (which need CAP_NET_RAW):
 * an ICMP one sees its own echo request and the reply, a UDP one a copy of
 * a datagram, each with its IP header; IPPROTO_RAW's IP_HDRINCL.
 *
 * With argument "exhaust" it narrows net.ipv4.ip_local_port_range to ten
 * ports and exhausts them (run natively in a network namespace of its
 * own: the range is per namespace).
 */
#include "common.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <linux/capability.h>
#include <linux/sockios.h>
#include <sys/syscall.h>

static volatile sig_atomic_t sigpipes;
static void on_sigpipe(int sig) { (void)sig; sigpipes++; }

#define BAD ((void *)8)

static struct sockaddr_in sin4(const char *ip, int port) {
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	inet_pton(AF_INET, ip, &a.sin_addr);
	return a;
}

static struct sockaddr_in6 sin6(const char *ip, int port) {
	struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
	inet_pton(AF_INET6, ip, &a.sin6_addr);
	return a;
}

static int port_of(int fd) {
	struct sockaddr_storage ss;
	socklen_t l = sizeof ss;
	if (getsockname(fd, (struct sockaddr *)&ss, &l) < 0)
		die("getsockname");
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

static int getint(int fd, int level, int name) {
	int v = -12345;
	socklen_t l = sizeof v;
	if (getsockopt(fd, level, name, &v, &l) < 0)
		return -1000 - errno;
	return v;
}

/* listener returns a TCP socket listening on an ephemeral port of ip. */
static int listener(int family, const char *ip) {
	int s = socket(family, SOCK_STREAM, 0);
	if (s < 0)
		die("socket");
	if (family == AF_INET) {
		struct sockaddr_in a = sin4(ip, 0);
		if (bind(s, (struct sockaddr *)&a, sizeof a) < 0)
			die("bind");
	} else {
		struct sockaddr_in6 a = sin6(ip, 0);
		if (bind(s, (struct sockaddr *)&a, sizeof a) < 0)
			die("bind6");
	}
	if (listen(s, 16) < 0)
		die("listen");
	return s;
}

/* connected fills c (client) and a (accepted) with a TCP pair. */
static void connected(int family, const char *ip, int *c, int *a) {
	int l = listener(family, ip);
	*c = socket(family, SOCK_STREAM, 0);
	int r;
	if (family == AF_INET) {
		struct sockaddr_in sa = sin4(ip, port_of(l));
		r = connect(*c, (struct sockaddr *)&sa, sizeof sa);
	} else {
		struct sockaddr_in6 sa = sin6(ip, port_of(l));
		r = connect(*c, (struct sockaddr *)&sa, sizeof sa);
	}
	if (r < 0)
		die("connect");
	*a = accept(l, NULL, NULL);
	if (*a < 0)
		die("accept");
	close(l);
}

/* closed_port returns a port nobody listens on (bound, then closed). */
static int closed_port(void) {
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = sin4("127.0.0.1", 0);
	bind(s, (struct sockaddr *)&a, sizeof a);
	int p = port_of(s);
	close(s);
	return p;
}

static void test_create(void) {
	printf("-- socket\n");
	int s = socket(AF_INET, SOCK_STREAM, 0);
	report("tcp", s >= 0 ? 0 : -1);
	printf("SO_TYPE = %d SO_DOMAIN = %d SO_PROTOCOL = %d\n", getint(s, SOL_SOCKET, SO_TYPE), getint(s, SOL_SOCKET, SO_DOMAIN),
	       getint(s, SOL_SOCKET, SO_PROTOCOL));
	close(s);
	s = socket(AF_INET6, SOCK_DGRAM, 0);
	printf("udp6 SO_TYPE = %d SO_DOMAIN = %d SO_PROTOCOL = %d\n", getint(s, SOL_SOCKET, SO_TYPE), getint(s, SOL_SOCKET, SO_DOMAIN),
	       getint(s, SOL_SOCKET, SO_PROTOCOL));
	close(s);
	report("stream+udp", socket(AF_INET, SOCK_STREAM, IPPROTO_UDP));
	report("dgram+tcp", socket(AF_INET, SOCK_DGRAM, IPPROTO_TCP));
	report("stream+icmpv6 on inet6", socket(AF_INET6, SOCK_STREAM, IPPROTO_ICMPV6));
	report("family 12345", socket(12345, SOCK_STREAM, 0));
	report("type 77", socket(AF_INET, 77, 0));
	s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	printf("nonblock: %d cloexec: %d\n", !!(fcntl(s, F_GETFL) & O_NONBLOCK), !!(fcntl(s, F_GETFD) & FD_CLOEXEC));
	close(s);
	int sv[2];
	report("socketpair inet", socketpair(AF_INET, SOCK_STREAM, 0, sv));
}

static void test_bind(void) {
	printf("-- bind\n");
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = sin4("127.0.0.1", 0);
	report("len 15", bind(s, (struct sockaddr *)&a, 15));
	report("len 0", bind(s, (struct sockaddr *)&a, 0));
	report("len -1", bind(s, (struct sockaddr *)&a, -1));
	report("len 129", bind(s, (struct sockaddr *)&a, 129));
	report("bad pointer", bind(s, BAD, sizeof a));
	struct sockaddr_in b = a;
	b.sin_family = AF_INET6;
	report("family inet6", bind(s, (struct sockaddr *)&b, sizeof b));
	b = sin4("10.255.255.1", 0);
	report("foreign address", bind(s, (struct sockaddr *)&b, sizeof b));
	report("bind", bind(s, (struct sockaddr *)&a, sizeof a));
	yesno("port assigned", port_of(s) != 0);
	report("bind again", bind(s, (struct sockaddr *)&a, sizeof a));
	int s2 = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in same = sin4("127.0.0.1", port_of(s));
	report("same port", bind(s2, (struct sockaddr *)&same, sizeof same));
	close(s2);
	listen(s, 1);
	s2 = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(s2, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	report("same port of a listener, SO_REUSEADDR", bind(s2, (struct sockaddr *)&same, sizeof same));
	close(s2);
	close(s);
	/* AF_UNSPEC with INADDR_ANY is accepted (inet_bind's exception). */
	s = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in u = {.sin_family = AF_UNSPEC};
	report("unspec any", bind(s, (struct sockaddr *)&u, sizeof u));
	close(s);
	s = socket(AF_INET6, SOCK_STREAM, 0);
	struct sockaddr_in6 a6 = sin6("::1", 0);
	report("inet6 len 23", bind(s, (struct sockaddr *)&a6, 23));
	report("inet6 len 24", bind(s, (struct sockaddr *)&a6, 24));
	close(s);
	s = socket(AF_INET6, SOCK_STREAM, 0);
	struct sockaddr_in v4 = sin4("127.0.0.1", 0);
	report("inet6 with a sockaddr_in", bind(s, (struct sockaddr *)&v4, sizeof(struct sockaddr_in6)));
	close(s);
}

static void test_tcp(void) {
	printf("-- tcp\n");
	struct sigaction sa = {.sa_handler = on_sigpipe};
	sigaction(SIGPIPE, &sa, NULL);
	int l = listener(AF_INET, "127.0.0.1");
	printf("SO_ACCEPTCONN = %d\n", getint(l, SOL_SOCKET, SO_ACCEPTCONN));
	struct sockaddr_in peer;
	socklen_t plen = sizeof peer;
	report("getpeername on listener", getpeername(l, (struct sockaddr *)&peer, &plen));
	int c = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in la = sin4("127.0.0.1", port_of(l));
	report("connect", connect(c, (struct sockaddr *)&la, sizeof la));
	report("connect again", connect(c, (struct sockaddr *)&la, sizeof la));
	printf("client SO_ACCEPTCONN = %d\n", getint(c, SOL_SOCKET, SO_ACCEPTCONN));
	plen = sizeof peer;
	int a = accept4(l, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
	report("accept4", a >= 0 ? 0 : -1);
	printf("accepted addrlen %d family %d ip %s peer port matches: %s\n", plen, peer.sin_family, inet_ntoa(peer.sin_addr),
	       ntohs(peer.sin_port) == port_of(c) ? "yes" : "no");
	printf("accepted nonblock: %d cloexec: %d\n", !!(fcntl(a, F_GETFL) & O_NONBLOCK), !!(fcntl(a, F_GETFD) & FD_CLOEXEC));
	char buf[64] = {0};
	report("recv nothing yet", recv(a, buf, sizeof buf, 0));
	report("send", send(c, "hello world", 11, 0));
	struct pollfd pfd = {.fd = a, .events = POLLIN};
	report("poll readable", poll(&pfd, 1, 5000));
	printf("revents %#x\n", pfd.revents);
	int n = -1;
	report("FIONREAD", ioctl(a, FIONREAD, &n));
	printf("FIONREAD n = %d\n", n);
	report("recv peek", recv(a, buf, 5, MSG_PEEK));
	report("recv", recv(a, buf, sizeof buf, 0));
	printf("got %s\n", buf);
	report("recv dontwait", recv(c, buf, sizeof buf, MSG_DONTWAIT));
	report("listen on a connected socket", listen(c, 1));
	/* A megabyte each way, MSG_WAITALL on the receiver. */
	static char big[1 << 20], back[1 << 20];
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (char)(i * 7 + (i >> 10));
	int fl = fcntl(a, F_GETFL);
	fcntl(a, F_SETFL, fl & ~O_NONBLOCK);
	if (fork() == 0) {
		size_t off = 0;
		while (off < sizeof big) {
			ssize_t k = send(c, big + off, sizeof big - off, 0);
			if (k <= 0)
				_exit(1);
			off += k;
		}
		_exit(0);
	}
	report("recv waitall", recv(a, back, sizeof back, MSG_WAITALL));
	yesno("megabyte intact", memcmp(big, back, sizeof big) == 0);
	int st;
	wait(&st);
	/* Half-close and EOF. */
	report("shutdown wr", shutdown(c, SHUT_WR));
	report("recv after peer shutdown", recv(a, buf, sizeof buf, 0));
	report("shutdown bad how", shutdown(c, 7));
	sigpipes = 0;
	report("send after shutdown", send(c, "x", 1, 0));
	printf("sigpipes %d\n", (int)sigpipes);
	report("send nosignal", send(c, "x", 1, MSG_NOSIGNAL));
	printf("sigpipes %d\n", (int)sigpipes);
	pfd.fd = c;
	pfd.events = POLLIN | POLLOUT | POLLRDHUP;
	poll(&pfd, 1, 0);
	printf("client revents after own shutdown %#x\n", pfd.revents);
	shutdown(a, SHUT_WR);
	/* The FIN may still be on its way: wait for it, then look. */
	pfd.fd = c;
	pfd.events = POLLRDHUP;
	for (int i = 0; i < 500 && !(pfd.revents & POLLRDHUP); i++)
		poll(&pfd, 1, 10);
	pfd.events = POLLIN | POLLOUT | POLLRDHUP;
	poll(&pfd, 1, 0);
	printf("client revents after both shut down %#x\n", pfd.revents);
	close(a);
	close(c);

	/* Refused connections, blocking and not. */
	la = sin4("127.0.0.1", closed_port());
	c = socket(AF_INET, SOCK_STREAM, 0);
	report("connect closed port", connect(c, (struct sockaddr *)&la, sizeof la));
	close(c);
	c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	report("nonblocking connect closed port", connect(c, (struct sockaddr *)&la, sizeof la));
	pfd.fd = c;
	pfd.events = POLLOUT;
	report("poll", poll(&pfd, 1, 5000));
	printf("revents %#x\n", pfd.revents);
	int e = getint(c, SOL_SOCKET, SO_ERROR);
	printf("SO_ERROR = %s\n", e ? errname(e) : "0");
	e = getint(c, SOL_SOCKET, SO_ERROR);
	printf("SO_ERROR again = %s\n", e ? errname(e) : "0");
	close(c);
	c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	la = sin4("127.0.0.1", port_of(l));
	report("nonblocking connect", connect(c, (struct sockaddr *)&la, sizeof la));
	pfd.fd = c;
	report("poll", poll(&pfd, 1, 5000));
	printf("revents %#x SO_ERROR = %d\n", pfd.revents, getint(c, SOL_SOCKET, SO_ERROR));
	report("connect once connected", connect(c, (struct sockaddr *)&la, sizeof la));
	close(c);
	close(l);
	signal(SIGPIPE, SIG_DFL);
}

static void test_options(void) {
	printf("-- options\n");
	int c, a;
	connected(AF_INET, "127.0.0.1", &c, &a);
	int one = 1, v;
	printf("SO_REUSEADDR %d", getint(c, SOL_SOCKET, SO_REUSEADDR));
	setsockopt(c, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	printf(" -> %d\n", getint(c, SOL_SOCKET, SO_REUSEADDR));
	printf("SO_KEEPALIVE %d", getint(c, SOL_SOCKET, SO_KEEPALIVE));
	setsockopt(c, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
	printf(" -> %d\n", getint(c, SOL_SOCKET, SO_KEEPALIVE));
	printf("TCP_NODELAY %d", getint(c, IPPROTO_TCP, TCP_NODELAY));
	setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	printf(" -> %d\n", getint(c, IPPROTO_TCP, TCP_NODELAY));
	setsockopt(c, IPPROTO_TCP, TCP_CORK, &one, sizeof one);
	printf("TCP_CORK %d\n", getint(c, IPPROTO_TCP, TCP_CORK));
	v = 30;
	report("TCP_KEEPIDLE 30", setsockopt(c, IPPROTO_TCP, TCP_KEEPIDLE, &v, sizeof v));
	printf("TCP_KEEPIDLE %d\n", getint(c, IPPROTO_TCP, TCP_KEEPIDLE));
	v = 0;
	report("TCP_KEEPIDLE 0", setsockopt(c, IPPROTO_TCP, TCP_KEEPIDLE, &v, sizeof v));
	v = 7;
	report("TCP_KEEPINTVL 7", setsockopt(c, IPPROTO_TCP, TCP_KEEPINTVL, &v, sizeof v));
	printf("TCP_KEEPINTVL %d\n", getint(c, IPPROTO_TCP, TCP_KEEPINTVL));
	v = 4;
	report("TCP_KEEPCNT 4", setsockopt(c, IPPROTO_TCP, TCP_KEEPCNT, &v, sizeof v));
	printf("TCP_KEEPCNT %d\n", getint(c, IPPROTO_TCP, TCP_KEEPCNT));
	v = 200;
	report("TCP_KEEPCNT 200", setsockopt(c, IPPROTO_TCP, TCP_KEEPCNT, &v, sizeof v));
	struct linger lg = {1, 5}, lg2;
	report("SO_LINGER", setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg));
	socklen_t len = sizeof lg2;
	getsockopt(c, SOL_SOCKET, SO_LINGER, &lg2, &len);
	printf("linger %d %d len %d\n", lg2.l_onoff, lg2.l_linger, len);
	report("SO_LINGER short", setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, 4));
	v = 33;
	report("IP_TTL 33", setsockopt(c, IPPROTO_IP, IP_TTL, &v, sizeof v));
	printf("IP_TTL %d\n", getint(c, IPPROTO_IP, IP_TTL));
	v = 0;
	report("IP_TTL 0", setsockopt(c, IPPROTO_IP, IP_TTL, &v, sizeof v));
	v = -1;
	report("IP_TTL -1", setsockopt(c, IPPROTO_IP, IP_TTL, &v, sizeof v));
	printf("IP_TTL %d\n", getint(c, IPPROTO_IP, IP_TTL));
	v = 0x10;
	report("IP_TOS", setsockopt(c, IPPROTO_IP, IP_TOS, &v, sizeof v));
	printf("IP_TOS %#x\n", getint(c, IPPROTO_IP, IP_TOS));
	report("setsockopt short", setsockopt(c, SOL_SOCKET, SO_KEEPALIVE, &one, 2));
	report("setsockopt bad pointer", setsockopt(c, SOL_SOCKET, SO_KEEPALIVE, BAD, 4));
	len = 4;
	report("getsockopt bad pointer", getsockopt(c, SOL_SOCKET, SO_KEEPALIVE, BAD, &len));
	report("getsockopt bad len pointer", getsockopt(c, SOL_SOCKET, SO_KEEPALIVE, &v, BAD));
	len = (socklen_t)-1;
	report("getsockopt negative len", getsockopt(c, SOL_SOCKET, SO_KEEPALIVE, &v, &len));
	len = 1;
	v = 0;
	report("getsockopt len 1", getsockopt(c, SOL_SOCKET, SO_TYPE, &v, &len));
	printf("len %d v %d\n", len, v);
	report("unknown option", getsockopt(c, SOL_SOCKET, 9999, &v, &len));
	report("TCP option on a UDP socket", getint(socket(AF_INET, SOCK_DGRAM, 0), IPPROTO_TCP, TCP_NODELAY) == -1000 - EOPNOTSUPP ? 0 : -1);
	struct tcp_info ti;
	len = sizeof ti;
	report("TCP_INFO", getsockopt(c, IPPROTO_TCP, TCP_INFO, &ti, &len));
	printf("tcpi_state %d\n", ti.tcpi_state);
	struct timeval tv = {0, 100000};
	report("SO_RCVTIMEO", setsockopt(a, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
	char buf[8];
	report("recv with timeout", recv(a, buf, sizeof buf, 0));
	report("SIOCOUTQ", ioctl(c, SIOCOUTQ, &v));
	printf("SIOCOUTQ %d\n", v);
	close(c);
	close(a);
}

static void test_epoll(void) {
	printf("-- epoll\n");
	int l = listener(AF_INET, "127.0.0.1");
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 1}, out[4];
	epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);
	report("listener not ready", epoll_wait(ep, out, 4, 0));
	int c = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in la = sin4("127.0.0.1", port_of(l));
	connect(c, (struct sockaddr *)&la, sizeof la);
	report("listener ready", epoll_wait(ep, out, 4, 5000));
	int a = accept(l, NULL, NULL);
	ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
	ev.data.u32 = 2;
	epoll_ctl(ep, EPOLL_CTL_ADD, a, &ev);
	epoll_ctl(ep, EPOLL_CTL_DEL, l, NULL);
	int n = epoll_wait(ep, out, 4, 5000);
	printf("accepted: %d events %#x\n", n, n > 0 ? out[0].events : 0);
	report("edge: nothing new", epoll_wait(ep, out, 4, 0));
	send(c, "ping", 4, 0);
	n = epoll_wait(ep, out, 4, 5000);
	printf("after data: %d events %#x\n", n, n > 0 ? out[0].events : 0);
	shutdown(c, SHUT_WR);
	n = epoll_wait(ep, out, 4, 5000);
	printf("after peer shutdown: %d events %#x\n", n, n > 0 ? out[0].events : 0);
	close(a);
	close(c);
	close(l);
	close(ep);
}

static void test_udp(void) {
	printf("-- udp\n");
	int r = socket(AF_INET, SOCK_DGRAM, 0), s = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = sin4("127.0.0.1", 0);
	bind(r, (struct sockaddr *)&a, sizeof a);
	struct sockaddr_in to = sin4("127.0.0.1", port_of(r));
	report("send unconnected", send(s, "x", 1, 0));
	report("sendto len 8", sendto(s, "x", 1, 0, (struct sockaddr *)&to, 8));
	report("sendto bad pointer", sendto(s, "x", 1, 0, BAD, sizeof to));
	report("sendto bad buffer", sendto(s, BAD, 10, 0, (struct sockaddr *)&to, sizeof to));
	struct sockaddr_in6 to6 = sin6("::1", port_of(r));
	report("sendto inet6 address", sendto(s, "x", 1, 0, (struct sockaddr *)&to6, sizeof to6));
	report("sendto", sendto(s, "first", 5, 0, (struct sockaddr *)&to, sizeof to));
	report("sendto", sendto(s, "second!", 7, 0, (struct sockaddr *)&to, sizeof to));
	report("sendto empty", sendto(s, "", 0, 0, (struct sockaddr *)&to, sizeof to));
	static char huge[70000];
	report("sendto 70000", sendto(s, huge, sizeof huge, 0, (struct sockaddr *)&to, sizeof to));
	char buf[64];
	struct pollfd p = {.fd = r, .events = POLLIN};
	poll(&p, 1, 5000);
	int n = 0;
	ioctl(r, FIONREAD, &n);
	printf("FIONREAD %d\n", n);
	struct sockaddr_in from;
	socklen_t fl = sizeof from;
	memset(buf, 0, sizeof buf);
	report("recvfrom truncated", recvfrom(r, buf, 3, 0, (struct sockaddr *)&from, &fl));
	printf("got %s from %s, sender port matches: %s, fromlen %d\n", buf, inet_ntoa(from.sin_addr),
	       ntohs(from.sin_port) == port_of(s) ? "yes" : "no", fl);
	struct iovec iov = {buf, 2};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
	report("recvmsg trunc", recvmsg(r, &m, MSG_TRUNC));
	printf("msg_flags trunc: %d\n", !!(m.msg_flags & MSG_TRUNC));
	report("recv empty datagram", recv(r, buf, sizeof buf, 0));
	report("recv nothing", recv(r, buf, sizeof buf, MSG_DONTWAIT));
	/* sendmmsg / recvmmsg. */
	struct mmsghdr mm[3];
	struct iovec iovs[3];
	char *msgs[3] = {"one", "two!", "three"};
	memset(mm, 0, sizeof mm);
	for (int i = 0; i < 3; i++) {
		iovs[i].iov_base = msgs[i];
		iovs[i].iov_len = strlen(msgs[i]);
		mm[i].msg_hdr.msg_iov = &iovs[i];
		mm[i].msg_hdr.msg_iovlen = 1;
		mm[i].msg_hdr.msg_name = &to;
		mm[i].msg_hdr.msg_namelen = sizeof to;
	}
	report("sendmmsg", sendmmsg(s, mm, 3, 0));
	char rb[3][16];
	memset(rb, 0, sizeof rb);
	for (int i = 0; i < 3; i++) {
		iovs[i].iov_base = rb[i];
		iovs[i].iov_len = sizeof rb[i];
		mm[i].msg_hdr.msg_name = NULL;
		mm[i].msg_hdr.msg_namelen = 0;
	}
	poll(&p, 1, 5000);
	struct timespec ts = {5, 0};
	n = recvmmsg(r, mm, 3, MSG_WAITFORONE, &ts);
	report("recvmmsg", n);
	for (int i = 0; i < n; i++)
		printf("  %s (%u)\n", rb[i], mm[i].msg_len);
	/* Connected UDP and dissolving the association. */
	report("connect", connect(s, (struct sockaddr *)&to, sizeof to));
	report("send connected", send(s, "conn", 4, 0));
	poll(&p, 1, 5000);
	report("recv", recv(r, buf, sizeof buf, 0));
	struct sockaddr un = {.sa_family = AF_UNSPEC};
	report("connect unspec", connect(s, &un, sizeof un));
	fl = sizeof from;
	report("getpeername after unspec", getpeername(s, (struct sockaddr *)&from, &fl));
	/* A connected socket learns its peer is gone (ICMP port unreachable). */
	int d = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in gone = sin4("127.0.0.1", closed_port());
	connect(d, (struct sockaddr *)&gone, sizeof gone);
	report("send to closed port", send(d, "x", 1, 0));
	p.fd = d;
	poll(&p, 1, 5000);
	report("recv after port unreachable", recv(d, buf, sizeof buf, 0));
	close(d);
	report("listen on udp", listen(r, 1));
	report("accept on udp", accept(r, NULL, NULL));
	close(r);
	close(s);
}

static void test_inet6(void) {
	printf("-- inet6\n");
	int c, a;
	connected(AF_INET6, "::1", &c, &a);
	report("send", send(c, "six", 3, 0));
	char buf[8] = {0};
	report("recv", recv(a, buf, sizeof buf, 0));
	struct sockaddr_in6 pa;
	socklen_t l = sizeof pa;
	getpeername(a, (struct sockaddr *)&pa, &l);
	char txt[64];
	printf("peer %s len %d\n", inet_ntop(AF_INET6, &pa.sin6_addr, txt, sizeof txt), l);
	close(c);
	close(a);
	/* A dual-stack socket reaches an IPv4 listener. */
	int l4 = listener(AF_INET, "127.0.0.1");
	int s = socket(AF_INET6, SOCK_STREAM, 0);
	printf("IPV6_V6ONLY %d\n", getint(s, IPPROTO_IPV6, IPV6_V6ONLY));
	struct sockaddr_in6 m = sin6("::ffff:127.0.0.1", port_of(l4));
	report("connect v4-mapped", connect(s, (struct sockaddr *)&m, sizeof m));
	a = accept(l4, NULL, NULL);
	l = sizeof pa;
	getsockname(s, (struct sockaddr *)&pa, &l);
	printf("local %s\n", inet_ntop(AF_INET6, &pa.sin6_addr, txt, sizeof txt));
	close(a);
	close(s);
	s = socket(AF_INET6, SOCK_STREAM, 0);
	int one = 1;
	report("IPV6_V6ONLY", setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one));
	report("v6only connect v4-mapped", connect(s, (struct sockaddr *)&m, sizeof m));
	close(s);
	s = socket(AF_INET6, SOCK_STREAM, 0);
	struct sockaddr_in v4 = sin4("127.0.0.1", port_of(l4));
	report("inet6 connect with sockaddr_in", connect(s, (struct sockaddr *)&v4, sizeof v4));
	close(s);
	close(l4);
	s = socket(AF_INET, SOCK_STREAM, 0);
	report("IPV6 option on inet", setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one));
	close(s);
}

static void test_efault(void) {
	printf("-- efault\n");
	int c, a;
	connected(AF_INET, "127.0.0.1", &c, &a);
	report("send bad buffer", send(c, BAD, 10, 0));
	send(c, "data", 4, 0);
	struct pollfd p = {.fd = a, .events = POLLIN};
	poll(&p, 1, 5000);
	report("recv bad buffer", recv(a, BAD, 10, 0));
	char buf[8] = {0};
	report("recv after fault keeps data", recv(a, buf, sizeof buf, 0));
	struct msghdr m = {.msg_iov = BAD, .msg_iovlen = 1};
	report("sendmsg bad iov", sendmsg(c, &m, 0));
	report("sendmsg bad msghdr", sendmsg(c, BAD, 0));
	struct iovec iov = {"x", 1};
	m.msg_iov = &iov;
	m.msg_iovlen = 2000;
	report("sendmsg 2000 iovecs", sendmsg(c, &m, 0));
	socklen_t l = 16;
	report("getsockname bad addr", getsockname(c, BAD, &l));
	report("getsockname bad len", getsockname(c, (struct sockaddr *)buf, BAD));
	report("accept on connected", accept(c, NULL, NULL));
	close(c);
	close(a);
}

static void test_sendfile(void) {
	printf("-- sendfile\n");
	char path[] = "/tmp/sock_inet_XXXXXX";
	int f = mkstemp(path);
	static char data[100000], back[100000];
	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (char)(i % 251);
	write(f, data, sizeof data);
	unlink(path);
	int c, a;
	connected(AF_INET, "127.0.0.1", &c, &a);
	off_t off = 0;
	ssize_t total = 0;
	while (total < (ssize_t)sizeof data) {
		ssize_t n = sendfile(c, f, &off, sizeof data - total);
		if (n <= 0)
			break;
		total += n;
	}
	printf("sendfile total %zd offset %ld\n", total, (long)off);
	report("recv waitall", recv(a, back, sizeof back, MSG_WAITALL));
	yesno("file intact", memcmp(data, back, sizeof data) == 0);
	/* splice: file -> pipe -> socket. */
	int pp[2];
	pipe(pp);
	off_t o2 = 0;
	ssize_t k = splice(f, &o2, pp[1], NULL, 4096, 0);
	report("splice file to pipe", k);
	report("splice pipe to socket", splice(pp[0], NULL, c, NULL, k, 0));
	report("recv", recv(a, back, 4096, MSG_WAITALL));
	yesno("spliced intact", memcmp(data, back, 4096) == 0);
	close(c);
	close(a);
	close(f);
}

static void exhaust(void) {
	int fd = open("/proc/sys/net/ipv4/ip_local_port_range", O_WRONLY);
	if (fd < 0 || write(fd, "40000 40009", 11) != 11)
		die("ip_local_port_range");
	close(fd);
	int n = 0, s;
	for (;;) {
		s = socket(AF_INET, SOCK_DGRAM, 0);
		struct sockaddr_in a = sin4("127.0.0.1", 0);
		if (bind(s, (struct sockaddr *)&a, sizeof a) < 0)
			break;
		int p = port_of(s);
		if (p < 40000 || p > 40009)
			printf("port %d outside the range\n", p);
		n++;
	}
	printf("udp binds before exhaustion: %d, then %s\n", n, errname(errno));
	close(s);
	int l = listener(AF_INET, "127.0.0.2");
	struct sockaddr_in la = sin4("127.0.0.2", port_of(l));
	n = 0;
	for (;;) {
		s = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(s, (struct sockaddr *)&la, sizeof la) < 0)
			break;
		n++;
	}
	printf("tcp connects before exhaustion: %d, then %s\n", n, errname(errno));
}

static int capset_eff(unsigned long long eff) {
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d) < 0)
		return -1;
	d[0].effective = (unsigned)eff;
	d[1].effective = (unsigned)(eff >> 32);
	return syscall(SYS_capset, &h, d);
}

static unsigned long long capget_eff(void) {
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d) < 0)
		return 0;
	return d[0].effective | (unsigned long long)d[1].effective << 32;
}

#define CAPBIT(c) (1ULL << (c))

/* privileged_ops tries each capability-gated call on a fresh socket. */
static void privileged_ops(int with_cap_binds) {
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = sin4("127.0.0.1", 81);
	if (with_cap_binds)
		report("bind port 81", bind(s, (struct sockaddr *)&a, sizeof a));
	close(s);
	s = socket(AF_INET6, SOCK_DGRAM, 0);
	struct sockaddr_in6 a6 = sin6("::1", 1023);
	if (with_cap_binds)
		report("bind inet6 port 1023", bind(s, (struct sockaddr *)&a6, sizeof a6));
	close(s);
	s = socket(AF_INET, SOCK_STREAM, 0);
	a = sin4("127.0.0.1", 0);
	report("bind port 0", bind(s, (struct sockaddr *)&a, sizeof a));
	int v = 7;
	report("SO_PRIORITY 7", setsockopt(s, SOL_SOCKET, SO_PRIORITY, &v, sizeof v));
	v = 3;
	report("SO_PRIORITY 3", setsockopt(s, SOL_SOCKET, SO_PRIORITY, &v, sizeof v));
	v = 65536;
	report("SO_RCVBUFFORCE", setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof v));
	v = 5;
	report("SO_MARK", setsockopt(s, SOL_SOCKET, SO_MARK, &v, sizeof v));
	close(s);
}

static void test_caps(int host) {
	printf("-- capabilities\n");
	unsigned long long eff = capget_eff();
	unsigned long long net = CAPBIT(CAP_NET_BIND_SERVICE) | CAPBIT(CAP_NET_RAW) | CAPBIT(CAP_NET_ADMIN);
	yesno("holds CAP_NET_BIND_SERVICE, CAP_NET_RAW, CAP_NET_ADMIN", (eff & net) == net);
	if (!host)
		privileged_ops(1);
	report("drop them", capset_eff(eff & ~net));
	struct sockaddr_in a = sin4("127.0.0.1", 80);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	report("bind port 80 without CAP_NET_BIND_SERVICE", bind(s, (struct sockaddr *)&a, sizeof a));
	close(s);
	s = socket(AF_INET6, SOCK_STREAM, 0);
	struct sockaddr_in6 a6 = sin6("::1", 1);
	report("bind inet6 port 1 without CAP_NET_BIND_SERVICE", bind(s, (struct sockaddr *)&a6, sizeof a6));
	close(s);
	s = socket(AF_INET, SOCK_STREAM, 0);
	a = sin4("127.0.0.1", 1024);
	report("bind port 1024 without CAP_NET_BIND_SERVICE", bind(s, (struct sockaddr *)&a, sizeof a));
	close(s);
	report("raw icmp without CAP_NET_RAW", socket(AF_INET, SOCK_RAW, IPPROTO_ICMP));
	report("raw udp6 without CAP_NET_RAW", socket(AF_INET6, SOCK_RAW, IPPROTO_UDP));
	privileged_ops(0);
	report("raise them again", capset_eff(eff));
	if (!host)
		privileged_ops(1);
}

static unsigned short inet_csum(const void *p, int n) {
	const unsigned char *b = p;
	unsigned long sum = 0;
	for (int i = 0; i + 1 < n; i += 2)
		sum += b[i] << 8 | b[i + 1];
	if (n & 1)
		sum += b[n - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons(~sum & 0xffff);
}

/* show_ip prints what a raw IPv4 receive holds: the header's version,
 * length, protocol and addresses, then the ICMP type and code, or the
 * payload length. */
static void show_ip(const char *what, const unsigned char *b, long n) {
	if (n < 20) {
		printf("%s: %ld bytes\n", what, n);
		return;
	}
	const struct iphdr *ip = (const void *)b;
	char src[INET_ADDRSTRLEN], dst[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &ip->saddr, src, sizeof src);
	inet_ntop(AF_INET, &ip->daddr, dst, sizeof dst);
	printf("%s: %ld bytes, version %d ihl %d total %d protocol %d %s -> %s", what, n, ip->version, ip->ihl,
	       ntohs(ip->tot_len), ip->protocol, src, dst);
	const unsigned char *l4 = b + ip->ihl * 4;
	if (ip->protocol == IPPROTO_ICMP && n >= ip->ihl * 4 + 8) {
		const struct icmphdr *ic = (const void *)l4;
		printf(" icmp type %d code %d id %d seq %d", ic->type, ic->code, ntohs(ic->un.echo.id), ntohs(ic->un.echo.sequence));
	}
	printf("\n");
}

static void test_raw(void) {
	printf("-- raw\n");
	report("raw IPPROTO_IP", socket(AF_INET, SOCK_RAW, 0));
	report("raw protocol 263", socket(AF_INET, SOCK_RAW, 263));
	report("raw protocol -1", socket(AF_INET, SOCK_RAW, -1));
	int s = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
	report("raw icmp", s >= 0 ? 0 : -1);
	printf("SO_TYPE = %d SO_PROTOCOL = %d IP_HDRINCL = %d\n", getint(s, SOL_SOCKET, SO_TYPE), getint(s, SOL_SOCKET, SO_PROTOCOL),
	       getint(s, IPPROTO_IP, IP_HDRINCL));
	FILE *f = fopen("/proc/net/sockstat", "r");
	char line[256];
	while (f && fgets(line, sizeof line, f))
		if (strncmp(line, "RAW:", 4) == 0)
			printf("sockstat %s", line);
	if (f)
		fclose(f);
	unsigned char pkt[64] = {0};
	struct icmphdr *ic = (void *)pkt;
	ic->type = ICMP_ECHO;
	ic->un.echo.id = htons(4242);
	ic->un.echo.sequence = htons(7);
	memcpy(pkt + 8, "raw ping", 8);
	ic->checksum = inet_csum(pkt, 16);
	struct sockaddr_in lo = sin4("127.0.0.1", 0);
	reportf(sendto(s, pkt, 16, 0, (struct sockaddr *)&lo, sizeof lo), "sendto echo request");
	struct timeval tv = {5, 0};
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	for (int i = 0; i < 2; i++) {
		unsigned char buf[256];
		struct sockaddr_in from;
		socklen_t fl = sizeof from;
		long n = recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
		if (n < 0) {
			report("recvfrom", n);
			break;
		}
		char a[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &from.sin_addr, a, sizeof a);
		printf("from %s len %d: ", a, (int)fl);
		show_ip(i == 0 ? "first" : "second", buf, n);
	}
	close(s);

	/* A raw UDP socket receives a copy of a datagram to a UDP socket. */
	int r = socket(AF_INET, SOCK_RAW, IPPROTO_UDP);
	setsockopt(r, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	int u = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in ua = sin4("127.0.0.1", 0);
	bind(u, (struct sockaddr *)&ua, sizeof ua);
	ua = sin4("127.0.0.1", port_of(u));
	int c = socket(AF_INET, SOCK_DGRAM, 0);
	sendto(c, "datagram", 8, 0, (struct sockaddr *)&ua, sizeof ua);
	unsigned char buf[256];
	long n = recv(r, buf, sizeof buf, 0);
	show_ip("raw udp copy", buf, n);
	if (n >= 28)
		printf("udp length %d payload %.8s\n", ntohs(*(unsigned short *)(buf + 24)), buf + 28);
	n = recv(u, buf, sizeof buf, 0);
	printf("the udp socket still gets it: %ld\n", n);
	close(r);
	close(u);
	close(c);

	s = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
	printf("IPPROTO_RAW IP_HDRINCL = %d\n", getint(s, IPPROTO_IP, IP_HDRINCL));
	close(s);
	int one = 1;
	s = socket(AF_INET, SOCK_DGRAM, 0);
	report("IP_HDRINCL on udp", setsockopt(s, IPPROTO_IP, IP_HDRINCL, &one, sizeof one));
	close(s);
}

int main(int argc, char **argv) {
	init_output();
	if (argc > 1 && strcmp(argv[1], "raw") == 0) {
		test_raw();
		return 0;
	}
	if (argc > 1 && strcmp(argv[1], "caps") == 0) {
		test_caps(argc > 2 && strcmp(argv[2], "host") == 0);
		return 0;
	}
	if (argc > 1 && strcmp(argv[1], "exhaust") == 0) {
		exhaust();
		return 0;
	}
	test_create();
	test_bind();
	test_tcp();
	test_options();
	test_epoll();
	test_udp();
	test_inet6();
	test_efault();
	test_sendfile();
	return 0;
}
