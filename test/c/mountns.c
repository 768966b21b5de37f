/* mountns.c: mount namespaces and the mount table (issue 15 item 6).
 *
 * The program makes its own mount namespace (private from "/" down) and
 * works in a tmpfs it mounts on a fresh directory under /tmp, so natively
 * it changes nothing on the host. It covers bind and rbind, MS_REMOUNT
 * read-only, MS_MOVE, shared/slave/private/unbindable propagation of
 * mounts and unmounts, the namespaces of forked children (isolation, and
 * peers across namespaces), umount2's EBUSY/EINVAL/MNT_DETACH,
 * pivot_root (to a new root, and pivot_root(".", ".")), chroot inside the
 * namespace and EPERM without CAP_SYS_ADMIN. mountinfo lines under the
 * scratch directory are printed with the point relative to it and peer
 * group numbers renamed in order of appearance (A, B, ...).
 */
#include "common.h"
#include <dirent.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static char S[64];

static char *at(const char *rel) {
	static char buf[8][256];
	static int n;
	char *b = buf[n++ % 8];
	snprintf(b, 256, "%s/%s", S, rel);
	return b;
}

/* Renaming of peer group IDs for one dump. */
static int gids[64], ngids;
static char gname(int id) {
	for (int i = 0; i < ngids; i++)
		if (gids[i] == id)
			return 'A' + i;
	gids[ngids] = id;
	return 'A' + ngids++;
}

/* dump prints the mountinfo lines at or under base (relative paths). */
static void dump(const char *title, const char *base) {
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char line[1024];
	int all = strcmp(base, "/") == 0; /* everything, points as they are */
	size_t bl = all ? 0 : strlen(base);
	ngids = 0;
	printf("-- %s\n", title);
	if (!f) {
		printf("mountinfo: %s\n", errname(errno));
		return;
	}
	while (fgets(line, sizeof line, f)) {
		char root[256], point[256], opts[256], rest[512];
		int id, parent;
		if (sscanf(line, "%d %d %*s %255s %255s %255s %511[^\n]", &id, &parent, root, point, opts, rest) != 6)
			continue;
		if (!all && (strncmp(point, base, bl) != 0 || (point[bl] != 0 && point[bl] != '/')))
			continue;
		char prop[128] = "";
		char *tok = strtok(rest, " ");
		char *fstype = NULL;
		for (; tok; tok = strtok(NULL, " ")) {
			if (strcmp(tok, "-") == 0) {
				fstype = strtok(NULL, " ");
				break;
			}
			int g;
			if (sscanf(tok, "shared:%d", &g) == 1)
				snprintf(prop + strlen(prop), sizeof prop - strlen(prop), " shared:%c", gname(g));
			else if (sscanf(tok, "master:%d", &g) == 1)
				snprintf(prop + strlen(prop), sizeof prop - strlen(prop), " master:%c", gname(g));
			else if (strcmp(tok, "unbindable") == 0)
				strcat(prop, " unbindable");
		}
		char *comma = strchr(opts, ',');
		if (comma)
			*comma = 0;
		printf("%s root=%s %s %s%s\n", point[bl] ? point + bl : "/", root, fstype ? fstype : "?", opts, prop);
	}
	fclose(f);
}

static int exists(const char *p) {
	struct stat st;
	return stat(p, &st) == 0;
}

static void touch(const char *p) {
	int fd = open(p, O_CREAT | O_WRONLY, 0644);
	if (fd >= 0)
		close(fd);
}

static void list(const char *label, const char *dir) {
	DIR *d = opendir(dir);
	char names[32][64];
	int n = 0;
	printf("%s:", label);
	if (!d) {
		printf(" %s\n", errname(errno));
		return;
	}
	struct dirent *e;
	while ((e = readdir(d)) && n < 32) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(names[n++], 64, "%.63s", e->d_name);
	}
	closedir(d);
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			if (strcmp(names[j], names[i]) < 0) {
				char t[64];
				strcpy(t, names[i]);
				strcpy(names[i], names[j]);
				strcpy(names[j], t);
			}
	for (int i = 0; i < n; i++)
		printf(" %s", names[i]);
	printf("\n");
}

