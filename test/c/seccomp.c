/* seccomp.c: seccomp(2) and prctl(PR_SET_SECCOMP) as a program sees them:
 * argument checks, strict mode, every filter action (KILL_PROCESS,
 * KILL_THREAD, TRAP with its SIGSYS siginfo, ERRNO, TRACE without a tracer,
 * LOG, ALLOW), the precedence between several filters, inheritance across
 * fork and execve (and /proc/self/status's Seccomp lines), TSYNC and its
 * failure rule, and a SECCOMP_RET_USER_NOTIF supervisor on the listener.
 *
 * Usage: seccomp CASE (args, strict, actions, precedence, inherit, tsync,
 * notif); "inherit" re-executes itself as "exec-child". Each case runs in
 * children so that the filters it installs die with them.
 */
#include "common.h"

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <ucontext.h>

#ifndef SECCOMP_RET_LOG
#define SECCOMP_RET_LOG 0x7ffc0000U
#endif
#ifndef SECCOMP_FILTER_FLAG_TSYNC_ESRCH
#define SECCOMP_FILTER_FLAG_TSYNC_ESRCH (1UL << 4)
#endif

static long sc(unsigned op, unsigned flags, void *args) { return syscall(SYS_seccomp, op, flags, args); }

/* filter_one returns "ret for syscall nr, ALLOW for everything else". */
static long install_one(int nr, unsigned ret, unsigned flags) {
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, ret),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog p = {sizeof f / sizeof f[0], f};
	return sc(SECCOMP_SET_MODE_FILTER, flags, &p);
}

static void nnp(void) {
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		die("PR_SET_NO_NEW_PRIVS");
}

/* child runs fn in a child process and prints how it ended. */
static void child(const char *label, void (*fn)(void)) {
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		fn();
		fflush(stdout);
		_exit(0);
	}
	int st;
	if (waitpid(pid, &st, 0) != pid)
		die("waitpid");
	if (WIFSIGNALED(st))
		printf("%s: killed by signal %d\n", label, WTERMSIG(st));
	else
		printf("%s: exit %d\n", label, WEXITSTATUS(st));
}

static void status_lines(const char *label) {
	FILE *f = fopen("/proc/self/status", "r");
	if (!f)
		die("/proc/self/status");
	char line[256];
	while (fgets(line, sizeof line, f))
		if (strncmp(line, "Seccomp", 7) == 0 || strncmp(line, "NoNewPrivs", 10) == 0)
			printf("%s: %s", label, line);
	fclose(f);
}

/* ---- args: what seccomp(2) refuses ---- */

static void args_nocap(void) {
	/* Without CAP_SYS_ADMIN in the effective set and without
	 * no_new_privs: EACCES. */
	struct __user_cap_header_struct {
		unsigned version;
		int pid;
	} h = {0x20080522, 0};
	struct {
		unsigned eff, perm, inh;
	} d[2] = {{0, 0, 0}, {0, 0, 0}};
	if (syscall(SYS_capset, &h, d) != 0)
		die("capset");
	report("filter without no_new_privs or CAP_SYS_ADMIN", install_one(SYS_getppid, SECCOMP_RET_ERRNO | 1, 0));
	nnp();
	report("filter with no_new_privs", install_one(SYS_getppid, SECCOMP_RET_ERRNO | 1, 0));
}

