/* ipc_mqueue: POSIX message queues in a fresh IPC namespace (natively the
 * program unshares IPC and mount namespaces; the sandbox's are its own)
 * with an mqueue filesystem mounted on a temporary directory: mq_open's
 * errors and attributes, priorities, O_NONBLOCK (EAGAIN), timeouts
 * (ETIMEDOUT, EINVAL for a bad timespec), EMSGSIZE, EBADF for the wrong
 * direction, a receiver blocking until a sender comes and a sender until
 * there is room, mq_notify with SIGEV_SIGNAL (SI_MESGQ, its value, EBUSY
 * for a second process, one shot), mq_setattr, mq_unlink of an open queue,
 * the directory listing and a queue file's status line, poll readiness,
 * and the limits for an unprivileged user. */
#include "common.h"
#include <dirent.h>
#include <fcntl.h>
#include <mqueue.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

static char dir[64];

static void attr_of(const char *what, mqd_t q) {
	struct mq_attr a;
	if (mq_getattr(q, &a) < 0) {
		printf("%s: mq_getattr = -1 %s\n", what, errname(errno));
		return;
	}
	printf("%s: flags %#lx maxmsg %ld msgsize %ld curmsgs %ld\n", what, a.mq_flags, a.mq_maxmsg, a.mq_msgsize,
	       a.mq_curmsgs);
}

static void rcv(const char *what, mqd_t q, size_t len, const struct timespec *ts) {
	char buf[16384];
	unsigned prio = 99;
	ssize_t n = ts ? mq_timedreceive(q, buf, len, &prio, ts) : mq_receive(q, buf, len, &prio);
	if (n < 0)
		printf("%s = -1 %s\n", what, errname(errno));
	else
		printf("%s = %zd prio %u text %.*s\n", what, n, prio, (int)n, buf);
}

static void listing(const char *what) {
	DIR *d = opendir(dir);
	char *names[16];
	int n = 0;
	struct dirent *e;
	while (d && (e = readdir(d)) && n < 16)
		names[n++] = strdup(e->d_name);
	if (d)
		closedir(d);
	qsort(names, n, sizeof names[0], cmpstr);
	printf("%s:", what);
	for (int i = 0; i < n; i++)
		printf(" %s", names[i]);
	printf("\n");
}

static void status(const char *name) {
	char path[128], buf[256];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	int fd = open(path, O_RDONLY);
	if (fd < 0) {
		printf("status of %s: open = -1 %s\n", name, errname(errno));
		return;
	}
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	/* NOTIFY_PID is a PID: show whether it is set. */
	char *p = strstr(buf, "NOTIFY_PID:");
	if (p)
		snprintf(p, 20, "NOTIFY_PID:%s\n", atoi(p + 11) ? "set" : "0");
	printf("status of %s: %s", name, buf);
	struct stat st;
	if (stat(path, &st) == 0)
		printf("stat of %s: mode %o size %lld\n", name, st.st_mode, (long long)st.st_size);
}

static volatile int got_sig, got_code, got_val;
static void onusr1(int sig, siginfo_t *si, void *uc) {
	got_sig = sig;
	got_code = si->si_code;
	got_val = si->si_value.sival_int;
}

