/* proc_fpinherit: a forked child and a new thread inherit their creator's
 * floating-point environment (the SSE rounding mode in MXCSR), as Linux copies the whole FP state at fork and clone.
 * A thread created after another changed its own and exited gets its
 * creator's, not the exited thread's (the sandbox may run it on the exited
 * thread's host thread and stub thread: kernel/hostthread.go). */
#include <pthread.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

/* MXCSR bits 13-14 are the SSE rounding control (no libm needed). */
enum { TONEAREST = 0, DOWNWARD = 1, UPWARD = 2, TOWARDZERO = 3 };

static int get_rounding(void) { return (__builtin_ia32_stmxcsr() >> 13) & 3; }

static void set_rounding(int m) {
	__builtin_ia32_ldmxcsr((__builtin_ia32_stmxcsr() & ~(3u << 13)) | ((unsigned)m << 13));
}

static const char *mode(int m) {
	static const char *names[] = {"to-nearest", "downward", "upward", "toward-zero"};
	return names[m & 3];
}

static volatile double one = 1.0, three = 3.0;

static void report(const char *who) {
	double q = one / three;
	printf("%s: rounding %s, 1/3 = %.17g\n", who, mode(get_rounding()), q);
	fflush(stdout);
}

static void *thread(void *arg) {
	report((const char *)arg);
	return NULL;
}

static void *changer(void *arg) {
	report("changing thread");
	set_rounding(TOWARDZERO);
	report("changing thread after its change");
	return NULL;
}

int main(void) {
	set_rounding(UPWARD);
	report("parent");
	pid_t pid = fork();
	if (pid == 0) {
		report("forked child");
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	pthread_t th;
	pthread_create(&th, NULL, thread, "thread");
	pthread_join(th, NULL);
	for (int i = 0; i < 3; i++) {
		pthread_create(&th, NULL, changer, NULL);
		pthread_join(th, NULL);
		pthread_create(&th, NULL, thread, "thread after a changed one exited");
		pthread_join(th, NULL);
	}
	set_rounding(TONEAREST);
	report("parent again");
	return 0;
}