static void binds(void) {
	mkdir(at("a"), 0755);
	mkdir(at("b"), 0755);
	mkdir(at("a/sub"), 0755);
	report("mount tmpfs a", mount("tmpfs", at("a"), "tmpfs", MS_NOSUID | MS_NODEV, NULL));
	mkdir(at("a/sub"), 0755);
	touch(at("a/sub/f"));
	report("bind a/sub on b", mount(at("a/sub"), at("b"), NULL, MS_BIND, NULL));
	yesno("b shows a/sub's file", exists(at("b/f")));
	mkdir(at("c"), 0755);
	mkdir(at("a/m"), 0755);
	report("mount tmpfs a/m", mount("tmpfs", at("a/m"), "tmpfs", 0, NULL));
	touch(at("a/m/g"));
	report("bind a on c", mount(at("a"), at("c"), NULL, MS_BIND, NULL));
	yesno("plain bind shows a/m's mount", exists(at("c/m/g")));
	mkdir(at("d"), 0755);
	report("rbind a on d", mount(at("a"), at("d"), NULL, MS_BIND | MS_REC, NULL));
	yesno("rbind shows a/m's mount", exists(at("d/m/g")));
	dump("binds", S);
	report("remount c read-only", mount(NULL, at("c"), NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL));
	report("create in read-only c", open(at("c/new"), O_CREAT | O_WRONLY, 0644));
	int fd = open(at("a/new"), O_CREAT | O_WRONLY, 0644);
	yesno("a is still writable", fd >= 0);
	if (fd >= 0)
		close(fd);
	dump("after remount", S);
	report("umount a (busy: a/m inside)", umount2(at("a"), 0));
	report("umount a file that is no mount", umount2(at("a/sub"), 0));
	report("umount d (detach, with submount)", umount2(at("d"), MNT_DETACH));
	report("umount c", umount2(at("c"), 0));
	report("umount b", umount2(at("b"), 0));
	mkdir(at("e"), 0755);
	report("move a/m to e", mount(at("a/m"), at("e"), NULL, MS_MOVE, NULL));
	yesno("e shows the moved mount", exists(at("e/g")));
	report("move a non-mount", mount(at("a/sub"), at("e"), NULL, MS_MOVE, NULL));
	report("umount e", umount2(at("e"), 0));
	report("umount a", umount2(at("a"), 0));
	report("umount a again", umount2(at("a"), 0));
	dump("after unmounts", S);
}

static void propagation(void) {
	mkdir(at("p"), 0755);
	mkdir(at("q"), 0755);
	mkdir(at("r"), 0755);
	report("mount tmpfs p", mount("tmpfs", at("p"), "tmpfs", 0, NULL));
	report("make p shared", mount(NULL, at("p"), NULL, MS_SHARED, NULL));
	report("bind p on q (a peer)", mount(at("p"), at("q"), NULL, MS_BIND, NULL));
	report("bind p on r", mount(at("p"), at("r"), NULL, MS_BIND, NULL));
	report("make r a slave", mount(NULL, at("r"), NULL, MS_SLAVE, NULL));
	mkdir(at("p/x"), 0755);
	mkdir(at("p/y"), 0755);
	report("mount tmpfs p/x", mount("tmpfs", at("p/x"), "tmpfs", 0, NULL));
	touch(at("p/x/hello"));
	yesno("q/x shows it (peer)", exists(at("q/x/hello")));
	yesno("r/x shows it (slave)", exists(at("r/x/hello")));
	report("mount tmpfs r/y (in the slave)", mount("tmpfs", at("r/y"), "tmpfs", 0, NULL));
	touch(at("r/y/only"));
	yesno("p/y shows the slave's mount", exists(at("p/y/only")));
	dump("propagation", S);
	report("umount q/x (propagates)", umount2(at("q/x"), 0));
	yesno("p/x still a mount", exists(at("p/x/hello")));
	yesno("r/x still a mount", exists(at("r/x/hello")));
	report("umount r/y", umount2(at("r/y"), 0));
	report("make p shared and slave? (two types)", mount(NULL, at("p"), NULL, MS_SHARED | MS_SLAVE, NULL));
	report("make a non-mount private", mount(NULL, at("p/x"), NULL, MS_PRIVATE, NULL));
	report("make q unbindable", mount(NULL, at("q"), NULL, MS_UNBINDABLE, NULL));
	mkdir(at("u"), 0755);
	report("bind unbindable q", mount(at("q"), at("u"), NULL, MS_BIND, NULL));
	report("make q private", mount(NULL, at("q"), NULL, MS_PRIVATE, NULL));
	dump("after propagation changes", S);
	report("umount r", umount2(at("r"), 0));
	report("umount q", umount2(at("q"), 0));
}

