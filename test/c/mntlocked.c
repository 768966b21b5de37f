/* mntlocked.c: mounts in a mount namespace owned by a user namespace
 * (issue 15 item 6).
 *
 * Root makes a private mount namespace with mounts under a temporary
 * directory (nosuid+nodev, read-only, a tmpfs with a submount), then a
 * child U unshares a user and a mount namespace: its copies are locked
 * (Linux's MNT_LOCKED and MNT_LOCK_*). U cannot unmount or move them
 * (EINVAL), nor clear their locked flags or change their atime flags by a
 * remount (EPERM), but may add flags; it cannot bind a place with locked
 * mounts under it without MS_REC; an rbind's top is its own, its submounts
 * stay locked; mounts it makes are its own; a remount of the filesystem
 * itself (no MS_BIND) needs CAP_SYS_ADMIN in the filesystem's user
 * namespace. Which filesystems U may mount: tmpfs and devpts, but not proc
 * of a PID namespace it does not own, nor sysfs or mqueue of namespaces it
 * does not own; with its own PID and IPC namespaces, proc and mqueue.
 * pivot_root passes the old root's lock to the new root, so the old root
 * can then be detached.
 */
#include "common.h"
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>

static char base[64];

static char *p(const char *rel) { return path_in(base, rel); }

/* opts prints the per-mount options of the mount at path from
 * /proc/self/mountinfo (field 6). */
static void opts(const char *label, const char *path) {
	char line[1024], want[160];
	FILE *f = fopen("/proc/self/mountinfo", "r");
	if (!f)
		return;
	snprintf(want, sizeof want, " %s ", path);
	char last[256] = "(not mounted)";
	while (fgets(line, sizeof line, f)) {
		char mp[256], o[256];
		if (sscanf(line, "%*s %*s %*s %*s %255s %255s", mp, o) == 2 && strcmp(mp, path) == 0)
			snprintf(last, sizeof last, "%s", o);
	}
	fclose(f);
	printf("%s: %s\n", label, last);
}

static void user_ns_mapped(void) {
	char m[64];
	uid_t u = geteuid();
	gid_t g = getegid();
	if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0) {
		printf("unshare(CLONE_NEWUSER|CLONE_NEWNS): %s\n", errname(errno));
		_exit(1);
	}
	snprintf(m, sizeof m, "0 %d 1", u);
	write_text("/proc/self/uid_map", m);
	write_text("/proc/self/setgroups", "deny");
	snprintf(m, sizeof m, "0 %d 1", g);
	write_text("/proc/self/gid_map", m);
}

