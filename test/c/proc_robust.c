/* proc_robust.c: robust mutexes (issue 3, item 3: futex robust lists). A
 * thread or process that dies holding a robust mutex leaves it to the
 * next locker with EOWNERDEAD; the kernel finds it through the dead
 * thread's set_robust_list list. */
#include "common.h"
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

static pthread_mutex_t mu;
static int ready[2];

static void init_robust(pthread_mutex_t *m, int pshared) {
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	if (pshared)
		pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	if (pthread_mutex_init(m, &a))
		die("pthread_mutex_init");
	pthread_mutexattr_destroy(&a);
}

static void *lock_and_exit(void *arg) {
	pthread_mutex_lock(&mu);
	return NULL;
}

static void *lock_signal_sleep_exit(void *arg) {
	pthread_mutex_lock(&mu);
	if (write(ready[1], "x", 1) != 1)
		die("write");
	struct timespec ts = {0, 100 * 1000 * 1000};
	nanosleep(&ts, NULL);
	return NULL;
}

/* Robust lists the program got wrong must not hurt anyone: an unmapped
 * head, and a list that loops on itself with words nobody owns. */
struct rl_entry {
	struct rl_entry *next;
	int words[8]; /* the "futex" words: zero, owned by nobody */
};
static struct rl_entry loop_entry;
static struct {
	struct rl_entry *list;
	long futex_offset;
	struct rl_entry *pending;
} loop_head;

static void *bad_list(void *arg) {
	long r;
	if (arg) {
		r = syscall(SYS_set_robust_list, (void *)0x1000, sizeof loop_head);
	} else {
		loop_entry.next = &loop_entry;
		loop_head.list = &loop_entry;
		loop_head.futex_offset = 16;
		r = syscall(SYS_set_robust_list, &loop_head, sizeof loop_head);
	}
	return (void *)r;
}

/* shared_robust returns a process-shared robust mutex in fresh shared
 * memory, and opens the pipe p the child signals through once it holds it. */
static pthread_mutex_t *shared_robust(int p[2]) {
	pthread_mutex_t *sm = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sm == MAP_FAILED)
		die("mmap");
	init_robust(sm, 1);
	if (pipe(p))
		die("pipe");
	return sm;
}

static const char *rname(int r) { return r == 0 ? "0" : errname(r); }

int main(void) {
	init_output();
	pthread_t th;

	/* 1: the owner has already exited when we lock. */
	init_robust(&mu, 0);
	pthread_create(&th, NULL, lock_and_exit, NULL);
	pthread_join(th, NULL);
	int r = pthread_mutex_lock(&mu);
	printf("lock after owner exited = %s\n", rname(r));
	printf("consistent = %s\n", rname(pthread_mutex_consistent(&mu)));
	printf("unlock = %s\n", rname(pthread_mutex_unlock(&mu)));
	printf("lock again = %s\n", rname(pthread_mutex_lock(&mu)));
	printf("unlock again = %s\n", rname(pthread_mutex_unlock(&mu)));

	/* 2: we are blocked in lock when the owner exits: the exit wakes us. */
	init_robust(&mu, 0);
	if (pipe(ready))
		die("pipe");
	pthread_create(&th, NULL, lock_signal_sleep_exit, NULL);
	char c;
	if (read(ready[0], &c, 1) != 1)
		die("read");
	r = pthread_mutex_lock(&mu);
	printf("blocked lock, owner exits = %s\n", rname(r));
	pthread_join(th, NULL);
	printf("consistent = %s\n", rname(pthread_mutex_consistent(&mu)));
	pthread_mutex_unlock(&mu);

	/* 3: not made consistent: unlocking makes it unrecoverable. */
	init_robust(&mu, 0);
	pthread_create(&th, NULL, lock_and_exit, NULL);
	pthread_join(th, NULL);
	printf("lock = %s\n", rname(pthread_mutex_lock(&mu)));
	pthread_mutex_unlock(&mu);
	printf("lock unrecoverable = %s\n", rname(pthread_mutex_lock(&mu)));

	/* 4: a process-shared robust mutex held by a child process that dies
	 * (exit and SIGKILL), the parent blocked in lock. */
	for (int k = 0; k < 2; k++) {
		int p[2];
		pthread_mutex_t *sm = shared_robust(p);
		pid_t pid = fork();
		if (pid == 0) {
			pthread_mutex_lock(sm);
			if (write(p[1], "x", 1) != 1)
				_exit(98);
			if (k == 0) {
				struct timespec ts = {0, 100 * 1000 * 1000};
				nanosleep(&ts, NULL);
				_exit(0);
			}
			pause();
			_exit(0);
		}
		if (read(p[0], &c, 1) != 1)
			die("read");
		if (k == 1)
			kill(pid, SIGKILL);
		r = pthread_mutex_lock(sm);
		printf("process-shared, child %s = %s\n", k == 0 ? "exits" : "killed", rname(r));
		int st;
		waitpid(pid, &st, 0);
		printf("consistent = %s\n", rname(pthread_mutex_consistent(sm)));
		printf("unlock = %s\n", rname(pthread_mutex_unlock(sm)));
		close(p[0]);
		close(p[1]);
	}

	/* 6: a process-shared robust mutex held by a child that execs: execve
	 * releases the robust futexes of the old image (futex_exec_release),
	 * so the parent blocked in lock gets EOWNERDEAD while the child's new
	 * image is still running. */
	{
		int p[2];
		pthread_mutex_t *sm = shared_robust(p);
		pid_t pid = fork();
		if (pid == 0) {
			pthread_mutex_lock(sm);
			if (write(p[1], "x", 1) != 1)
				_exit(98);
			struct timespec ts = {0, 50 * 1000 * 1000};
			nanosleep(&ts, NULL);
			execl("/bin/sleep", "sleep", "1", (char *)NULL);
			_exit(99);
		}
		if (read(p[0], &c, 1) != 1)
			die("read");
		r = pthread_mutex_lock(sm);
		int st;
		pid_t w = waitpid(pid, &st, WNOHANG);
		printf("process-shared, child execs = %s (child still running: %s)\n", rname(r), w == 0 ? "yes" : "no");
		waitpid(pid, &st, 0);
		pthread_mutex_consistent(sm);
		pthread_mutex_unlock(sm);
		close(p[0]);
		close(p[1]);
	}

	/* 5: bad robust lists (the glibc list of these threads is replaced,
	 * so they must not hold glibc robust mutexes). */
	for (int k = 0; k < 2; k++) {
		void *ret;
		pthread_create(&th, NULL, bad_list, (void *)(long)k);
		pthread_join(th, &ret);
		printf("thread with %s robust list: set = %ld, joined\n", k ? "an unmapped" : "a looping", (long)ret);
	}
	printf("still running\n");
	return 0;
}
