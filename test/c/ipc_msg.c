/* ipc_msg: System V message queues in a fresh IPC namespace (natively the
 * program unshares one; the sandbox's is its own): msgget's errors,
 * msgsnd/msgrcv with every msgtyp mode (0, > 0, < 0, MSG_EXCEPT),
 * MSG_NOERROR and E2BIG, MSG_COPY, IPC_NOWAIT (EAGAIN for a full queue,
 * ENOMSG for an empty one), a receiver blocking until a sender comes and
 * a sender blocking until there is room, EIDRM for waiters of a removed
 * queue, EINTR for an interrupted msgrcv, msgctl's IPC_STAT/IPC_SET
 * (msg_qbytes)/IPC_INFO/MSG_INFO/MSG_STAT, argument errors (EINVAL,
 * EFAULT) and the permission checks as an unprivileged user.
 *
 * Waiting for a child to block is done by polling /proc/PID/stat's state
 * or the queue's counters, never by sleeping a fixed time. */
#include "common.h"
#include <sched.h>
#include <signal.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/wait.h>

#ifndef MSG_COPY
#define MSG_COPY 040000
#endif

struct m {
	long type;
	char text[256];
};

static void snd(int q, long type, const char *text) {
	struct m b = {type};
	strcpy(b.text, text);
	if (msgsnd(q, &b, strlen(text), IPC_NOWAIT) < 0)
		die("msgsnd");
}

static void rcv(const char *what, int q, size_t size, long type, int flags) {
	struct m b;
	memset(&b, 0, sizeof b);
	ssize_t n = msgrcv(q, &b, size, type, flags);
	if (n < 0)
		printf("%s = -1 %s\n", what, errname(errno));
	else
		printf("%s = %zd type %ld text %.*s\n", what, n, b.type, (int)n, b.text);
}

static void onusr1(int sig) {}

