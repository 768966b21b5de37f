/* unshare.c: unshare(2) of what a thread shares with its process:
 * CLONE_FS (root, cwd, umask) and CLONE_FILES (the descriptor table) in a
 * second thread, and CLONE_THREAD/CLONE_SIGHAND/CLONE_VM, which Linux
 * accepts only when there is nothing to unshare. Go's runtime uses
 * unshare(CLONE_FS) on a locked OS thread (TestLockOSThreadAvoidsStatePropagation).
 * Namespace flags are not compared (root natively may unshare them).
 *
 * Usage: unshare. Prints yes/no answers and errno names only. */
#include "common.h"
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <sys/stat.h>

static int fd;
static int use_unshare;
static pthread_barrier_t started;

static void *fs_thread(void *arg) {
	(void)arg;
	if (use_unshare)
		report("thread: unshare(CLONE_FS)", unshare(CLONE_FS));
	report("thread: chdir /", chdir("/"));
	umask(077);
	return NULL;
}

static void *files_thread(void *arg) {
	(void)arg;
	if (use_unshare)
		report("thread: unshare(CLONE_FILES)", unshare(CLONE_FILES));
	report("thread: close the descriptor", close(fd));
	return NULL;
}

static void *waiting_thread(void *arg) {
	(void)arg;
	pthread_barrier_wait(&started);
	pthread_barrier_wait(&started);
	return NULL;
}

static void in_thread(void *(*fn)(void *)) {
	pthread_t th;
	if (pthread_create(&th, NULL, fn, NULL))
		die("pthread_create");
	pthread_join(th, NULL);
}

int main(void) {
	init_output();
	char dir[PATH_MAX], cwd[PATH_MAX];
	if (!getcwd(dir, sizeof dir))
		die("getcwd");

	report("unshare(0) does nothing", unshare(0));
	report("unshare of an unknown flag", unshare(0x1000));
	report("single-threaded unshare(CLONE_THREAD|CLONE_SIGHAND|CLONE_VM)", unshare(CLONE_THREAD | CLONE_SIGHAND | CLONE_VM));
	report("single-threaded unshare(CLONE_FS|CLONE_FILES|CLONE_SYSVSEM)", unshare(CLONE_FS | CLONE_FILES | CLONE_SYSVSEM));

	for (use_unshare = 0; use_unshare <= 1; use_unshare++) {
		printf("-- %s\n", use_unshare ? "the thread unshares first" : "shared");
		if (chdir(dir) < 0)
			die("chdir");
		umask(022);
		in_thread(fs_thread);
		yesno("the process's cwd is the thread's /", getcwd(cwd, sizeof cwd) && !strcmp(cwd, "/"));
		mode_t m = umask(022);
		yesno("the process's umask is the thread's 077", m == 077);

		fd = open("/dev/null", O_RDONLY);
		in_thread(files_thread);
		int flags = fcntl(fd, F_GETFD);
		yesno("the process's descriptor was closed by the thread", flags < 0 && errno == EBADF);
		if (flags >= 0)
			close(fd);
	}

	pthread_t th;
	pthread_barrier_init(&started, NULL, 2);
	pthread_create(&th, NULL, waiting_thread, NULL);
	pthread_barrier_wait(&started);
	report("two threads: unshare(CLONE_THREAD)", unshare(CLONE_THREAD));
	report("two threads: unshare(CLONE_SIGHAND)", unshare(CLONE_SIGHAND));
	report("two threads: unshare(CLONE_VM)", unshare(CLONE_VM));
	report("two threads: unshare(CLONE_FS)", unshare(CLONE_FS));
	pthread_barrier_wait(&started);
	pthread_join(th, NULL);
	return 0;
}
