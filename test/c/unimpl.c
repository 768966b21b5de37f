/* unimpl: calls each syscall number given in argv twice and prints the
 * result. Used with numbers the sentry does not implement: the program must
 * get -1/ENOSYS both times, and the sentry must log the syscall once by name.
 * syslog (103) is called with SYSLOG_ACTION_SIZE_BUFFER (harmless, and it
 * succeeds or fails with EPERM natively: ENOSYS proves it was not passed
 * through); every other number with zero arguments. */
#include "common.h"
#include <sys/syscall.h>

int main(int argc, char **argv) {
	init_output();
	for (int i = 1; i < argc; i++) {
		long nr = strtol(argv[i], NULL, 10);
		for (int round = 1; round <= 2; round++) {
			long r = nr == SYS_syslog ? syscall(nr, 10, 0, 0) : syscall(nr, 0, 0, 0, 0, 0, 0);
			reportf(r, "syscall %ld call %d", nr, round);
		}
	}
	printf("survived\n");
	return 0;
}
