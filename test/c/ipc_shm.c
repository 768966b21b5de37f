/* ipc_shm: System V shared memory in a fresh IPC namespace (natively the
 * program unshares one; the sandbox's is its own): shmget's errors and
 * identifiers, attaching with SHM_RDONLY/SHM_RND/SHM_REMAP/SHM_EXEC,
 * sharing between attaches and across fork, attach counts through fork,
 * exec, exit and mprotect splits, IPC_RMID while attached (SHM_DEST, the
 * key made private), shmdt's fragments, SHM_LOCK, IPC_INFO/SHM_INFO/
 * SHM_STAT/SHM_STAT_ANY, /proc/self/maps and RssShmem, and the permission
 * checks as an unprivileged user. */
#include "common.h"
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <time.h>

#ifndef SHM_STAT_ANY
#define SHM_STAT_ANY 15
#endif

static sigjmp_buf jb;
static void onsegv(int sig) { siglongjmp(jb, 1); }

static void stat_of(const char *what, int id) {
	struct shmid_ds ds;
	if (shmctl(id, IPC_STAT, &ds) < 0) {
		printf("%s: IPC_STAT = -1 %s\n", what, errname(errno));
		return;
	}
	printf("%s: key %#x mode %o size %zu nattch %lu cpid self %s lpid self %s atime %s dtime %s ctime %s uid %u cuid %u\n", what,
	       ds.shm_perm.__key, ds.shm_perm.mode, ds.shm_segsz, (unsigned long)ds.shm_nattch,
	       ds.shm_cpid == getpid() ? "yes" : "no", ds.shm_lpid == getpid() ? "yes" : (ds.shm_lpid == 0 ? "zero" : "other"),
	       ds.shm_atime ? "set" : "0", ds.shm_dtime ? "set" : "0", ds.shm_ctime ? "set" : "0",
	       ds.shm_perm.uid, ds.shm_perm.cuid);
}

static unsigned long nattch(int id) {
	struct shmid_ds ds;
	if (shmctl(id, IPC_STAT, &ds) < 0)
		return (unsigned long)-1;
	return ds.shm_nattch;
}

static void maps_line(void *addr, int id) {
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	unsigned long a = (unsigned long)addr;
	while (f && fgets(line, sizeof line, f)) {
		unsigned long s, e, off, ino;
		char perm[8], dev[16], path[256] = "";
		if (sscanf(line, "%lx-%lx %7s %lx %15s %lu %255[^\n]", &s, &e, perm, &off, dev, &ino, path) >= 6 && s == a) {
			char *p = path;
			while (*p == ' ')
				p++;
			printf("maps: len %lu perms %s off %lx inode is id %s path %s\n", e - s, perm, off, ino == (unsigned long)id ? "yes" : "no", p);
		}
	}
	if (f)
		fclose(f);
}

static long rss_shmem(void) {
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "RssShmem: %ld", &v) == 1)
			break;
	if (f)
		fclose(f);
	return v;
}

