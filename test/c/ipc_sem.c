/* ipc_sem: System V semaphores in a fresh IPC namespace (natively the
 * program unshares one; the sandbox's is its own): semget's errors,
 * semctl's commands (GETVAL/SETVAL/GETALL/SETALL/GETPID/GETNCNT/GETZCNT,
 * IPC_STAT/IPC_SET/IPC_RMID, IPC_INFO/SEM_INFO/SEM_STAT), semop's
 * atomicity, IPC_NOWAIT, blocking until another process changes the set,
 * semtimedop's timeout, EIDRM for a waiter whose set is removed, EINTR for
 * one a signal interrupts (never restarted), SEM_UNDO applied at exit
 * (clamped at zero), argument errors (EINVAL, E2BIG, EFBIG, ERANGE,
 * EFAULT), and the permission checks as an unprivileged user.
 *
 * Waiting for a child to block is done by polling GETNCNT/GETZCNT, never
 * by sleeping a fixed time. */
#include "common.h"
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/wait.h>
#include <time.h>

union semun {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
	struct seminfo *__buf;
};

/* wait_cnt polls cmd (GETNCNT or GETZCNT) of semaphore num until it is
 * want, for at most a minute. */
static long wait_cnt(int id, int num, int cmd, int want) {
	long v = -1;
	for (int i = 0; i < 60000; i++) {
		v = semctl(id, num, cmd);
		if (v == want || v < 0)
			return v;
		usleep(1000);
	}
	return v;
}

static void show_vals(const char *what, int id, int n) {
	unsigned short v[8];
	union semun u = {.array = v};
	if (semctl(id, 0, GETALL, u) < 0) {
		printf("%s: GETALL = -1 %s\n", what, errname(errno));
		return;
	}
	printf("%s:", what);
	for (int i = 0; i < n; i++)
		printf(" %u", v[i]);
	printf("\n");
}

static void onusr1(int sig) {}

static int thread_set;
static void *undo_thread(void *arg) {
	struct sembuf b = {0, 2, SEM_UNDO};
	semop(thread_set, &b, 1);
	return NULL;
}

static int op(int id, int num, int o, int flg) {
	struct sembuf b = {num, o, flg};
	return semop(id, &b, 1);
}

