/* locks: advisory locks between processes. POSIX record locks (F_GETLK,
 * F_SETLK, F_SETLKW: ranges, merging and splitting, l_whence, the errors,
 * release when the process closes any descriptor of the file and at exit,
 * threads sharing them, a forked child not inheriting them), OFD locks
 * (F_OFD_*: owned by the open file description, conflicting with POSIX
 * locks even in one process), flock(2) (shared and exclusive, conversion,
 * LOCK_NB, independence from fcntl locks), blocking waits that end when
 * the holder unlocks, interrupted waits (EINTR without SA_RESTART,
 * restarted with it), EDEADLK, /proc/locks (with waiters) and the
 * "lock:" lines of /proc/self/fdinfo.
 *
 * argv[1] is a writable directory (the sandbox's overlay or a volume).
 * Waiting for a child to be blocked is waiting for its "->" line in
 * /proc/locks, so no outcome depends on timing. */
#include "common.h"
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

static const char *path;
static pid_t parent;
static char devino[64]; /* "MM:mm:ino" of the file, as /proc/locks shows it */

static int openf(int flags) {
	int fd = open(path, flags);
	if (fd < 0)
		die("open");
	return fd;
}

static struct flock mk(short type, short whence, off_t start, off_t len) {
	struct flock fl = {0};
	fl.l_type = type;
	fl.l_whence = whence;
	fl.l_start = start;
	fl.l_len = len;
	return fl;
}

static int setlk(int fd, int cmd, short type, off_t start, off_t len) {
	struct flock fl = mk(type, SEEK_SET, start, len);
	return fcntl(fd, cmd, &fl);
}

static const char *tname(short t) {
	return t == F_RDLCK ? "F_RDLCK" : t == F_WRLCK ? "F_WRLCK" : t == F_UNLCK ? "F_UNLCK" : "?";
}

/* getlk prints what F_GETLK (or cmd) says about [start, start+len). */
static void getlk(const char *label, int fd, int cmd, short type, off_t start, off_t len) {
	struct flock fl = mk(type, SEEK_SET, start, len);
	if (fcntl(fd, cmd, &fl) < 0) {
		printf("%s: -1 %s\n", label, errname(errno));
		return;
	}
	if (fl.l_type == F_UNLCK) {
		printf("%s: F_UNLCK\n", label);
		return;
	}
	const char *who = fl.l_pid == parent ? "parent" : fl.l_pid == -1 ? "-1" : fl.l_pid == getpid() ? "self" : "other";
	printf("%s: %s whence %d start %ld len %ld pid %s\n", label, tname(fl.l_type), fl.l_whence, (long)fl.l_start, (long)fl.l_len, who);
}

/* child runs fn in a forked child and waits for it. */
static void child(void (*fn)(void)) {
	pid_t p = fork();
	if (p < 0)
		die("fork");
	if (p == 0) {
		fn();
		fflush(stdout);
		_exit(0);
	}
	int st;
	waitpid(p, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		printf("child status %#x\n", st);
}

/* procLocks prints the lines of /proc/locks about our file, with the pid
 * shown as who it is, sorted (the order of /proc/locks is not defined). */
static void procLocks(const char *label, pid_t kid) {
	FILE *f = fopen("/proc/locks", "r");
	if (!f)
		die("/proc/locks");
	char line[512], *out[64];
	int n = 0;
	while (fgets(line, sizeof line, f) && n < 64) {
		if (!strstr(line, devino))
			continue;
		/* "N: [-> ]KIND ADVISORY TYPE PID DEV:INO START END" */
		char *p = strchr(line, ':') + 2;
		char kind[16], adv[16], type[16], range1[32], range2[32];
		int pid;
		int arrow = strncmp(p, "-> ", 3) == 0;
		if (arrow)
			p += 3;
		if (sscanf(p, "%15s %15s %15s %d %*s %31s %31s", kind, adv, type, &pid, range1, range2) != 6)
			continue;
		const char *who = pid == parent ? "parent" : pid == kid ? "child" : pid == -1 ? "-1" : "other";
		char buf[256];
		snprintf(buf, sizeof buf, "%s%s %s %s %s %s %s", arrow ? "-> " : "", kind, adv, type, who, range1, range2);
		out[n++] = strdup(buf);
	}
	fclose(f);
	qsort(out, n, sizeof out[0], cmpstr);
	printf("%s: /proc/locks\n", label);
	for (int i = 0; i < n; i++)
		printf("  %s\n", out[i]);
}

/* waitBlocked waits until /proc/locks shows a waiter of pid kid on our
 * file: the child sleeps in its lock call. */
static void waitBlocked(pid_t kid) {
	char want[64];
	snprintf(want, sizeof want, "-> ");
	for (int i = 0; i < 6000; i++) {
		FILE *f = fopen("/proc/locks", "r");
		char line[512];
		int found = 0;
		while (f && fgets(line, sizeof line, f)) {
			char pidbuf[32];
			snprintf(pidbuf, sizeof pidbuf, " %d ", kid);
			if (strstr(line, want) && strstr(line, devino) && strstr(line, pidbuf))
				found = 1;
		}
		if (f)
			fclose(f);
		if (found)
			return;
		usleep(10000);
	}
	printf("child never seen blocked\n");
	exit(1);
}

static void fdinfoLocks(const char *label, int fd) {
	char p[64], line[512];
	snprintf(p, sizeof p, "/proc/self/fdinfo/%d", fd);
	FILE *f = fopen(p, "r");
	if (!f)
		die("fdinfo");
	printf("%s: fdinfo\n", label);
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, "lock:", 5) != 0)
			continue;
		char n[8], kind[16], adv[16], type[16], r1[32], r2[32];
		int pid;
		if (sscanf(line, "lock: %7s %15s %15s %15s %d %*s %31s %31s", n, kind, adv, type, &pid, r1, r2) == 7)
			printf("  lock: %s %s %s %s %s %s %s\n", n, kind, adv, type, pid == getpid() ? "self" : pid == -1 ? "-1" : "other", r1, r2);
	}
	fclose(f);
}

