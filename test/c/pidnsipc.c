/* pidnsipc.c: process IDs that locks and IPC objects record, seen from a
 * nested PID namespace (issue 15 item 6).
 *
 * Linux keeps a struct pid for F_GETLK's l_pid, SysV shared memory's
 * shm_cpid/shm_lpid, a queue's msg_lspid/msg_lrpid, a semaphore's sempid and
 * a message queue's notification, and shows each in the reader's PID
 * namespace: 0 for a process outside it. The parent P makes the objects and
 * holds a lock, then makes a child C, init of a new PID namespace, which
 * reads them (P's PIDs are 0), uses them (its own ID, 1), and has its child
 * G (2) lock, send and notify; /proc/sysvipc/{shm,msg} are the reader's view
 * and a /proc/locks mounted for C's namespace leaves P's lock out. P then
 * sees C by its own PID. Only inside IDs and relations are printed.
 */
#include "common.h"
#include <mqueue.h>
#include <sched.h>
#include <signal.h>
#include <sys/ipc.h>
#include <sys/mount.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>

struct msgbuf1 {
	long mtype;
	char mtext[8];
};

static int fd, shmid, msqid, semid;
static mqd_t mq;
static ino_t ino;

static pid_t getlk(off_t start, off_t len) {
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = start, .l_len = len};
	if (fcntl(fd, F_GETLK, &fl) < 0) {
		printf("F_GETLK: %s\n", errname(errno));
		return -2;
	}
	if (fl.l_type == F_UNLCK)
		return -3;
	return fl.l_pid;
}

/* sysvipc returns columns a and b (1-based) of the line of
 * /proc/sysvipc/name whose second column is id. */
static void sysvipc(const char *name, int id, int a, int b, long *va, long *vb) {
	char path[64], line[512];
	*va = *vb = -9;
	snprintf(path, sizeof path, "/proc/sysvipc/%s", name);
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof line, f)) {
		long col[16];
		int n = 0;
		char *s = line, *end;
		while (n < 16) {
			long v = strtol(s, &end, 10);
			if (end == s)
				break;
			col[n++] = v;
			s = end;
		}
		if (n >= 2 && n >= a && n >= b && col[1] == id) {
			*va = col[a - 1];
			*vb = col[b - 1];
		}
	}
	fclose(f);
}

static void show_shm(const char *when) {
	struct shmid_ds ds;
	long c, l;
	if (shmctl(shmid, IPC_STAT, &ds) < 0) {
		printf("%s: shmctl: %s\n", when, errname(errno));
		return;
	}
	sysvipc("shm", shmid, 5, 6, &c, &l);
	printf("%s: shm_cpid %d shm_lpid %d; /proc/sysvipc/shm cpid %ld lpid %ld\n", when, ds.shm_cpid, ds.shm_lpid, c, l);
}

static void show_msg(const char *when) {
	struct msqid_ds ds;
	long s, r;
	if (msgctl(msqid, IPC_STAT, &ds) < 0) {
		printf("%s: msgctl: %s\n", when, errname(errno));
		return;
	}
	sysvipc("msg", msqid, 6, 7, &s, &r);
	printf("%s: msg_lspid %d msg_lrpid %d; /proc/sysvipc/msg lspid %ld lrpid %ld\n", when, ds.msg_lspid, ds.msg_lrpid, s, r);
}

static void semop1(int delta) {
	struct sembuf op = {.sem_num = 0, .sem_op = delta, .sem_flg = 0};
	if (semop(semid, &op, 1) < 0)
		printf("semop: %s\n", errname(errno));
}

static void sendmsg1(void) {
	struct msgbuf1 m = {.mtype = 1, .mtext = "m"};
	if (msgsnd(msqid, &m, 1, 0) < 0)
		printf("msgsnd: %s\n", errname(errno));
}

static void recvmsg1(void) {
	struct msgbuf1 m;
	if (msgrcv(msqid, &m, sizeof m.mtext, 0, 0) < 0)
		printf("msgrcv: %s\n", errname(errno));
}

