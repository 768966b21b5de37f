/* docker_seccomp.c: Docker's default seccomp profile, built with libseccomp
 * and installed before a shell pipeline runs under it.
 *
 * The profile is moby/moby's profiles/seccomp/default.json (commit
 * 00f3d189e420d485e42d15fe494f96d272284e0e) as Docker applies it to a
 * container with its default capabilities (CHOWN, DAC_OVERRIDE, FSETID,
 * FOWNER, MKNOD, NET_RAW, SETGID, SETUID, SETFCAP, SETPCAP,
 * NET_BIND_SERVICE, SYS_CHROOT, KILL, AUDIT_WRITE), for x86-64 only (the
 * JSON's x86 and x32 sub-architectures are left out): defaultAction
 * SCMP_ACT_ERRNO with errno 1 (EPERM); the unconditional allow list; socket
 * unless the family is AF_VSOCK (40); personality for 0, 8, 0x20000,
 * 0x20008 and 0xffffffff; arch_prctl and modify_ldt; process_vm_readv/
 * writev and ptrace (minKernel 4.8); chroot (CAP_SYS_CHROOT); clone
 * without namespace flags (mask 0x7e020000) and clone3 failing with ENOSYS
 * (both for a container without CAP_SYS_ADMIN). Everything else (mount,
 * unshare, setns, keyctl, add_key, kexec_load, bpf, reboot, ...) gets EPERM.
 *
 * Usage: docker_seccomp run   installs the profile, then execs /bin/sh
 *                             with a pipeline that ends by running
 *                             "docker_seccomp probe" under the profile;
 *        docker_seccomp probe tries calls the profile denies (with
 *                             arguments that would fail harmlessly without
 *                             it) and prints what they returned.
 */
/* link: -lseccomp */
#include "common.h"

#include <seccomp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>

static const char *allow[] = {
	"accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "capget", "capset", "chdir", "chmod",
	"chown", "chown32", "clock_adjtime", "clock_adjtime64", "clock_getres", "clock_getres_time64",
	"clock_gettime", "clock_gettime64", "clock_nanosleep", "clock_nanosleep_time64", "close", "close_range",
	"connect", "copy_file_range", "creat", "dup", "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl",
	"epoll_ctl_old", "epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2",
	"execve", "execveat", "exit", "exit_group", "faccessat", "faccessat2", "fadvise64", "fadvise64_64",
	"fallocate", "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchown", "fchown32", "fchownat", "fcntl",
	"fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr", "fsetxattr", "fstat",
	"fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate", "ftruncate64", "futex",
	"futex_time64", "futex_waitv", "futimesat", "getcpu", "getcwd", "getdents", "getdents64", "getegid",
	"getegid32", "geteuid", "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32", "getitimer",
	"getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getrandom", "getresgid",
	"getresgid32", "getresuid", "getresuid32", "getrlimit", "get_robust_list", "getrusage", "getsid",
	"getsockname", "getsockopt", "get_thread_area", "gettid", "gettimeofday", "getuid", "getuid32",
	"getxattr", "inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel",
	"ioctl", "io_destroy", "io_getevents", "io_pgetevents", "io_pgetevents_time64", "ioprio_get",
	"ioprio_set", "io_setup", "io_submit", "io_uring_enter", "io_uring_register", "io_uring_setup", "ipc",
	"kill", "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "lchown", "lchown32",
	"lgetxattr", "link", "linkat", "listen", "listxattr", "llistxattr", "_llseek", "lremovexattr", "lseek",
	"lsetxattr", "lstat", "lstat64", "madvise", "membarrier", "memfd_create", "memfd_secret", "mincore",
	"mkdir", "mkdirat", "mknod", "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mmap2", "mprotect",
	"mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend",
	"mq_timedsend_time64", "mq_unlink", "mremap", "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock",
	"munlockall", "munmap", "name_to_handle_at", "nanosleep", "newfstatat", "_newselect", "open", "openat",
	"openat2", "pause", "pidfd_open", "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free",
	"pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl", "pread64", "preadv", "preadv2", "prlimit64",
	"process_mrelease", "pselect6", "pselect6_time64", "pwrite64", "pwritev", "pwritev2", "read", "readahead",
	"readlink", "readlinkat", "readv", "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg",
	"remap_file_pages", "removexattr", "rename", "renameat", "renameat2", "restart_syscall", "rmdir", "rseq",
	"rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend",
	"rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr",
	"sched_getparam", "sched_get_priority_max", "sched_get_priority_min", "sched_getscheduler",
	"sched_rr_get_interval", "sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr",
	"sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select", "semctl", "semget", "semop",
	"semtimedop", "semtimedop_time64", "send", "sendfile", "sendfile64", "sendmmsg", "sendmsg", "sendto",
	"setfsgid", "setfsgid32", "setfsuid", "setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32",
	"setitimer", "setpgid", "setpriority", "setregid", "setregid32", "setresgid", "setresgid32", "setresuid",
	"setresuid32", "setreuid", "setreuid32", "setrlimit", "set_robust_list", "setsid", "setsockopt",
	"set_thread_area", "set_tid_address", "setuid", "setuid32", "setxattr", "shmat", "shmctl", "shmdt",
	"shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4", "sigprocmask", "sigreturn", "socketcall",
	"socketpair", "splice", "stat", "stat64", "statfs", "statfs64", "statx", "symlink", "symlinkat", "sync",
	"sync_file_range", "syncfs", "sysinfo", "tee", "tgkill", "time", "timer_create", "timer_delete",
	"timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime", "timer_settime64",
	"timerfd_create", "timerfd_gettime", "timerfd_gettime64", "timerfd_settime", "timerfd_settime64", "times",
	"tkill", "truncate", "truncate64", "ugetrlimit", "umask", "uname", "unlink", "unlinkat", "utime",
	"utimensat", "utimensat_time64", "utimes", "vfork", "vmsplice", "wait4", "waitid", "waitpid", "write",
	"writev",
	/* minKernel 4.8; amd64 only; CAP_SYS_CHROOT (a default capability) */
	"process_vm_readv", "process_vm_writev", "ptrace", "arch_prctl", "modify_ldt", "chroot",
};