static void namespaces(void) {
	mkdir(at("n"), 0755);
	report("mount tmpfs n", mount("tmpfs", at("n"), "tmpfs", 0, NULL));
	report("make n shared", mount(NULL, at("n"), NULL, MS_SHARED, NULL));
	mkdir(at("n/shared"), 0755);
	mkdir(at("priv"), 0755);
	int ready[2], done[2];
	if (pipe(ready) || pipe(done))
		die("pipe");
	pid_t pid = fork();
	if (pid == 0) {
		char c;
		if (unshare(CLONE_NEWNS) != 0)
			_exit(10);
		if (mount("tmpfs", at("priv"), "tmpfs", 0, NULL) != 0)
			_exit(11);
		touch(at("priv/mine"));
		if (mount("tmpfs", at("n/shared"), "tmpfs", 0, NULL) != 0)
			_exit(12);
		touch(at("n/shared/ours"));
		dump("child's namespace", S);
		write(ready[1], "r", 1);
		read(done[0], &c, 1);
		_exit(0);
	}
	char c;
	read(ready[0], &c, 1);
	yesno("parent sees the child's private mount", exists(at("priv/mine")));
	yesno("parent sees the child's mount in the shared n", exists(at("n/shared/ours")));
	char p1[64], p2[64], l1[64] = "", l2[64] = "";
	snprintf(p1, sizeof p1, "/proc/%d/ns/mnt", pid);
	snprintf(p2, sizeof p2, "/proc/self/ns/mnt");
	ssize_t n1 = readlink(p1, l1, sizeof l1 - 1), n2 = readlink(p2, l2, sizeof l2 - 1);
	yesno("ns/mnt links read", n1 > 0 && n2 > 0);
	yesno("child's ns/mnt differs", n1 > 0 && n2 > 0 && strcmp(l1, l2) != 0);
	yesno("ns/mnt names mnt:[N]", strncmp(l2, "mnt:[", 5) == 0);
	/* setns into the child's namespace from a grandchild. */
	pid_t g = fork();
	if (g == 0) {
		int fd = open(p1, O_RDONLY);
		if (fd < 0)
			_exit(20);
		if (setns(fd, CLONE_NEWUTS) != -1 || errno != EINVAL)
			_exit(21);
		if (setns(fd, CLONE_NEWNS) != 0)
			_exit(22);
		_exit(exists(at("priv/mine")) ? 0 : 23);
	}
	printf("setns into the child's namespace: %d\n", wait_status(g));
	write(done[1], "d", 1);
	printf("child: %d\n", wait_status(pid));
	dump("parent after the child", S);
	report("umount n/shared", umount2(at("n/shared"), 0));
	report("umount n", umount2(at("n"), 0));
	report("clone NEWNS|FS", syscall(SYS_clone, CLONE_NEWNS | CLONE_FS | SIGCHLD, 0, 0, 0, 0));
}