/* notify_pid reads NOTIFY_PID from the queue's status (read of the mqd). */
static long notify_pid(void) {
	char buf[256];
	ssize_t n = pread(mq, buf, sizeof buf - 1, 0);
	if (n < 0)
		return -9;
	buf[n] = 0;
	char *p = strstr(buf, "NOTIFY_PID:");
	return p ? strtol(p + 11, NULL, 10) : -8;
}

/* notified registers for SIGUSR1, lets sender send (a byte on go), and
 * prints the notification's si_pid. */
static void notified(const char *who, int go) {
	struct sigevent sev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR1};
	if (mq_notify(mq, &sev) < 0) {
		printf("mq_notify: %s\n", errname(errno));
		return;
	}
	printf("C: NOTIFY_PID while registered: %ld\n", notify_pid());
	put_byte(go);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	siginfo_t si;
	if (sigwaitinfo(&set, &si) < 0) {
		printf("sigwaitinfo: %s\n", errname(errno));
		return;
	}
	char b[8];
	mq_receive(mq, b, sizeof b, NULL);
	printf("C: notification of %s's message: si_code SI_MESGQ %s, si_pid %d\n", who, si.si_code == SI_MESGQ ? "yes" : "no", si.si_pid);
}

static void proc_locks(void) {
	char line[512], tag[64];
	FILE *f = fopen("/proc/locks", "r");
	if (!f) {
		printf("/proc/locks: %s\n", errname(errno));
		return;
	}
	snprintf(tag, sizeof tag, ":%lu ", (unsigned long)ino);
	int n = 0;
	while (fgets(line, sizeof line, f)) {
		char *t = strstr(line, tag);
		char *k = strchr(line, ' ');
		if (!t || !k || strstr(line, "->"))
			continue;
		/* "N: POSIX  ADVISORY  WRITE PID MAJ:MIN:INO START END" without
		 * N and the device. */
		char kind[16], adv[16], type[16];
		long pid;
		if (sscanf(k, "%15s %15s %15s %ld", kind, adv, type, &pid) == 4)
			printf("C: /proc/locks (C's procfs): %s %s pid %ld range %s", kind, type, pid, t + strlen(tag));
		n++;
	}
	fclose(f);
	printf("C: /proc/locks lines for the file: %d\n", n);
}

static void child(int go_c2p, int go_p2c) {
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);

	printf("C: getpid %d\n", getpid());
	printf("C: F_GETLK of P's lock: l_pid %d\n", getlk(0, 10));
	show_shm("C, P made and attached");
	show_msg("C, P sent");
	printf("C: semctl GETPID after P's semop: %d\n", semctl(semid, 0, GETPID));

	void *a = shmat(shmid, NULL, 0);
	if (a == (void *)-1)
		printf("shmat: %s\n", errname(errno));
	else
		shmdt(a);
	show_shm("C, C attached");
	recvmsg1();
	show_msg("C, C received");
	semop1(1);
	printf("C: semctl GETPID after C's semop: %d\n", semctl(semid, 0, GETPID));

	int g2c[2], c2g[2];
	if (pipe(g2c) < 0 || pipe(c2g) < 0)
		_exit(97);
	pid_t g = fork();
	if (g == 0) {
		struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 20, .l_len = 10};
		if (fcntl(fd, F_SETLK, &fl) < 0)
			printf("G: F_SETLK: %s\n", errname(errno));
		sendmsg1();
		semop1(1);
		put_byte(g2c[1]);
		wait_byte(c2g[0]); /* C registered: send */
		if (mq_send(mq, "g", 1, 0) < 0)
			printf("G: mq_send: %s\n", errname(errno));
		wait_byte(c2g[0]);
		_exit(0);
	}
	printf("C: fork: G is %d\n", g);
	wait_byte(g2c[0]);
	printf("C: F_GETLK of G's lock: l_pid %d\n", getlk(20, 10));
	show_msg("C, G sent");
	printf("C: semctl GETPID after G's semop: %d\n", semctl(semid, 0, GETPID));

	notified("G", c2g[1]);
	notified("P", go_c2p);

	/* A procfs for C's namespace: P's lock (its owner unseen) is left
	 * out, G's shows its inside ID. */
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("proc", "/proc", "proc", 0, NULL) < 0)
		printf("C: mount proc: %s\n", errname(errno));
	else
		proc_locks();

	put_byte(c2g[1]);
	int st;
	waitpid(g, &st, 0);
	(void)go_p2c;
	_exit(0);
}