static void add(scmp_filter_ctx ctx, uint32_t action, int nr, unsigned n, const struct scmp_arg_cmp *cmp) {
	int rc = seccomp_rule_add_array(ctx, action, nr, n, cmp);
	if (rc != 0) {
		fprintf(stderr, "seccomp_rule_add %d: %s\n", nr, strerror(-rc));
		exit(99);
	}
}

static void install(void) {
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
	if (!ctx)
		die("seccomp_init");
	for (unsigned i = 0; i < sizeof allow / sizeof allow[0]; i++) {
		int nr = seccomp_syscall_resolve_name(allow[i]);
		if (nr == __NR_SCMP_ERROR || nr < 0)
			continue; /* not an x86-64 syscall (a 32-bit name) */
		add(ctx, SCMP_ACT_ALLOW, nr, 0, NULL);
	}
	struct scmp_arg_cmp notvsock = SCMP_A0(SCMP_CMP_NE, 40);
	add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, &notvsock);
	unsigned long personas[] = {0, 8, 131072, 131080, 4294967295UL};
	for (unsigned i = 0; i < 5; i++) {
		struct scmp_arg_cmp p = SCMP_A0(SCMP_CMP_EQ, personas[i]);
		add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(personality), 1, &p);
	}
	struct scmp_arg_cmp nonamespace = SCMP_A0(SCMP_CMP_MASKED_EQ, 2114060288, 0);
	add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1, &nonamespace);
	add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0, NULL);
	int rc = seccomp_load(ctx);
	if (rc != 0) {
		fprintf(stderr, "seccomp_load: %s\n", strerror(-rc));
		exit(99);
	}
	seccomp_release(ctx);
}