/* sandbox_kernel reports whether /proc/version is runsc-lite's. */
static int sandbox_kernel(void) {
	char buf[256] = {0};
	FILE *f = fopen("/proc/version", "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	return strstr(buf, "runsc-lite") != NULL;
}

int main(int argc, char **argv) {
	init_output();
	if (argc > 1 && strcmp(argv[1], "child-exec") == 0)
		return 0;
	/* A namespace of our own: unshared natively, the sandbox's (where
	 * unshare of a namespace is EPERM, or ENOSYS before unshare was
	 * served; /proc/version names the sandbox's kernel). Only then may
	 * the test change IPC sysctls: a native EPERM means the host's. */
	int own_ns = unshare(CLONE_NEWIPC) == 0 || errno == ENOSYS || (errno == EPERM && sandbox_kernel());
	if (!own_ns && errno != EPERM && errno != EINVAL)
		die("unshare");
	long pg = sysconf(_SC_PAGESIZE);

	/* shmget. */
	report("shmget size 0", shmget(IPC_PRIVATE, 0, 0600));
	report("shmget missing key", shmget(0x1234, 4096, 0600));
	int a = shmget(0x1234, 10000, IPC_CREAT | 0640);
	report("shmget create key 0x1234", a);
	report("shmget again", shmget(0x1234, 4096, 0));
	report("shmget larger", shmget(0x1234, 20000, 0));
	report("shmget excl", shmget(0x1234, 4096, IPC_CREAT | IPC_EXCL | 0600));
	int b = shmget(IPC_PRIVATE, 3 * pg, IPC_CREAT | 0600);
	report("shmget private", b);
	report("shmget private 2", shmget(IPC_PRIVATE, 100, 0600));
	report("shmget huge", shmget(IPC_PRIVATE, (size_t)1 << 62, 0600));
	stat_of("new", a);

	/* Attach, share, detach. */
	char *p = shmat(a, NULL, 0);
	if (p == (void *)-1)
		die("shmat");
	char *q = shmat(a, NULL, 0);
	strcpy(p, "hello through p");
	printf("q reads: %s\n", q);
	yesno("fresh pages are zero", p[9000] == 0 && p[12287] == 0);
	stat_of("two attaches", a);
	maps_line(p, a);
	report("shmdt q", shmdt(q));
	report("shmdt q again", shmdt(q));
	report("shmdt unaligned", shmdt(p + 1));
	printf("nattch after one shmdt: %lu\n", nattch(a));

	/* Address handling. */
	char *fixed = mmap(NULL, 8 * pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(fixed, 8 * pg);
	report("shmat unaligned", (long)shmat(a, fixed + 5, 0));
	char *r = shmat(a, fixed + 5, SHM_RND);
	yesno("SHM_RND rounds down", r == fixed);
	report("shmat over it", (long)shmat(b, fixed, 0));
	char *r2 = shmat(b, fixed, SHM_REMAP);
	yesno("SHM_REMAP replaces", r2 == fixed);
	report("SHM_REMAP without address", (long)shmat(a, NULL, SHM_REMAP));
	report("shmdt remapped", shmdt(r2));
	printf("nattch of a after the remap replaced it: %lu\n", nattch(a));

	/* Read-only and executable attaches. */
	char *ro = shmat(a, NULL, SHM_RDONLY);
	printf("ro reads: %s\n", ro);
	signal(SIGSEGV, onsegv);
	if (sigsetjmp(jb, 1) == 0) {
		ro[0] = 'x';
		printf("write to SHM_RDONLY: allowed\n");
	} else
		printf("write to SHM_RDONLY: SIGSEGV\n");
	signal(SIGSEGV, SIG_DFL);
	report("mprotect ro writable", mprotect(ro, pg, PROT_READ | PROT_WRITE));
	shmdt(ro);
	char *ex = shmat(a, NULL, SHM_EXEC);
	yesno("SHM_EXEC attach", ex != (void *)-1);
	maps_line(ex, a);
	shmdt(ex);

	/* Fork and exec keep and drop attach counts. */
	printf("nattch before fork: %lu\n", nattch(a));
	int pfd[2];
	pipe(pfd);
	pid_t c = fork();
	if (c == 0) {
		close(pfd[1]);
		strcpy(p, "written by the child");
		char x;
		read(pfd[0], &x, 1);
		_exit(0);
	}
	close(pfd[0]);
	usleep(100000);
	printf("nattch with the child: %lu\n", nattch(a));
	close(pfd[1]);
	waitpid(c, NULL, 0);
	printf("after the child: %s, nattch %lu\n", p, nattch(a));
	{
		struct shmid_ds ds;
		shmctl(a, IPC_STAT, &ds);
		printf("lpid is the child: %s\n", ds.shm_lpid == c ? "yes" : "no");
	}
	c = fork();
	if (c == 0) {
		execl("/proc/self/exe", argv[0], "child-exec", (char *)NULL);
		_exit(127);
	}
	int st;
	waitpid(c, &st, 0);
	printf("exec child status %d, nattch %lu\n", WEXITSTATUS(st), nattch(a));

	/* An mprotect split makes two vmas: two attaches, one shmdt. */
	char *big = shmat(b, NULL, 0);
	printf("nattch b: %lu\n", nattch(b));
	mprotect(big + pg, pg, PROT_READ);
	printf("nattch b after a split: %lu\n", nattch(b));
	munmap(big + 2 * pg, pg);
	printf("nattch b after munmap of the tail: %lu\n", nattch(b));
	report("shmdt split", shmdt(big));
	printf("nattch b after shmdt: %lu\n", nattch(b));

	/* RssShmem counts touched shared pages. */
	char *m = shmat(b, NULL, 0);
	long before = rss_shmem();
	memset(m, 1, 3 * pg);
	printf("RssShmem grew by %ld kB\n", rss_shmem() - before);
	shmdt(m);

	/* IPC_RMID while attached. */
	report("IPC_RMID attached", shmctl(a, IPC_RMID, NULL));
	stat_of("removed", a);
	report("shmget key after rmid", shmget(0x1234, 100, 0));
	char *again = shmat(a, NULL, 0);
	printf("attach after rmid: %s\n", again == (void *)-1 ? errname(errno) : again);
	shmdt(again);
	report("shmdt last", shmdt(p));
	stat_of("gone", a);
	report("IPC_RMID gone", shmctl(a, IPC_RMID, NULL));
	int a2 = shmget(0x1234, 100, IPC_CREAT | 0600);
	report("shmget key again", a2);

	/* Locking. */
	struct shmid_ds ds;
	report("SHM_LOCK", shmctl(b, SHM_LOCK, NULL));
	shmctl(b, IPC_STAT, &ds);
	printf("mode locked %o\n", ds.shm_perm.mode);
	report("SHM_UNLOCK", shmctl(b, SHM_UNLOCK, NULL));
	shmctl(b, IPC_STAT, &ds);
	printf("mode unlocked %o\n", ds.shm_perm.mode);

	/* IPC_SET. */
	ds.shm_perm.mode = 0604;
	ds.shm_perm.uid = 1000;
	report("IPC_SET", shmctl(b, IPC_SET, &ds));
	stat_of("after IPC_SET", b);
	ds.shm_perm.uid = (uid_t)-1;
	report("IPC_SET uid -1", shmctl(b, IPC_SET, &ds));

	/* The namespace's tables. */
	struct shminfo si;
	long mi = shmctl(0, IPC_INFO, (struct shmid_ds *)&si);
	printf("IPC_INFO = %ld: shmmax %lu shmmin %lu shmmni %lu shmseg %lu shmall %lu\n", mi, si.shmmax, si.shmmin, si.shmmni, si.shmseg, si.shmall);
	struct shm_info sinfo;
	mi = shmctl(0, SHM_INFO, (struct shmid_ds *)&sinfo);
	printf("SHM_INFO = %ld: used_ids %d shm_tot %lu\n", mi, sinfo.used_ids, sinfo.shm_tot);
	for (int i = 0; i < 5; i++) {
		struct shmid_ds d2;
		long id = shmctl(i, SHM_STAT, &d2);
		if (id < 0)
			printf("SHM_STAT %d = -1 %s\n", i, errname(errno));
		else
			printf("SHM_STAT %d = %ld size %zu\n", i, id, d2.shm_segsz);
	}
	report("IPC_STAT bad id", shmctl(12345, IPC_STAT, &ds));
	report("IPC_STAT bad buffer", shmctl(b, IPC_STAT, (struct shmid_ds *)8));
	report("bad command", shmctl(b, 99, &ds));
	report("negative id", shmctl(-1, IPC_STAT, &ds));

	/* As an unprivileged user. */
	int priv = shmget(0x5678, 4096, IPC_CREAT | 0600);
	c = fork();
	if (c == 0) {
		if (setgid(1000) < 0 || setuid(1000) < 0)
			die("setuid");
		report("user: shmget 0600 key", shmget(0x5678, 4096, 0600));
		report("user: shmget no mode", shmget(0x5678, 4096, 0));
		report("user: shmat 0600", (long)shmat(priv, NULL, 0));
		struct shmid_ds d3;
		report("user: IPC_STAT 0600", shmctl(priv, IPC_STAT, &d3));
		report("user: SHM_STAT_ANY", shmctl(priv & 0x7fff, SHM_STAT_ANY, &d3) == priv ? 0 : -1);
		report("user: IPC_RMID", shmctl(priv, IPC_RMID, NULL));
		report("user: SHM_LOCK", shmctl(priv, SHM_LOCK, NULL));
		/* b now belongs to uid 1000 with mode 0604. */
		char *ub = shmat(b, NULL, SHM_RDONLY);
		yesno("user: owner attaches read-only", ub != (void *)-1);
		yesno("user: owner attaches read-write", shmat(b, NULL, 0) != (void *)-1);
		report("user: owner SHM_LOCK", shmctl(b, SHM_LOCK, NULL));
		report("user: owner IPC_RMID", shmctl(b, IPC_RMID, NULL));
		int mine = shmget(IPC_PRIVATE, 4096, 0600);
		report("user: own segment", mine >= 0 ? 0 : -1);
		stat_of("user's", mine);
		_exit(0);
	}
	waitpid(c, &st, 0);
	printf("user child status %d\n", WEXITSTATUS(st));
	stat_of("b after the user's rmid", b);

	/* kernel.shm_rmid_forced: segments go at their last detach, and
	 * those never attached when their creator exits. */
	if (!own_ns) {
		printf("no IPC namespace of our own: shm_rmid_forced not tried\n");
		return 0;
	}
	int kept = shmget(0x999, 4096, IPC_CREAT | 0600);
	int fd = open("/proc/sys/kernel/shm_rmid_forced", O_WRONLY);
	report("write shm_rmid_forced", fd >= 0 && write(fd, "1\n", 2) == 2 ? 0 : -1);
	close(fd);
	stat_of("made before, creator alive", kept);
	char *k = shmat(kept, NULL, 0);
	shmdt(k);
	stat_of("after its only attach went", kept);
	int pp[2];
	pipe(pp);
	c = fork();
	if (c == 0) {
		int orphan = shmget(IPC_PRIVATE, 4096, 0600);
		write(pp[1], &orphan, sizeof orphan);
		_exit(0);
	}
	int orphan = -1;
	read(pp[0], &orphan, sizeof orphan);
	waitpid(c, &st, 0);
	stat_of("made by a child that exited", orphan);
	fd = open("/proc/sys/kernel/shm_rmid_forced", O_WRONLY);
	write(fd, "0\n", 2);
	close(fd);
	return 0;
}