static void args_case(void) {
	report("PR_GET_SECCOMP before", prctl(PR_GET_SECCOMP, 0, 0, 0, 0));
	nnp();
	struct sock_filter ok[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
	struct sock_fprog p = {1, ok};
	report("unknown op", sc(99, 0, &p));
	report("unknown flag", sc(SECCOMP_SET_MODE_FILTER, 1 << 20, &p));
	report("bad fprog pointer", sc(SECCOMP_SET_MODE_FILTER, 0, (void *)8));
	struct sock_fprog bad = {1, (struct sock_filter *)8};
	report("bad insns pointer", sc(SECCOMP_SET_MODE_FILTER, 0, &bad));
	struct sock_fprog empty = {0, ok};
	report("zero-length program", sc(SECCOMP_SET_MODE_FILTER, 0, &empty));
	struct sock_fprog huge = {4097, ok};
	report("4097-instruction program", sc(SECCOMP_SET_MODE_FILTER, 0, &huge));
	struct sock_filter half[] = {BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 0), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
	struct sock_fprog ph = {2, half};
	report("16-bit load", sc(SECCOMP_SET_MODE_FILTER, 0, &ph));
	struct sock_filter mis[] = {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 2), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
	struct sock_fprog pm = {2, mis};
	report("misaligned load", sc(SECCOMP_SET_MODE_FILTER, 0, &pm));
	struct sock_filter past[] = {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 64), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
	struct sock_fprog pp = {2, past};
	report("load past seccomp_data", sc(SECCOMP_SET_MODE_FILTER, 0, &pp));
	struct sock_filter mem[] = {BPF_STMT(BPF_LD | BPF_MEM, 3), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
	struct sock_fprog pmem = {2, mem};
	report("scratch load before store", sc(SECCOMP_SET_MODE_FILTER, 0, &pmem));
	struct sock_filter noret[] = {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0)};
	struct sock_fprog pnr = {1, noret};
	report("no final return", sc(SECCOMP_SET_MODE_FILTER, 0, &pnr));
	struct sock_filter jmp[] = {BPF_JUMP(BPF_JMP | BPF_JA, 5, 0, 0), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
	struct sock_fprog pj = {2, jmp};
	report("jump out of the program", sc(SECCOMP_SET_MODE_FILTER, 0, &pj));
	struct sock_filter len[] = {BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0), BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 64, 1, 0),
				    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
	struct sock_fprog pl = {4, len};
	report("length load (64)", sc(SECCOMP_SET_MODE_FILTER, 0, &pl));
	report("NEW_LISTENER with TSYNC", sc(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_TSYNC, &p));
	report("strict with flags", sc(SECCOMP_SET_MODE_STRICT, 1, NULL));
	report("strict with args", sc(SECCOMP_SET_MODE_STRICT, 0, &p));
	report("strict after a filter", sc(SECCOMP_SET_MODE_STRICT, 0, NULL));
	report("PR_SET_SECCOMP strict after a filter", prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT, 0, 0, 0));
	report("PR_SET_SECCOMP bad mode", prctl(PR_SET_SECCOMP, 7, 0, 0, 0));
	report("PR_SET_SECCOMP filter", prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &p, 0, 0));
	report("filter with LOG and SPEC_ALLOW", sc(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_LOG | SECCOMP_FILTER_FLAG_SPEC_ALLOW, &p));
	report("PR_GET_SECCOMP after", prctl(PR_GET_SECCOMP, 0, 0, 0, 0));

	unsigned actions[] = {SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_KILL_THREAD, SECCOMP_RET_TRAP, SECCOMP_RET_ERRNO,
			      SECCOMP_RET_USER_NOTIF, SECCOMP_RET_TRACE, SECCOMP_RET_LOG, SECCOMP_RET_ALLOW,
			      0x00010000, SECCOMP_RET_ERRNO | 1};
	for (unsigned i = 0; i < sizeof actions / sizeof actions[0]; i++)
		reportf(sc(SECCOMP_GET_ACTION_AVAIL, 0, &actions[i]), "GET_ACTION_AVAIL %#x", actions[i]);
	report("GET_ACTION_AVAIL flags", sc(SECCOMP_GET_ACTION_AVAIL, 1, &actions[0]));
	report("GET_ACTION_AVAIL bad pointer", sc(SECCOMP_GET_ACTION_AVAIL, 0, (void *)8));
	struct seccomp_notif_sizes sz;
	report("GET_NOTIF_SIZES", sc(SECCOMP_GET_NOTIF_SIZES, 0, &sz));
	printf("sizes: notif %u resp %u data %u\n", sz.seccomp_notif, sz.seccomp_notif_resp, sz.seccomp_data);
	report("GET_NOTIF_SIZES bad pointer", sc(SECCOMP_GET_NOTIF_SIZES, 0, (void *)8));
	status_lines("args");
	for (int i = 0; i < 2; i++) {
		const char *path = i ? "/proc/sys/kernel/seccomp/actions_logged" : "/proc/sys/kernel/seccomp/actions_avail";
		FILE *f = fopen(path, "r");
		char line[256] = "";
		if (!f || !fgets(line, sizeof line, f))
			die(path);
		fclose(f);
		printf("%s: %s", path, line);
	}
}

