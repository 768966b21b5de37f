/* rbindprop.c: an rbind into a shared mount propagates the whole tree
 * (issue 15 item 6).
 *
 * A shared tmpfs s has a peer (a bind of it, p) and a slave (a bind made a
 * slave, sl). A tree — a tmpfs with a submount and a submount of that — is
 * rbound into s: every peer and slave gets the whole tree, not only its
 * top. Then a mount moved (MS_MOVE) into s propagates with its submount
 * too. The program lists the mounts under its directory as mountinfo
 * shows them (point relative to the directory, and whether the mount is
 * shared and a slave) and checks that a file made in the source's deepest
 * mount shows through the copies.
 */
#include "common.h"
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>

static char base[64];

static char *p(const char *rel) { return path_in(base, rel); }

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void list(const char *label) {
	char line[1024], mp[256];
	char *rows[64];
	int n = 0;
	size_t bl = strlen(base);
	FILE *f = fopen("/proc/self/mountinfo", "r");
	while (f && fgets(line, sizeof line, f) && n < 64) {
		if (sscanf(line, "%*s %*s %*s %*s %255s", mp) != 1 || strncmp(mp, base, bl) != 0 || mp[bl] != '/')
			continue;
		char *dash = strstr(line, " - ");
		if (dash)
			*dash = 0;
		char row[320];
		snprintf(row, sizeof row, "%s%s%s", mp + bl + 1, strstr(line, " shared:") ? " shared" : "",
			 strstr(line, " master:") ? " slave" : "");
		rows[n++] = strdup(row);
	}
	if (f)
		fclose(f);
	qsort(rows, n, sizeof *rows, cmp);
	printf("%s:\n", label);
	for (int i = 0; i < n; i++) {
		printf("  %s\n", rows[i]);
		free(rows[i]);
	}
}

static void see(const char *rel) {
	printf("%s: %s\n", rel, access(p(rel), F_OK) == 0 ? "present" : errname(errno));
}

int main(void) {
	init_output();
	snprintf(base, sizeof base, "/tmp/rbindpropXXXXXX");
	if (!mkdtemp(base))
		return 1;
	pid_t c = fork();
	if (c == 0) {
		if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
			printf("private namespace: %s\n", errname(errno));
			_exit(1);
		}
		const char *dirs[] = {"s", "p", "sl", "src", "mv"};
		for (int i = 0; i < 5; i++)
			mkdir(p(dirs[i]), 0755);
		report("mount tmpfs on s", mount("t", p("s"), "tmpfs", 0, NULL));
		report("make s shared", mount(NULL, p("s"), NULL, MS_SHARED, NULL));
		report("bind s on p (a peer)", mount(p("s"), p("p"), NULL, MS_BIND, NULL));
		report("bind s on sl", mount(p("s"), p("sl"), NULL, MS_BIND, NULL));
		report("make sl a slave", mount(NULL, p("sl"), NULL, MS_SLAVE, NULL));
		mkdir(p("s/x"), 0755);
		mkdir(p("s/y"), 0755);

		report("mount tmpfs on src", mount("t", p("src"), "tmpfs", 0, NULL));
		mkdir(p("src/sub"), 0755);
		report("mount tmpfs on src/sub", mount("t", p("src/sub"), "tmpfs", 0, NULL));
		mkdir(p("src/sub/deep"), 0755);
		report("mount tmpfs on src/sub/deep", mount("t", p("src/sub/deep"), "tmpfs", 0, NULL));
		close(open(p("src/sub/deep/file"), O_CREAT | O_WRONLY, 0644));

		report("rbind src on s/x", mount(p("src"), p("s/x"), NULL, MS_BIND | MS_REC, NULL));
		list("after the rbind");
		see("p/x/sub/deep/file");
		see("sl/x/sub/deep/file");

		report("mount tmpfs on mv", mount("t", p("mv"), "tmpfs", 0, NULL));
		mkdir(p("mv/in"), 0755);
		report("mount tmpfs on mv/in", mount("t", p("mv/in"), "tmpfs", 0, NULL));
		close(open(p("mv/in/file"), O_CREAT | O_WRONLY, 0644));
		report("move mv to s/y", mount(p("mv"), p("s/y"), NULL, MS_MOVE, NULL));
		list("after the move");
		see("p/y/in/file");
		see("sl/y/in/file");

		report("umount -l s/x", umount2(p("s/x"), MNT_DETACH));
		list("after umount -l s/x");
		_exit(0);
	}
	int st;
	waitpid(c, &st, 0);
	const char *dirs[] = {"s", "p", "sl", "src", "mv"};
	for (int i = 0; i < 5; i++)
		rmdir(p(dirs[i]));
	rmdir(base);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