int main(void) {
	init_output();
	if (unshare(CLONE_NEWIPC) < 0 && errno != ENOSYS && errno != EPERM && errno != EINVAL)
		die("unshare");
	union semun u;

	/* semget. */
	report("semget new with 0 sems", semget(IPC_PRIVATE, 0, 0600));
	report("semget too many sems", semget(IPC_PRIVATE, 40000, 0600));
	report("semget negative nsems", semget(IPC_PRIVATE, -1, 0600));
	report("semget missing key", semget(0x4242, 1, 0600));
	int s = semget(0x4242, 3, IPC_CREAT | 0600);
	report("semget create", s);
	report("semget again", semget(0x4242, 2, 0));
	report("semget 0 sems existing", semget(0x4242, 0, 0));
	report("semget more than it has", semget(0x4242, 4, 0));
	report("semget excl", semget(0x4242, 3, IPC_CREAT | IPC_EXCL | 0600));

	/* Values. */
	show_vals("fresh", s, 3);
	report("SETVAL 1 = 5", semctl(s, 1, SETVAL, (union semun){.val = 5}));
	report("GETVAL 1", semctl(s, 1, GETVAL));
	report("GETPID is self", semctl(s, 1, GETPID) == getpid() ? 0 : -1);
	report("GETPID untouched", semctl(s, 0, GETPID));
	report("SETVAL too big", semctl(s, 0, SETVAL, (union semun){.val = 32768}));
	report("SETVAL negative", semctl(s, 0, SETVAL, (union semun){.val = -1}));
	report("SETVAL bad num", semctl(s, 3, SETVAL, (union semun){.val = 1}));
	report("GETVAL bad num", semctl(s, -1, GETVAL));
	unsigned short all[3] = {1, 2, 3};
	u.array = all;
	report("SETALL", semctl(s, 0, SETALL, u));
	show_vals("after SETALL", s, 3);
	unsigned short bad[3] = {1, 40000, 3};
	u.array = bad;
	report("SETALL too big", semctl(s, 0, SETALL, u));
	u.array = (unsigned short *)8;
	report("SETALL bad pointer", semctl(s, 0, SETALL, u));
	report("GETALL bad pointer", semctl(s, 0, GETALL, u));
	struct semid_ds ds;
	u.buf = &ds;
	report("IPC_STAT", semctl(s, 0, IPC_STAT, u));
	printf("stat: key %#x mode %o nsems %lu otime %s ctime %s\n", ds.sem_perm.__key, ds.sem_perm.mode,
	       (unsigned long)ds.sem_nsems, ds.sem_otime ? "set" : "0", ds.sem_ctime ? "set" : "0");
	u.buf = (struct semid_ds *)8;
	report("IPC_STAT bad pointer", semctl(s, 0, IPC_STAT, u));
	report("bad command", semctl(s, 0, 99));
	report("negative id", semctl(-1, 0, GETVAL));
	report("stale id", semctl(s + 32768, 0, GETVAL));

	/* semop. */
	struct sembuf two[2] = {{0, -1, 0}, {2, 4, 0}};
	report("semop two", semop(s, two, 2));
	show_vals("after two", s, 3);
	report("semop otime set", (semctl(s, 0, IPC_STAT, (union semun){.buf = &ds}), ds.sem_otime != 0) ? 0 : -1);
	/* Atomic: the second op would block, so the first is not applied. */
	struct sembuf atomic[2] = {{1, -1, 0}, {0, -1, IPC_NOWAIT}};
	report("semop atomic nowait", semop(s, atomic, 2));
	show_vals("unchanged", s, 3);
	report("semop wait-for-zero nowait", op(s, 2, 0, IPC_NOWAIT));
	report("semop zero nops", semop(s, two, 0));
	report("semop too many ops", semop(s, two, 501));
	struct sembuf bignum = {3, 1, 0};
	report("semop bad num", semop(s, &bignum, 1));
	report("semop bad pointer", semop(s, (struct sembuf *)8, 1));
	report("semop negative id", semop(-1, two, 1));
	report("semop stale id", semop(s + 32768, two, 1));
	report("semop past SEMVMX", op(s, 1, 32767, 0));
	struct timespec ts = {0, 20 * 1000 * 1000};
	struct sembuf dec = {0, -1, 0};
	report("semtimedop times out", semtimedop(s, &dec, 1, &ts));
	struct timespec badts = {0, 2000000000};
	report("semtimedop bad timespec", semtimedop(s, &dec, 1, &badts));
	report("semtimedop bad timespec pointer", semtimedop(s, &dec, 1, (struct timespec *)8));
	report("semtimedop zero nops bad timespec", semtimedop(s, &dec, 0, &badts));

	/* Blocking: a child waits until the parent raises the value. */
	semctl(s, 0, SETVAL, (union semun){.val = 0});
	pid_t c = fork();
	if (c == 0) {
		int r = op(s, 0, -2, 0);
		printf("child: semop -2 = %d, value now %d\n", r, semctl(s, 0, GETVAL));
		_exit(r == 0 ? 0 : 1);
	}
	report("GETNCNT with a waiter", wait_cnt(s, 0, GETNCNT, 1));
	report("semop +1", op(s, 0, 1, 0));
	report("GETNCNT still waiting", semctl(s, 0, GETNCNT));
	/* The second +1 wakes the child, which prints: the parent reports
	 * only after it has exited, so the lines have one order. */
	long more = op(s, 0, 1, 0);
	int st;
	waitpid(c, &st, 0);
	report("semop +1 more", more);
	printf("child status %d\n", WEXITSTATUS(st));
	report("GETPID is the child", semctl(s, 0, GETPID) == c ? 0 : -1);

	/* Wait for zero. */
	semctl(s, 1, SETVAL, (union semun){.val = 1});
	c = fork();
	if (c == 0) {
		int r = op(s, 1, 0, 0);
		_exit(r == 0 ? 0 : 1);
	}
	report("GETZCNT with a waiter", wait_cnt(s, 1, GETZCNT, 1));
	report("semop to zero", op(s, 1, -1, 0));
	waitpid(c, &st, 0);
	printf("zero waiter status %d\n", WEXITSTATUS(st));

	/* A signal interrupts a semop, even with SA_RESTART. */
	struct sigaction sa = {.sa_handler = onusr1, .sa_flags = SA_RESTART};
	sigaction(SIGUSR1, &sa, NULL);
	c = fork();
	if (c == 0) {
		int r = op(s, 0, -1, 0);
		printf("child: interrupted semop = %d %s\n", r, r < 0 ? errname(errno) : "");
		_exit(0);
	}
	wait_cnt(s, 0, GETNCNT, 1);
	kill(c, SIGUSR1);
	waitpid(c, &st, 0);
	report("GETNCNT after the interrupt", semctl(s, 0, GETNCNT));

	/* SEM_UNDO: a child's adjustments are undone when it exits. */
	semctl(s, 0, SETVAL, (union semun){.val = 2});
	c = fork();
	if (c == 0) {
		op(s, 0, 3, SEM_UNDO);
		op(s, 0, -1, SEM_UNDO);
		printf("child with undo: value %d\n", semctl(s, 0, GETVAL));
		_exit(0);
	}
	waitpid(c, &st, 0);
	report("value after the undo", semctl(s, 0, GETVAL));
	/* The undo would take the value below zero: it stops at zero. */
	int go[2];
	pipe(go);
	c = fork();
	if (c == 0) {
		op(s, 0, 5, SEM_UNDO);
		wait_closed(go);
		_exit(0);
	}
	close(go[0]);
	report("take what the child added", op(s, 0, -6, 0));
	close(go[1]);
	waitpid(c, &st, 0);
	report("value after a clamped undo", semctl(s, 0, GETVAL));
	/* SETVAL clears the adjustments. */
	pipe(go);
	c = fork();
	if (c == 0) {
		op(s, 0, 4, SEM_UNDO);
		wait_closed(go);
		_exit(0);
	}
	close(go[0]);
	while (semctl(s, 0, GETVAL) != 4)
		usleep(1000);
	report("SETVAL 10", semctl(s, 0, SETVAL, (union semun){.val = 10}));
	close(go[1]);
	waitpid(c, &st, 0);
	report("value after SETVAL cleared the undo", semctl(s, 0, GETVAL));
	op(s, 0, 30000, SEM_UNDO);
	op(s, 0, -30000, 0);
	/* Threads share the process's undo list (glibc clones them with
	 * CLONE_SYSVSEM): a thread's exit applies nothing, the process's
	 * does. */
	semctl(s, 0, SETVAL, (union semun){.val = 1});
	thread_set = s;
	c = fork();
	if (c == 0) {
		pthread_t th;
		pthread_create(&th, NULL, undo_thread, NULL);
		pthread_join(th, NULL);
		printf("child: value after its thread exited: %d\n", semctl(s, 0, GETVAL));
		_exit(0);
	}
	waitpid(c, &st, 0);
	report("value after the threaded process exited", semctl(s, 0, GETVAL));
	semctl(s, 0, SETVAL, (union semun){.val = 10});
	report("undo past SEMAEM", op(s, 0, 3000, SEM_UNDO));
	report("value after ERANGE", semctl(s, 0, GETVAL));
	semctl(s, 0, SETVAL, (union semun){.val = 0});

	/* IPC_RMID wakes the waiters with EIDRM. */
	c = fork();
	if (c == 0) {
		int r = op(s, 0, -1, 0);
		printf("child: semop on a removed set = %d %s\n", r, r < 0 ? errname(errno) : "");
		_exit(0);
	}
	wait_cnt(s, 0, GETNCNT, 1);

	/* The namespace's tables, while the set exists. */
	struct seminfo si;
	u.__buf = &si;
	long mi = semctl(0, 0, IPC_INFO, u);
	printf("IPC_INFO = %ld: semmni %d semmns %d semmsl %d semopm %d semvmx %d semaem %d\n", mi, si.semmni,
	       si.semmns, si.semmsl, si.semopm, si.semvmx, si.semaem);
	mi = semctl(0, 0, SEM_INFO, u);
	printf("SEM_INFO = %ld: semusz %d semaem %d\n", mi, si.semusz, si.semaem);
	for (int i = 0; i < 3; i++) {
		u.buf = &ds;
		long id = semctl(i, 0, SEM_STAT, u);
		if (id < 0)
			printf("SEM_STAT %d = -1 %s\n", i, errname(errno));
		else
			printf("SEM_STAT %d = %s nsems %lu\n", i, id == s ? "the set" : "other", (unsigned long)ds.sem_nsems);
	}

	mi = semctl(s, 0, IPC_RMID);
	waitpid(c, &st, 0);
	report("IPC_RMID", mi);
	report("GETVAL after IPC_RMID", semctl(s, 0, GETVAL));
	report("IPC_RMID again", semctl(s, 0, IPC_RMID));
	int s2 = semget(0x4242, 1, IPC_CREAT | 0600);
	yesno("a new set gets a new identifier", s2 >= 0 && s2 != s);

	/* IPC_SET and permissions as an unprivileged user. */
	int mine = semget(0x777, 2, IPC_CREAT | 0600);
	int open_ = semget(0x778, 1, IPC_CREAT | 0644);
	struct semid_ds sd;
	u.buf = &sd;
	semctl(open_, 0, IPC_STAT, u);
	sd.sem_perm.mode = 0640;
	sd.sem_perm.uid = 1000;
	report("IPC_SET", semctl(open_, 0, IPC_SET, u));
	semctl(open_, 0, IPC_STAT, u);
	printf("after IPC_SET: uid %u cuid %u mode %o\n", sd.sem_perm.uid, sd.sem_perm.cuid, sd.sem_perm.mode);
	c = fork();
	if (c == 0) {
		if (setgid(1000) < 0 || setuid(1000) < 0)
			die("setuid");
		report("user: semget 0600 key", semget(0x777, 2, 0600));
		report("user: semget no mode", semget(0x777, 2, 0));
		report("user: GETVAL", semctl(mine, 0, GETVAL));
		report("user: SETVAL", semctl(mine, 0, SETVAL, (union semun){.val = 1}));
		report("user: semop", op(mine, 0, 1, IPC_NOWAIT));
		report("user: wait-for-zero", op(mine, 0, 0, IPC_NOWAIT));
		report("user: IPC_RMID", semctl(mine, 0, IPC_RMID));
		report("user: owner SETVAL", semctl(open_, 0, SETVAL, (union semun){.val = 3}));
		report("user: owner semop", op(open_, 0, -1, IPC_NOWAIT));
		report("user: owner IPC_RMID", semctl(open_, 0, IPC_RMID));
		_exit(0);
	}
	waitpid(c, &st, 0);
	printf("user child status %d\n", WEXITSTATUS(st));
	report("GETVAL of the user's removed set", semctl(open_, 0, GETVAL));
	return 0;
}