/* ---- strict ---- */

/* In strict mode even stdio's first use (an fstat) would kill: the
 * children write with the raw syscall only. */
static void rawsay(const char *m) { syscall(SYS_write, 1, m, strlen(m)); }

static void strict_exit(void) {
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT, 0, 0, 0) == 0)
		rawsay("PR_SET_SECCOMP strict = 0\n");
	rawsay("write allowed in strict mode\n");
	syscall(SYS_exit, 7);
}

static void strict_kill(void) {
	if (sc(SECCOMP_SET_MODE_STRICT, 0, NULL) == 0)
		rawsay("seccomp strict = 0\n");
	syscall(SYS_getpid);
	rawsay("still alive after getpid\n");
	syscall(SYS_exit, 0);
}

static void strict_case(void) {
	child("strict exit(7)", strict_exit);
	child("strict getpid", strict_kill);
}

/* ---- actions ---- */

static volatile sig_atomic_t got_sigsys;

static void on_sigsys(int sig, siginfo_t *si, void *uc_) {
	ucontext_t *uc = uc_;
	got_sigsys = 1;
	printf("SIGSYS: signo %d code %d errno %d syscall %d arch %#x\n", si->si_signo, si->si_code, si->si_errno,
	       si->si_syscall, si->si_arch);
	printf("SIGSYS: call_addr is the rip after the syscall: %s\n",
	       (unsigned long)si->si_call_addr == (unsigned long)uc->uc_mcontext.gregs[REG_RIP] ? "yes" : "no");
	printf("SIGSYS: rax holds the syscall number: %s\n", uc->uc_mcontext.gregs[REG_RAX] == SYS_getppid ? "yes" : "no");
	/* Emulate the call: its result is what the handler leaves in rax. */
	uc->uc_mcontext.gregs[REG_RAX] = 4242;
}

static void act_errno(void) {
	nnp();
	report("install ERRNO(EPERM) on getppid", install_one(SYS_getppid, SECCOMP_RET_ERRNO | EPERM, 0));
	report("getppid", syscall(SYS_getppid));
	report("getpid still allowed", syscall(SYS_getpid) > 0);
	report("install ERRNO(0) on getuid", install_one(SYS_getuid, SECCOMP_RET_ERRNO | 0, 0));
	report("getuid", syscall(SYS_getuid));
	report("install ERRNO(5000) on getgid", install_one(SYS_getgid, SECCOMP_RET_ERRNO | 5000, 0));
	long r = syscall(SYS_getgid);
	printf("getgid = %ld errno %d\n", r, errno);
}

