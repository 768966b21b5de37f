/* remount.c: read-only per mount and per filesystem (issue 15 item 6).
 *
 * MS_REMOUNT|MS_BIND|MS_RDONLY makes one mount read-only; MS_REMOUNT|
 * MS_RDONLY makes the filesystem read-only too, through every mount of it
 * (a bind of it included), until a remount without MS_BIND makes it
 * writable again. For each step the program tries a write through both
 * mounts of a tmpfs (a and its bind b) and prints what mountinfo shows:
 * the mount's ro/rw and the filesystem's (super options), and /proc/mounts'.
 */
#include "common.h"
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>

static char base[64];

static char *p(const char *rel) { return path_in(base, rel); }

/* first returns the first comma-separated word of s. */
static const char *first(const char *s) {
	static char w[4][32];
	static int i;
	i = (i + 1) % 4;
	snprintf(w[i], sizeof w[i], "%s", s);
	w[i][strcspn(w[i], ",")] = 0;
	return w[i];
}

static void show(const char *name) {
	char line[1024], mp[256], o[256], sup[256], path[160];
	snprintf(path, sizeof path, "%s", p(name));
	const char *mo = "?", *so = "?", *po = "?";
	static char mob[32], sob[32], pob[32];
	FILE *f = fopen("/proc/self/mountinfo", "r");
	while (f && fgets(line, sizeof line, f)) {
		char *dash = strstr(line, " - ");
		if (sscanf(line, "%*s %*s %*s %*s %255s %255s", mp, o) == 2 && strcmp(mp, path) == 0 && dash &&
		    sscanf(dash, " - %*s %*s %255s", sup) == 1) {
			snprintf(mob, sizeof mob, "%s", first(o));
			snprintf(sob, sizeof sob, "%s", first(sup));
			mo = mob;
			so = sob;
		}
	}
	if (f)
		fclose(f);
	f = fopen("/proc/mounts", "r");
	while (f && fgets(line, sizeof line, f)) {
		if (sscanf(line, "%*s %255s %*s %255s", mp, o) == 2 && strcmp(mp, path) == 0) {
			snprintf(pob, sizeof pob, "%s", first(o));
			po = pob;
		}
	}
	if (f)
		fclose(f);
	char file[200];
	snprintf(file, sizeof file, "%s/f", path);
	int fd = open(file, O_WRONLY | O_CREAT, 0644);
	printf("  %s: mountinfo %s super %s, /proc/mounts %s, write: %s\n", name, mo, so, po,
	       fd >= 0 ? "ok" : errname(errno));
	if (fd >= 0)
		close(fd);
}

static void step(const char *label, long r) {
	report(label, r);
	show("a");
	show("b");
}

int main(void) {
	init_output();
	snprintf(base, sizeof base, "/tmp/remountXXXXXX");
	if (!mkdtemp(base))
		return 1;
	pid_t c = fork();
	if (c == 0) {
		if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
			printf("private namespace: %s\n", errname(errno));
			_exit(1);
		}
		mkdir(p("a"), 0755);
		mkdir(p("b"), 0755);
		mkdir(p("c"), 0755);
		step("mount tmpfs on a", mount("t", p("a"), "tmpfs", 0, NULL));
		step("bind a on b", mount(p("a"), p("b"), NULL, MS_BIND, NULL));
		step("remount,bind,ro b", mount(NULL, p("b"), NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL));
		step("remount,bind b (rw)", mount(NULL, p("b"), NULL, MS_REMOUNT | MS_BIND, NULL));
		step("remount,ro a (the filesystem)", mount(NULL, p("a"), NULL, MS_REMOUNT | MS_RDONLY, NULL));
		step("remount,bind a (rw mount, filesystem still ro)", mount(NULL, p("a"), NULL, MS_REMOUNT | MS_BIND, NULL));
		step("remount,ro a again", mount(NULL, p("a"), NULL, MS_REMOUNT | MS_RDONLY, NULL));
		step("remount b (the filesystem rw)", mount(NULL, p("b"), NULL, MS_REMOUNT, NULL));
		report("mount tmpfs on c ro", mount("t", p("c"), "tmpfs", MS_RDONLY, NULL));
		show("c");
		report("bind c on b", mount(p("c"), p("b"), NULL, MS_BIND, NULL));
		show("b");
		umount2(p("b"), MNT_DETACH);
		umount2(p("b"), MNT_DETACH);
		umount2(p("c"), MNT_DETACH);
		umount2(p("a"), MNT_DETACH);
		_exit(0);
	}
	int st;
	waitpid(c, &st, 0);
	rmdir(p("a"));
	rmdir(p("b"));
	rmdir(p("c"));
	rmdir(base);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
