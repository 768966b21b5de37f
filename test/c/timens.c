/* timens.c: time namespaces (CLONE_NEWTIME, issue 15 item 6).
 *
 * unshare(CLONE_NEWTIME) leaves the caller where it is and puts its
 * children in a new namespace (/proc/self/ns/time_for_children);
 * /proc/PID/timens_offsets is written before anyone enters (errors for bad
 * clocks, nanoseconds and ranges; EACCES after), a forked child, an exec'd
 * program and a clone3 child see CLOCK_MONOTONIC and CLOCK_BOOTTIME (vDSO
 * and syscall, raw and coarse, /proc/uptime, sysinfo) moved by the
 * offsets and CLOCK_REALTIME not; absolute clock_nanosleep, timerfd,
 * POSIX timers and futex deadlines inside wait the right time; setns joins a namespace (only
 * single-threaded); an unprivileged caller gets EPERM.
 *
 * Times are printed rounded (differences to the second, sleeps as "ok"
 * when within bounds), so that native and sandboxed outputs compare.
 */
/* link: -lpthread -lrt */
#include "common.h"
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <time.h>
#include <linux/futex.h>
#include <linux/sched.h>
#include <sys/sysinfo.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>

#define OFF 86400 /* a day */

static void link_of(const char *path, char *buf, size_t n) {
	memset(buf, 0, n);
	if (readlink(path, buf, n - 1) < 0)
		snprintf(buf, n, "readlink failed: %s", errname(errno));
}

static void show_offsets(const char *who, const char *path) {
	char buf[256] = {0};
	int fd = open(path, O_RDONLY);
	if (fd < 0) {
		printf("%s: open %s = -1 %s\n", who, path, errname(errno));
		return;
	}
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	printf("%s: %s (%zd bytes):\n%s", who, path, n, n > 0 ? buf : "\n");
}

static long write_offsets(const char *path, const char *s) {
	int fd = open(path, O_WRONLY);
	if (fd < 0)
		return -1;
	long r = write(fd, s, strlen(s));
	int e = errno;
	close(fd);
	errno = e;
	return r;
}

static double ts_sec(struct timespec t) { return t.tv_sec + t.tv_nsec / 1e9; }

static double now_syscall(clockid_t c) {
	struct timespec t;
	if (syscall(SYS_clock_gettime, c, &t))
		return -1;
	return ts_sec(t);
}

static double now_vdso(clockid_t c) {
	struct timespec t;
	if (clock_gettime(c, &t))
		return -1;
	return ts_sec(t);
}

static double uptime(void) {
	char buf[128] = {0};
	int fd = open("/proc/uptime", O_RDONLY);
	if (read(fd, buf, sizeof buf - 1) < 0)
		return -1;
	close(fd);
	return atof(buf);
}

/* The readings a child takes and sends to its parent. */
struct readings {
	double mono, mono_sys, raw, coarse, boot, boot_sys, real, up, sysinfo_up;
	char ns[64];
};

static void take(struct readings *r) {
	struct sysinfo si;
	r->mono = now_vdso(CLOCK_MONOTONIC);
	r->mono_sys = now_syscall(CLOCK_MONOTONIC);
	r->raw = now_vdso(CLOCK_MONOTONIC_RAW);
	r->coarse = now_vdso(CLOCK_MONOTONIC_COARSE);
	r->boot = now_vdso(CLOCK_BOOTTIME);
	r->boot_sys = now_syscall(CLOCK_BOOTTIME);
	r->real = now_vdso(CLOCK_REALTIME);
	r->up = uptime();
	sysinfo(&si);
	r->sysinfo_up = si.uptime;
	link_of("/proc/self/ns/time", r->ns, sizeof r->ns);
}

/* diff prints whether b is ahead of a by want seconds (within 30: the
 * time between the two readings on a loaded machine, and sysinfo's whole
 * seconds; the offsets are a day). */
static void diff(const char *what, double a, double b, double want) {
	double d = b - a - want;
	printf("  %s moved by %.1f s: %s\n", what, want, d > -30 && d < 30 ? "yes" : "no");
}

static void compare_readings(const char *who, struct readings *parent, struct readings *child, double mono, double boot) {
	printf("%s:\n", who);
	diff("CLOCK_MONOTONIC (vDSO)", parent->mono, child->mono, mono);
	diff("CLOCK_MONOTONIC (syscall)", parent->mono_sys, child->mono_sys, mono);
	diff("CLOCK_MONOTONIC_RAW", parent->raw, child->raw, mono);
	diff("CLOCK_MONOTONIC_COARSE", parent->coarse, child->coarse, mono);
	diff("CLOCK_BOOTTIME (vDSO)", parent->boot, child->boot, boot);
	diff("CLOCK_BOOTTIME (syscall)", parent->boot_sys, child->boot_sys, boot);
	diff("CLOCK_REALTIME", parent->real, child->real, 0);
	diff("/proc/uptime", parent->up, child->up, boot);
	diff("sysinfo uptime", parent->sysinfo_up, child->sysinfo_up, boot);
}