int main(void) {
	init_output();
	char path[] = "/tmp/pidnsipcXXXXXX";
	fd = mkstemp(path);
	if (fd < 0 || write(fd, "0123456789012345678901234567890123456789", 40) != 40) {
		printf("mkstemp: %s\n", errname(errno));
		return 1;
	}
	unlink(path);
	struct stat st;
	fstat(fd, &st);
	ino = st.st_ino;
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10};
	if (fcntl(fd, F_SETLK, &fl) < 0)
		printf("P: F_SETLK: %s\n", errname(errno));

	shmid = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	msqid = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
	semid = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
	char mqname[64];
	snprintf(mqname, sizeof mqname, "/pidnsipc-%d", getpid());
	struct mq_attr attr = {.mq_maxmsg = 4, .mq_msgsize = 8};
	mq = mq_open(mqname, O_CREAT | O_RDWR, 0600, &attr);
	if (shmid < 0 || msqid < 0 || semid < 0 || mq == (mqd_t)-1) {
		printf("IPC objects: %s\n", errname(errno));
		return 1;
	}
	mq_unlink(mqname);
	void *a = shmat(shmid, NULL, 0);
	if (a != (void *)-1)
		shmdt(a);
	sendmsg1();
	semop1(1);

	int c2p[2], p2c[2];
	if (pipe(c2p) < 0 || pipe(p2c) < 0)
		return 1;
	if (unshare(CLONE_NEWPID) < 0) {
		printf("unshare(CLONE_NEWPID): %s\n", errname(errno));
		return 1;
	}
	pid_t c = fork();
	if (c < 0) {
		printf("fork: %s\n", errname(errno));
		return 1;
	}
	if (c == 0)
		child(c2p[1], p2c[0]);
	wait_byte(c2p[0]); /* C registered for the notification */
	if (mq_send(mq, "p", 1, 0) < 0)
		printf("P: mq_send: %s\n", errname(errno));
	int status;
	waitpid(c, &status, 0);
	printf("P: child exited %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);

	struct shmid_ds sds;
	struct msqid_ds mds;
	long cp, lp, sp, rp;
	shmctl(shmid, IPC_STAT, &sds);
	msgctl(msqid, IPC_STAT, &mds);
	sysvipc("shm", shmid, 5, 6, &cp, &lp);
	sysvipc("msg", msqid, 6, 7, &sp, &rp);
	printf("P: shm_cpid is P: %s, shm_lpid is C: %s\n", sds.shm_cpid == getpid() ? "yes" : "no", sds.shm_lpid == c ? "yes" : "no");
	printf("P: /proc/sysvipc/shm cpid is P: %s, lpid is C: %s\n", cp == getpid() ? "yes" : "no", lp == c ? "yes" : "no");
	printf("P: msg_lrpid is C: %s, /proc/sysvipc/msg lrpid is C: %s\n", mds.msg_lrpid == c ? "yes" : "no", rp == c ? "yes" : "no");
	printf("P: msg_lspid (G's) is a PID of P's namespace, not 2: %s\n", mds.msg_lspid > 0 && mds.msg_lspid != 2 && mds.msg_lspid == sp ? "yes" : "no");
	int gp = semctl(semid, 0, GETPID);
	printf("P: semctl GETPID (G's) is that same PID: %s\n", gp == mds.msg_lspid ? "yes" : "no");

	shmctl(shmid, IPC_RMID, NULL);
	msgctl(msqid, IPC_RMID, NULL);
	semctl(semid, 0, IPC_RMID);
	return 0;
}