/* Children. */
static void kidProbe(void) {
	int fd = openf(O_RDWR);
	getlk("child GETLK [0,10)", fd, F_GETLK, F_WRLCK, 0, 10);
	getlk("child GETLK read [0,10)", fd, F_GETLK, F_RDLCK, 0, 10);
	report("child SETLK write [5,6)", setlk(fd, F_SETLK, F_WRLCK, 5, 1));
	report("child SETLK read [10,20)", setlk(fd, F_SETLK, F_RDLCK, 10, 10));
	getlk("child GETLK [0,100) after its own lock", fd, F_GETLK, F_WRLCK, 0, 100);
}

static void kidRanges(void) {
	int fd = openf(O_RDWR);
	getlk("child GETLK at 30", fd, F_GETLK, F_WRLCK, 30, 1);
	getlk("child GETLK at 50", fd, F_GETLK, F_WRLCK, 50, 1);
	getlk("child GETLK at 70", fd, F_GETLK, F_WRLCK, 70, 1);
	getlk("child GETLK at 150", fd, F_GETLK, F_WRLCK, 150, 1);
	getlk("child GETLK at 1000000", fd, F_GETLK, F_WRLCK, 1000000, 1);
	getlk("child GETLK read at 250", fd, F_GETLK, F_RDLCK, 250, 1);
	getlk("child GETLK write at 250", fd, F_GETLK, F_WRLCK, 250, 1);
}

static void kidAll(void) {
	int fd = openf(O_RDWR);
	getlk("child GETLK whole file", fd, F_GETLK, F_WRLCK, 0, 0);
}

static int ofdfd;
static void kidOFD(void) {
	int fd = openf(O_RDWR);
	getlk("child OFD_GETLK", fd, F_OFD_GETLK, F_WRLCK, 0, 0);
	getlk("child GETLK", fd, F_GETLK, F_WRLCK, 0, 0);
	/* The inherited description is the same owner. */
	report("child OFD_SETLK through the inherited description", setlk(ofdfd, F_OFD_SETLK, F_WRLCK, 0, 1));
}

static int flockfd;
static void kidFlock(void) {
	int fd = openf(O_RDONLY);
	report("child flock LOCK_SH|LOCK_NB", flock(fd, LOCK_SH | LOCK_NB));
	report("child flock LOCK_EX|LOCK_NB", flock(fd, LOCK_EX | LOCK_NB));
	report("child flock through the inherited description LOCK_EX|LOCK_NB", flock(flockfd, LOCK_EX | LOCK_NB));
	/* fcntl locks are independent of flock. */
	int w = openf(O_RDWR);
	report("child F_SETLK write while a flock is held", setlk(w, F_SETLK, F_WRLCK, 0, 0));
}