/* in_child forks; the child takes its readings and writes them to the
 * returned structure (shared through a pipe). */
static void in_child(struct readings *r) {
	int p[2];
	if (pipe(p))
		die("pipe");
	pid_t c = fork();
	if (c < 0)
		die("fork");
	if (c == 0) {
		struct readings x;
		take(&x);
		if (write(p[1], &x, sizeof x) != sizeof x)
			_exit(1);
		_exit(0);
	}
	if (read(p[0], r, sizeof *r) != sizeof *r)
		die("read readings");
	wait_status(c);
	close(p[0]);
	close(p[1]);
}

/* sleeps checks, inside a namespace with offsets, that absolute waits on
 * the namespace's clocks last as long as asked (0.2 s, measured on
 * CLOCK_REALTIME, which no namespace moves). */
static void sleeps(void) {
	clockid_t clocks[] = {CLOCK_MONOTONIC, CLOCK_BOOTTIME};
	const char *names[] = {"CLOCK_MONOTONIC", "CLOCK_BOOTTIME"};
	for (int i = 0; i < 2; i++) {
		struct timespec t;
		clock_gettime(clocks[i], &t);
		t.tv_nsec += 200000000;
		if (t.tv_nsec >= 1000000000) {
			t.tv_sec++;
			t.tv_nsec -= 1000000000;
		}
		double start = now_vdso(CLOCK_REALTIME);
		int r = clock_nanosleep(clocks[i], TIMER_ABSTIME, &t, NULL);
		double took = now_vdso(CLOCK_REALTIME) - start;
		printf("clock_nanosleep(%s, TIMER_ABSTIME, now+0.2s) = %d, lasted 0.2 s: %s\n", names[i], r,
		       took >= 0.19 && took < 10 ? "yes" : "no");

		int fd = timerfd_create(clocks[i], 0);
		struct itimerspec its = {0}, cur;
		clock_gettime(clocks[i], &its.it_value);
		its.it_value.tv_nsec += 200000000;
		if (its.it_value.tv_nsec >= 1000000000) {
			its.it_value.tv_sec++;
			its.it_value.tv_nsec -= 1000000000;
		}
		start = now_vdso(CLOCK_REALTIME);
		reportf(timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, NULL), "timerfd_settime(%s, ABSTIME, now+0.2s)", names[i]);
		timerfd_gettime(fd, &cur);
		printf("  timerfd_gettime: at most 0.2 s left (0 if it fired already): %s\n", ts_sec(cur.it_value) >= 0 && ts_sec(cur.it_value) <= 0.2 ? "yes" : "no");
		unsigned long long n = 0;
		if (read(fd, &n, sizeof n) != sizeof n)
			die("read timerfd");
		took = now_vdso(CLOCK_REALTIME) - start;
		printf("  expirations %llu, lasted 0.2 s: %s\n", n, took >= 0.19 && took < 10 ? "yes" : "no");
		close(fd);

		/* A POSIX timer, absolute, its signal taken by sigwaitinfo. */
		sigset_t set;
		sigemptyset(&set);
		sigaddset(&set, SIGRTMIN);
		sigprocmask(SIG_BLOCK, &set, NULL);
		struct sigevent sev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGRTMIN};
		timer_t tm;
		if (timer_create(clocks[i], &sev, &tm))
			die("timer_create");
		memset(&its, 0, sizeof its);
		clock_gettime(clocks[i], &its.it_value);
		its.it_value.tv_nsec += 200000000;
		if (its.it_value.tv_nsec >= 1000000000) {
			its.it_value.tv_sec++;
			its.it_value.tv_nsec -= 1000000000;
		}
		start = now_vdso(CLOCK_REALTIME);
		reportf(timer_settime(tm, TIMER_ABSTIME, &its, NULL), "timer_settime(%s, ABSTIME, now+0.2s)", names[i]);
		timer_gettime(tm, &cur);
		printf("  timer_gettime: at most 0.2 s left (0 if it fired already): %s\n", ts_sec(cur.it_value) >= 0 && ts_sec(cur.it_value) <= 0.2 ? "yes" : "no");
		int sig = sigwaitinfo(&set, NULL);
		took = now_vdso(CLOCK_REALTIME) - start;
		printf("  signal %s, lasted 0.2 s: %s\n", sig == SIGRTMIN ? "SIGRTMIN" : "other", took >= 0.19 && took < 10 ? "yes" : "no");
		timer_delete(tm);
	}

	/* Absolute futex deadlines on CLOCK_MONOTONIC: FUTEX_WAIT_BITSET
	 * (pthread_cond_timedwait on a monotonic condvar, sem_clockwait)
	 * and futex_waitv. */
	static unsigned int word;
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_nsec += 200000000;
	if (t.tv_nsec >= 1000000000) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000;
	}
	double start = now_vdso(CLOCK_REALTIME);
	errno = 0;
	long r = syscall(SYS_futex, &word, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, 0, &t, NULL, FUTEX_BITSET_MATCH_ANY);
	double took = now_vdso(CLOCK_REALTIME) - start;
	report("futex(FUTEX_WAIT_BITSET, CLOCK_MONOTONIC deadline now+0.2s)", r);
	printf("  lasted 0.2 s: %s\n", took >= 0.19 && took < 10 ? "yes" : "no");
	struct futex_waitv w = {.val = 0, .uaddr = (unsigned long)&word, .flags = FUTEX_32 | FUTEX_PRIVATE_FLAG};
	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_nsec += 200000000;
	if (t.tv_nsec >= 1000000000) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000;
	}
	start = now_vdso(CLOCK_REALTIME);
	errno = 0;
	r = syscall(SYS_futex_waitv, &w, 1, 0, &t, CLOCK_MONOTONIC);
	took = now_vdso(CLOCK_REALTIME) - start;
	report("futex_waitv(CLOCK_MONOTONIC deadline now+0.2s)", r);
	printf("  lasted 0.2 s: %s\n", took >= 0.19 && took < 10 ? "yes" : "no");
}