static void act_trap(void) {
	nnp();
	struct sigaction sa = {0};
	sa.sa_sigaction = on_sigsys;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSYS, &sa, NULL);
	report("install TRAP(77) on getppid", install_one(SYS_getppid, SECCOMP_RET_TRAP | 77, 0));
	report("getppid (emulated by the handler)", syscall(SYS_getppid));
	report("handler ran", got_sigsys);
	/* A blocked SIGSYS cannot hold a TRAP back: it kills. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGSYS);
	sigprocmask(SIG_BLOCK, &set, NULL);
	fflush(stdout);
	syscall(SYS_getppid);
	printf("not reached\n");
}

static void act_trace(void) {
	nnp();
	report("install TRACE(5) on getppid", install_one(SYS_getppid, SECCOMP_RET_TRACE | 5, 0));
	report("getppid without a tracer", syscall(SYS_getppid));
}

static void act_log(void) {
	nnp();
	report("install LOG on getppid", install_one(SYS_getppid, SECCOMP_RET_LOG, 0));
	report("getppid logged and allowed", syscall(SYS_getppid) > 0);
	report("install ALLOW on getppid", install_one(SYS_getppid, SECCOMP_RET_ALLOW, 0));
	report("getppid allowed", syscall(SYS_getppid) > 0);
}

static void act_kill_process(void) {
	nnp();
	report("install KILL_PROCESS on getppid", install_one(SYS_getppid, SECCOMP_RET_KILL_PROCESS, 0));
	fflush(stdout);
	syscall(SYS_getppid);
	printf("not reached\n");
}

static void act_kill_thread_single(void) {
	nnp();
	report("install KILL_THREAD on getppid", install_one(SYS_getppid, SECCOMP_RET_KILL_THREAD, 0));
	fflush(stdout);
	syscall(SYS_getppid);
	printf("not reached\n");
}

static void *call_getppid(void *arg) {
	syscall(SYS_getppid);
	printf("thread: not reached\n");
	return NULL;
}

static void act_kill_thread_multi(void) {
	nnp();
	report("install KILL_THREAD on getppid", install_one(SYS_getppid, SECCOMP_RET_KILL_THREAD, 0));
	fflush(stdout);
	pthread_t th;
	pthread_create(&th, NULL, call_getppid, NULL);
	pthread_join(th, NULL);
	printf("the other thread survives the killed one\n");
}

static void act_kill_process_from_thread(void) {
	nnp();
	report("install KILL_PROCESS on getppid", install_one(SYS_getppid, SECCOMP_RET_KILL_PROCESS, 0));
	fflush(stdout);
	pthread_t th;
	pthread_create(&th, NULL, call_getppid, NULL);
	pthread_join(th, NULL);
	printf("not reached\n");
}

static void act_unknown(void) {
	nnp();
	report("install action 0x00010000 on getppid", install_one(SYS_getppid, 0x00010000, 0));
	fflush(stdout);
	syscall(SYS_getppid);
	printf("not reached\n");
}

static void actions_case(void) {
	child("errno", act_errno);
	child("trap", act_trap);
	child("trace", act_trace);
	child("log", act_log);
	child("kill_process", act_kill_process);
	child("kill_thread (one thread)", act_kill_thread_single);
	child("kill_thread (two threads)", act_kill_thread_multi);
	child("kill_process (from a second thread)", act_kill_process_from_thread);
	child("unknown action", act_unknown);
}

/* ---- precedence ---- */

static void prec_tie(void) {
	nnp();
	install_one(SYS_getppid, SECCOMP_RET_ERRNO | 1, 0);
	install_one(SYS_getppid, SECCOMP_RET_ERRNO | 2, 0);
	long r = syscall(SYS_getppid);
	printf("two ERRNO filters: %ld errno %d (the newest wins a tie)\n", r, errno);
	install_one(SYS_getppid, SECCOMP_RET_TRACE | 3, 0);
	install_one(SYS_getppid, SECCOMP_RET_LOG, 0);
	install_one(SYS_getppid, SECCOMP_RET_ALLOW, 0);
	r = syscall(SYS_getppid);
	printf("ERRNO, ERRNO, TRACE, LOG, ALLOW: %ld errno %d\n", r, errno);
	status_lines("precedence");
	install_one(SYS_getppid, SECCOMP_RET_KILL_THREAD, 0);
	fflush(stdout);
	syscall(SYS_getppid);
	printf("not reached\n");
}

