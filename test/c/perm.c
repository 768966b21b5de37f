/* perm DIR | perm --mkdtemp PARENT: Linux's permission model. Run as root,
 * it builds a tree in DIR (or in a fresh directory under PARENT), then
 * checks what root, root without some capabilities, an unprivileged user
 * (uid 1000, gid 1000, no supplementary groups), keep-caps and ambient
 * capabilities, and set-user-ID programs may do there, and removes the
 * tree. Every path is relative to DIR (the test's own ancestors may not be
 * searchable by uid 1000) except /root/.bashrc, below a 0700 /root.
 *
 * The capability sets are normalised first: CAP_SYS_RESOURCE is dropped
 * from every set, so a host that withholds it from root (some CI VMs do)
 * prints the same sets as the sandbox, whose root holds every capability.
 *
 * "perm exec-report" is what the exec cases run: it prints its IDs,
 * capabilities and AT_SECURE and tries to read private/secret.
 *
 * What an escape looks like: any "= 3" or "= 0" where Linux says EACCES or
 * EPERM (uid 1000 reading a 0700 root directory's file, chmod of root's
 * file, kill of a root process), or a set-user-ID program not running as
 * root (or running as root despite no_new_privs). */
#include "common.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <sys/auxv.h>
#include <sys/fsuid.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <utime.h>

#define USER 1000

static char self[4096];

static int capget2(struct __user_cap_data_struct d[2]) {
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	return syscall(SYS_capget, &h, d);
}

static int capset2(unsigned long long eff, unsigned long long perm, unsigned long long inh) {
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2] = {
		{(unsigned)eff, (unsigned)perm, (unsigned)inh},
		{(unsigned)(eff >> 32), (unsigned)(perm >> 32), (unsigned)(inh >> 32)},
	};
	return syscall(SYS_capset, &h, d);
}

static void caps(unsigned long long *eff, unsigned long long *perm, unsigned long long *inh) {
	struct __user_cap_data_struct d[2];
	if (capget2(d))
		die("capget");
	*eff = d[0].effective | (unsigned long long)d[1].effective << 32;
	*perm = d[0].permitted | (unsigned long long)d[1].permitted << 32;
	*inh = d[0].inheritable | (unsigned long long)d[1].inheritable << 32;
}

#define BIT(c) (1ULL << (c))

/* show prints the IDs and every capability set (capget, prctl and
 * /proc/self/status must agree). */
static void show(const char *who) {
	uid_t r, e, s;
	gid_t gr, ge, gs;
	getresuid(&r, &e, &s);
	getresgid(&gr, &ge, &gs);
	unsigned long long eff, perm, inh;
	caps(&eff, &perm, &inh);
	unsigned long long bnd = 0, amb = 0;
	for (int c = 0; c <= 40; c++) {
		if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 1)
			bnd |= BIT(c);
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, c, 0, 0) == 1)
			amb |= BIT(c);
	}
	printf("%s: uid %u/%u/%u gid %u/%u/%u eff %llx perm %llx inh %llx bnd %llx amb %llx keepcaps %d nnp %d\n",
	       who, r, e, s, gr, ge, gs, eff, perm, inh, bnd, amb, prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0),
	       prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	while (f && fgets(line, sizeof line, f)) {
		unsigned long long v;
		char name[32];
		if (sscanf(line, "%31[^:]:\t%llx", name, &v) == 2 && strncmp(name, "Cap", 3) == 0) {
			unsigned long long want = !strcmp(name, "CapEff") ? eff : !strcmp(name, "CapPrm") ? perm : !strcmp(name, "CapInh") ? inh : !strcmp(name, "CapBnd") ? bnd : amb;
			if (v != want)
				printf("%s: /proc/self/status %s %llx, capget/prctl say %llx\n", who, name, v, want);
		}
	}
	if (f)
		fclose(f);
}

