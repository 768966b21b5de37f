/* procs_misc.c: futex2 (futex_waitv, futex_wake, futex_wait,
 * futex_requeue), process_vm_readv/writev, kcmp, ioprio_get/set,
 * get/set_mempolicy and sysfs(2) (issue 15, items 3 and 9). */
#include "common.h"
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

#ifndef FUTEX2_SIZE_U32
#define FUTEX2_SIZE_U32 0x02
#define FUTEX2_PRIVATE 128
#endif
#ifndef SYS_futex_wake
#define SYS_futex_wake 454
#define SYS_futex_wait 455
#define SYS_futex_requeue 456
#endif

static _Atomic unsigned words[3];
/* started holds the waiting thread's TID once it runs: main waits to see
 * that thread blocked (wait_thread_sleeping) before it wakes or moves it;
 * a fixed sleep let a loaded machine wake before the wait, which changed
 * the counts printed and left the thread waiting for ever. */
static _Atomic int started;

static void *waitv_thread(void *arg) {
	struct futex_waitv w[3];
	for (int i = 0; i < 3; i++)
		w[i] = (struct futex_waitv){.val = 0, .uaddr = (uintptr_t)&words[i], .flags = FUTEX2_SIZE_U32 | FUTEX2_PRIVATE};
	atomic_store(&started, syscall(SYS_gettid));
	long r = syscall(SYS_futex_waitv, w, 3, 0, NULL, 0);
	printf("futex_waitv woken index = %ld\n", r);
	return NULL;
}

static void *wait2_thread(void *arg) {
	atomic_store(&started, syscall(SYS_gettid));
	long r = syscall(SYS_futex_wait, &words[0], 0, ~0u, FUTEX2_SIZE_U32 | FUTEX2_PRIVATE, NULL, 0);
	printf("futex_wait after a requeue and a wake = %ld\n", r);
	return NULL;
}