static void prec_trap_vs_errno(void) {
	nnp();
	struct sigaction sa = {0};
	sa.sa_sigaction = on_sigsys;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSYS, &sa, NULL);
	install_one(SYS_getppid, SECCOMP_RET_TRAP | 9, 0);
	install_one(SYS_getppid, SECCOMP_RET_ERRNO | 1, 0);
	report("TRAP then ERRNO: getppid", syscall(SYS_getppid));
}

static void precedence_case(void) {
	child("tie and order", prec_tie);
	child("trap over errno", prec_trap_vs_errno);
}

/* ---- inheritance ---- */

static char *self;

static void inherit_fork(void) {
	report("getppid in the forked child", syscall(SYS_getppid));
	status_lines("forked child");
}

static void inherit_exec(void) {
	execl(self, self, "exec-child", (char *)NULL);
	die("execl");
}

static void inherit_main(void) {
	nnp();
	install_one(SYS_getppid, SECCOMP_RET_ERRNO | EPERM, 0);
	install_one(SYS_getuid, SECCOMP_RET_ERRNO | EACCES, 0);
	status_lines("filtered parent");
	child("fork", inherit_fork);
	child("exec", inherit_exec);
}

static void inherit_case(void) {
	status_lines("unfiltered");
	child("inherit", inherit_main);
}

static void exec_child(void) {
	report("getppid after execve", syscall(SYS_getppid));
	report("getuid after execve", syscall(SYS_getuid));
	status_lines("after execve");
}

/* ---- TSYNC ---- */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int stage;
static long worker_tid;

static void wait_stage(int s) {
	pthread_mutex_lock(&mu);
	while (stage < s)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
}