static void *idle_thread(void *arg) {
	pause();
	return arg;
}

static pid_t clone3_newtime(void) {
	struct clone_args args = {.flags = CLONE_NEWTIME, .exit_signal = SIGCHLD};
	return syscall(SYS_clone3, &args, sizeof args);
}

int main(int argc, char **argv) {
	init_output();
	if (argc > 1 && strcmp(argv[1], "exec") == 0) {
		/* Exec'd after unshare(CLONE_NEWTIME): now in the namespace. */
		char ns[64];
		link_of("/proc/self/ns/time", ns, sizeof ns);
		printf("after exec: in the unshared namespace: %s\n", strcmp(ns, argv[2]) == 0 ? "yes" : "no");
		double d = atof(argv[3]) - now_vdso(CLOCK_MONOTONIC);
		printf("after exec: CLOCK_MONOTONIC a day behind the forked child's: %s\n", d > OFF - 60 && d < OFF + 60 ? "yes" : "no");
		return 0;
	}
	char first[64], now[64], children[64];
	link_of("/proc/self/ns/time", first, sizeof first);
	link_of("/proc/self/ns/time_for_children", children, sizeof children);
	printf("time and time_for_children the same at first: %s\n", strcmp(first, children) == 0 ? "yes" : "no");
	show_offsets("first namespace", "/proc/self/timens_offsets");
	errno = 0;
	report("write to the first namespace's offsets (a process is in it)", write_offsets("/proc/self/timens_offsets", "monotonic 1 0"));

	int orig = open("/proc/self/ns/time", O_RDONLY);
	report("unshare(CLONE_NEWTIME)", unshare(CLONE_NEWTIME));
	link_of("/proc/self/ns/time", now, sizeof now);
	link_of("/proc/self/ns/time_for_children", children, sizeof children);
	printf("caller stays: %s\n", strcmp(first, now) == 0 ? "yes" : "no");
	printf("time_for_children new: %s\n", strcmp(first, children) ? "yes" : "no");
	show_offsets("new namespace", "/proc/self/timens_offsets");

	const char *bad[] = {
		"monotonic 1 1000000000", "realtime 1 0", "5 1 0", "monotonic 1", "monotonic x 0",
		"monotonic -1 -1", "monotonic -999999999999 0", "boottime 9223372037 0",
		"boottime 4611686018 0", "monotonic 1 0\n\nboottime 1 0",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		errno = 0;
		reportf(write_offsets("/proc/self/timens_offsets", bad[i]), "write \"%s\"", bad[i]);
	}
	show_offsets("after bad writes", "/proc/self/timens_offsets");
	reportf(write_offsets("/proc/self/timens_offsets", "1 100 5\n"), "write \"1 100 5\\n\" (clock ids)");
	show_offsets("after", "/proc/self/timens_offsets");
	const char *good = "monotonic 86400 0\nboottime 86400 500000000\n";
	reportf(write_offsets("/proc/self/timens_offsets", good), "write \"monotonic 86400 0\\nboottime 86400 500000000\\n\"");
	show_offsets("after", "/proc/self/timens_offsets");

	/* Threads and vfork-style children cannot be in another namespace
	 * than the caller. */
	pthread_t th;
	errno = 0;
	printf("pthread_create after unshare = %s\n", pthread_create(&th, NULL, idle_thread, NULL) == 0 ? "0" : "error");

	struct readings parent, child;
	take(&parent);
	in_child(&child);
	printf("forked child in time_for_children: %s\n", strcmp(child.ns, children) == 0 ? "yes" : "no");
	compare_readings("forked child's clocks against the parent's", &parent, &child, OFF, OFF + 0.5);
	show_offsets("parent, after a child entered", "/proc/self/timens_offsets");
	errno = 0;
	report("write offsets after a child entered", write_offsets("/proc/self/timens_offsets", "monotonic 5 0"));

	/* An exec after unshare moves the process into the namespace. */
	pid_t c = fork();
	if (c == 0) {
		char buf[64];
		snprintf(buf, sizeof buf, "%.6f", now_vdso(CLOCK_MONOTONIC));
		/* The fork is in the namespace already; a fresh unshare
		 * makes its children's another, which exec enters. */
		if (unshare(CLONE_NEWTIME))
			die("unshare in child");
		char ns[64];
		link_of("/proc/self/ns/time_for_children", ns, sizeof ns);
		if (write_offsets("/proc/self/timens_offsets", "monotonic 0 0\nboottime 0 0") < 0)
			die("write offsets in child");
		/* The child's clock is a day ahead; the new namespace's
		 * offsets are now 0, so after exec the clock is a day
		 * behind what the child read. */
		char *args[] = {argv[0], "exec", ns, buf, NULL};
		execv("/proc/self/exe", args);
		die("execv");
	}
	wait_status(c);

	/* Now in a namespace with offsets (a child), the sleeps. */
	c = fork();
	if (c == 0) {
		sleeps();
		_exit(0);
	}
	wait_status(c);

	/* clone3(CLONE_NEWTIME): a namespace of its own, with the offsets
	 * of its parent's time_for_children. */
	int p[2];
	if (pipe(p))
		die("pipe");
	c = clone3_newtime();
	if (c < 0) {
		report("clone3(CLONE_NEWTIME)", c);
	} else if (c == 0) {
		struct readings x;
		take(&x);
		if (write(p[1], &x, sizeof x) != sizeof x)
			_exit(1);
		_exit(0);
	} else {
		if (read(p[0], &child, sizeof child) != sizeof child)
			die("read");
		wait_status(c);
		printf("clone3(CLONE_NEWTIME) child in a namespace of its own: %s\n",
		       strcmp(child.ns, first) && strcmp(child.ns, children) ? "yes" : "no");
		compare_readings("clone3 child's clocks against the parent's", &parent, &child, OFF, OFF + 0.5);
	}

	/* setns: EUSERS-style refusal with a second thread; with one
	 * thread, into time_for_children. */
	int tfc = open("/proc/self/ns/time_for_children", O_RDONLY);
	errno = 0;
	report("setns(time_for_children, CLONE_NEWTIME) with two threads", setns(tfc, CLONE_NEWTIME));
	c = fork();
	if (c == 0) {
		/* One thread (the fork). Back to the first namespace. */
		report("child: setns(first, CLONE_NEWTIME)", setns(orig, CLONE_NEWTIME));
		link_of("/proc/self/ns/time", now, sizeof now);
		printf("child: in the first namespace: %s\n", strcmp(now, first) == 0 ? "yes" : "no");
		link_of("/proc/self/ns/time_for_children", now, sizeof now);
		printf("child: time_for_children is the first too: %s\n", strcmp(now, first) == 0 ? "yes" : "no");
		double m = now_vdso(CLOCK_MONOTONIC) - parent.mono;
		printf("child: CLOCK_MONOTONIC back near the parent's: %s\n", m > -60 && m < 60 ? "yes" : "no");
		report("child: setns(time_for_children, CLONE_NEWTIME)", setns(tfc, CLONE_NEWTIME));
		m = now_vdso(CLOCK_MONOTONIC) - parent.mono;
		printf("child: CLOCK_MONOTONIC a day ahead again: %s\n", m > OFF - 60 && m < OFF + 60 ? "yes" : "no");
		errno = 0;
		report("child: setns(time fd, CLONE_NEWUTS)", setns(tfc, CLONE_NEWUTS));
		_exit(0);
	}
	wait_status(c);

	/* Unprivileged: no CAP_SYS_ADMIN for unshare, no CAP_SYS_TIME for
	 * the offsets. */
	c = fork();
	if (c == 0) {
		if (setresuid(65534, 65534, 65534))
			die("setresuid");
		errno = 0;
		report("unprivileged unshare(CLONE_NEWTIME)", unshare(CLONE_NEWTIME));
		errno = 0;
		report("unprivileged open of a root process's timens_offsets for writing",
		       open("/proc/1/timens_offsets", O_WRONLY));
		_exit(0);
	}
	wait_status(c);
	return 0;
}
