/* procself: prints what the program can see of its own identity, for the
 * sandbox-only tests: getpid/getppid/gettid, uname, /proc/self/exe, whether
 * /proc/self/maps lists a [vdso] or [vvar] and the program itself, the Pid
 * and Name lines of /proc/self/status, /proc/self/cmdline and the entries
 * of /proc/self/fd, and AT_HWCAP. Every line is "key: value". */
#include "common.h"
#include <dirent.h>
#include <fcntl.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <sys/utsname.h>

static long readall(const char *path, char *buf, long cap) {
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	long n = 0, r;
	while (n < cap - 1 && (r = read(fd, buf + n, cap - 1 - n)) > 0)
		n += r;
	buf[n] = 0;
	close(fd);
	return n;
}

int main(int argc, char **argv) {
	static char buf[1 << 16];
	init_output();
	printf("getpid: %ld\n", syscall(SYS_getpid));
	printf("getppid: %ld\n", syscall(SYS_getppid));
	printf("gettid: %ld\n", syscall(SYS_gettid));
	struct utsname u;
	uname(&u);
	printf("sysname: %s\nnodename: %s\nrelease: %s\nmachine: %s\n", u.sysname, u.nodename, u.release, u.machine);
	printf("AT_SYSINFO_EHDR set: %s\n", getauxval(AT_SYSINFO_EHDR) ? "yes" : "no");
	/* The auxiliary vector as the kernel laid it out, after envp's NULL
	 * (glibc's getauxval(AT_HWCAP) is glibc's own value on x86-64). */
	char **e = environ;
	while (*e)
		e++;
	unsigned long *stack_auxv = (unsigned long *)(e + 1);
	long stack_words = 0;
	while (stack_auxv[stack_words] != AT_NULL)
		stack_words += 2;
	stack_words += 2;
	for (long i = 0; i < stack_words; i += 2)
		if (stack_auxv[i] == AT_HWCAP)
			printf("AT_HWCAP: %#lx\n", stack_auxv[i + 1]);
	long an = readall("/proc/self/auxv", buf, sizeof buf);
	if (an < 0)
		printf("auxv: error %s\n", errname(errno));
	else
		printf("/proc/self/auxv is the initial auxv: %s\n",
		       an == stack_words * 8 && memcmp(buf, stack_auxv, an) == 0 ? "yes" : "no");
	long n = readlink("/proc/self/exe", buf, sizeof buf - 1);
	if (n < 0)
		printf("exe: error %s\n", errname(errno));
	else
		printf("exe: %.*s\n", (int)n, buf);

	if (readall("/proc/self/maps", buf, sizeof buf) < 0) {
		printf("maps: error %s\n", errname(errno));
	} else {
		printf("maps has [vdso]: %s\n", strstr(buf, "[vdso]") ? "yes" : "no");
		printf("maps has [vvar]: %s\n", strstr(buf, "[vvar]") ? "yes" : "no");
		printf("maps has [stack]: %s\n", strstr(buf, "[stack]") ? "yes" : "no");
		char self[4096];
		n = readlink("/proc/self/exe", self, sizeof self - 1);
		self[n > 0 ? n : 0] = 0;
		printf("maps names the program: %s\n", n > 0 && strstr(buf, self) ? "yes" : "no");
		int lines = 0;
		for (char *p = buf; *p; p++)
			lines += *p == '\n';
		printf("maps has lines: %s\n", lines > 2 ? "yes" : "no");
	}

	if (readall("/proc/self/status", buf, sizeof buf) < 0) {
		printf("status: error %s\n", errname(errno));
	} else {
		for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
			if (!strncmp(line, "Pid:", 4) || !strncmp(line, "Name:", 5) || !strncmp(line, "PPid:", 5))
				printf("status %s\n", line);
	}

	n = readall("/proc/self/cmdline", buf, sizeof buf);
	if (n < 0) {
		printf("cmdline: error %s\n", errname(errno));
	} else {
		printf("cmdline:");
		for (long i = 0, start = 0; i < n; i++)
			if (buf[i] == 0) {
				printf(" [%s]", buf + start);
				start = i + 1;
			}
		printf("\n");
	}
	printf("argv:");
	for (int i = 0; i < argc; i++)
		printf(" [%s]", argv[i]);
	printf("\n");

	DIR *d = opendir("/proc/self/fd");
	if (!d) {
		printf("fd: error %s\n", errname(errno));
	} else {
		int fds[64], nfd = 0;
		struct dirent *e;
		while ((e = readdir(d)) && nfd < 64)
			if (e->d_name[0] != '.')
				fds[nfd++] = atoi(e->d_name);
		for (int i = 0; i < nfd; i++)
			for (int j = i + 1; j < nfd; j++)
				if (fds[j] < fds[i]) {
					int t = fds[i];
					fds[i] = fds[j];
					fds[j] = t;
				}
		printf("fd:");
		for (int i = 0; i < nfd; i++)
			printf(" %d", fds[i]);
		printf("\n");
		printf("fd dir is: %d\n", dirfd(d));
		closedir(d);
	}
	return 0;
}
