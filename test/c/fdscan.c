/* fdscan: lists the descriptors a fresh program has open, found by
 * fcntl(F_GETFD) over 0..65535 and by /proc/self/fd (less the descriptor
 * reading it). Natively and in the sandbox that is 0, 1 and 2.
 * An escape is any other descriptor: the sentry's memory file, its log,
 * a stub's socket or pidfd reachable from inside. */
#include "common.h"

#include <dirent.h>
#include <fcntl.h>

static int cmpint(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

int main(void) {
	init_output();
	printf("by fcntl:");
	for (int fd = 0; fd < 65536; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			printf(" %d", fd);
	printf("\n");
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		die("opendir /proc/self/fd");
	int self = dirfd(d);
	struct dirent *e;
	int fds[64];
	int n = 0;
	while ((e = readdir(d)) && n < 64) {
		if (e->d_name[0] == '.' || atoi(e->d_name) == self)
			continue;
		fds[n++] = atoi(e->d_name);
	}
	closedir(d);
	qsort(fds, n, sizeof fds[0], cmpint);
	printf("by /proc/self/fd:");
	for (int i = 0; i < n; i++)
		printf(" %d", fds[i]);
	printf("\n");
	return 0;
}