static void try_open(const char *label, const char *path, int flags) {
	int fd = open(path, flags);
	report(label, fd < 0 ? -1 : 0);
	if (fd >= 0)
		close(fd);
}

static void try_opendir(const char *label, const char *path) {
	DIR *d = opendir(path);
	if (!d) {
		report(label, -1);
		return;
	}
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	printf("%s = %d entries\n", label, n);
}

static void mode_of(const char *path) {
	struct stat st;
	if (lstat(path, &st))
		printf("mode %s = -1 %s\n", path, errname(errno));
	else
		printf("mode %s = %04o owner %u:%u\n", path, st.st_mode & 07777, st.st_uid, st.st_gid);
}

static void put(const char *path, mode_t mode, uid_t uid, gid_t gid) {
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		die(path);
	if (write(fd, "data\n", 5) != 5)
		die("write");
	close(fd);
	if (chown(path, uid, gid) || chmod(path, mode))
		die(path);
}

static void dir(const char *path, mode_t mode, uid_t uid, gid_t gid) {
	if (mkdir(path, 0700) || chown(path, uid, gid) || chmod(path, mode))
		die(path);
}

/* copy copies this program to path (for the exec cases). */
static void copy(const char *path, mode_t mode, uid_t uid, gid_t gid) {
	copy_file(self, path, 0700);
	if (chown(path, uid, gid) || chmod(path, mode))
		die(path);
}

/* become drops to uid:gid without supplementary groups. */
static void become(uid_t uid, gid_t gid) {
	if (setgroups(0, NULL) || setresgid(gid, gid, gid) || setresuid(uid, uid, uid))
		die("become");
}

/* child runs fn in a child process and waits for it, so that each case
 * starts from root with the normalised capabilities. */
