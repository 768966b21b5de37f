/* jailbreak MARKER: as root inside the sandbox (with --root DIR), tries the
 * classic ways out of a root directory and reports whether MARKER — a file
 * the test made on the host outside DIR — can be seen:
 *
 *   chroot       chroot into a subdirectory while keeping a descriptor and
 *                the working directory outside it, then climb with ".."
 *                and chroot(".") (the escape from a Linux chroot: it lands
 *                on the sandbox's root, DIR, never the host's /);
 *   bind mount   mount --bind of "/" (and of "/..") onto a directory;
 *   proc         /proc/1/root and /proc/self/cwd followed upwards;
 *   tmpfs        a fresh tmpfs mount does not expose anything either.
 *
 * Every line must say "not reachable"; "REACHED" is an escape. */
#include "common.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>

static const char *marker;

static void check(const char *how, const char *prefix) {
	char p[4096];
	snprintf(p, sizeof p, "%s%s", prefix, marker);
	struct stat st;
	printf("%s: %s\n", how, stat(p, &st) == 0 ? "REACHED" : "not reachable");
}

int main(int argc, char **argv) {
	init_output();
	if (argc < 2) {
		fprintf(stderr, "usage: jailbreak MARKER\n");
		return 2;
	}
	marker = argv[1];
	check("plain path", "");
	check("through /..", "/../../..");

	mkdir("/jail", 0755);
	int out = open("/", O_RDONLY | O_DIRECTORY);
	report("chroot /jail", chroot("/jail"));
	check("inside the chroot", "");
	struct stat st;
	yesno("the sandbox's /bin/jailbreak seen inside the chroot", stat("/bin/jailbreak", &st) == 0);
	report("fchdir to a descriptor outside", fchdir(out));
	for (int i = 0; i < 64; i++)
		chdir("..");
	report("chroot .", chroot("."));
	check("after climbing out of the chroot", "");
	yesno("back at the sandbox's root (its /bin/jailbreak seen)", stat("/bin/jailbreak", &st) == 0);
	check("through /proc/1/root", "/proc/1/root");
	check("through /proc/self/cwd/..", "/proc/self/cwd/../../..");

	mkdir("/mnt", 0755);
	mkdir("/mnt/b", 0755);
	report("mount --bind / /mnt/b", mount("/", "/mnt/b", NULL, MS_BIND, NULL));
	check("through the bind mount", "/mnt/b");
	report("mount --bind /.. /mnt/b", mount("/..", "/mnt/b", NULL, MS_BIND, NULL));
	check("through a bind of /..", "/mnt/b");
	mkdir("/mnt/t", 0755);
	report("mount tmpfs /mnt/t", mount("none", "/mnt/t", "tmpfs", 0, NULL));
	check("through /mnt/t/..", "/mnt/t/../../..");
	return 0;
}
