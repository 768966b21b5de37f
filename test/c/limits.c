/* limits: prlimit64 and getrlimit/setrlimit for RLIMIT_NOFILE and
 * RLIMIT_STACK (the sandbox starts the program with the limits runsc-lite
 * was started with), lowering a soft limit and seeing it enforced. */
#include "common.h"
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/syscall.h>

static void show(const char *name, int res) {
	struct rlimit64 rl;
	long r = syscall(SYS_prlimit64, 0, res, NULL, &rl);
	if (r < 0) {
		printf("prlimit64 %s = -1 %s\n", name, errname(errno));
		return;
	}
	char cur[32], max[32];
	if (rl.rlim_cur == RLIM64_INFINITY)
		strcpy(cur, "unlimited");
	else
		snprintf(cur, sizeof cur, "%llu", (unsigned long long)rl.rlim_cur);
	if (rl.rlim_max == RLIM64_INFINITY)
		strcpy(max, "unlimited");
	else
		snprintf(max, sizeof max, "%llu", (unsigned long long)rl.rlim_max);
	printf("prlimit64 %s: cur=%s max=%s\n", name, cur, max);
}

int main(void) {
	init_output();
	show("RLIMIT_NOFILE", RLIMIT_NOFILE);
	show("RLIMIT_STACK", RLIMIT_STACK);
	show("RLIMIT_AS", RLIMIT_AS);
	show("RLIMIT_CORE", RLIMIT_CORE);

	struct rlimit rl;
	report("getrlimit NOFILE", getrlimit(RLIMIT_NOFILE, &rl));
	struct rlimit64 newl = {.rlim_cur = 64, .rlim_max = rl.rlim_max}, old;
	report("prlimit64 set NOFILE soft 64", syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, &newl, &old));
	yesno("old value returned equals getrlimit's", old.rlim_cur == rl.rlim_cur && old.rlim_max == rl.rlim_max);
	show("RLIMIT_NOFILE", RLIMIT_NOFILE);
	report("dup2 to fd 63", dup2(1, 63));
	report("dup2 to fd 64 (over limit)", dup2(1, 64));
	report("F_DUPFD from 64 (over limit)", fcntl(1, F_DUPFD, 64));
	close(63);
	newl.rlim_cur = newl.rlim_max + 1;
	report("prlimit64 soft above hard", syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, &newl, NULL));
	report("prlimit64 bad resource", syscall(SYS_prlimit64, 0, 1000, NULL, &old));
	report("prlimit64 bad pid", syscall(SYS_prlimit64, 999999, RLIMIT_NOFILE, NULL, &old));
	report("prlimit64 bad pointer", syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, NULL, (void *)1));
	struct rlimit st = {.rlim_cur = 4 << 20, .rlim_max = RLIM_INFINITY};
	getrlimit(RLIMIT_STACK, &st);
	st.rlim_cur = 4 << 20;
	report("setrlimit STACK soft 4MiB", setrlimit(RLIMIT_STACK, &st));
	show("RLIMIT_STACK", RLIMIT_STACK);
	return 0;
}
