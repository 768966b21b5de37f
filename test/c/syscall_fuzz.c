/* syscall_fuzz.c: random system calls with random, bad and edge-case
 * arguments, for a bounded time, to show that nothing a program does can
 * crash, hang or bloat the sentry. It is run only inside the sandbox: on
 * the host, random calls as root could damage the machine.
 *
 * Usage: syscall_fuzz SEED MILLISECONDS THREADS
 *
 * The first process forks workers one after another (a new one when the
 * previous exits, dies or overstays its second); each worker runs THREADS
 * threads, each drawing calls from its own xorshift generator seeded from
 * SEED, the worker's number and the thread's, so that a run is
 * reproducible call for call as far as the sentry's answers allow. Calls
 * that would only end or replace the fuzzer (exit, execve, fork, kill,
 * rt_sigreturn, reboot) are never made; a worker that kills itself anyway
 * (munmap of its own code, SIGSEGV, an alarm) is simply replaced. The
 * worker's stdout and stderr go to /dev/null. At the end the first process
 * prints one line, "fuzz: N workers, M calls", and exits 0. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_SYSCALL 460

static int denied(long nr) {
	switch (nr) {
	case SYS_exit:
	case SYS_exit_group:
	case SYS_execve:
	case SYS_execveat:
	case SYS_fork:
	case SYS_vfork:
	case SYS_clone:
	case SYS_clone3:
	case SYS_kill:
	case SYS_tkill:
	case SYS_tgkill:
	case SYS_rt_sigqueueinfo:
	case SYS_rt_tgsigqueueinfo:
	case SYS_pidfd_send_signal:
	case SYS_rt_sigreturn:
	case SYS_reboot:
	case SYS_kexec_load:
	case SYS_kexec_file_load:
	case SYS_vhangup:
		return 1;
	}
	return 0;
}

struct rng {
	uint64_t s;
};

static uint64_t next(struct rng *r) {
	uint64_t x = r->s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return r->s = x;
}

static char *scratch;      /* a writable page run */
static char *readonly;     /* a read-only page */
static long *calls_done;   /* shared by every worker: calls made so far */
static long deadline_ms;   /* in the worker: when to stop */

static long now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

/* arg draws one argument: an edge value, a valid or invalid pointer, a
 * length, a descriptor, or random bits. */
static uint64_t arg(struct rng *r) {
	uint64_t v = next(r);
	switch (v % 16) {
	case 0:
		return 0;
	case 1:
		return 1;
	case 2:
		return (uint64_t)-1;
	case 3:
		return next(r);
	case 4:
		return (uint64_t)(scratch + (next(r) % 8192));
	case 5:
		return (uint64_t)scratch;
	case 6:
		return (uint64_t)readonly;
	case 7:
		return 0x1000; /* unmapped */
	case 8:
		return 0xffff800000000000ULL; /* kernel half */
	case 9:
		return next(r) % 16; /* a small descriptor or flag */
	case 10:
		return 4096;
	case 11:
		return 1ULL << (next(r) % 64);
	case 12:
		return (uint64_t)(scratch + 8192 - 1); /* straddles the end */
	case 13:
		return next(r) % 256;
	case 14:
		return 0x7fffffffffffULL;
	default:
		return (uint32_t)next(r);
	}
}

static void *fuzz_thread(void *p) {
	struct rng r = {(uint64_t)(uintptr_t)p * 0x9e3779b97f4a7c15ULL | 1};
	while (now_ms() < deadline_ms) {
		long nr = next(&r) % MAX_SYSCALL;
		if (denied(nr))
			continue;
		uint64_t a[6];
		for (int i = 0; i < 6; i++)
			a[i] = arg(&r);
		syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
		__atomic_add_fetch(calls_done, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

/* worker fuzzes until its deadline. */
static void worker(uint64_t seed, int threads) {
	int null = open("/dev/null", O_RDWR);
	dup2(null, 0);
	dup2(null, 1);
	dup2(null, 2);
	/* Something for descriptor arguments to name. */
	/* Non-blocking where it can be, so that fewer calls wait for the
	 * alarm. */
	int p[2];
	pipe2(p, O_NONBLOCK);
	eventfd(0, EFD_NONBLOCK);
	open("fuzz-file", O_RDWR | O_CREAT, 0600);
	open(".", O_RDONLY | O_DIRECTORY);
	/* Two writable pages between PROT_NONE guards, so that calls given
	 * the pointer that straddles its end fault instead of writing into
	 * the neighbouring mapping (the shared call counter). */
	char *guarded = mmap(NULL, 4 * 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	scratch = guarded + 4096;
	mprotect(scratch, 8192, PROT_READ | PROT_WRITE);
	readonly = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	strcpy(scratch, "fuzz-name");
	deadline_ms = now_ms() + 800;
	alarm(1);
	pthread_t t[16];
	threads = threads > 16 ? 16 : threads;
	for (int i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, fuzz_thread, (void *)(uintptr_t)(seed * 64 + i + 1));
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	_exit(0);
}

int main(int argc, char **argv) {
	if (argc != 4) {
		fprintf(stderr, "usage: syscall_fuzz SEED MILLISECONDS THREADS\n");
		return 2;
	}
	uint64_t seed = strtoull(argv[1], NULL, 0);
	long ms = atol(argv[2]);
	int threads = atoi(argv[3]);
	long end = now_ms() + ms;
	int workers = 0;
	signal(SIGPIPE, SIG_IGN);
	/* The count survives workers that die mid-call. */
	calls_done = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (calls_done == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	while (now_ms() < end) {
		pid_t pid = fork();
		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0)
			worker(seed * 100000 + workers, threads);
		workers++;
		/* Wait at most 1.5 s (its alarm may have been turned off by a
		 * call), then kill whatever is left of it. */
		long started = now_ms();
		int st;
		for (;;) {
			pid_t w = waitpid(pid, &st, WNOHANG);
			if (w == pid)
				break;
			if (now_ms() - started > 1500) {
				kill(pid, SIGKILL);
				waitpid(pid, &st, 0);
				break;
			}
			usleep(10000);
		}
	}
	printf("fuzz: %d workers, %ld calls\n", workers, *calls_done);
	return 0;
}