static void set_stage(int s) {
	pthread_mutex_lock(&mu);
	stage = s;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

static void *tsync_worker(void *arg) {
	worker_tid = syscall(SYS_gettid);
	set_stage(1);
	wait_stage(2);
	report("worker: getppid after the main thread's TSYNC filter", syscall(SYS_getppid));
	/* The worker's own filter: its chain is no longer the main
	 * thread's. */
	install_one(SYS_getgid, SECCOMP_RET_ERRNO | EPERM, 0);
	set_stage(3);
	wait_stage(4);
	return NULL;
}

static void tsync_main(void) {
	nnp();
	pthread_t th;
	pthread_create(&th, NULL, tsync_worker, NULL);
	wait_stage(1);
	report("main: TSYNC filter", install_one(SYS_getppid, SECCOMP_RET_ERRNO | EPERM, SECCOMP_FILTER_FLAG_TSYNC));
	set_stage(2);
	wait_stage(3);
	long r = install_one(SYS_getuid, SECCOMP_RET_ERRNO | EPERM, SECCOMP_FILTER_FLAG_TSYNC);
	printf("main: TSYNC against a diverged thread returns its TID: %s\n", r == worker_tid ? "yes" : "no");
	report("main: getuid (the failed filter is not installed)", syscall(SYS_getuid) >= 0);
	report("main: TSYNC_ESRCH", install_one(SYS_getuid, SECCOMP_RET_ERRNO | EPERM,
						 SECCOMP_FILTER_FLAG_TSYNC | SECCOMP_FILTER_FLAG_TSYNC_ESRCH));
	report("main: without TSYNC", install_one(SYS_getuid, SECCOMP_RET_ERRNO | EPERM, 0));
	report("main: getuid", syscall(SYS_getuid));
	set_stage(4);
	pthread_join(th, NULL);
}

static void *tsync_nnp_worker(void *arg) {
	set_stage(11);
	wait_stage(12);
	report("worker: no_new_privs after a TSYNC from a no_new_privs thread", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
	report("worker: getppid", syscall(SYS_getppid));
	return NULL;
}

static void tsync_nnp(void) {
	/* Root without no_new_privs in the worker: TSYNC gives it the
	 * caller's no_new_privs. */
	pthread_t th;
	stage = 10;
	pthread_create(&th, NULL, tsync_nnp_worker, NULL);
	wait_stage(11);
	nnp();
	report("main: TSYNC filter", install_one(SYS_getppid, SECCOMP_RET_ERRNO | ENOTSUP, SECCOMP_FILTER_FLAG_TSYNC));
	set_stage(12);
	pthread_join(th, NULL);
}

static void tsync_case(void) {
	child("tsync", tsync_main);
	child("tsync no_new_privs", tsync_nnp);
}

/* ---- USER_NOTIF ---- */

static int listener = -1;
static pid_t target_tid, real_ppid;
static volatile long addfd_sent = -2;

static void on_usr1(int sig) {}

/* The supervisor's lines go to a buffer printed after the target's, so
 * that the output's order does not depend on which thread runs first. */
static char *sup_buf;
static size_t sup_len;
static FILE *sup;

static void sreport(const char *label, long ret) {
	if (ret == -1)
		fprintf(sup, "%s = -1 %s\n", label, errname(errno));
	else
		fprintf(sup, "%s = %ld\n", label, ret);
}

static void *supervisor(void *arg) {
	wait_stage(1);
	struct pollfd pfd = {listener, POLLIN | POLLOUT, 0};
	struct seccomp_notif n;
	struct seccomp_notif_resp r;

	/* 1: answer with a value. */
	sreport("poll for a notification", poll(&pfd, 1, -1));
	fprintf(sup, "revents: POLLIN %d POLLOUT %d\n", !!(pfd.revents & POLLIN), !!(pfd.revents & POLLOUT));
	memset(&n, 0, sizeof n);
	n.id = 1;
	sreport("RECV with a dirty buffer", ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &n));
	memset(&n, 0, sizeof n);
	sreport("RECV", ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &n));
	fprintf(sup, "notif: nr is getppid %d, pid is the target %d, arch %#x, args %llu %llu\n", n.data.nr == SYS_getppid,
	       n.pid == target_tid, n.data.arch, n.data.args[0], n.data.args[1]);
	pfd.revents = 0;
	sreport("poll after RECV", poll(&pfd, 1, 0));
	fprintf(sup, "revents: POLLIN %d POLLOUT %d\n", !!(pfd.revents & POLLIN), !!(pfd.revents & POLLOUT));
	sreport("ID_VALID", ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &n.id));
	memset(&r, 0, sizeof r);
	r.id = n.id + 1000;
	sreport("SEND to an unknown id", ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &r));
	r.id = n.id;
	r.flags = 1;
	r.val = 5;
	sreport("SEND CONTINUE with a value", ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &r));
	r.flags = 0;
	r.val = 4242;
	sreport("SEND", ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &r));
	sreport("ID_VALID after SEND", ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &n.id));

	/* 2: an error. */
	memset(&n, 0, sizeof n);
	sreport("RECV", ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &n));
	memset(&r, 0, sizeof r);
	r.id = n.id;
	r.error = -EROFS;
	sreport("SEND error", ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &r));

	/* 3: CONTINUE: the syscall runs. */
	memset(&n, 0, sizeof n);
	sreport("RECV", ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &n));
	memset(&r, 0, sizeof r);
	r.id = n.id;
	r.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
	sreport("SEND CONTINUE", ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &r));

	/* 4: a signal interrupts the waiting target: the notification is
	 * withdrawn and, the handler having SA_RESTART, sent again. */
	memset(&n, 0, sizeof n);
	sreport("RECV", ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &n));
	__u64 first = n.id;
	syscall(SYS_tgkill, getpid(), target_tid, SIGUSR1);
	memset(&n, 0, sizeof n);
	sreport("RECV after the signal", ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &n));
	fprintf(sup, "a new id: %s\n", n.id != first ? "yes" : "no");
	sreport("ID_VALID of the withdrawn one", ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &first));
	memset(&r, 0, sizeof r);
	r.id = n.id;
	r.val = 99;
	sreport("SEND", ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &r));

	/* 5: SECCOMP_IOCTL_NOTIF_ADDFD: a descriptor of the supervisor's put
	 * in the target, at a chosen number, then as the syscall's result. */
	int p[2];
	if (pipe(p) != 0 || write(p[1], "addfd", 5) != 5)
		die("pipe");
	memset(&n, 0, sizeof n);
	sreport("RECV", ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &n));
	struct seccomp_notif_addfd af = {.id = n.id, .srcfd = p[0]};
	af.newfd_flags = O_NONBLOCK;
	sreport("ADDFD with O_NONBLOCK", ioctl(listener, SECCOMP_IOCTL_NOTIF_ADDFD, &af));
	af.newfd_flags = 0;
	af.newfd = 100;
	sreport("ADDFD newfd without SETFD", ioctl(listener, SECCOMP_IOCTL_NOTIF_ADDFD, &af));
	af.flags = 1 << 7;
	af.newfd = 0;
	sreport("ADDFD unknown flag", ioctl(listener, SECCOMP_IOCTL_NOTIF_ADDFD, &af));
	af.flags = 0;
	af.srcfd = 999;
	sreport("ADDFD bad srcfd", ioctl(listener, SECCOMP_IOCTL_NOTIF_ADDFD, &af));
	af.srcfd = p[0];
	af.id = n.id + 1000;
	sreport("ADDFD unknown id", ioctl(listener, SECCOMP_IOCTL_NOTIF_ADDFD, &af));
	af.id = n.id;
	af.flags = SECCOMP_ADDFD_FLAG_SETFD;
	af.newfd = 100;
	af.newfd_flags = O_CLOEXEC;
	sreport("ADDFD SETFD 100", ioctl(listener, SECCOMP_IOCTL_NOTIF_ADDFD, &af));
	af.flags = SECCOMP_ADDFD_FLAG_SEND;
	af.newfd = 0;
	af.newfd_flags = 0;
	long sent = ioctl(listener, SECCOMP_IOCTL_NOTIF_ADDFD, &af);
	sreport("ADDFD SEND is a descriptor", sent > 2);
	sreport("ID_VALID after ADDFD SEND", ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &n.id));
	addfd_sent = sent;
	close(p[0]);
	close(p[1]);

	/* 6: the supervisor goes away: ENOSYS. */
	wait_stage(2);
	close(listener);
	set_stage(3);
	return NULL;
}