static void child(const char *name, void (*fn)(void)) {
	printf("-- %s\n", name);
	pid_t p = fork();
	if (p < 0)
		die("fork");
	if (p == 0) {
		fn();
		exit(0);
	}
	int st;
	waitpid(p, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		printf("%s: child status %#x\n", name, st);
}

/* run execs argv and reports its status. */
static void run(const char *label, char *const argv[]) {
	pid_t p = fork();
	if (p == 0) {
		execv(argv[0], argv);
		printf("%s: exec = -1 %s\n", label, errname(errno));
		exit(127);
	}
	int st;
	waitpid(p, &st, 0);
	printf("%s: status %d\n", label, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
}

static void exec_report(void) {
	show("exec");
	printf("exec: AT_SECURE %lu\n", getauxval(AT_SECURE));
	try_open("exec: open private/secret", "private/secret", O_RDONLY);
}

static void case_user(void) {
	/* A root process to signal: it lives until this child's end of the
	 * pipe closes (when this child exits). */
	int pfd[2];
	if (pipe(pfd))
		die("pipe");
	pid_t rootkid = fork();
	if (rootkid == 0) {
		wait_closed(pfd);
		_exit(0);
	}
	close(pfd[0]);
	become(USER, USER);
	show("user");
	/* Search permission on every directory of a walk. */
	try_open("open /root/.bashrc", "/root/.bashrc", O_RDONLY);
	try_open("open private/secret", "private/secret", O_RDONLY);
	struct stat st;
	report("stat private/secret", stat("private/secret", &st));
	report("access private/secret F_OK", access("private/secret", F_OK));
	report("open private/../pub/ro", open("private/../pub/ro", O_RDONLY) < 0 ? -1 : 0);
	try_opendir("opendir private", "private");
	report("chdir private", chdir("private"));
	try_open("open searchonly/known", "searchonly/known", O_RDONLY);
	try_opendir("opendir searchonly", "searchonly");
	try_opendir("opendir listonly", "listonly");
	report("stat listonly/f", stat("listonly/f", &st));
	report("mkdir listonly/d", mkdir("listonly/d", 0755));
	/* Read, write and the first matching class. */
	try_open("open pub/ro O_RDONLY", "pub/ro", O_RDONLY);
	try_open("open pub/ro O_WRONLY", "pub/ro", O_WRONLY);
	try_open("open pub/ro O_RDWR", "pub/ro", O_RDWR);
	report("truncate pub/ro", truncate("pub/ro", 0));
	try_open("open pub/grp (group 1000 may read)", "pub/grp", O_RDONLY);
	try_open("open pub/grponly0606 (group class denies)", "pub/grponly0606", O_RDONLY);
	try_open("open pub/mine O_RDWR", "pub/mine", O_RDWR);
	report("access pub/ro W_OK", access("pub/ro", W_OK));
	report("access pub/ro R_OK", access("pub/ro", R_OK));
	/* Directory writes. */
	report("creat pub/new", creat("pub/new", 0644));
	report("mkdir pub/newdir", mkdir("pub/newdir", 0755));
	report("unlink pub/ro", unlink("pub/ro"));
	report("rename pub/ro userdir/ro", rename("pub/ro", "userdir/ro"));
	report("creat userdir/own", creat("userdir/own", 0644) < 0 ? -1 : 0);
	/* The sticky directory. */
	report("unlink sticky/roots", unlink("sticky/roots"));
	report("rename sticky/roots sticky/x", rename("sticky/roots", "sticky/x"));
	report("creat sticky/mine", creat("sticky/mine", 0644) < 0 ? -1 : 0);
	report("rename sticky/mine over sticky/roots", rename("sticky/mine", "sticky/roots"));
	report("unlink sticky/users", unlink("sticky/users"));
	report("unlink sticky/mine", unlink("sticky/mine"));
	/* Attributes. */
	report("chmod pub/ro", chmod("pub/ro", 0777));
	report("chmod pub/mine 0640", chmod("pub/mine", 0640));
	report("chown pub/mine to root", chown("pub/mine", 0, -1));
	report("chown pub/mine to itself", chown("pub/mine", USER, USER));
	report("chgrp pub/mine to group 0", chown("pub/mine", -1, 0));
	report("chmod userdir/grp0 02755 (not in group 0)", chmod("userdir/grp0", 02755));
	mode_of("userdir/grp0");
	report("utime pub/ro now", utime("pub/ro", NULL));
	report("utime sticky/roots now (writable)", utime("sticky/roots", NULL));
	struct utimbuf ub = {1000000, 1000000};
	report("utime sticky/roots explicit", utime("sticky/roots", &ub));
	report("utime pub/mine explicit (owner)", utime("pub/mine", &ub));
	/* Execute. */
	char *noexec[] = {"pub/noexec", NULL};
	run("exec pub/noexec (0644)", noexec);
	/* Privileged operations. */
	report("setuid 0", setuid(0));
	gid_t g = 0;
	report("setgroups", setgroups(1, &g));
	report("capset raise", capset2(BIT(CAP_CHOWN), BIT(CAP_CHOWN), 0));
	report("PR_CAPBSET_DROP", prctl(PR_CAPBSET_DROP, CAP_CHOWN, 0, 0, 0));
	report("PR_CAP_AMBIENT_RAISE", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_CHOWN, 0, 0));
	report("sethostname", sethostname("x", 1));
	report("chroot .", chroot("."));
	report("mount tmpfs on userdir", mount("none", "userdir", "tmpfs", 0, NULL));
	report("bind mount pub on userdir", mount("pub", "userdir", NULL, MS_BIND, NULL));
	report("umount pub", umount("pub"));
	report("mount on a missing directory", mount("none", "missing", "tmpfs", 0, NULL));
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_max++;
	report("setrlimit NOFILE hard +1", setrlimit(RLIMIT_NOFILE, &rl));
	report("setpriority -1", setpriority(PRIO_PROCESS, 0, -1));
	report("kill root process 0", kill(rootkid, 0));
	report("kill root process SIGTERM", kill(rootkid, SIGTERM));
	report("mknod fifo userdir/fifo", mknod("userdir/fifo", S_IFIFO | 0644, 0));
	report("mknod char device userdir/null", mknod("userdir/null", S_IFCHR | 0644, makedev(1, 3)));
	printf("the root process is alive: %s\n", kill(rootkid, 0) == -1 && errno == EPERM ? "yes" : "no");
}

static void case_root(void) {
	show("root");
	try_open("root open pub/mine (another user's 0600)", "pub/mine", O_RDWR);
	try_opendir("root opendir userprivate (another user's 0700)", "userprivate");
	char *noexec[] = {"pub/noexec", NULL};
	run("root exec pub/noexec (0644: no execute bit at all)", noexec);
	char *ownerx[] = {"userdir/ownerx", "exit0", NULL};
	run("root exec userdir/ownerx (0100, another user's)", ownerx);
}

static void case_capdrop(void) {
	unsigned long long eff, perm, inh;
	caps(&eff, &perm, &inh);
	report("capset drop DAC_OVERRIDE and DAC_READ_SEARCH from effective",
	       capset2(eff & ~(BIT(CAP_DAC_OVERRIDE) | BIT(CAP_DAC_READ_SEARCH)), perm, inh));
	try_open("open pub/mine (0600, uid 1000)", "pub/mine", O_RDONLY);
	try_opendir("opendir userprivate", "userprivate");
	try_open("open private/secret (own directory)", "private/secret", O_RDONLY);
	report("capset DAC_READ_SEARCH back", capset2(eff & ~BIT(CAP_DAC_OVERRIDE), perm, inh));
	try_open("open pub/mine O_RDONLY", "pub/mine", O_RDONLY);
	try_open("open pub/mine O_WRONLY", "pub/mine", O_WRONLY);
	try_opendir("opendir userprivate", "userprivate");
	report("creat userprivate/x (needs DAC_OVERRIDE)", creat("userprivate/x", 0644));
	report("capset drop FOWNER, CHOWN, KILL, SYS_CHROOT, SYS_ADMIN too",
	       capset2(eff & ~(BIT(CAP_DAC_OVERRIDE) | BIT(CAP_FOWNER) | BIT(CAP_CHOWN) | BIT(CAP_KILL) | BIT(CAP_SYS_CHROOT) | BIT(CAP_SYS_ADMIN)), perm, inh));
	report("chmod pub/mine", chmod("pub/mine", 0644));
	report("chown pub/ro to 1000", chown("pub/ro", USER, -1));
	report("chroot .", chroot("."));
	report("mount tmpfs on userdir", mount("none", "userdir", "tmpfs", 0, NULL));
	report("sethostname", sethostname("x", 1));
	report("capset raise effective from permitted", capset2(eff, perm, inh));
	report("chmod pub/mine back", chmod("pub/mine", 0600));
	report("capset raise permitted (never)", capset2(eff, perm | BIT(CAP_SYS_RESOURCE), inh));
	report("capset inheritable beyond bounding", capset2(eff, perm, inh | BIT(CAP_SYS_RESOURCE)));
	report("capset effective beyond permitted", capset2(perm | BIT(CAP_SYS_RESOURCE), perm, inh));
	report("PR_CAPBSET_READ CAP_CHOWN", prctl(PR_CAPBSET_READ, CAP_CHOWN, 0, 0, 0));
	report("PR_CAPBSET_READ 99", prctl(PR_CAPBSET_READ, 99, 0, 0, 0));
	report("PR_CAPBSET_DROP CAP_CHOWN", prctl(PR_CAPBSET_DROP, CAP_CHOWN, 0, 0, 0));
	report("PR_CAPBSET_READ CAP_CHOWN", prctl(PR_CAPBSET_READ, CAP_CHOWN, 0, 0, 0));
	char *argv[] = {self, "exec-report", NULL};
	run("exec without CAP_CHOWN in the bounding set", argv);
}

static void case_setuid_family(void) {
	report("setresuid 1000 1000 0", setresuid(USER, USER, 0));
	show("saved root");
	try_open("open private/secret", "private/secret", O_RDONLY);
	report("seteuid 0", seteuid(0));
	show("euid back to 0");
	report("setfsuid 1000 (returns the old)", setfsuid(USER));
	show("fsuid 1000");
	try_open("open private/secret as fsuid 1000", "private/secret", O_RDONLY);
	report("setfsuid 0", setfsuid(0));
	try_open("open private/secret as fsuid 0", "private/secret", O_RDONLY);
	report("setresuid 1000 1000 1000", setresuid(USER, USER, USER));
	show("no root left");
	report("setresuid 0 0 0", setresuid(0, 0, 0));
}

static void case_keepcaps(void) {
	report("PR_SET_KEEPCAPS 1", prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0));
	report("PR_SET_KEEPCAPS 2", prctl(PR_SET_KEEPCAPS, 2, 0, 0, 0));
	become(USER, USER);
	show("keepcaps user");
	try_open("open private/secret", "private/secret", O_RDONLY);
	unsigned long long eff, perm, inh;
	caps(&eff, &perm, &inh);
	report("capset effective DAC_READ_SEARCH and KILL", capset2(BIT(CAP_DAC_READ_SEARCH) | BIT(CAP_KILL), perm, 0));
	try_open("open private/secret", "private/secret", O_RDONLY);
	report("kill a root process with CAP_KILL", kill(getppid(), 0));
	char *argv[] = {self, "exec-report", NULL};
	run("exec: keep-caps ends, nothing is inherited", argv);
}