static void futex2(void) {
	struct futex_waitv w[2] = {{.val = 1, .uaddr = (uintptr_t)&words[0], .flags = FUTEX2_SIZE_U32},
				   {.val = 0, .uaddr = (uintptr_t)&words[1], .flags = FUTEX2_SIZE_U32}};
	report("futex_waitv value differs", syscall(SYS_futex_waitv, w, 2, 0, NULL, 0));
	report("futex_waitv nr 0", syscall(SYS_futex_waitv, w, 0, 0, NULL, 0));
	report("futex_waitv nr 129", syscall(SYS_futex_waitv, w, 129, 0, NULL, 0));
	report("futex_waitv flags 1", syscall(SYS_futex_waitv, w, 2, 1, NULL, 0));
	report("futex_waitv NULL", syscall(SYS_futex_waitv, NULL, 2, 0, NULL, 0));
	report("futex_waitv bad pointer", syscall(SYS_futex_waitv, (void *)8, 2, 0, NULL, 0));
	w[0].val = 0;
	w[1].flags = 3; /* FUTEX2_SIZE_U64 */
	report("futex_waitv 64-bit word", syscall(SYS_futex_waitv, w, 2, 0, NULL, 0));
	w[1].flags = FUTEX2_SIZE_U32;
	w[1].__reserved = 1;
	report("futex_waitv reserved set", syscall(SYS_futex_waitv, w, 2, 0, NULL, 0));
	w[1].__reserved = 0;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_nsec += 10 * 1000 * 1000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	report("futex_waitv 10ms monotonic deadline", syscall(SYS_futex_waitv, w, 2, 0, &ts, CLOCK_MONOTONIC));
	report("futex_waitv bad clock", syscall(SYS_futex_waitv, w, 2, 0, &ts, CLOCK_BOOTTIME));
	pthread_t th;
	pthread_create(&th, NULL, waitv_thread, NULL);
	while (!atomic_load(&started))
		sched_yield();
	wait_thread_sleeping(atomic_load(&started));
	long woken = syscall(SYS_futex_wake, &words[2], ~0u, 1, FUTEX2_SIZE_U32 | FUTEX2_PRIVATE);
	pthread_join(th, NULL);
	report("futex_wake word 2", woken);

	report("futex_wake nobody waits", syscall(SYS_futex_wake, &words[0], ~0u, 1, FUTEX2_SIZE_U32));
	report("futex_wake bad flags", syscall(SYS_futex_wake, &words[0], ~0u, 1, FUTEX2_SIZE_U32 | 0x40));
	report("futex_wake 8-bit size", syscall(SYS_futex_wake, &words[0], ~0u, 1, 0));
	report("futex_wait value differs", syscall(SYS_futex_wait, &words[0], 5, ~0u, FUTEX2_SIZE_U32, NULL, 0));
	report("futex_wait val too big", syscall(SYS_futex_wait, &words[0], 1ul << 32, ~0u, FUTEX2_SIZE_U32, NULL, 0));
	report("futex_wait misaligned", syscall(SYS_futex_wait, (char *)&words[0] + 1, 0, ~0u, FUTEX2_SIZE_U32, NULL, 0));
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += 10 * 1000 * 1000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	report("futex_wait 10ms realtime deadline", syscall(SYS_futex_wait, &words[0], 0, ~0u, FUTEX2_SIZE_U32, &ts, CLOCK_REALTIME));

	/* A waiter on words[1] moved to words[0] by futex_requeue, then woken
	 * there. */
	atomic_store(&started, 0);
	pthread_create(&th, NULL, wait2_thread, NULL);
	while (!atomic_load(&started))
		sched_yield();
	wait_thread_sleeping(atomic_load(&started));
	struct futex_waitv rq[2] = {{.val = 0, .uaddr = (uintptr_t)&words[0], .flags = FUTEX2_SIZE_U32 | FUTEX2_PRIVATE},
				    {.val = 0, .uaddr = (uintptr_t)&words[1], .flags = FUTEX2_SIZE_U32 | FUTEX2_PRIVATE}};
	rq[0].val = 7;
	report("futex_requeue value differs", syscall(SYS_futex_requeue, rq, 0, 0, 1));
	rq[0].val = 0;
	report("futex_requeue flags 1", syscall(SYS_futex_requeue, rq, 1, 0, 1));
	report("futex_requeue words[0] -> words[1]", syscall(SYS_futex_requeue, rq, 0, 0, 1));
	report("futex_wake words[0] after the move", syscall(SYS_futex_wake, &words[0], ~0u, 1, FUTEX2_SIZE_U32 | FUTEX2_PRIVATE));
	woken = syscall(SYS_futex_wake, &words[1], ~0u, 1, FUTEX2_SIZE_U32 | FUTEX2_PRIVATE);
	pthread_join(th, NULL);
	report("futex_wake words[1]", woken);
}

