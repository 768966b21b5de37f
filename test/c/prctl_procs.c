/* prctl_procs.c: prctl options for processes (issue 15, item 3):
 * PR_SET/GET_CHILD_SUBREAPER (orphans go to the nearest subreaper, not
 * init), PR_SET/GET_TIMERSLACK, PR_GET_TID_ADDRESS, PR_GET_SECCOMP and
 * PR_SET_VMA anonymous names in /proc/self/maps. */
#include "common.h"
#include <linux/prctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static void maps_name(void *addr, const char *label) {
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	unsigned long lo, hi;
	while (f && fgets(line, sizeof line, f)) {
		if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && lo <= (unsigned long)addr && (unsigned long)addr < hi) {
			char *name = strchr(line, '[');
			char *slash = strchr(line, '/');
			printf("%s: %s", label, name ? name : slash ? slash : "(no name)\n");
			fclose(f);
			return;
		}
	}
	printf("%s: not found\n", label);
	if (f)
		fclose(f);
}

static void subreaper(void) {
	int p[2];
	if (pipe(p))
		die("pipe");
	/* M is a subreaper; its child A forks B and exits: B's parent
	 * becomes M (not init, which is the sandbox's PID 1 or the host's). */
	pid_t m = fork();
	if (m == 0) {
		report("PR_SET_CHILD_SUBREAPER", prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0));
		int v = -1;
		prctl(PR_GET_CHILD_SUBREAPER, &v, 0, 0, 0);
		printf("PR_GET_CHILD_SUBREAPER: %d\n", v);
		pid_t me = getpid();
		pid_t a = fork();
		if (a == 0) {
			pid_t b = fork();
			if (b == 0) {
				char c;
				close(p[1]);
				read(p[0], &c, 1); /* until A is gone */
				printf("B's parent is the subreaper: %s\n", getppid() == me ? "yes" : "no");
				fflush(stdout);
				_exit(5);
			}
			_exit(4);
		}
		close(p[0]);
		int st;
		pid_t w = waitpid(a, &st, 0);
		printf("subreaper reaped A: %s, status %d\n", w == a ? "yes" : "no", WEXITSTATUS(st));
		close(p[1]);
		w = waitpid(-1, &st, 0);
		printf("subreaper reaped the orphan B: %s, status %d\n", w > 0 ? "yes" : "no", WEXITSTATUS(st));
		report("no more children", waitpid(-1, &st, 0));
		_exit(0);
	}
	close(p[0]);
	close(p[1]);
	waitpid(m, NULL, 0);
	int v = -1;
	report("PR_GET_CHILD_SUBREAPER (not one)", prctl(PR_GET_CHILD_SUBREAPER, &v, 0, 0, 0));
	printf("value %d\n", v);
	report("PR_GET_CHILD_SUBREAPER bad pointer", prctl(PR_GET_CHILD_SUBREAPER, (void *)8, 0, 0, 0));
}

/* vma: PR_SET_VMA_ANON_NAME (Linux 5.17 with CONFIG_ANON_VMA_NAME). */
static int vma(void) {
	long pg = sysconf(_SC_PAGESIZE);
	char *p = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *s = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	report("PR_SET_VMA name 2 pages", prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, p + pg, 2 * pg, "my heap"));
	maps_name(p, "first page");
	maps_name(p + pg, "second page");
	maps_name(p + 3 * pg, "fourth page");
	report("PR_SET_VMA shared anonymous", prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, s, 2 * pg, "shm"));
	maps_name(s, "shared");
	report("PR_SET_VMA bad character", prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, p, pg, "a[b"));
	report("PR_SET_VMA newline", prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, p, pg, "a\nb"));
	char long_name[100];
	memset(long_name, 'x', sizeof long_name);
	long_name[79] = 0;
	report("PR_SET_VMA 79 characters", prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, p, pg, long_name));
	long_name[79] = 'x';
	long_name[80] = 0;
	report("PR_SET_VMA 80 characters", prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, p, pg, long_name));
	report("PR_SET_VMA unaligned", prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, p + 1, pg, "x"));
	report("PR_SET_VMA unmapped", prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, (void *)pg, pg, "x"));
	report("PR_SET_VMA option 1", prctl(PR_SET_VMA, 1, p, pg, "x"));
	report("PR_SET_VMA clear", prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, p + pg, pg, NULL));
	maps_name(p + pg, "second page after clearing");
	maps_name(p + 2 * pg, "third page");
	int fd = open("/proc/self/exe", O_RDONLY);
	char *f = mmap(NULL, pg, PROT_READ, MAP_PRIVATE, fd, 0);
	report("PR_SET_VMA of a file mapping", prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, f, pg, "x"));
	pid_t c = fork();
	if (c == 0) {
		maps_name(p + 2 * pg, "child sees");
		fflush(stdout);
		_exit(0);
	}
	waitpid(c, NULL, 0);
	return 0;
}

int main(int argc, char **argv) {
	init_output();
	if (argc > 1 && !strcmp(argv[1], "vma"))
		return vma();
	subreaper();

	printf("PR_GET_TIMERSLACK = %d\n", prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0));
	report("PR_SET_TIMERSLACK 1000", prctl(PR_SET_TIMERSLACK, 1000, 0, 0, 0));
	printf("PR_GET_TIMERSLACK = %d\n", prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0));
	pid_t c = fork();
	if (c == 0) {
		printf("child PR_GET_TIMERSLACK = %d\n", prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0));
		prctl(PR_SET_TIMERSLACK, 5, 0, 0, 0);
		prctl(PR_SET_TIMERSLACK, 0, 0, 0, 0);
		printf("child after resetting = %d\n", prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0));
		fflush(stdout);
		_exit(0);
	}
	waitpid(c, NULL, 0);

	int tid_word;
	syscall(SYS_set_tid_address, &tid_word);
	int *got = NULL;
	report("PR_GET_TID_ADDRESS", prctl(PR_GET_TID_ADDRESS, &got, 0, 0, 0));
	yesno("it is set_tid_address's", got == &tid_word);
	report("PR_GET_TID_ADDRESS bad pointer", prctl(PR_GET_TID_ADDRESS, (void *)8, 0, 0, 0));
	report("PR_GET_SECCOMP", prctl(PR_GET_SECCOMP, 0, 0, 0, 0));

	return 0;
}