static void in_userns(void) {
	user_ns_mapped();
	report("U: umount a (locked)", umount2(p("a"), 0));
	report("U: umount -l a (locked)", umount2(p("a"), MNT_DETACH));
	report("U: umount b/sub (locked)", umount2(p("b/sub"), 0));
	report("U: remount,bind a without nosuid,nodev", mount(NULL, p("a"), NULL, MS_REMOUNT | MS_BIND, NULL));
	report("U: remount,bind a keeping nosuid,nodev", mount(NULL, p("a"), NULL, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV, NULL));
	report("U: remount,bind a adding ro,noexec", mount(NULL, p("a"), NULL, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | MS_RDONLY | MS_NOEXEC, NULL));
	opts("U: a's options", p("a"));
	report("U: remount,bind a dropping ro,noexec again", mount(NULL, p("a"), NULL, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV, NULL));
	report("U: remount,bind r without ro (locked ro)", mount(NULL, p("r"), NULL, MS_REMOUNT | MS_BIND, NULL));
	report("U: remount,bind r,ro", mount(NULL, p("r"), NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL));
	report("U: remount,bind b,noatime (locked atime)", mount(NULL, p("b"), NULL, MS_REMOUNT | MS_BIND | MS_NOATIME, NULL));
	report("U: remount,bind b,strictatime (locked atime)", mount(NULL, p("b"), NULL, MS_REMOUNT | MS_BIND | MS_STRICTATIME, NULL));
	report("U: remount,bind b,relatime", mount(NULL, p("b"), NULL, MS_REMOUNT | MS_BIND | MS_RELATIME, NULL));
	report("U: remount,bind b,nosuid (atime kept)", mount(NULL, p("b"), NULL, MS_REMOUNT | MS_BIND | MS_NOSUID, NULL));
	opts("U: b's options", p("b"));
	report("U: remount b (the tmpfs itself)", mount(NULL, p("b"), NULL, MS_REMOUNT | MS_NOSUID, NULL));
	report("U: move a (locked)", mount(p("a"), p("m"), NULL, MS_MOVE, NULL));
	report("U: bind b (locked b/sub under it)", mount(p("b"), p("c"), NULL, MS_BIND, NULL));
	report("U: bind b/sub (nothing under it)", mount(p("b/sub"), p("c"), NULL, MS_BIND, NULL));
	report("U: umount c (its own bind)", umount2(p("c"), 0));
	report("U: rbind b", mount(p("b"), p("c"), NULL, MS_BIND | MS_REC, NULL));
	report("U: umount c/sub (copied locked)", umount2(p("c/sub"), 0));
	report("U: umount -l c (the rbind's top)", umount2(p("c"), MNT_DETACH));
	report("U: mount tmpfs on m", mount("t", p("m"), "tmpfs", 0, NULL));
	report("U: mkdir m/x", mkdir(p("m/x"), 0755));
	report("U: mount tmpfs on m/x", mount("t", p("m/x"), "tmpfs", MS_NOSUID, NULL));
	report("U: remount,bind m/x without nosuid (its own)", mount(NULL, p("m/x"), NULL, MS_REMOUNT | MS_BIND, NULL));
	report("U: remount m/x (its own tmpfs)", mount(NULL, p("m/x"), NULL, MS_REMOUNT, NULL));
	report("U: umount m/x", umount2(p("m/x"), 0));
	report("U: mount proc (host PID namespace)", mount("proc", p("m/x"), "proc", 0, NULL));
	report("U: mount sysfs", mount("sysfs", p("m/x"), "sysfs", 0, NULL));
	report("U: mount mqueue (host IPC namespace)", mount("mqueue", p("m/x"), "mqueue", 0, NULL));
	report("U: mount devpts", mount("devpts", p("m/x"), "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666"));
	umount2(p("m/x"), MNT_DETACH);

	/* pivot_root into its own tmpfs: the lock moves to the new root,
	 * and the old root can be detached. */
	int st;
	pid_t c = fork();
	if (c == 0) {
		/* A copy for the same user namespace keeps the locks. */
		report("U's child: unshare(CLONE_NEWNS)", unshare(CLONE_NEWNS));
		report("U's child: umount a (still locked)", umount2(p("a"), 0));
		report("U's child: mount tmpfs on n", mount("t", p("n"), "tmpfs", 0, NULL));
		mkdir(p("n/old"), 0755);
		report("U's child: pivot_root n n/old", syscall(SYS_pivot_root, p("n"), p("n/old")));
		report("U's child: chdir /", chdir("/"));
		report("U's child: umount -l /old", umount2("/old", MNT_DETACH));
		report("U's child: umount / (the new root, locked)", umount2("/", MNT_DETACH));
		_exit(0);
	}
	waitpid(c, &st, 0);

	/* Its own PID and IPC namespaces: proc and mqueue are its own. */
	if (unshare(CLONE_NEWPID | CLONE_NEWIPC) < 0) {
		printf("U: unshare(CLONE_NEWPID|CLONE_NEWIPC): %s\n", errname(errno));
		_exit(1);
	}
	c = fork();
	if (c == 0) {
		report("U's child: mount mqueue (own IPC namespace)", mount("mqueue", p("m/x"), "mqueue", 0, NULL));
		umount2(p("m/x"), MNT_DETACH);
		report("U's child: mount proc (own PID namespace)", mount("proc", p("m/x"), "proc", 0, NULL));
		umount2(p("m/x"), MNT_DETACH);
		_exit(0);
	}
	waitpid(c, &st, 0);

	_exit(0);
}

int main(void) {
	init_output();
	snprintf(base, sizeof base, "/tmp/mntlockedXXXXXX");
	if (!mkdtemp(base)) {
		printf("mkdtemp: %s\n", errname(errno));
		return 1;
	}
	pid_t w = fork();
	if (w == 0) {
		if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
			printf("private mount namespace: %s\n", errname(errno));
			_exit(1);
		}
		const char *dirs[] = {"a", "r", "b", "c", "m", "n"};
		for (unsigned i = 0; i < sizeof dirs / sizeof *dirs; i++)
			mkdir(p(dirs[i]), 0755);
		report("mount a nosuid,nodev", mount("t", p("a"), "tmpfs", MS_NOSUID | MS_NODEV, NULL));
		report("mount r ro", mount("t", p("r"), "tmpfs", MS_RDONLY, NULL));
		report("mount b", mount("t", p("b"), "tmpfs", 0, NULL));
		mkdir(p("b/sub"), 0755);
		report("mount b/sub", mount("t", p("b/sub"), "tmpfs", 0, NULL));
		pid_t u = fork();
		if (u == 0)
			in_userns();
		int st;
		waitpid(u, &st, 0);
		printf("U exited %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
		/* Root's own namespace: nothing is locked. */
		report("root: umount b/sub", umount2(p("b/sub"), 0));
		report("root: remount,bind a without nosuid", mount(NULL, p("a"), NULL, MS_REMOUNT | MS_BIND, NULL));
		_exit(0);
	}
	int st;
	waitpid(w, &st, 0);
	const char *dirs[] = {"b/sub", "a", "r", "b", "c", "m", "n"};
	for (unsigned i = 0; i < sizeof dirs / sizeof *dirs; i++)
		rmdir(p(dirs[i]));
	rmdir(base);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
