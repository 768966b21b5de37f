/* timer_fd.c: timerfd_create/settime/gettime, read returning the
 * expiration count, poll and epoll readiness.
 *
 * Usage: timer_fd CASE. Only coarse, timing-independent facts are printed.
 */
#include "common.h"
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>

static long long now_ns(clockid_t c) {
	struct timespec ts;
	clock_gettime(c, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void sleep_ms(int ms) {
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static int arm(int fd, int flags, long long value_ns, long long interval_ns) {
	struct itimerspec its = {{interval_ns / 1000000000LL, interval_ns % 1000000000LL},
				 {value_ns / 1000000000LL, value_ns % 1000000000LL}};
	return timerfd_settime(fd, flags, &its, NULL);
}

/* The cases below print only what holds however late the program runs:
 * a loaded machine may deschedule it for tens of milliseconds between any
 * two calls, so "not yet expired" is checked on timers armed seconds ahead,
 * and expiration counts are bounded by the time actually measured. */

/* most_expirations is the largest count a timer armed at armed_ns, first
 * due after value_ns and then every interval_ns, can show at now_ns. */
static long long most_expirations(long long armed_ns, long long value_ns, long long interval_ns, long long now) {
	long long first = armed_ns + value_ns;
	return now < first ? 0 : (now - first) / interval_ns + 1;
}

static void case_read(void) {
	int fd = timerfd_create(CLOCK_MONOTONIC, 0);
	yesno("timerfd_create", fd >= 0);
	report("settime", arm(fd, 0, 20000000, 0));
	uint64_t n = 0;
	long long start = now_ns(CLOCK_MONOTONIC);
	report("blocking read", read(fd, &n, sizeof n));
	long long el = now_ns(CLOCK_MONOTONIC) - start;
	report("expirations", (long)n);
	yesno("blocked about 20ms", el >= 15000000LL);
	int nb = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	report("nonblocking read, disarmed", read(nb, &n, sizeof n));
	report("settime 10s ahead", arm(nb, 0, 10000000000LL, 5000000));
	report("nonblocking read, not yet", read(nb, &n, sizeof n));
	long long armed = now_ns(CLOCK_MONOTONIC);
	report("settime periodic 5ms", arm(nb, 0, 5000000, 5000000));
	sleep_ms(52);
	/* The read takes the expirations at some moment between readStart
	 * and readAt; the program may be descheduled on either side. */
	long long readStart = now_ns(CLOCK_MONOTONIC);
	report("nonblocking read after 50ms", read(nb, &n, sizeof n));
	long long readAt = now_ns(CLOCK_MONOTONIC);
	yesno("at least 5 expirations", n >= 5);
	yesno("no more expirations than periods elapsed", (long long)n <= most_expirations(armed, 5000000, 5000000, readAt));
	/* A read takes every expiration so far: what the next read returns
	 * counts only the periods since (none, if it comes quickly enough),
	 * that is at most those between the first read's start and the
	 * second's end. Bounded from readAt instead, the check failed when
	 * the program was descheduled between the first read and readAt. */
	uint64_t again = 0;
	ssize_t r = read(nb, &again, sizeof again);
	long long againAt = now_ns(CLOCK_MONOTONIC);
	yesno("read again counts only periods since the last read",
	      (r == -1 && errno == EAGAIN) ||
		      (r == 8 && (long long)again <= (againAt - readStart) / 5000000 + 1));
	/* settime discards expirations not read. */
	sleep_ms(12);
	report("rearm", arm(nb, 0, 1000000000, 0));
	report("read after rearm", read(nb, &n, sizeof n));
	report("fcntl cloexec", fcntl(nb, F_GETFD) & FD_CLOEXEC);
	report("fcntl nonblock", (fcntl(nb, F_GETFL) & O_NONBLOCK) != 0);
	close(fd);
	close(nb);
}

static void case_poll(void) {
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
	struct pollfd p = {fd, POLLIN | POLLOUT, 0};
	report("poll disarmed", poll(&p, 1, 0));
	arm(fd, 0, 10000000000LL, 0);
	report("poll before expiry", poll(&p, 1, 0));
	arm(fd, 0, 20000000, 0);
	report("poll waits", poll(&p, 1, 2000));
	report("revents", p.revents);
	uint64_t n;
	report("read", read(fd, &n, sizeof n));
	report("expirations", (long)n);
	report("poll after read", poll(&p, 1, 30));

	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 1234};
	report("epoll_ctl", epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev));
	arm(fd, 0, 10000000, 10000000);
	int got = 0, rounds = 0;
	for (; rounds < 5; rounds++) {
		struct epoll_event out[2];
		int r = epoll_wait(ep, out, 2, 2000);
		if (r == 1 && out[0].events == EPOLLIN && out[0].data.u64 == 1234) {
			got++;
			read(fd, &n, sizeof n);
		}
	}
	report("epoll wake-ups of 5", got);
	struct epoll_event out[2];
	arm(fd, 0, 0, 0);
	read(fd, &n, sizeof n);
	report("epoll after disarm", epoll_wait(ep, out, 2, 30));
	close(ep);
	close(fd);
}

static void case_gettime(void) {
	int fd = timerfd_create(CLOCK_REALTIME, 0);
	struct itimerspec cur, old;
	report("gettime", timerfd_gettime(fd, &cur));
	yesno("disarmed", cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec == 0);
	struct itimerspec its = {{1, 500000000}, {3, 0}};
	report("settime", timerfd_settime(fd, 0, &its, NULL));
	timerfd_gettime(fd, &cur);
	long long v = cur.it_value.tv_sec * 1000000000LL + cur.it_value.tv_nsec;
	yesno("value in (2.8s, 3s]", v > 2800000000LL && v <= 3000000000LL);
	yesno("interval 1.5s", cur.it_interval.tv_sec == 1 && cur.it_interval.tv_nsec == 500000000);
	struct itimerspec zero = {{0, 0}, {0, 0}};
	report("disarm", timerfd_settime(fd, 0, &zero, &old));
	long long ov = old.it_value.tv_sec * 1000000000LL + old.it_value.tv_nsec;
	yesno("old value in (2.8s, 3s]", ov > 2800000000LL && ov <= 3000000000LL);
	timerfd_gettime(fd, &cur);
	yesno("disarmed again", cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec == 0);
	close(fd);
}

static void case_abstime(void) {
	int fd = timerfd_create(CLOCK_MONOTONIC, 0);
	long long start = now_ns(CLOCK_MONOTONIC);
	report("settime abs", arm(fd, TFD_TIMER_ABSTIME, start + 30000000LL, 0));
	uint64_t n;
	report("read", read(fd, &n, sizeof n));
	report("expirations", (long)n);
	yesno("at least 30ms", now_ns(CLOCK_MONOTONIC) - start >= 30000000LL);
	/* A past absolute time with an interval: the missed periods count. */
	long long past = now_ns(CLOCK_MONOTONIC) - 100000000LL;
	report("settime past", arm(fd, TFD_TIMER_ABSTIME, past, 10000000));
	read(fd, &n, sizeof n);
	long long readAt = now_ns(CLOCK_MONOTONIC);
	yesno("the missed periods count", n >= 10 && (long long)n <= (readAt - past) / 10000000 + 1);
	int r = timerfd_create(CLOCK_REALTIME, 0);
	report("realtime abs", arm(r, TFD_TIMER_ABSTIME, now_ns(CLOCK_REALTIME) + 20000000LL, 0));
	report("read", read(r, &n, sizeof n));
	report("expirations", (long)n);
	int b = timerfd_create(CLOCK_BOOTTIME, 0);
	report("boottime", arm(b, 0, 5000000, 0));
	report("read", read(b, &n, sizeof n));
	report("expirations", (long)n);
}

static void case_errors(void) {
	report("bad flags", timerfd_create(CLOCK_MONOTONIC, 0x1));
	report("bad clock", timerfd_create(12345, 0));
	report("CLOCK_MONOTONIC_RAW", timerfd_create(CLOCK_MONOTONIC_RAW, 0));
	report("CLOCK_PROCESS_CPUTIME_ID", timerfd_create(CLOCK_PROCESS_CPUTIME_ID, 0));
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
	struct itimerspec its = {{0, 0}, {0, 1000000000}};
	report("bad nsec", timerfd_settime(fd, 0, &its, NULL));
	its.it_value.tv_nsec = 1000;
	report("bad settime flags", timerfd_settime(fd, 0x100, &its, NULL));
	int e = eventfd(0, 0);
	report("settime on an eventfd", timerfd_settime(e, 0, &its, NULL));
	report("gettime on an eventfd", timerfd_gettime(e, &its));
	report("settime on a bad fd", timerfd_settime(999, 0, &its, NULL));
	char small[4];
	report("short read", read(fd, small, sizeof small));
	uint64_t v = 1;
	report("write", write(fd, &v, sizeof v));
}

int main(int argc, char **argv) {
	init_output();
	if (argc < 2)
		return 2;
	const char *c = argv[1];
	if (!strcmp(c, "read"))
		case_read();
	else if (!strcmp(c, "poll"))
		case_poll();
	else if (!strcmp(c, "gettime"))
		case_gettime();
	else if (!strcmp(c, "abstime"))
		case_abstime();
	else if (!strcmp(c, "errors"))
		case_errors();
	else
		return 2;
	return 0;
}