static void case_ambient(void) {
	report("PR_SET_KEEPCAPS 1", prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0));
	become(USER, USER);
	unsigned long long c = BIT(CAP_DAC_READ_SEARCH);
	report("PR_CAP_AMBIENT_RAISE without inheritable", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_DAC_READ_SEARCH, 0, 0));
	report("capset eff=perm=inh DAC_READ_SEARCH", capset2(c, c, c));
	report("PR_CAP_AMBIENT_RAISE", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_DAC_READ_SEARCH, 0, 0));
	report("PR_CAP_AMBIENT_IS_SET", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_DAC_READ_SEARCH, 0, 0));
	report("PR_CAP_AMBIENT bad op", prctl(PR_CAP_AMBIENT, 9, CAP_DAC_READ_SEARCH, 0, 0));
	show("ambient user");
	char *argv[] = {self, "exec-report", NULL};
	run("exec with an ambient capability", argv);
	report("PR_CAP_AMBIENT_CLEAR_ALL", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0));
	run("exec after clearing the ambient set", argv);
}

static void case_setuid_exec(void) {
	become(USER, USER);
	char *argv[] = {"./suid-root", "exec-report", NULL};
	run("exec a set-user-ID-root program", argv);
	char *gargv[] = {"./sgid-50", "exec-report", NULL};
	run("exec a set-group-ID program", gargv);
	report("PR_SET_NO_NEW_PRIVS 2", prctl(PR_SET_NO_NEW_PRIVS, 2, 0, 0, 0));
	report("PR_SET_NO_NEW_PRIVS", prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
	run("exec a set-user-ID-root program with no_new_privs", argv);
}

static void case_root_nnp(void) {
	report("PR_SET_NO_NEW_PRIVS", prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
	char *argv[] = {self, "exec-report", NULL};
	run("root execs with no_new_privs: root keeps its capabilities", argv);
}

static void cleanup(void) {
	const char *files[] = {"private/secret", "searchonly/known", "listonly/f", "pub/ro", "pub/grp",
			       "pub/grponly0606", "pub/mine", "pub/noexec", "sticky/roots", "sticky/users",
			       "sticky/mine", "userdir/own", "userdir/grp0", "userdir/ownerx", "userdir/fifo",
			       "userprivate/x", "suid-root", "sgid-50", NULL};
	for (int i = 0; files[i]; i++)
		unlink(files[i]);
	const char *dirs[] = {"private", "searchonly", "listonly", "pub", "sticky", "userdir", "userprivate", NULL};
	for (int i = 0; dirs[i]; i++)
		if (rmdir(dirs[i]))
			printf("cleanup: rmdir %s = -1 %s\n", dirs[i], errname(errno));
}

int main(int argc, char **argv) {
	init_output();
	if (argc > 1 && !strcmp(argv[1], "exit0"))
		return 0;
	if (argc > 1 && !strcmp(argv[1], "exec-report")) {
		exec_report();
		return 0;
	}
	if (argc < 2) {
		fprintf(stderr, "usage: perm DIR | perm --mkdtemp PARENT\n");
		return 2;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "perm: must start as root\n");
		return 2;
	}
	char tmpl[4096];
	const char *d = argv[1];
	if (!strcmp(argv[1], "--mkdtemp") && argc > 2) {
		snprintf(tmpl, sizeof tmpl, "%s/perm-XXXXXX", argv[2]);
		if (!mkdtemp(tmpl))
			die("mkdtemp");
		chmod(tmpl, 0755);
		d = tmpl;
	}
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n < 0)
		die("readlink /proc/self/exe");
	self[n] = 0;
	if (chdir(d))
		die("chdir");
	umask(022);

	/* Normalise the capability sets: no CAP_SYS_RESOURCE anywhere. */
	prctl(PR_CAPBSET_DROP, CAP_SYS_RESOURCE, 0, 0, 0);
	unsigned long long eff, perm, inh;
	caps(&eff, &perm, &inh);
	if (capset2(eff & ~BIT(CAP_SYS_RESOURCE), perm & ~BIT(CAP_SYS_RESOURCE), inh))
		die("capset normalise");

	dir("private", 0700, 0, 0);
	put("private/secret", 0644, 0, 0);
	dir("searchonly", 0711, 0, 0);
	put("searchonly/known", 0644, 0, 0);
	dir("listonly", 0744, 0, 0);
	put("listonly/f", 0644, 0, 0);
	dir("pub", 0755, 0, 0);
	put("pub/ro", 0644, 0, 0);
	put("pub/grp", 0640, 0, USER);
	put("pub/grponly0606", 0606, 0, USER);
	put("pub/mine", 0600, USER, USER);
	put("pub/noexec", 0644, 0, 0);
	dir("sticky", 01777, 0, 0);
	put("sticky/roots", 0666, 0, 0);
	put("sticky/users", 0644, USER, USER);
	dir("userdir", 0755, USER, USER);
	put("userdir/grp0", 0644, USER, 0);
	copy("userdir/ownerx", 0100, USER, USER);
	dir("userprivate", 0700, USER, USER);
	copy("suid-root", 04755, 0, 0);
	copy("sgid-50", 02755, 0, 50);
	mode_of("suid-root");
	mode_of("sgid-50");

	child("root", case_root);
	child("root without capabilities", case_capdrop);
	child("set*id and capabilities", case_setuid_family);
	child("keep-caps", case_keepcaps);
	child("ambient capabilities", case_ambient);
	child("set-user-ID programs", case_setuid_exec);
	child("root with no_new_privs", case_root_nnp);
	printf("-- user 1000\n");
	pid_t p = fork();
	if (p == 0) {
		case_user();
		exit(0);
	}
	int st;
	waitpid(p, &st, 0);
	/* The root process case_user made ends when case_user's end of the
	 * pipe closes; natively it is reparented to a subreaper or init,
	 * in the sandbox to this program (PID 1): reap it if it is ours. */
	while (waitpid(-1, &st, 0) > 0)
		;
	cleanup();
	if (d == tmpl && rmdir(tmpl))
		die("rmdir");
	return 0;
}
