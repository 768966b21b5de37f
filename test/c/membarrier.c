/* membarrier.c: membarrier(2) commands, registrations and errors (issue
 * 15, item 3). Only the commands the sandbox serves are compared (the
 * host may also have SYNC_CORE and RSEQ). */
#include "common.h"
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define SERVED 0x21f
#ifndef MEMBARRIER_CMD_GET_REGISTRATIONS
#define MEMBARRIER_CMD_GET_REGISTRATIONS (1 << 9)
#endif

static long mb(int cmd, unsigned flags) { return syscall(SYS_membarrier, cmd, flags, 0); }

int main(void) {
	init_output();
	long q = mb(MEMBARRIER_CMD_QUERY, 0);
	printf("QUERY & served = %#lx\n", q & SERVED);
	report("QUERY flags 1", mb(MEMBARRIER_CMD_QUERY, 1));
	report("GET_REGISTRATIONS", mb(MEMBARRIER_CMD_GET_REGISTRATIONS, 0));
	report("PRIVATE_EXPEDITED unregistered", mb(MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0));
	report("REGISTER_PRIVATE_EXPEDITED", mb(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0));
	report("PRIVATE_EXPEDITED", mb(MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0));
	report("GET_REGISTRATIONS", mb(MEMBARRIER_CMD_GET_REGISTRATIONS, 0));
	report("GLOBAL", mb(MEMBARRIER_CMD_GLOBAL, 0));
	report("GLOBAL_EXPEDITED", mb(MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0));
	report("REGISTER_GLOBAL_EXPEDITED", mb(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, 0));
	report("GET_REGISTRATIONS", mb(MEMBARRIER_CMD_GET_REGISTRATIONS, 0));
	report("GLOBAL flags 1", mb(MEMBARRIER_CMD_GLOBAL, 1));
	report("command 1<<20", mb(1 << 20, 0));
	report("command 3 (two bits)", mb(3, 0));
	pid_t c = fork();
	if (c == 0) {
		report("child GET_REGISTRATIONS", mb(MEMBARRIER_CMD_GET_REGISTRATIONS, 0));
		report("child PRIVATE_EXPEDITED", mb(MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0));
		_exit(0);
	}
	waitpid(c, NULL, 0);
	return 0;
}