static void procvm(void) {
	static char src[3 * 4096] __attribute__((aligned(4096)));
	for (int i = 0; i < (int)sizeof src; i++)
		src[i] = 'a' + i % 26;
	int p[2];
	if (pipe(p))
		die("pipe");
	pid_t c = fork();
	if (c == 0) {
		/* The child's copy of src: unmap its last page so that a read
		 * across it is partial. */
		munmap(src + 2 * 4096, 4096);
		src[0] = 'Z';
		if (write(p[1], "r", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	char b;
	if (read(p[0], &b, 1) != 1)
		die("read");
	char dst[8192 + 100];
	struct iovec l[2] = {{dst, 10}, {dst + 10, sizeof dst - 10}};
	struct iovec r[2] = {{src, 5}, {src + 4096 - 50, 8192}};
	long n = syscall(SYS_process_vm_readv, c, l, 2, r, 2, 0);
	printf("process_vm_readv across an unmapped page = %ld, first byte %c\n", n, dst[0]);
	struct iovec r2[1] = {{src + 2 * 4096, 10}};
	report("process_vm_readv of an unmapped page", syscall(SYS_process_vm_readv, c, l, 1, r2, 1, 0));
	report("process_vm_readv flags 1", syscall(SYS_process_vm_readv, c, l, 1, r, 1, 1));
	report("process_vm_readv bad local iovec array", syscall(SYS_process_vm_readv, c, (void *)8, 1, r, 1, 0));
	report("process_vm_readv missing pid", syscall(SYS_process_vm_readv, 0x3ffff0, l, 1, r, 1, 0));
	report("process_vm_readv 1025 iovecs", syscall(SYS_process_vm_readv, c, l, 1025, r, 1, 0));
	struct iovec lw[1] = {{"HELLO", 5}};
	struct iovec rw[1] = {{src + 100, 5}};
	report("process_vm_writev", syscall(SYS_process_vm_writev, c, lw, 1, rw, 1, 0));
	struct iovec rb[1] = {{src + 100, 5}};
	struct iovec lb[1] = {{dst, 5}};
	syscall(SYS_process_vm_readv, c, lb, 1, rb, 1, 0);
	printf("read back: %.5s\n", dst);
	report("kcmp same process VM", syscall(SYS_kcmp, getpid(), getpid(), 1, 0, 0));
	printf("kcmp VM of parent and forked child differs: %s\n", syscall(SYS_kcmp, getpid(), c, 1, 0, 0) > 0 ? "yes" : "no");
	int d = dup(p[0]);
	report("kcmp FILE fd and its dup", syscall(SYS_kcmp, getpid(), getpid(), 0, p[0], d));
	printf("kcmp FILE of two pipe ends differs: %s\n", syscall(SYS_kcmp, getpid(), getpid(), 0, p[0], p[1]) > 0 ? "yes" : "no");
	report("kcmp FILE inherited by the child", syscall(SYS_kcmp, getpid(), c, 0, p[0], p[0]));
	printf("kcmp FILES of parent and child differs: %s\n", syscall(SYS_kcmp, getpid(), c, 2, 0, 0) > 0 ? "yes" : "no");
	report("kcmp FS of itself", syscall(SYS_kcmp, getpid(), getpid(), 3, 0, 0));
	report("kcmp bad fd", syscall(SYS_kcmp, getpid(), getpid(), 0, 999, 0));
	report("kcmp missing pid", syscall(SYS_kcmp, getpid(), 0x3ffff0, 1, 0, 0));
	report("kcmp type 99", syscall(SYS_kcmp, getpid(), getpid(), 99, 0, 0));
	kill(c, SIGKILL);
	waitpid(c, NULL, 0);
}

static void policies(void) {
	setpgid(0, 0); /* a process group of our own for IOPRIO_WHO_PGRP */
	report("ioprio_get self", syscall(SYS_ioprio_get, 1, 0));
	report("ioprio_set BE 3", syscall(SYS_ioprio_set, 1, 0, (2 << 13) | 3));
	report("ioprio_get self", syscall(SYS_ioprio_get, 1, 0));
	report("ioprio_set BE 8", syscall(SYS_ioprio_set, 1, 0, (2 << 13) | 8));
	report("ioprio_set class 4", syscall(SYS_ioprio_set, 1, 0, 4 << 13));
	report("ioprio_set NONE level 1", syscall(SYS_ioprio_set, 1, 0, 1));
	report("ioprio_set IDLE", syscall(SYS_ioprio_set, 1, 0, 3 << 13));
	report("ioprio_get pgrp of one", syscall(SYS_ioprio_get, 2, 0));
	report("ioprio_set BE with hint 9", syscall(SYS_ioprio_set, 1, 0, (2 << 13) | (9 << 3)));
	report("ioprio_set which 9", syscall(SYS_ioprio_set, 9, 0, 0));
	report("ioprio_get missing pid", syscall(SYS_ioprio_get, 1, 0x3ffff0));
	int set[2];
	if (pipe(set))
		die("pipe");
	pid_t c = fork();
	if (c == 0) {
		printf("child inherits ioprio = %ld\n", syscall(SYS_ioprio_get, 1, 0));
		report("child sets NONE", syscall(SYS_ioprio_set, 1, 0, 0));
		fflush(stdout);
		close(set[0]);
		close(set[1]); /* its lines are out and its priority set */
		pause();
		_exit(0);
	}
	/* The child prints and sets its priority before the parent prints
	 * or reads the group's: it lets the parent go by closing the pipe
	 * (a fixed sleep let the parent's lines come first on a loaded
	 * machine). */
	wait_closed(set);
	report("ioprio_get pgrp of IDLE and NONE", syscall(SYS_ioprio_get, 2, 0));
	report("ioprio_get user", syscall(SYS_ioprio_get, 3, 0) >= 0);
	kill(c, SIGKILL);
	waitpid(c, NULL, 0);

	int mode = -1;
	unsigned long mask[16] = {0};
	report("get_mempolicy", syscall(SYS_get_mempolicy, &mode, mask, 1024, 0, 0));
	printf("mode %d mask %lx\n", mode, mask[0]);
	report("get_mempolicy MEMS_ALLOWED", syscall(SYS_get_mempolicy, &mode, mask, 1024, 0, 4));
	printf("mode %d mask %lx\n", mode, mask[0]);
	report("get_mempolicy small maxnode", syscall(SYS_get_mempolicy, &mode, mask, 8, 0, 0));
	report("get_mempolicy bad flags", syscall(SYS_get_mempolicy, &mode, NULL, 0, 0, 8));
	report("get_mempolicy F_ADDR", syscall(SYS_get_mempolicy, &mode, NULL, 0, &mode, 2));
	printf("mode %d\n", mode);
	report("get_mempolicy F_ADDR unmapped", syscall(SYS_get_mempolicy, &mode, NULL, 0, (void *)4096, 2));
	report("get_mempolicy F_NODE, default policy", syscall(SYS_get_mempolicy, &mode, NULL, 0, 0, 1));
	unsigned long one = 1, two = 2;
	report("set_mempolicy BIND node 0", syscall(SYS_set_mempolicy, 2, &one, 64));
	report("get_mempolicy", syscall(SYS_get_mempolicy, &mode, mask, 1024, 0, 0));
	printf("mode %d mask %lx\n", mode, mask[0]);
	report("set_mempolicy BIND node 1", syscall(SYS_set_mempolicy, 2, &two, 64));
	report("set_mempolicy BIND empty", syscall(SYS_set_mempolicy, 2, NULL, 0));
	report("set_mempolicy INTERLEAVE node 0", syscall(SYS_set_mempolicy, 3, &one, 64));
	report("get_mempolicy F_NODE", syscall(SYS_get_mempolicy, &mode, NULL, 0, 0, 1));
	printf("next interleave node %d\n", mode);
	report("set_mempolicy PREFERRED empty", syscall(SYS_set_mempolicy, 1, NULL, 0));
	report("get_mempolicy", syscall(SYS_get_mempolicy, &mode, mask, 1024, 0, 0));
	printf("mode %d mask %lx\n", mode, mask[0]);
	report("set_mempolicy mode 42", syscall(SYS_set_mempolicy, 42, NULL, 0));
	report("set_mempolicy DEFAULT with a node", syscall(SYS_set_mempolicy, 0, &one, 64));
	report("set_mempolicy bad mask pointer", syscall(SYS_set_mempolicy, 2, (void *)8, 64));
	report("set_mempolicy DEFAULT", syscall(SYS_set_mempolicy, 0, NULL, 0));

	report("sysfs count is positive", syscall(SYS_sysfs, 3) > 0);
	long i = syscall(SYS_sysfs, 1, "tmpfs");
	char name[64] = "";
	report("sysfs index -> name", syscall(SYS_sysfs, 2, i, name));
	printf("name of tmpfs's index: %s\n", name);
	report("sysfs unknown name", syscall(SYS_sysfs, 1, "nosuchfs"));
	report("sysfs index out of range", syscall(SYS_sysfs, 2, 100000, name));
	report("sysfs option 4", syscall(SYS_sysfs, 4));
}

/* nvcsw returns process p's voluntary_ctxt_switches (/proc/p/status), -1
 * if it cannot be read. */
static long nvcsw(pid_t p) {
	char path[64], line[256];
	long n = -1;
	snprintf(path, sizeof path, "/proc/%d/status", p);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "voluntary_ctxt_switches: %ld", &n) == 1)
			break;
	fclose(f);
	return n;
}

/* wait_switched waits (at most a minute) until child p has made more
 * voluntary switches than prev, and returns the count. */
static long wait_switched(pid_t p, long prev) {
	long n = -1;
	for (int i = 0; i < 60000; i++) {
		if ((n = nvcsw(p)) > prev)
			break;
		usleep(1000);
	}
	return n;
}

/* waitrusage: waitid's rusage (the 5th argument of the raw syscall) and
 * wait4's: a child that burns 100 ms of CPU and blocks 5 times, each time
 * in a read of a pipe that the parent writes to once the child's count of
 * voluntary switches has gone up since the last write: it is asleep in the
 * read, not on its way there (/proc's S shows that too, and a write then
 * wakes it before it switches: no switch counted). (A 1 ms nanosleep was
 * not sure to block: a task that reaches its sleep after its timer fired,
 * late on a loaded host, does not switch, on Linux as in the sandbox.) */
static void waitrusage(void) {
	for (int k = 0; k < 2; k++) {
		int p[2];
		if (pipe(p))
			die("pipe");
		pid_t c = fork();
		if (c == 0) {
			struct timespec ts;
			close(p[1]);
			for (int i = 0; i < 5; i++)
				wait_byte(p[0]);
			do
				clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
			while (ts.tv_sec * 1000 + ts.tv_nsec / 1000000 < 100);
			_exit(0);
		}
		close(p[0]);
		/* A new process has made no switch yet. */
		long seen = 0;
		for (int i = 0; i < 5; i++) {
			seen = wait_switched(c, seen);
			put_byte(p[1]);
		}
		close(p[1]);
		struct rusage ru;
		memset(&ru, 0xff, sizeof ru);
		long r;
		if (k == 0) {
			siginfo_t si;
			r = syscall(SYS_waitid, P_PID, c, &si, WEXITED, &ru);
		} else {
			r = wait4(c, NULL, 0, &ru) == c ? 0 : -1;
		}
		long cpu = ru.ru_utime.tv_sec * 1000 + ru.ru_utime.tv_usec / 1000 + ru.ru_stime.tv_sec * 1000 + ru.ru_stime.tv_usec / 1000;
		printf("%s = %ld; rusage CPU >= 90 ms: %s; voluntary switches >= 5: %s\n", k ? "wait4" : "waitid", r,
		       cpu >= 90 ? "yes" : "no", ru.ru_nvcsw >= 5 ? "yes" : "no");
	}
	struct rusage ru;
	memset(&ru, 0xff, sizeof ru);
	siginfo_t si;
	pid_t c = fork();
	if (c == 0) {
		pause();
		_exit(0);
	}
	long r = syscall(SYS_waitid, P_PID, c, &si, WEXITED | WNOHANG, &ru);
	printf("waitid WNOHANG nothing yet = %ld; rusage left alone: %s\n", r, ru.ru_nvcsw == -1 ? "yes" : "no");
	kill(c, SIGKILL);
	waitpid(c, NULL, 0);
}

int main(void) {
	init_output();
	waitrusage();
	futex2();
	procvm();
	policies();
	return 0;
}