int main(void) {
	init_output();
	if (unshare(CLONE_NEWIPC) < 0 && errno != ENOSYS && errno != EPERM && errno != EINVAL)
		die("unshare");

	/* msgget. */
	report("msgget missing key", msgget(0x99, 0600));
	int q = msgget(0x99, IPC_CREAT | 0600);
	report("msgget create", q);
	report("msgget again", msgget(0x99, 0));
	report("msgget excl", msgget(0x99, IPC_CREAT | IPC_EXCL | 0600));
	int p = msgget(IPC_PRIVATE, 0600);
	report("msgget private", p);

	/* Types. */
	snd(q, 5, "five");
	snd(q, 2, "two");
	snd(q, 7, "seven");
	snd(q, 2, "two again");
	snd(q, 1, "one");
	struct msqid_ds ds;
	msgctl(q, IPC_STAT, &ds);
	printf("stat: qnum %lu cbytes %lu qbytes %lu lspid self %s lrpid %d stime %s rtime %s\n",
	       (unsigned long)ds.msg_qnum, (unsigned long)ds.__msg_cbytes, (unsigned long)ds.msg_qbytes,
	       ds.msg_lspid == getpid() ? "yes" : "no", ds.msg_lrpid, ds.msg_stime ? "set" : "0",
	       ds.msg_rtime ? "set" : "0");
	rcv("MSG_COPY 1", q, 256, 1, MSG_COPY | IPC_NOWAIT);
	rcv("MSG_COPY 9", q, 256, 9, MSG_COPY | IPC_NOWAIT);
	rcv("MSG_COPY without IPC_NOWAIT", q, 256, 1, MSG_COPY);
	rcv("MSG_COPY with MSG_EXCEPT", q, 256, 1, MSG_COPY | MSG_EXCEPT | IPC_NOWAIT);
	rcv("MSG_COPY too small", q, 2, 0, MSG_COPY | IPC_NOWAIT);
	rcv("MSG_COPY too small with MSG_NOERROR", q, 2, 0, MSG_COPY | MSG_NOERROR | IPC_NOWAIT);
	rcv("type 2", q, 256, 2, 0);
	rcv("type -6 (lowest up to 6)", q, 256, -6, 0);
	rcv("except 7", q, 256, 7, MSG_EXCEPT);
	rcv("type 0", q, 256, 0, 0);
	rcv("type 3 none", q, 256, 3, IPC_NOWAIT);
	rcv("too small", q, 3, 0, IPC_NOWAIT);
	rcv("MSG_NOERROR cuts", q, 3, 0, MSG_NOERROR | IPC_NOWAIT);
	rcv("empty", q, 256, 0, IPC_NOWAIT);
	msgctl(q, IPC_STAT, &ds);
	printf("stat: qnum %lu cbytes %lu lrpid self %s rtime %s\n", (unsigned long)ds.msg_qnum,
	       (unsigned long)ds.__msg_cbytes, ds.msg_lrpid == getpid() ? "yes" : "no", ds.msg_rtime ? "set" : "0");

	/* Argument errors. */
	struct m b = {0};
	report("msgsnd type 0", msgsnd(q, &b, 1, 0));
	b.type = 1;
	report("msgsnd too big", msgsnd(q, &b, 8193, 0));
	report("msgsnd negative size", msgsnd(q, &b, (size_t)-1, 0));
	report("msgsnd bad pointer", msgsnd(q, (void *)8, 1, 0));
	report("msgsnd negative id", msgsnd(-1, &b, 1, 0));
	report("msgsnd stale id", msgsnd(q + 32768, &b, 1, 0));
	report("msgsnd empty text", msgsnd(q, &b, 0, 0));
	rcv("receive empty text", q, 256, 0, IPC_NOWAIT);
	report("msgrcv negative size", msgrcv(q, &b, (size_t)-1, 0, IPC_NOWAIT));
	report("msgrcv negative id", msgrcv(-1, &b, 1, 0, IPC_NOWAIT));
	snd(q, 3, "lost");
	report("msgrcv bad pointer", msgrcv(q, (void *)8, 10, 0, IPC_NOWAIT));
	msgctl(q, IPC_STAT, &ds);
	printf("qnum after a failed copy-out: %lu\n", (unsigned long)ds.msg_qnum);
	report("msgctl bad command", msgctl(q, 99, &ds));
	report("msgctl IPC_STAT bad pointer", msgctl(q, IPC_STAT, (struct msqid_ds *)8));
	report("msgctl IPC_SET bad pointer", msgctl(q, IPC_SET, (struct msqid_ds *)8));

	/* A receiver waits for a sender, with the type it wants. */
	pid_t c = fork();
	if (c == 0) {
		rcv("child: blocking receive of type 4", q, 256, 4, 0);
		_exit(0);
	}
	wait_sleeping(c);
	snd(q, 1, "not for the child");
	snd(q, 4, "for the child");
	int st;
	waitpid(c, &st, 0);
	msgctl(q, IPC_STAT, &ds);
	printf("after the handoff: qnum %lu lrpid child %s\n", (unsigned long)ds.msg_qnum, ds.msg_lrpid == c ? "yes" : "no");
	rcv("left in the queue", q, 256, 0, IPC_NOWAIT);
	/* A receiver with a small buffer waiting gets E2BIG. */
	c = fork();
	if (c == 0) {
		rcv("child: small buffer", q, 2, 0, 0);
		_exit(0);
	}
	wait_sleeping(c);
	snd(q, 1, "long message");
	waitpid(c, &st, 0);
	rcv("the long message stayed", q, 256, 0, IPC_NOWAIT);

	/* msg_qbytes bounds the queue: a full queue makes senders wait. */
	msgctl(q, IPC_STAT, &ds);
	ds.msg_qbytes = 10;
	report("IPC_SET qbytes 10", msgctl(q, IPC_SET, &ds));
	snd(q, 1, "123456");
	b.type = 1;
	strcpy(b.text, "abcdef");
	report("msgsnd full nowait", msgsnd(q, &b, 6, IPC_NOWAIT));
	c = fork();
	if (c == 0) {
		_exit(msgsnd(q, &b, 6, 0) == 0 ? 0 : 1);
	}
	wait_sleeping(c);
	rcv("make room", q, 256, 0, 0);
	waitpid(c, &st, 0);
	printf("blocked sender's status %d\n", WEXITSTATUS(st));
	rcv("the blocked sender's", q, 256, 0, IPC_NOWAIT);
	/* (Raising msg_qbytes past msgmnb needs CAP_SYS_RESOURCE, which the
	 * host's root may lack: only the unprivileged user tries, below.) */

	/* A signal interrupts a msgrcv (with SA_RESTART it would restart:
	 * ERESTARTNOHAND only restarts without a handler, so EINTR). */
	struct sigaction sa = {.sa_handler = onusr1, .sa_flags = SA_RESTART};
	sigaction(SIGUSR1, &sa, NULL);
	c = fork();
	if (c == 0) {
		rcv("child: interrupted receive", q, 256, 0, 0);
		_exit(0);
	}
	wait_sleeping(c);
	kill(c, SIGUSR1);
	waitpid(c, &st, 0);

	/* IPC_RMID wakes receivers with EIDRM. */
	c = fork();
	if (c == 0) {
		rcv("child: receive from a removed queue", q, 256, 0, 0);
		_exit(0);
	}
	wait_sleeping(c);

	/* The namespace's tables, while both queues exist. */
	snd(p, 1, "xyz");
	struct msginfo mi;
	long r = msgctl(0, IPC_INFO, (struct msqid_ds *)&mi);
	printf("IPC_INFO = %ld: msgmax %d msgmnb %d msgmni %d msgssz %d msgseg %d\n", r, mi.msgmax, mi.msgmnb, mi.msgmni,
	       mi.msgssz, mi.msgseg);
	r = msgctl(0, MSG_INFO, (struct msqid_ds *)&mi);
	printf("MSG_INFO = %ld: msgpool %d msgmap %d msgtql %d\n", r, mi.msgpool, mi.msgmap, mi.msgtql);
	for (int i = 0; i < 3; i++) {
		long id = msgctl(i, MSG_STAT, &ds);
		if (id < 0)
			printf("MSG_STAT %d = -1 %s\n", i, errname(errno));
		else
			printf("MSG_STAT %d = %s qnum %lu\n", i, id == q ? "q" : id == p ? "p" : "other", (unsigned long)ds.msg_qnum);
	}

	r = msgctl(q, IPC_RMID, NULL);
	waitpid(c, &st, 0);
	report("IPC_RMID", r);
	report("msgsnd to a removed queue", msgsnd(q, &b, 1, 0));
	report("IPC_RMID again", msgctl(q, IPC_RMID, NULL));

	/* Permissions as an unprivileged user. */
	int ro = msgget(0x100, IPC_CREAT | 0644);
	snd(ro, 1, "ro");
	c = fork();
	if (c == 0) {
		if (setgid(1000) < 0 || setuid(1000) < 0)
			die("setuid");
		report("user: msgget 0600 key", msgget(0x99, 0600));
		report("user: msgget 0666 of 0644", msgget(0x100, 0666));
		report("user: msgget 0444 of 0644", msgget(0x100, 0444) == ro ? 0 : -1);
		report("user: msgsnd", msgsnd(ro, &b, 1, IPC_NOWAIT));
		rcv("user: msgrcv", ro, 256, 0, IPC_NOWAIT);
		rcv("user: msgrcv of p", p, 256, 0, IPC_NOWAIT);
		report("user: IPC_STAT of p", msgctl(p, IPC_STAT, &ds));
		report("user: MSG_STAT_ANY of p", msgctl(p & 0x7fff, MSG_STAT_ANY, &ds) == p ? 0 : -1);
		report("user: IPC_RMID", msgctl(ro, IPC_RMID, NULL));
		msgctl(ro, IPC_STAT, &ds);
		ds.msg_qbytes = 1 << 20;
		report("user: IPC_SET", msgctl(ro, IPC_SET, &ds));
		_exit(0);
	}
	waitpid(c, &st, 0);
	printf("user child status %d\n", WEXITSTATUS(st));
	return 0;
}