static void pivot(void) {
	pid_t pid = fork();
	if (pid == 0) {
		mkdir(at("root"), 0755);
		if (mount("tmpfs", at("root"), "tmpfs", 0, NULL) != 0)
			_exit(30);
		mkdir(at("root/old"), 0755);
		mkdir(at("root/etc"), 0755);
		mkdir(at("elsewhere"), 0755);
		report("pivot_root put_old outside new_root", syscall(SYS_pivot_root, at("root"), at("elsewhere")));
		report("pivot_root new_root not a mount", syscall(SYS_pivot_root, at("root/etc"), at("root/etc")));
		report("pivot_root to the current root", syscall(SYS_pivot_root, "/", "/"));
		report("chdir root", chdir(at("root")));
		report("pivot_root", syscall(SYS_pivot_root, at("root"), at("root/old")));
		char cwd[256];
		printf("cwd: %s\n", getcwd(cwd, sizeof cwd) ? cwd : errname(errno));
		report("chdir /", chdir("/"));
		list("new /", "/");
		char old[300];
		snprintf(old, sizeof old, "/old%s", S);
		yesno("/old shows the scratch directory", exists(old));
		report("umount /old (detach)", umount2("/old", MNT_DETACH));
		mkdir("/proc", 0755);
		report("mount proc", mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL));
		dump("after detaching /old", "/");
		/* pivot_root(".", ".") as bwrap does it. */
		mkdir("/next", 0755);
		report("mount tmpfs /next", mount("tmpfs", "/next", "tmpfs", 0, NULL));
		touch("/next/marker");
		report("chdir /next", chdir("/next"));
		report("pivot_root . .", syscall(SYS_pivot_root, ".", "."));
		report("umount . (detach)", umount2(".", MNT_DETACH));
		report("chdir /", chdir("/"));
		list("final /", "/");
		mkdir("/proc", 0755);
		report("mount proc", mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL));
		dump("final", "/");
		fflush(stdout);
		_exit(0);
	}
	printf("pivot child: %d\n", wait_status(pid));
}

static void chroots(void) {
	pid_t pid = fork();
	if (pid == 0) {
		mkdir(at("jail"), 0755);
		if (mount("tmpfs", at("jail"), "tmpfs", 0, NULL) != 0)
			_exit(40);
		mkdir(at("jail/proc"), 0755);
		report("chroot jail", chroot(at("jail")));
		report("chdir /", chdir("/"));
		report("mount proc in the jail", mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL));
		dump("mountinfo in the jail", "/");
		_exit(0);
	}
	printf("chroot child: %d\n", wait_status(pid));
}

static void unprivileged(void) {
	pid_t pid = fork();
	if (pid == 0) {
		if (setgid(65534) || setuid(65534))
			_exit(50);
		report("unprivileged unshare(NEWNS)", unshare(CLONE_NEWNS));
		report("unprivileged mount", mount("tmpfs", "/tmp", "tmpfs", 0, NULL));
		report("unprivileged umount", umount2("/proc", MNT_DETACH));
		report("unprivileged pivot_root", syscall(SYS_pivot_root, "/", "/"));
		_exit(0);
	}
	printf("unprivileged child: %d\n", wait_status(pid));
}

int main(void) {
	init_output();
	if (unshare(CLONE_NEWNS) != 0)
		die("unshare(CLONE_NEWNS)");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
		die("make / private");
	snprintf(S, sizeof S, "/tmp/mountns.XXXXXX");
	if (!mkdtemp(S))
		die("mkdtemp");
	if (mount("tmpfs", S, "tmpfs", 0, NULL) != 0)
		die("mount scratch");
	dump("scratch", S);
	binds();
	propagation();
	namespaces();
	chroots();
	unprivileged();
	pivot();
	/* The namespace goes with the process; the directory is removed. */
	umount2(S, MNT_DETACH);
	rmdir(S);
	return 0;
}
