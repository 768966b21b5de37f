/* probe: a small static tool for the sandbox-only tests, usable as the only
 * binary of a --root directory. Operations, each printing one line per
 * argument:
 *   probe write PATH TEXT     create/truncate PATH, write TEXT, read it back
 *   probe cat PATH...         first line of each PATH, or its errno name
 *   probe ls DIR              sorted entry names of DIR (no . and ..)
 *   probe unlink PATH         unlink PATH
 *   probe chdir-cat DIR PATH  chdir to DIR, then cat PATH
 *   probe exit N              exit with status N
 *   probe raise N             kill itself with signal N
 *   probe stderr TEXT         write TEXT to stderr only
 *   probe block               print "ready", then wait for EOF on stdin */
#include "common.h"
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>

static void cat1(const char *path) {
	char buf[512];
	int fd = open(path, O_RDONLY);
	if (fd < 0) {
		printf("%s: %s\n", path, errname(errno));
		return;
	}
	long n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n < 0) {
		printf("%s: read %s\n", path, errname(errno));
		return;
	}
	buf[n] = 0;
	char *nl = strchr(buf, '\n');
	if (nl)
		*nl = 0;
	printf("%s: %s\n", path, buf);
}

int main(int argc, char **argv) {
	init_output();
	if (argc < 2) {
		fprintf(stderr, "usage: probe OP ARGS...\n");
		return 2;
	}
	const char *op = argv[1];
	if (!strcmp(op, "write") && argc == 4) {
		int fd = open(argv[2], O_CREAT | O_WRONLY | O_TRUNC, 0644);
		if (fd < 0) {
			printf("write %s: %s\n", argv[2], errname(errno));
			return 1;
		}
		long n = write(fd, argv[3], strlen(argv[3]));
		close(fd);
		printf("write %s: %ld\n", argv[2], n);
		cat1(argv[2]);
		return 0;
	}
	if (!strcmp(op, "cat")) {
		for (int i = 2; i < argc; i++)
			cat1(argv[i]);
		return 0;
	}
	if (!strcmp(op, "ls") && argc == 3) {
		DIR *d = opendir(argv[2]);
		if (!d) {
			printf("ls %s: %s\n", argv[2], errname(errno));
			return 1;
		}
		char *names[512];
		int n = 0;
		struct dirent *e;
		while ((e = readdir(d)) && n < 512)
			if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
				names[n++] = strdup(e->d_name);
		closedir(d);
		qsort(names, n, sizeof names[0], cmpstr);
		printf("ls %s:", argv[2]);
		for (int i = 0; i < n; i++)
			printf(" %s", names[i]);
		printf("\n");
		return 0;
	}
	if (!strcmp(op, "unlink") && argc == 3) {
		reportf(unlink(argv[2]), "unlink %s", argv[2]);
		return 0;
	}
	if (!strcmp(op, "chdir-cat") && argc == 4) {
		reportf(chdir(argv[2]), "chdir %s", argv[2]);
		cat1(argv[3]);
		return 0;
	}
	if (!strcmp(op, "exit") && argc == 3)
		return atoi(argv[2]);
	if (!strcmp(op, "raise") && argc == 3) {
		raise(atoi(argv[2]));
		printf("still alive after raise\n");
		return 0;
	}
	if (!strcmp(op, "block") && argc == 2) {
		char c;
		printf("ready\n");
		while (read(0, &c, 1) > 0)
			;
		return 0;
	}
	if (!strcmp(op, "stderr") && argc == 3) {
		write(2, argv[2], strlen(argv[2]));
		return 0;
	}
	fprintf(stderr, "probe: bad operation\n");
	return 2;
}
