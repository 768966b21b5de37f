/* personality.c: personality(2) (issue 15, item 3): reading and setting
 * the persona, inheritance by fork and across execve (READ_IMPLIES_EXEC
 * dropped by a 64-bit ELF), READ_IMPLIES_EXEC's executable mappings,
 * UNAME26, /proc/self/personality. */
#include "common.h"
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/utsname.h>
#include <sys/wait.h>

static void show_proc(const char *label) {
	char buf[32] = "";
	int fd = open("/proc/self/personality", O_RDONLY);
	if (fd < 0 || read(fd, buf, sizeof buf - 1) < 0)
		strcpy(buf, "unreadable\n");
	close(fd);
	printf("%s /proc/self/personality: %s", label, buf);
}

static void perms_of(void *addr) {
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	unsigned long lo, hi;
	char perms[8];
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3 && lo <= (unsigned long)addr && (unsigned long)addr < hi)
			printf("PROT_READ mapping is %s\n", perms);
	fclose(f);
}

int main(int argc, char **argv) {
	init_output();
	if (argc > 1 && !strcmp(argv[1], "exec")) {
		printf("after execve: %#x\n", personality(0xffffffff));
		show_proc("after execve");
		return 0;
	}
	printf("initial: %#x\n", personality(0xffffffff));
	show_proc("initial");
	printf("set ADDR_NO_RANDOMIZE returns the old: %#x\n", personality(ADDR_NO_RANDOMIZE));
	printf("now: %#x\n", personality(0xffffffff));
	show_proc("now");
	printf("set PER_SVR4 returns: %#x\n", personality(PER_SVR4));
	printf("now: %#x\n", personality(0xffffffff));
	personality(PER_LINUX | READ_IMPLIES_EXEC);
	long pg = sysconf(_SC_PAGESIZE);
	void *p = mmap(NULL, pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	perms_of(p);
	void *q = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	mprotect(q, pg, PROT_READ);
	perms_of(q);
	personality(PER_LINUX | UNAME26);
	struct utsname u;
	uname(&u);
	printf("UNAME26 release starts with 2.6.: %s\n", strncmp(u.release, "2.6.", 4) == 0 ? "yes" : "no");
	personality(PER_LINUX | ADDR_NO_RANDOMIZE | READ_IMPLIES_EXEC);
	pid_t c = fork();
	if (c == 0) {
		printf("child: %#x\n", personality(0xffffffff));
		fflush(stdout);
		execl("/proc/self/exe", argv[0], "exec", (char *)NULL);
		_exit(99);
	}
	int st;
	waitpid(c, &st, 0);
	return WEXITSTATUS(st);
}