static void probe(void) {
	/* Each call fails harmlessly without the profile (a bad argument, a
	 * missing path); under it each must be refused before it runs. */
	reportf(syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -1, 0), "keyctl");
	reportf(syscall(SYS_add_key, "user", "runsc-lite-test", "x", 1, 0), "add_key");
	reportf(syscall(SYS_request_key, "user", "runsc-lite-none", NULL, 0), "request_key");
	reportf(syscall(SYS_kexec_load, 0, 0, NULL, 0), "kexec_load");
	reportf(syscall(SYS_kexec_file_load, -1, -1, 0, NULL, 0), "kexec_file_load");
	reportf(syscall(SYS_mount, "none", "/nonexistent-runsc-lite", "tmpfs", 0, NULL), "mount");
	reportf(syscall(SYS_umount2, "/nonexistent-runsc-lite", 0), "umount2");
	reportf(syscall(SYS_pivot_root, "/nonexistent-runsc-lite", "/nonexistent-runsc-lite"), "pivot_root");
	reportf(syscall(SYS_unshare, 0x10000000 /* CLONE_NEWUSER */), "unshare(CLONE_NEWUSER)");
	reportf(syscall(SYS_unshare, 0x00020000 /* CLONE_NEWNS */), "unshare(CLONE_NEWNS)");
	reportf(syscall(SYS_setns, -1, 0), "setns");
	long r = syscall(SYS_clone, 0x10000000 | SIGCHLD, 0, 0, 0, 0);
	if (r == 0)
		_exit(0);
	reportf(r > 0 ? 0 : r, "clone(CLONE_NEWUSER)");
	reportf(syscall(SYS_clone3, NULL, 0), "clone3");
	reportf(syscall(SYS_socket, 40 /* AF_VSOCK */, SOCK_STREAM, 0), "socket(AF_VSOCK)");
	reportf(syscall(SYS_personality, 0x0400000 /* READ_IMPLIES_EXEC */), "personality(READ_IMPLIES_EXEC)");
	reportf(syscall(SYS_personality, 0xffffffffUL), "personality(query)");
	reportf(syscall(SYS_reboot, 0, 0, 0, NULL), "reboot");
	reportf(syscall(SYS_swapon, "/nonexistent-runsc-lite", 0), "swapon");
	reportf(syscall(SYS_swapoff, "/nonexistent-runsc-lite"), "swapoff");
	reportf(syscall(SYS_init_module, NULL, 0, ""), "init_module");
	reportf(syscall(SYS_finit_module, -1, "", 0), "finit_module");
	reportf(syscall(SYS_delete_module, "runsc_lite_none", 0), "delete_module");
	reportf(syscall(SYS_bpf, -1, NULL, 0), "bpf");
	reportf(syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0), "perf_event_open");
	reportf(syscall(SYS_syslog, 10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0), "syslog");
	reportf(syscall(SYS_sethostname, NULL, -1), "sethostname");
	reportf(syscall(SYS_setdomainname, NULL, -1), "setdomainname");
	reportf(syscall(SYS_quotactl, 0, NULL, 0, NULL), "quotactl");
	reportf(syscall(SYS_open_by_handle_at, -1, NULL, 0), "open_by_handle_at");
	reportf(syscall(SYS_kcmp, -1, -1, 0, 0, 0), "kcmp");
	reportf(syscall(SYS_userfaultfd, -1), "userfaultfd");
	reportf(syscall(SYS_settimeofday, NULL, (void *)1), "settimeofday");
	reportf(syscall(SYS_clock_settime, -1, NULL), "clock_settime");
	reportf(syscall(SYS_acct, (void *)1), "acct");
	reportf(syscall(SYS_iopl, 99), "iopl");
	reportf(syscall(SYS_fanotify_init, -1, 0), "fanotify_init");
	/* And what it allows still works. */
	reportf(syscall(SYS_getpid) > 0, "getpid works");
	reportf(prctl(PR_GET_SECCOMP, 0, 0, 0, 0), "PR_GET_SECCOMP");
	reportf(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), "PR_GET_NO_NEW_PRIVS");
}

int main(int argc, char **argv) {
	init_output();
	if (argc == 2 && !strcmp(argv[1], "probe")) {
		probe();
		return 0;
	}
	if (argc != 2 || strcmp(argv[1], "run") != 0) {
		fprintf(stderr, "usage: docker_seccomp run|probe\n");
		return 2;
	}
	install();
	execl("/bin/sh", "sh", "-c",
	      "set -e; seq 1 20000 | sort -rn | head -n 3; "
	      "echo 'hello from a pipeline' | tr a-z A-Z | sed 's/PIPELINE/filtered pipeline/'; "
	      "n=$(ls /usr/bin | wc -l); [ \"$n\" -gt 10 ] && echo 'ls | wc works'; "
	      "grep '^Seccomp' /proc/self/status; "
	      "sh -c 'echo nested shell $((6*7))'; "
	      "\"$0\" probe",
	      argv[0], (char *)NULL);
	die("execl /bin/sh");
}