static void notif_main(void) {
	nnp();
	struct sigaction sa = {0};
	sa.sa_handler = on_usr1;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);
	target_tid = syscall(SYS_gettid);
	real_ppid = getppid();
	sup = open_memstream(&sup_buf, &sup_len);
	pthread_t th;
	pthread_create(&th, NULL, supervisor, NULL);
	/* Only this thread is filtered (no TSYNC): the supervisor is not. */
	long fd = install_one(SYS_getppid, SECCOMP_RET_USER_NOTIF, SECCOMP_FILTER_FLAG_NEW_LISTENER);
	report("listener is a descriptor", fd >= 0);
	report("listener is close-on-exec", (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
	report("a second listener on the chain", install_one(SYS_getuid, SECCOMP_RET_USER_NOTIF, SECCOMP_FILTER_FLAG_NEW_LISTENER));
	char buf[8];
	report("read on the listener", read(fd, buf, sizeof buf));
	listener = fd;
	set_stage(1);
	report("getppid answered with a value", syscall(SYS_getppid, 11, 22));
	report("getppid answered with an error", syscall(SYS_getppid));
	report("getppid continued", syscall(SYS_getppid) == real_ppid);
	report("getppid interrupted and restarted", syscall(SYS_getppid));
	long afd = syscall(SYS_getppid); /* answered by ADDFD SEND */
	set_stage(2);
	wait_stage(3);
	report("getppid without a supervisor", syscall(SYS_getppid));
	pthread_join(th, NULL);
	/* The supervisor is done (its pipe ends closed): what ADDFD put
	 * here. */
	report("getppid answered by ADDFD SEND is the descriptor ADDFD returned", afd == addfd_sent);
	char got[8] = "";
	report("read from the descriptor put at 100", read(100, got, sizeof got));
	printf("read: %s\n", got);
	report("100 is close-on-exec", (fcntl(100, F_GETFD) & FD_CLOEXEC) != 0);
	report("the sent descriptor is the same pipe (drained, writer closed)", read(afd, got, 1));
	close(afd);
	close(100);
	fclose(sup);
	printf("supervisor:\n%s", sup_buf);
}

static void *hup_worker(void *arg) {
	listener = install_one(SYS_getppid, SECCOMP_RET_USER_NOTIF, SECCOMP_FILTER_FLAG_NEW_LISTENER);
	return NULL;
}

static void notif_hup(void) {
	/* The only thread using the filter exits: the listener reports
	 * POLLHUP (and nothing to receive). */
	nnp();
	pthread_t th;
	pthread_create(&th, NULL, hup_worker, NULL);
	pthread_join(th, NULL);
	report("listener made by the exited thread", listener >= 0);
	struct pollfd pfd = {listener, POLLIN, 0};
	report("poll", poll(&pfd, 1, -1));
	printf("revents: POLLHUP %d POLLIN %d\n", !!(pfd.revents & POLLHUP), !!(pfd.revents & POLLIN));
}

#ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5)
#endif

static volatile sig_atomic_t usr1_seen;
static void count_usr1(int sig) { usr1_seen++; }

static void *killable_supervisor(void *arg) {
	wait_stage(1);
	struct seccomp_notif n;
	memset(&n, 0, sizeof n);
	sreport("RECV", ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &n));
	/* Received: a signal no longer interrupts the target's wait. */
	syscall(SYS_tgkill, getpid(), target_tid, SIGUSR1);
	struct seccomp_notif_resp r = {.id = n.id, .val = 77};
	sreport("SEND", ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &r));
	return NULL;
}