int main(void) {
	init_output();
	if (unshare(CLONE_NEWIPC | CLONE_NEWNS) < 0 && errno != ENOSYS && errno != EPERM && errno != EINVAL)
		die("unshare");
	mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
	strcpy(dir, "/tmp/mqtestXXXXXX");
	if (!mkdtemp(dir))
		die("mkdtemp");
	if (mount("mqueue", dir, "mqueue", 0, NULL) < 0)
		die("mount mqueue");
	umask(022);

	/* mq_open. */
	report("open missing", mq_open("/q1", O_RDWR));
	mqd_t q = mq_open("/q1", O_RDWR | O_CREAT | O_EXCL, 0660, NULL);
	report("open create", q >= 0 ? 0 : -1);
	report("close-on-exec", fcntl(q, F_GETFD));
	report("open excl", mq_open("/q1", O_RDWR | O_CREAT | O_EXCL, 0600, NULL));
	report("open O_RDWR|O_WRONLY", mq_open("/q1", O_RDWR | O_WRONLY));
	report("open name with a slash", mq_open("/a/b", O_RDWR | O_CREAT, 0600, NULL));
	report("open without a leading slash", mq_open("q1", O_RDWR));
	report("open bad name pointer", syscall(SYS_mq_open, (char *)8, O_RDWR, 0, NULL));
	struct mq_attr at = {0, 0, 100, 0};
	report("open maxmsg 0", mq_open("/bad", O_RDWR | O_CREAT, 0600, &at));
	at.mq_maxmsg = 4;
	at.mq_msgsize = 0;
	report("open msgsize 0", mq_open("/bad", O_RDWR | O_CREAT, 0600, &at));
	at.mq_msgsize = -1;
	report("open msgsize -1", mq_open("/bad", O_RDWR | O_CREAT, 0600, &at));
	report("open bad attr pointer", mq_open("/bad", O_RDWR | O_CREAT, 0600, (struct mq_attr *)8));
	attr_of("default", q);
	at = (struct mq_attr){0, 2, 16, 0};
	mqd_t small = mq_open("/small", O_RDWR | O_CREAT | O_NONBLOCK, 0644, &at);
	attr_of("small", small);

	/* Priorities: highest first, in order within one. */
	mq_send(q, "low", 3, 1);
	mq_send(q, "high", 4, 10);
	mq_send(q, "low2", 4, 1);
	mq_send(q, "mid", 3, 5);
	attr_of("four queued", q);
	status("q1");
	rcv("receive 1", q, 8192, NULL);
	rcv("receive 2", q, 8192, NULL);
	rcv("receive 3", q, 8192, NULL);
	rcv("receive 4", q, 8192, NULL);
	rcv("buffer smaller than msgsize", q, 100, NULL);
	report("send prio too high", mq_send(q, "x", 1, 32768));
	report("send too long", mq_send(small, "01234567890123456", 17, 0));
	report("send bad pointer", mq_send(q, (char *)8, 1, 0));

	/* O_NONBLOCK and timeouts. */
	rcv("receive empty nonblocking", small, 16, NULL);
	mq_send(small, "a", 1, 0);
	mq_send(small, "b", 1, 0);
	report("send full nonblocking", mq_send(small, "c", 1, 0));
	struct mq_attr na = {0}, old;
	report("mq_setattr blocking", mq_setattr(small, &na, &old));
	printf("old flags %#lx\n", old.mq_flags);
	attr_of("small now", small);
	struct timespec past = {1, 0};
	report("send full past deadline", mq_timedsend(small, "c", 1, 0, &past));
	struct timespec bad = {0, 2000000000};
	report("send full bad timespec", mq_timedsend(small, "c", 1, 0, &bad));
	report("send full bad timespec pointer", mq_timedsend(small, "c", 1, 0, (struct timespec *)8));
	rcv("receive a", small, 16, NULL);
	rcv("receive b", small, 16, NULL);
	rcv("receive empty past deadline", small, 16, &past);
	struct timespec soon;
	clock_gettime(CLOCK_REALTIME, &soon);
	soon.tv_nsec += 20 * 1000 * 1000;
	if (soon.tv_nsec >= 1000000000) {
		soon.tv_sec++;
		soon.tv_nsec -= 1000000000;
	}
	rcv("receive empty, deadline soon", small, 16, &soon);
	rcv("receive empty bad timespec", small, 16, &bad);

	/* Direction. */
	mqd_t wo = mq_open("/q1", O_WRONLY);
	mqd_t ro = mq_open("/q1", O_RDONLY);
	rcv("receive on O_WRONLY", wo, 8192, NULL);
	report("send on O_RDONLY", mq_send(ro, "x", 1, 0));
	report("send on a plain file", mq_send(0, "x", 1, 0));
	report("getattr of a bad fd", mq_getattr(999, &old));

	/* Poll readiness. */
	struct pollfd p[2] = {{ro, POLLIN}, {wo, POLLOUT}};
	int pr = poll(p, 2, 0);
	printf("poll empty = %d revents %#x %#x\n", pr, p[0].revents, p[1].revents);
	mq_send(wo, "x", 1, 0);
	pr = poll(p, 2, 0);
	printf("poll one = %d revents %#x %#x\n", pr, p[0].revents, p[1].revents);
	p[0].events = POLLIN | POLLRDNORM;
	p[1].events = POLLOUT | POLLWRNORM;
	pr = poll(p, 2, 0);
	printf("poll with the NORM bits = %d revents %#x %#x\n", pr, p[0].revents, p[1].revents);
	rcv("drain", ro, 8192, NULL);

	/* Blocking: a receiver waits for a sender; a sender for room. */
	pid_t c = fork();
	if (c == 0) {
		rcv("child: blocking receive", ro, 8192, NULL);
		_exit(0);
	}
	wait_sleeping(c);
	mq_send(wo, "wake", 4, 3);
	int st;
	waitpid(c, &st, 0);
	mq_send(small, "1", 1, 0);
	mq_send(small, "2", 1, 0);
	c = fork();
	if (c == 0)
		_exit(mq_send(small, "3", 1, 7) == 0 ? 0 : 1);
	wait_sleeping(c);
	rcv("make room", small, 16, NULL);
	waitpid(c, &st, 0);
	printf("blocked sender's status %d\n", WEXITSTATUS(st));
	rcv("the blocked sender's", small, 16, NULL);
	rcv("the last", small, 16, NULL);

	/* mq_notify. */
	struct sigaction sa = {.sa_sigaction = onusr1, .sa_flags = SA_SIGINFO};
	sigaction(SIGUSR1, &sa, NULL);
	struct sigevent ev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR1};
	ev.sigev_value.sival_int = 77;
	report("mq_notify", mq_notify(q, &ev));
	report("mq_notify again", mq_notify(q, &ev));
	/* The status is read by a child: the owner's close(2) of any
	 * descriptor of the queue would drop its registration. */
	c = fork();
	if (c == 0) {
		status("q1");
		report("child: mq_notify taken", mq_notify(q, &ev));
		_exit(0);
	}
	waitpid(c, &st, 0);
	mq_send(q, "n", 1, 0);
	printf("signal %d code %s value %d\n", got_sig, got_code == SI_MESGQ ? "SI_MESGQ" : "other", got_val);
	c = fork();
	if (c == 0) {
		status("q1");
		_exit(0);
	}
	waitpid(c, &st, 0);
	/* A close by the owner drops the registration (mqueue_flush_file). */
	report("mq_notify for the close", mq_notify(q, &ev));
	status("q1");
	report("mq_notify after the close", mq_notify(q, &ev));
	report("mq_notify remove it", mq_notify(q, NULL));
	got_sig = 0;
	rcv("drain", q, 8192, NULL);
	mq_send(q, "n", 1, 0);
	printf("second send signals: %s\n", got_sig ? "yes" : "no");
	rcv("drain", q, 8192, NULL);
	report("mq_notify SIGEV_NONE", mq_notify(q, &(struct sigevent){.sigev_notify = SIGEV_NONE}));
	report("mq_notify remove", mq_notify(q, NULL));
	report("mq_notify remove none", mq_notify(q, NULL));
	report("mq_notify bad signal", mq_notify(q, &(struct sigevent){.sigev_notify = SIGEV_SIGNAL, .sigev_signo = 99}));
	report("mq_notify bad kind", mq_notify(q, &(struct sigevent){.sigev_notify = 77}));
	report("mq_notify bad pointer", syscall(SYS_mq_notify, q, (void *)8));

	/* The filesystem. */
	listing("listing");
	report("unlink /small", mq_unlink("/small"));
	report("unlink /small again", mq_unlink("/small"));
	report("unlink bad name", mq_unlink("/a/b"));
	listing("after unlink");
	mq_send(q, "still", 5, 0);
	report("unlink the open /q1", mq_unlink("/q1"));
	rcv("an unlinked queue still works", q, 8192, NULL);
	mqd_t q2 = mq_open("/q2", O_RDWR | O_CREAT, 0600, NULL);
	mq_send(q2, "abc", 3, 0);
	status("q2");
	char path[128];
	snprintf(path, sizeof path, "%s/q3", dir);
	int fd = open(path, O_CREAT | O_RDWR, 0640);
	report("open(O_CREAT) in the mqueue fs", fd >= 0 ? 0 : -1);
	close(fd);
	listing("with q3 made by open");
	snprintf(path, sizeof path, "%s/sub", dir);
	report("mkdir in the mqueue fs", mkdir(path, 0755));
	snprintf(path, sizeof path, "%s/q3", dir);
	report("unlink(2) of q3", unlink(path));

	/* Limits and permissions for an unprivileged user. */
	chmod(dir, 01777);
	c = fork();
	if (c == 0) {
		if (setgid(1000) < 0 || setuid(1000) < 0)
			die("setuid");
		report("user: open 0600 queue", mq_open("/q2", O_RDONLY));
		struct mq_attr ua = {0, 11, 100, 0};
		report("user: maxmsg past msg_max", mq_open("/u", O_RDWR | O_CREAT, 0600, &ua));
		ua = (struct mq_attr){0, 10, 8193, 0};
		report("user: msgsize past msgsize_max", mq_open("/u", O_RDWR | O_CREAT, 0600, &ua));
		ua = (struct mq_attr){0, 10, 8192, 0};
		mqd_t u = mq_open("/u", O_RDWR | O_CREAT, 0600, &ua);
		report("user: open within limits", u >= 0 ? 0 : -1);
		report("user: unlink another's", mq_unlink("/q2"));
		report("user: unlink own", mq_unlink("/u"));
		_exit(0);
	}
	waitpid(c, &st, 0);
	printf("user child status %d\n", WEXITSTATUS(st));

	mq_unlink("/q2");
	listing("at the end");
	umount(dir);
	rmdir(dir);
	return 0;
}
