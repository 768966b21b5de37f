/* seccomp: the cost of a seccomp filter on a syscall: raw getpid calls
 * under the filter that SECCOMP_BENCH_FILTER names:
 *   none   no filter (the reference)
 *   short  one 7-instruction filter (arch check, one syscall refused)
 *   long   one filter comparing the syscall number with 300 others before
 *          reaching getpid's ALLOW: a linear list the size of Docker's
 *          default profile
 *   longarg the long filter, then a comparison of getpid's first
 *          argument: the verdict depends on the arguments, so the
 *          sentry's allow cache cannot answer and every call runs the
 *          program
 * Usage: seccomp [N] [R] */
#define _GNU_SOURCE
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define DEFAULT_N 100000

static struct sock_filter prog[620];

static void setup(void) {
	const char *mode = getenv("SECCOMP_BENCH_FILTER");
	int n = 0;
	if (!mode || !strcmp(mode, "none"))
		return;
	prog[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
	prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
	prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
	prog[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
	if (!strncmp(mode, "long", 4)) {
		/* 300 numbers that are not syscalls, each refused. */
		for (int i = 0; i < 300; i++) {
			prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 1000 + i, 0, 1);
			prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | 1);
		}
	} else {
		prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_kexec_load, 0, 1);
		prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | 1);
	}
	if (!strcmp(mode, "longarg")) {
		prog[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0]));
		prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 12345, 0, 1);
		prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | 1);
	}
	prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	struct sock_fprog p = {n, prog};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &p)) {
		perror("seccomp");
		exit(1);
	}
}

static void one(void) { syscall(SYS_getpid); }
static void teardown(void) {}

#include "harness.h"