static void notif_killable(void) {
	nnp();
	struct sigaction sa = {0};
	sa.sa_handler = count_usr1; /* no SA_RESTART: an interruption would be EINTR */
	sigaction(SIGUSR1, &sa, NULL);
	target_tid = syscall(SYS_gettid);
	sup = open_memstream(&sup_buf, &sup_len);
	report("WAIT_KILLABLE_RECV without NEW_LISTENER",
	       install_one(SYS_getppid, SECCOMP_RET_USER_NOTIF, SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV));
	pthread_t th;
	pthread_create(&th, NULL, killable_supervisor, NULL);
	listener = install_one(SYS_getppid, SECCOMP_RET_USER_NOTIF,
			       SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV);
	report("listener", listener >= 0);
	set_stage(1);
	report("getppid answered despite the signal", syscall(SYS_getppid));
	report("the handler ran", usr1_seen);
	pthread_join(th, NULL);
	fclose(sup);
	printf("supervisor:\n%s", sup_buf);
}

static void notif_case(void) {
	child("user_notif", notif_main);
	child("user_notif POLLHUP", notif_hup);
	child("user_notif WAIT_KILLABLE_RECV", notif_killable);
}

int main(int argc, char **argv) {
	init_output();
	self = argv[0];
	if (argc < 2) {
		fprintf(stderr, "usage: seccomp args|strict|actions|precedence|inherit|tsync|notif\n");
		return 2;
	}
	const char *c = argv[1];
	if (!strcmp(c, "args")) {
		child("args", args_case);
		child("args without privileges", args_nocap);
	} else if (!strcmp(c, "strict"))
		strict_case();
	else if (!strcmp(c, "actions"))
		actions_case();
	else if (!strcmp(c, "precedence"))
		precedence_case();
	else if (!strcmp(c, "inherit"))
		inherit_case();
	else if (!strcmp(c, "exec-child"))
		exec_child();
	else if (!strcmp(c, "tsync"))
		tsync_case();
	else if (!strcmp(c, "notif"))
		notif_case();
	else {
		fprintf(stderr, "seccomp: unknown case %s\n", c);
		return 2;
	}
	return 0;
}