static void *threadLock(void *arg) {
	int fd = *(int *)arg;
	report("thread SETLK write [0,1) (the process's own lock)", setlk(fd, F_SETLK, F_WRLCK, 0, 1));
	return NULL;
}

static volatile sig_atomic_t alarms;
static int handled[2];
static void onUsr1(int sig) {
	(void)sig;
	alarms++;
	if (write(handled[1], "h", 1) != 1)
		_exit(4);
}

int main(int argc, char **argv) {
	init_output();
	if (argc < 2) {
		fprintf(stderr, "usage: locks DIR\n");
		return 2;
	}
	static char pbuf[4096];
	snprintf(pbuf, sizeof pbuf, "%s/locked", argv[1]);
	path = pbuf;
	parent = getpid();
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		die("create");
	if (write(fd, "0123456789", 10) != 10)
		die("write");
	struct stat st;
	fstat(fd, &st);
	snprintf(devino, sizeof devino, ":%lu ", (unsigned long)st.st_ino);

	printf("== F_GETLK on an unlocked file\n");
	getlk("GETLK", fd, F_GETLK, F_WRLCK, 0, 0);
	getlk("GETLK of F_UNLCK", fd, F_GETLK, F_UNLCK, 0, 0);

	printf("== one writer, one prober\n");
	report("SETLK write [0,10)", setlk(fd, F_SETLK, F_WRLCK, 0, 10));
	getlk("own GETLK (own locks never conflict)", fd, F_GETLK, F_WRLCK, 0, 10);
	child(kidProbe);
	procLocks("after the child", 0);
	report("SETLK unlock [0,10)", setlk(fd, F_SETLK, F_UNLCK, 0, 10));

	printf("== merging and splitting\n");
	report("SETLK write [0,100)", setlk(fd, F_SETLK, F_WRLCK, 0, 100));
	report("SETLK unlock [40,60)", setlk(fd, F_SETLK, F_UNLCK, 40, 20));
	report("SETLK write [100,200) (touches [60,100): merged)", setlk(fd, F_SETLK, F_WRLCK, 100, 100));
	report("SETLK read [200,300) (another type: not merged)", setlk(fd, F_SETLK, F_RDLCK, 200, 100));
	report("SETLK write from 1000 to end of file", setlk(fd, F_SETLK, F_WRLCK, 1000, 0));
	child(kidRanges);
	procLocks("ranges", 0);
	report("SETLK unlock all", setlk(fd, F_SETLK, F_UNLCK, 0, 0));
	procLocks("after unlock all", 0);

	printf("== l_whence and the errors\n");
	lseek(fd, 5, SEEK_SET);
	struct flock fl = mk(F_WRLCK, SEEK_CUR, 2, 3);
	report("SETLK SEEK_CUR+2 len 3", fcntl(fd, F_SETLK, &fl));
	fl = mk(F_WRLCK, SEEK_END, -4, 2);
	report("SETLK SEEK_END-4 len 2", fcntl(fd, F_SETLK, &fl));
	fl = mk(F_WRLCK, SEEK_SET, 20, -5);
	report("SETLK start 20 len -5", fcntl(fd, F_SETLK, &fl));
	procLocks("whence", 0);
	fl = mk(F_WRLCK, 7, 0, 1);
	report("SETLK bad whence", fcntl(fd, F_SETLK, &fl));
	fl = mk(F_WRLCK, SEEK_SET, -1, 1);
	report("SETLK negative start", fcntl(fd, F_SETLK, &fl));
	fl = mk(F_WRLCK, SEEK_SET, 2, -5);
	report("SETLK range before 0", fcntl(fd, F_SETLK, &fl));
	fl = mk(F_WRLCK, SEEK_SET, 0x7ffffffffffffff0LL, 0x100);
	report("SETLK beyond OFFSET_MAX", fcntl(fd, F_SETLK, &fl));
	fl = mk(42, SEEK_SET, 0, 1);
	report("SETLK bad type", fcntl(fd, F_SETLK, &fl));
	report("SETLK bad pointer", fcntl(fd, F_SETLK, (void *)8));
	int ro = openf(O_RDONLY), wo = openf(O_WRONLY);
	report("SETLK write on O_RDONLY", setlk(ro, F_SETLK, F_WRLCK, 0, 1));
	report("SETLK read on O_WRONLY", setlk(wo, F_SETLK, F_RDLCK, 0, 1));
	report("SETLK unlock on O_RDONLY", setlk(ro, F_SETLK, F_UNLCK, 0, 1));
	int pfd = open(path, O_PATH);
	report("SETLK on O_PATH", setlk(pfd, F_SETLK, F_RDLCK, 0, 1));
	close(pfd);
	report("SETLK unlock all", setlk(fd, F_SETLK, F_UNLCK, 0, 0));

	printf("== closing any descriptor of the file drops the process's locks\n");
	report("SETLK write all", setlk(fd, F_SETLK, F_WRLCK, 0, 0));
	child(kidAll);
	close(ro);
	child(kidAll);
	report("SETLK write all again", setlk(fd, F_SETLK, F_WRLCK, 0, 0));
	int d = dup(fd);
	close(d);
	child(kidAll);

	printf("== threads share their process's locks\n");
	report("SETLK read [0,1)", setlk(fd, F_SETLK, F_RDLCK, 0, 1));
	pthread_t th;
	pthread_create(&th, NULL, threadLock, &fd);
	pthread_join(th, NULL);
	child(kidAll);
	report("SETLK unlock all", setlk(fd, F_SETLK, F_UNLCK, 0, 0));

	printf("== OFD locks\n");
	ofdfd = openf(O_RDWR);
	fl = mk(F_WRLCK, SEEK_SET, 0, 0);
	fl.l_pid = 1;
	report("OFD_SETLK with l_pid set", fcntl(ofdfd, F_OFD_SETLK, &fl));
	getlk("OFD_GETLK with l_pid set", ofdfd, F_OFD_GETLK, F_WRLCK, 0, 0);
	report("OFD_SETLK write all", setlk(ofdfd, F_OFD_SETLK, F_WRLCK, 0, 0));
	report("SETLK (POSIX) write in the same process", setlk(fd, F_SETLK, F_WRLCK, 0, 1));
	getlk("GETLK in the same process", fd, F_GETLK, F_WRLCK, 0, 1);
	int other = openf(O_RDWR);
	report("OFD_SETLK through another description", setlk(other, F_OFD_SETLK, F_WRLCK, 0, 1));
	getlk("OFD_GETLK through another description", other, F_OFD_GETLK, F_WRLCK, 0, 1);
	child(kidOFD);
	fdinfoLocks("OFD", ofdfd);
	procLocks("OFD", 0);
	close(fd); /* the process's close does not drop an OFD lock */
	fd = openf(O_RDWR);
	report("SETLK after an unrelated close", setlk(fd, F_SETLK, F_WRLCK, 0, 1));
	int ofddup = dup(ofdfd);
	close(ofdfd);
	report("SETLK while a dup keeps the description", setlk(fd, F_SETLK, F_WRLCK, 0, 1));
	close(ofddup);
	report("SETLK after the description's last close", setlk(fd, F_SETLK, F_WRLCK, 0, 1));
	report("unlock", setlk(fd, F_SETLK, F_UNLCK, 0, 0));
	close(other);

	printf("== flock\n");
	flockfd = openf(O_RDONLY);
	report("flock bad command", flock(flockfd, 12345));
	report("flock LOCK_SH", flock(flockfd, LOCK_SH));
	child(kidFlock);
	report("flock LOCK_EX (conversion)", flock(flockfd, LOCK_EX | LOCK_NB));
	child(kidFlock);
	fdinfoLocks("flock", flockfd);
	procLocks("flock", 0);
	report("flock LOCK_UN", flock(flockfd, LOCK_UN));
	report("flock LOCK_UN again", flock(flockfd, LOCK_UN));
	int path_fd = open(path, O_PATH);
	report("flock on O_PATH", flock(path_fd, LOCK_SH));
	close(path_fd);
	report("flock on a bad descriptor", flock(999, LOCK_SH));
	report("flock LOCK_EX, then the last close drops it", flock(flockfd, LOCK_EX));
	close(flockfd);
	int again = openf(O_RDONLY);
	report("flock LOCK_EX|LOCK_NB from a new description", flock(again, LOCK_EX | LOCK_NB));
	close(again);

	printf("== waiting for a lock\n");
	report("SETLK write all", setlk(fd, F_SETLK, F_WRLCK, 0, 0));
	int done[2];
	if (pipe(done) < 0)
		die("pipe");
	pid_t k = fork();
	if (k == 0) {
		close(done[0]);
		int cfd = openf(O_RDWR);
		report("child SETLKW write [3,4)", setlk(cfd, F_SETLKW, F_WRLCK, 3, 1));
		if (write(done[1], "x", 1) != 1)
			_exit(3);
		_exit(0);
	}
	close(done[1]);
	waitBlocked(k);
	procLocks("a child waits", k);
	fcntl(done[0], F_SETFL, O_NONBLOCK);
	char c;
	yesno("child got the lock while it was held", read(done[0], &c, 1) == 1);
	int r = setlk(fd, F_SETLK, F_UNLCK, 0, 0);
	fcntl(done[0], F_SETFL, 0);
	int got = read(done[0], &c, 1) == 1;
	report("SETLK unlock all", r);
	yesno("child got the lock after the unlock", got);
	int status;
	waitpid(k, &status, 0);
	report("child exit status", WEXITSTATUS(status));
	close(done[0]);
	/* The child exited holding [3,4): its exit released it. */
	child(kidAll);

	printf("== flock waits too\n");
	int fa = openf(O_RDONLY);
	report("flock LOCK_EX", flock(fa, LOCK_EX));
	k = fork();
	if (k == 0) {
		int cfd = openf(O_RDONLY);
		report("child flock LOCK_SH (waits)", flock(cfd, LOCK_SH));
		_exit(0);
	}
	waitBlocked(k);
	procLocks("a child waits for a flock", k);
	r = flock(fa, LOCK_UN);
	waitpid(k, &status, 0);
	report("flock LOCK_UN", r);
	report("child exit status", WEXITSTATUS(status));
	close(fa);

	printf("== interrupted waits\n");
	report("SETLK write all", setlk(fd, F_SETLK, F_WRLCK, 0, 0));
	if (pipe(handled) < 0)
		die("pipe");
	k = fork();
	if (k == 0) {
		close(handled[0]);
		struct sigaction sa = {0};
		sa.sa_handler = onUsr1;
		sigaction(SIGUSR1, &sa, NULL);
		int cfd = openf(O_RDWR);
		report("child SETLKW without SA_RESTART", setlk(cfd, F_SETLKW, F_WRLCK, 0, 1));
		sa.sa_flags = SA_RESTART;
		sigaction(SIGUSR1, &sa, NULL);
		report("child SETLKW with SA_RESTART", setlk(cfd, F_SETLKW, F_WRLCK, 0, 1));
		printf("child handler ran: %d\n", alarms);
		_exit(0);
	}
	close(handled[1]);
	waitBlocked(k);
	kill(k, SIGUSR1);
	if (read(handled[0], &c, 1) != 1)
		die("read");
	waitBlocked(k);
	kill(k, SIGUSR1);
	if (read(handled[0], &c, 1) != 1)
		die("read");
	r = setlk(fd, F_SETLK, F_UNLCK, 0, 0);
	waitpid(k, &status, 0);
	report("SETLK unlock all", r);
	report("child exit status", WEXITSTATUS(status));
	close(handled[0]);

	printf("== deadlock\n");
	report("SETLK write [0,1)", setlk(fd, F_SETLK, F_WRLCK, 0, 1));
	int ready[2];
	if (pipe(ready) < 0)
		die("pipe");
	k = fork();
	if (k == 0) {
		close(ready[0]);
		int cfd = openf(O_RDWR);
		report("child SETLK write [1,2)", setlk(cfd, F_SETLK, F_WRLCK, 1, 1));
		if (write(ready[1], "x", 1) != 1)
			_exit(3);
		report("child SETLKW write [0,1)", setlk(cfd, F_SETLKW, F_WRLCK, 0, 1));
		_exit(0);
	}
	close(ready[1]);
	if (read(ready[0], &c, 1) != 1)
		die("read");
	waitBlocked(k);
	report("SETLKW write [1,2): the child waits for us", setlk(fd, F_SETLKW, F_WRLCK, 1, 1));
	r = setlk(fd, F_SETLK, F_UNLCK, 0, 1);
	waitpid(k, &status, 0);
	report("SETLK unlock [0,1)", r);
	report("child exit status", WEXITSTATUS(status));
	report("SETLKW write [1,2) after the child exited", setlk(fd, F_SETLKW, F_WRLCK, 1, 1));
	report("SETLK unlock all", setlk(fd, F_SETLK, F_UNLCK, 0, 0));
	procLocks("at the end", 0);
	unlink(path);
	return 0;
}
