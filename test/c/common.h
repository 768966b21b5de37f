/* common.h: shared helpers for the runsc-lite conformance programs.
 *
 * Every program prints deterministic lines only, so that its native and
 * sandboxed outputs can be compared byte for byte. Results are printed as
 * "label = value" or "label = -1 ENAME" (the errno's symbolic name), never as
 * addresses, PIDs or inode numbers. stdout is line buffered by setvbuf in
 * init_output() so that output is not lost when a program dies by a signal.
 */
#ifndef RUNSC_LITE_TEST_COMMON_H
#define RUNSC_LITE_TEST_COMMON_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

/* errname returns the symbolic name of errno value e ("ENOENT"). */
static inline const char *errname(int e) {
	const char *n = strerrorname_np(e);
	return n ? n : "E?";
}

static inline void init_output(void) { setvbuf(stdout, NULL, _IOLBF, 0); }

/* report prints "label = ret" or "label = -1 ENAME" when ret is -1. */
static inline void report(const char *label, long ret) {
	if (ret == -1)
		printf("%s = -1 %s\n", label, errname(errno));
	else
		printf("%s = %ld\n", label, ret);
}

/* reportf is report with a printf-style label. */
static inline void reportf(long ret, const char *fmt, ...) {
	char label[256];
	va_list ap;
	int e = errno;
	va_start(ap, fmt);
	vsnprintf(label, sizeof label, fmt, ap);
	va_end(ap);
	errno = e;
	report(label, ret);
}

/* yesno prints "label: yes" or "label: no". */
static inline void yesno(const char *label, int cond) { printf("%s: %s\n", label, cond ? "yes" : "no"); }

/* wait_status waits for child pid and returns its exit status as a shell
 * reports it (128+N when signal N killed it), -1 if waitpid fails. */
static inline int wait_status(int pid) {
	int st;
	if (waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* die reports an unexpected failure on stderr and exits 99. */
static inline void die(const char *what) {
	fprintf(stderr, "%s: %s\n", what, errname(errno));
	exit(99);
}

/* copy_file copies src to a new file dst created with mode (a program
 * copying itself for the exec cases); it dies on a failure. */
static inline void copy_file(const char *src, const char *dst, int mode) {
	int in = open(src, O_RDONLY), out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (in < 0 || out < 0)
		die("copy_file");
	char buf[65536];
	ssize_t n;
	while ((n = read(in, buf, sizeof buf)) > 0)
		if (write(out, buf, n) != n)
			die("copy_file write");
	close(in);
	close(out);
}

/* wait_closed blocks until every write end of pipe p is closed (it
 * closes its own first): how a child waits for its parent to let it go. */
static inline void wait_closed(int p[2]) {
	char c;
	close(p[1]);
	while (read(p[0], &c, 1) > 0)
		;
}

/* wait_stat_sleeping waits until the task whose stat file is path is in
 * state S (sleeping: blocked in a call), polling for at most a minute. */
static inline void wait_stat_sleeping(const char *path) {
	char buf[512];
	for (int i = 0; i < 60000; i++) {
		FILE *f = fopen(path, "r");
		if (f) {
			size_t n = fread(buf, 1, sizeof buf - 1, f);
			fclose(f);
			buf[n] = 0;
			char *e = strrchr(buf, ')');
			if (e && e[1] == ' ' && e[2] == 'S')
				return;
		}
		usleep(1000);
	}
}

/* wait_sleeping waits until process p is in state S, polling
 * /proc/p/stat: how a test waits for another process to block without
 * sleeping a fixed time. */
static inline void wait_sleeping(pid_t p) {
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/stat", p);
	wait_stat_sleeping(path);
}

/* wait_thread_sleeping is wait_sleeping for thread tid of this process
 * (/proc/self/task/tid/stat): how a thread waits for another to block in
 * a futex, a lock or a read instead of sleeping a fixed time, which a
 * loaded machine can outlast. */
static inline void wait_thread_sleeping(pid_t tid) {
	char path[64];
	snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
	wait_stat_sleeping(path);
}

/* wait_byte reads one byte from fd, a pipe another process writes to when
 * it is ready; a short read ends the process with status 99. */
static inline void wait_byte(int fd) {
	char c;
	if (read(fd, &c, 1) != 1) {
		printf("read sync failed\n");
		_exit(99);
	}
}

/* put_byte writes the byte wait_byte waits for; failing, status 98. */
static inline void put_byte(int fd) {
	if (write(fd, "x", 1) != 1)
		_exit(98);
}

/* write_text writes s to the existing file path (a /proc knob, a map),
 * printing the error when it fails. */
static inline void write_text(const char *path, const char *s) {
	int fd = open(path, O_WRONLY);
	if (fd < 0 || write(fd, s, strlen(s)) < 0)
		printf("write %s: %s\n", path, errname(errno));
	if (fd >= 0)
		close(fd);
}

/* path_in returns dir/rel in one of four rotating buffers, so that a call
 * may take up to four such paths as arguments. */
static inline char *path_in(const char *dir, const char *rel) {
	static char buf[4][192];
	static int i;
	i = (i + 1) % 4;
	snprintf(buf[i], sizeof buf[i], "%s/%s", dir, rel);
	return buf[i];
}

/* cmpstr sorts an array of strings. */
static inline int cmpstr(const void *a, const void *b) {
	return strcmp(*(char *const *)a, *(char *const *)b);
}

#endif
