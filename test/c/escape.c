/* escape CASE [ARGS]: the escape suite's attacker (escape_test.go). Each
 * case tries one way out of the sandbox and prints what it got; the test
 * says, for each case, what an escape would look like. The cases:
 *
 *   code           raw `syscall` instructions from fresh RWX pages, from
 *                  pages made executable by mprotect, from a second
 *                  (executable) mapping of a /dev/shm file written
 *                  through a first one, from the last bytes of a page;
 *                  the ptrace stub's own instructions (its syscall at
 *                  0x7fffff0000c3, its int3 at 0x7fffff0000c0, its
 *                  batch loop run over a forged entry that maps the
 *                  memory file); the
 *                  vsyscall page's gettimeofday, time and getcpu, a read
 *                  of it, a call to a misaligned entry and one with a bad
 *                  pointer. Printed
 *                  as relations (the raw getpid equals getpid(), the
 *                  raw uname's nodename equals uname()'s) or the signal
 *                  that ended the attempt, so the same lines come out
 *                  natively and in the sandbox. Escaped: a raw call
 *                  answered by the host kernel (another pid or
 *                  nodename: the stub's), or the stub's syscall
 *                  instruction running anything.
 *   legacy         int $0x80 (i386 getpid and uname) and sysenter: the
 *                  sandbox has no 32-bit system call ABI and answers both
 *                  with the signal a Linux without IA-32 emulation gives
 *                  (SIGSEGV for int $0x80; sysenter faults in the CPU on
 *                  AMD, SIGILL). Escaped: a 32-bit call answered at all.
 *   exe            writes to the running program: open(O_WRONLY/O_RDWR)
 *                  and truncate of /proc/self/exe and of argv[0], as
 *                  Linux answers them (ETXTBSY). Escaped: the host file
 *                  changed (the test compares its bytes).
 *   pids           reads host PIDs from stdin (one line, after printing
 *                  "ready") and aims kill, tgkill, rt_sigqueueinfo,
 *                  pidfd_open, ptrace, process_vm_readv/writev, /proc/PID,
 *                  setpriority, sched_setaffinity and prlimit at each.
 *                  Then prints "done" and waits for the end of stdin.
 *                  Escaped: any call succeeding on a PID that is not the
 *                  sandbox's, and (checked by the test) any host process
 *                  stopped or killed.
 *   killall        kill(-1, SIGKILL): every process of the sandbox but
 *                  init and the caller dies. Escaped: a host process
 *                  killed (the test keeps one) or init killed.
 *   race SECS MARKER
 *                  for SECS seconds, threads rename directories out from
 *                  under walkers, swap directories and symlinks (to "..",
 *                  "../..", "/", "/.."), and walkers (from a working
 *                  directory being moved, from a held directory
 *                  descriptor, and by absolute paths) try to read MARKER
 *                  (the name of a host file beside --root and the volume)
 *                  and to create, rename and link files next to it; the
 *                  test meanwhile exchanges, from the host, a directory
 *                  of the volume with a symlink to the marker's host
 *                  directory.
 *                  Escaped: "ESCAPE" printed (the marker's bytes read), or
 *                  (checked by the test) the host directory around the
 *                  root and the volume changed.
 *   mounts MARKER HOSTPATH
 *                  bind mounts of a volume's "..", chroot into the volume
 *                  and climbs out of it, pivot_root, the new mount API,
 *                  unshare/setns, and filesystems of the host's (proc
 *                  from outside, devtmpfs, ext4 of a host disk).
 *                  Escaped: the marker (a host file outside --root and
 *                  the volume: MARKER is its name beside the volume,
 *                  HOSTPATH its host path) reached through any of them.
 *   devs DIR       host device nodes (/dev/mem's 1:1, /dev/kmsg's 1:11)
 *                  and a host FIFO in a volume DIR opened directly, by
 *                  O_PATH and a reopen through /proc/self/fd, through a
 *                  symlink, a hard link and openat2; mknod of devices.
 *                  Escaped: a byte read from a host device or FIFO.
 *   fds            every process's descriptors (/proc/N/fd), the memory
 *                  maps (/proc/N/maps, /proc/self/map_files): none names
 *                  the sentry's memory file, its log, a stub socket or
 *                  pidfd. Escaped: any "LEAK" line.
 *   xattr FILE     file capabilities (security.capability) set on a
 *                  volume file. Escaped: the host file carrying them (the
 *                  test reads the host's xattrs). */
#include "common.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>

/* --- catching the signal an attempt ends with --- */

static sigjmp_buf jb;
static volatile int got_sig, got_code;
static volatile uintptr_t got_addr, got_rax;

static void on_fault(int sig, siginfo_t *si, void *uc) {
	got_sig = sig;
	got_code = si->si_code;
	got_addr = (uintptr_t)si->si_addr;
	got_rax = ((ucontext_t *)uc)->uc_mcontext.gregs[REG_RAX];
	siglongjmp(jb, 1);
}

static void catch_faults(void) {
	struct sigaction sa = {0};
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGSYS, SIGFPE};
	for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		if (sigaction(sigs[i], &sa, NULL))
			die("sigaction");
}

static const char *codename(int sig, int code) {
	if (code == SI_KERNEL)
		return "SI_KERNEL";
	switch (sig) {
	case SIGSEGV:
		return code == SEGV_MAPERR ? "SEGV_MAPERR" : code == SEGV_ACCERR ? "SEGV_ACCERR" : "other";
	case SIGILL:
		return code == ILL_ILLOPN ? "ILL_ILLOPN" : code == ILL_ILLOPC ? "ILL_ILLOPC" : "other";
	case SIGTRAP:
		return code == TRAP_BRKPT ? "TRAP_BRKPT" : "other";
	}
	return "other";
}

/* signal_line prints how an attempt ended with a signal; want_addr is the
 * address si_addr should carry (0: not printed). */
static void signal_line(const char *what, uintptr_t want_addr) {
	printf("%s: %s (%s)", what, sigabbrev_np(got_sig), codename(got_sig, got_code));
	if (want_addr)
		printf(", si_addr %s", got_addr == want_addr ? "the target" : "elsewhere");
	printf("\n");
}

/* --- code: raw syscalls from odd places --- */

/* trampoline: long f(long nr, long a1, long a2, long a3) { syscall; ret } */
static const unsigned char tramp[] = {
	0x48, 0x89, 0xf8, /* mov %rdi,%rax */
	0x48, 0x89, 0xf7, /* mov %rsi,%rdi */
	0x48, 0x89, 0xd6, /* mov %rdx,%rsi */
	0x48, 0x89, 0xca, /* mov %rcx,%rdx */
	0x0f, 0x05,       /* syscall */
	0xc3,             /* ret */
};

typedef long (*sysfn)(long, long, long, long);

/* try_tramp calls getpid, gettid and uname through f and prints whether
 * each answer is the one libc's own calls get. */
static void try_tramp(const char *where, sysfn f) {
	if (sigsetjmp(jb, 1)) {
		char l[256];
		snprintf(l, sizeof l, "%s", where);
		signal_line(l, 0);
		return;
	}
	long pid = f(SYS_getpid, 0, 0, 0);
	long tid = f(SYS_gettid, 0, 0, 0);
	struct utsname raw, libc;
	memset(&raw, 0, sizeof raw);
	long u = f(SYS_uname, (long)&raw, 0, 0);
	uname(&libc);
	printf("%s: getpid is getpid(): %s, gettid is gettid(): %s, uname = %ld, nodename is uname()'s: %s\n", where,
	       pid == getpid() ? "yes" : "NO (ESCAPE?)", tid == gettid() ? "yes" : "NO (ESCAPE?)", u,
	       strcmp(raw.nodename, libc.nodename) == 0 ? "yes" : "NO (ESCAPE?)");
}

static void *map_or_die(size_t len, int prot, int flags, int fd) {
	void *p = mmap(NULL, len, prot, flags, fd, 0);
	if (p == MAP_FAILED)
		die("mmap");
	return p;
}

/* call_at calls addr with rax = nr, rdi = a1, rsi = a2, rdx = a3, off the
 * red zone; the callee either returns (rax is the result) or faults. */
static long call_at(uintptr_t addr, long nr, long a1, long a2, long a3) {
	register long rax asm("rax") = nr;
	register long rdi asm("rdi") = a1;
	register long rsi asm("rsi") = a2;
	register long rdx asm("rdx") = a3;
	asm volatile("sub $256, %%rsp\n\tcall *%[a]\n\tadd $256, %%rsp"
		     : "+r"(rax), "+r"(rdi), "+r"(rsi), "+r"(rdx)
		     : [a] "r"(addr)
		     : "rcx", "r8", "r9", "r10", "r11", "memory", "cc");
	return rax;
}

/* The ptrace platform's stub page (platform/ptrace/stub.go): its code
 * starts at +0xc0 with int3; jmp .-1, then the only syscall instruction. */
#define STUB_BASE 0x7fffff000000UL
#define STUB_ENTRY (STUB_BASE + 0xc0)
#define STUB_SYSCALL (STUB_BASE + 0xc3)
/* Its batch loop (platform/ptrace/batch.go: r12 the entry, r13 the count;
 * each entry sysno and six arguments, 64 bytes) and the loop's syscall
 * instruction, from which the stub's filter allows mmap(MAP_SHARED|
 * MAP_FIXED) and munmap. */
#define STUB_BATCH (STUB_BASE + 0xc8)
#define STUB_BATCH_SYSCALL (STUB_BASE + 0xef)
/* Where a forged batch entry would map the stub's fd 0 (the sandbox's
 * memory file); natively and in the sandbox nothing is there. */
#define FORGED 0x5a5a00000000UL

/* call_batch calls addr with r12 = entry and r13 = 1. */
static long call_batch(uintptr_t addr, long *entry) {
	register long r12 asm("r12") = (long)entry;
	register long r13 asm("r13") = 1;
	long rax = 0;
	asm volatile("sub $256, %%rsp\n\tcall *%[a]\n\tadd $256, %%rsp"
		     : "+a"(rax), "+r"(r12), "+r"(r13)
		     : [a] "r"(addr)
		     : "rcx", "rdi", "rsi", "rdx", "r8", "r9", "r10", "r11", "memory", "cc");
	return rax;
}

#define VSYSCALL 0xffffffffff600000UL

static void try_call(const char *what, uintptr_t addr, long nr) {
	if (sigsetjmp(jb, 1)) {
		signal_line(what, addr);
		return;
	}
	long r = call_at(addr, nr, 0, 0, 0);
	printf("%s: returned %s\n", what, r == getpid() ? "getpid()'s value (a syscall ran there)" : "something");
}

static void vsyscalls(void) {
	struct timeval tv = {0}, tv0, tv1;
	long r;
	gettimeofday(&tv0, NULL);
	if (sigsetjmp(jb, 1)) {
		signal_line("vsyscall gettimeofday", VSYSCALL);
	} else {
		r = call_at(VSYSCALL, 0, (long)&tv, 0, 0);
		gettimeofday(&tv1, NULL);
		printf("vsyscall gettimeofday = %ld, within gettimeofday()'s before and after: %s\n", r,
		       timercmp(&tv, &tv0, >=) && timercmp(&tv, &tv1, <=) ? "yes" : "no");
	}
	time_t t0 = time(NULL), t = 0;
	if (sigsetjmp(jb, 1)) {
		signal_line("vsyscall time", VSYSCALL + 0x400);
	} else {
		r = call_at(VSYSCALL + 0x400, 0, (long)&t, 0, 0);
		time_t t1 = time(NULL);
		printf("vsyscall time: returned its result: %s, stored it: %s, within time()'s before and after: %s\n",
		       r == t ? "yes" : "no", r == (long)t ? "yes" : "no", t >= t0 && t <= t1 ? "yes" : "no");
	}
	unsigned cpu = ~0u, node = ~0u;
	if (sigsetjmp(jb, 1)) {
		signal_line("vsyscall getcpu", VSYSCALL + 0x800);
	} else {
		r = call_at(VSYSCALL + 0x800, 0, (long)&cpu, (long)&node, 0);
		printf("vsyscall getcpu = %ld, cpu below the number of CPUs: %s, node 0: %s\n", r,
		       cpu < (unsigned)sysconf(_SC_NPROCESSORS_CONF) ? "yes" : "no", node == 0 ? "yes" : "no");
	}
	if (sigsetjmp(jb, 1)) {
		signal_line("vsyscall gettimeofday, NULL arguments", 0);
	} else {
		r = call_at(VSYSCALL, 0, 0, 0, 0);
		printf("vsyscall gettimeofday, NULL arguments = %ld\n", r);
	}
	if (sigsetjmp(jb, 1))
		signal_line("vsyscall gettimeofday, a bad pointer", 0);
	else
		printf("vsyscall gettimeofday, a bad pointer = %ld\n", call_at(VSYSCALL, 0, 8, 0, 0));
	if (sigsetjmp(jb, 1))
		signal_line("vsyscall misaligned entry +0x10", 0);
	else
		printf("vsyscall misaligned entry +0x10 = %ld\n", call_at(VSYSCALL + 0x10, 0, (long)&tv, 0, 0));
	if (sigsetjmp(jb, 1)) {
		signal_line("vsyscall page read", VSYSCALL);
	} else {
		volatile unsigned char c = *(volatile unsigned char *)VSYSCALL;
		(void)c;
		printf("vsyscall page read: readable\n");
	}
	if (sigsetjmp(jb, 1)) {
		signal_line("vsyscall page write", VSYSCALL);
	} else {
		*(volatile unsigned char *)VSYSCALL = 0xc3;
		printf("vsyscall page write: WRITTEN\n");
	}
}

static int case_code(void) {
	catch_faults();
	long pg = sysconf(_SC_PAGESIZE);

	/* A fresh RWX anonymous page. */
	unsigned char *rwx = map_or_die(pg, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1);
	memcpy(rwx, tramp, sizeof tramp);
	try_tramp("syscall from a fresh RWX page", (sysfn)rwx);

	/* Rewritten in place, at another offset, and called again. */
	memset(rwx, 0xcc, pg);
	memcpy(rwx + 1001, tramp, sizeof tramp);
	try_tramp("syscall from rewritten RWX code at an odd offset", (sysfn)(rwx + 1001));

	/* The syscall instruction in the last two bytes of a page, its ret
	 * on the next one. */
	unsigned char *two = map_or_die(2 * pg, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1);
	unsigned char *at = two + pg - (sizeof tramp - 1);
	memcpy(at, tramp, sizeof tramp);
	try_tramp("syscall in the last bytes of a page", (sysfn)at);

	/* Written, then made executable (W^X). */
	unsigned char *wx = map_or_die(pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
	memcpy(wx, tramp, sizeof tramp);
	if (mprotect(wx, pg, PROT_READ | PROT_EXEC))
		die("mprotect");
	try_tramp("syscall from a page made executable by mprotect", (sysfn)wx);

	/* A shared memory file mapped twice: written through one view, run
	 * from the other. */
	char shm[] = "/dev/shm/escape-XXXXXX";
	int mfd = mkstemp(shm);
	if (mfd < 0 || unlink(shm) || ftruncate(mfd, pg))
		die("a /dev/shm file");
	unsigned char *w = map_or_die(pg, PROT_READ | PROT_WRITE, MAP_SHARED, mfd);
	unsigned char *x = map_or_die(pg, PROT_READ | PROT_EXEC, MAP_SHARED, mfd);
	memcpy(w + 64, tramp, sizeof tramp);
	try_tramp("syscall from a shared file's executable view, written through its other view", (sysfn)(x + 64));

	/* Code on the stack of a thread-less clone of it: an RWX copy of the
	 * trampoline the size of a stack, called in a loop over offsets. */
	int ok = 1;
	for (int off = 0; off < 64 && ok; off += 7) {
		unsigned char *p = map_or_die(pg, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1);
		memcpy(p + off, tramp, sizeof tramp);
		ok = ((sysfn)(p + off))(SYS_getpid, 0, 0, 0) == getpid();
		munmap(p, pg);
	}
	yesno("syscall from ten more fresh RWX pages, each getpid()'s", ok);

	/* The ptrace stub's own instructions: not mapped for the program,
	 * natively nothing is there. */
	try_call("call into the stub's syscall instruction", STUB_SYSCALL, SYS_getpid);
	try_call("call into the stub's int3", STUB_ENTRY, SYS_getpid);
	/* The batch loop: its syscall with mmap's number, then the loop over
	 * a forged entry mapping fd 0 at FORGED. Escaped: FORGED readable. */
	try_call("call into the stub's batch syscall with mmap's number", STUB_BATCH_SYSCALL, SYS_mmap);
	static long entry[8];
	entry[0] = SYS_mmap;
	entry[1] = (long)FORGED;
	entry[2] = pg;
	entry[3] = PROT_READ | PROT_WRITE;
	entry[4] = MAP_SHARED | MAP_FIXED;
	if (sigsetjmp(jb, 1)) {
		signal_line("call into the stub's batch loop with a forged mmap entry", 0);
	} else {
		call_batch(STUB_BATCH, entry);
		printf("call into the stub's batch loop with a forged mmap entry: returned\n");
	}
	if (sigsetjmp(jb, 1)) {
		signal_line("then a read where the forged entry maps", FORGED);
	} else {
		volatile char c = *(volatile char *)FORGED;
		(void)c;
		printf("then a read where the forged entry maps: READABLE\n");
	}
	if (sigsetjmp(jb, 1)) {
		signal_line("write to the stub page", STUB_BASE + 0xc3);
	} else {
		*(volatile unsigned char *)(STUB_BASE + 0xc3) = 0x90;
		printf("write to the stub page: WRITTEN\n");
	}

	vsyscalls();
	return 0;
}

/* --- legacy: the 32-bit system call instructions --- */

static int case_legacy(void) {
	catch_faults();
	long r;
	/* The stub page is beyond the sandbox's address space: nothing may be
	 * mapped over it or unmapped from it. */
	long pg = sysconf(_SC_PAGESIZE);
	void *m = mmap((void *)STUB_BASE, pg, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	report("mmap MAP_FIXED over the stub page", m == MAP_FAILED ? -1 : 0);
	report("munmap the stub page", munmap((void *)STUB_BASE, pg));
	report("mprotect the stub page", mprotect((void *)STUB_BASE, pg, PROT_READ | PROT_WRITE));
	report("madvise MADV_DONTNEED the stub page", madvise((void *)STUB_BASE, pg, MADV_DONTNEED));
	try_call("then a call into the stub's syscall instruction", STUB_SYSCALL, SYS_getpid);
	void *fresh = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memset(fresh, 1, 1 << 20);
	yesno("then new memory still works", fresh != MAP_FAILED && ((char *)fresh)[4096] == 1);

	if (sigsetjmp(jb, 1)) {
		signal_line("int $0x80 getpid", 0);
	} else {
		asm volatile("int $0x80" : "=a"(r) : "a"(20L) : "memory");
		printf("int $0x80 getpid: returned %s\n", r == getpid() ? "getpid()'s value" : "another value");
	}
	static struct utsname u;
	if (sigsetjmp(jb, 1)) {
		signal_line("int $0x80 uname", 0);
	} else {
		/* i386 uname is 122; the buffer is below 4 GiB as it must be. */
		struct utsname *low = mmap((void *)0x10000000, 4096, PROT_READ | PROT_WRITE,
					   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (low == MAP_FAILED)
			die("mmap low");
		uname(&u);
		asm volatile("int $0x80" : "=a"(r) : "a"(122L), "b"(low) : "memory");
		printf("int $0x80 uname = %ld, nodename %s\n", r,
		       r == 0 ? (strcmp(low->nodename, u.nodename) == 0 ? "uname()'s" : "ANOTHER (the host's?)") : "none");
	}
	if (sigsetjmp(jb, 1)) {
		signal_line("sysenter getpid", 0);
	} else {
		asm volatile("sysenter" : "=a"(r) : "a"(20L) : "rcx", "r11", "memory");
		printf("sysenter getpid: returned %s\n", r == getpid() ? "getpid()'s value" : "another value");
	}
	return 0;
}

/* --- exe: writing the running program --- */

static int case_exe(const char *self) {
	int fd;
	report("open /proc/self/exe O_WRONLY", fd = open("/proc/self/exe", O_WRONLY));
	if (fd >= 0) {
		report("  write", write(fd, "X", 1));
		close(fd);
	}
	report("open /proc/self/exe O_RDWR", fd = open("/proc/self/exe", O_RDWR));
	if (fd >= 0)
		close(fd);
	report("open argv[0] O_WRONLY", fd = open(self, O_WRONLY));
	if (fd >= 0)
		close(fd);
	report("open argv[0] O_WRONLY|O_TRUNC", fd = open(self, O_WRONLY | O_TRUNC));
	if (fd >= 0)
		close(fd);
	report("truncate argv[0]", truncate(self, 0));
	report("truncate /proc/self/exe", truncate("/proc/self/exe", 0));
	report("open /proc/self/exe O_RDONLY", fd = open("/proc/self/exe", O_RDONLY));
	if (fd >= 0) {
		report("  ftruncate of the read-only descriptor", ftruncate(fd, 0));
		close(fd);
	}
	/* A child of the running program: still busy while the parent runs. */
	pid_t c = fork();
	if (c == 0) {
		int f = open(self, O_WRONLY);
		_exit(f >= 0 ? 0 : errno);
	}
	int st;
	waitpid(c, &st, 0);
	printf("a child's open of argv[0] O_WRONLY: %s\n", WEXITSTATUS(st) == 0 ? "opened" : errname(WEXITSTATUS(st)));

	/* The other way round: a copy of the program still open for writing
	 * cannot be executed; closed, it can. */
	char copy[] = "/tmp/escape-exe-XXXXXX";
	int w = mkstemp(copy);
	int r = open("/proc/self/exe", O_RDONLY);
	if (w < 0 || r < 0)
		die("copying the program");
	char buf[65536];
	ssize_t n;
	while ((n = read(r, buf, sizeof buf)) > 0)
		if (write(w, buf, n) != n)
			die("write");
	close(r);
	fchmod(w, 0755);
	for (int open_for_write = 1; open_for_write >= 0; open_for_write--) {
		if (!open_for_write)
			close(w);
		c = fork();
		if (c == 0) {
			char *args[] = {copy, "true", NULL};
			execv(copy, args);
			_exit(errno);
		}
		waitpid(c, &st, 0);
		printf("execve of a copy %s: %s\n", open_for_write ? "still open for writing" : "closed",
		       WEXITSTATUS(st) == 0 ? "ran" : errname(WEXITSTATUS(st)));
	}
	unlink(copy);
	return 0;
}

/* --- pids: host PIDs --- */

static int case_pids(void) {
	printf("ready\n");
	char line[4096];
	if (!fgets(line, sizeof line, stdin))
		die("reading the PIDs");
	catch_faults();
	char *save = NULL;
	for (char *tok = strtok_r(line, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
		char *name = tok;
		char *colon = strchr(tok, ':');
		if (!colon)
			continue;
		*colon = 0;
		pid_t pid = atoi(colon + 1);
		char p[64];
		snprintf(p, sizeof p, "/proc/%d", pid);
		struct stat st;
		if (stat(p, &st) == 0 || kill(pid, 0) == 0) {
			/* A PID of the sandbox's own that happens to equal the
			 * host one: nothing to learn, and not ours to kill. */
			printf("%s: a sandbox process has the same pid; skipped\n", name);
			continue;
		}
		char l[256];
#define TRY(what, call)                                  \
	do {                                             \
		snprintf(l, sizeof l, "%s: %s", name, what); \
		errno = 0;                               \
		report(l, (call));                       \
	} while (0)
		TRY("kill 0", kill(pid, 0));
		TRY("kill SIGSTOP", kill(pid, SIGSTOP));
		TRY("kill SIGKILL", kill(pid, SIGKILL));
		TRY("kill the group SIGKILL", kill(-pid, SIGKILL));
		TRY("tgkill SIGKILL", syscall(SYS_tgkill, pid, pid, SIGKILL));
		TRY("tkill SIGKILL", syscall(SYS_tkill, pid, SIGKILL));
		siginfo_t si = {0};
		si.si_code = SI_QUEUE;
		TRY("rt_sigqueueinfo SIGKILL", syscall(SYS_rt_sigqueueinfo, pid, SIGKILL, &si));
		TRY("pidfd_open", syscall(SYS_pidfd_open, pid, 0));
		TRY("ptrace PTRACE_ATTACH", ptrace(PTRACE_ATTACH, pid, 0, 0));
		TRY("ptrace PTRACE_SEIZE", ptrace(PTRACE_SEIZE, pid, 0, 0));
		char buf[64];
		struct iovec local = {buf, sizeof buf}, remote = {(void *)0x400000, sizeof buf};
		TRY("process_vm_readv", process_vm_readv(pid, &local, 1, &remote, 1, 0));
		TRY("process_vm_writev", process_vm_writev(pid, &local, 1, &remote, 1, 0));
		snprintf(p, sizeof p, "/proc/%d/mem", pid);
		TRY("open /proc/PID/mem", open(p, O_RDWR));
		snprintf(p, sizeof p, "/proc/%d/status", pid);
		TRY("open /proc/PID/status", open(p, O_RDONLY));
		TRY("setpriority", setpriority(PRIO_PROCESS, pid, 19));
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(0, &set);
		TRY("sched_setaffinity", sched_setaffinity(pid, sizeof set, &set));
		struct rlimit rl = {0, 0};
		TRY("prlimit RLIMIT_NOFILE", prlimit(pid, RLIMIT_NOFILE, &rl, NULL));
		TRY("getpgid", getpgid(pid));
		TRY("getsid", getsid(pid));
		TRY("kcmp", syscall(SYS_kcmp, getpid(), pid, 0 /* KCMP_FILE */, 0, 0));
		TRY("ioprio_set", syscall(SYS_ioprio_set, 1 /* IOPRIO_WHO_PROCESS */, pid, 0));
		TRY("waitid P_PID", waitid(P_PID, pid, &si, WEXITED | WNOHANG));
	}
	/* Let the test look at the host's processes before we go. */
	printf("done\n");
	while (fgets(line, sizeof line, stdin))
		;
	return 0;
}

/* --- killall --- */

static int case_killall(void) {
	/* A sibling that must die, and ourselves, who must not. */
	pid_t kid = fork();
	if (kid == 0) {
		pause();
		_exit(0);
	}
	report("kill(-1, SIGKILL)", kill(-1, SIGKILL));
	int st;
	if (waitpid(kid, &st, 0) != kid)
		die("waitpid");
	printf("our own child: %s\n", WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL ? "killed by SIGKILL" : "not killed");
	printf("the caller: still running\n");
	return 0;
}

/* --- race --- */

static const char *marker;
static volatile int stop_race;
static char marker_bytes[256];
static size_t marker_len;
static volatile long attempts, escapes;

/* check_fd reads an opened file and says ESCAPE if it holds the marker's bytes. */
static void check_fd(int fd, const char *how) {
	char b[256];
	ssize_t n = pread(fd, b, sizeof b, 0);
	close(fd);
	if (n > 0 && (size_t)n == marker_len && memcmp(b, marker_bytes, n) == 0) {
		__sync_fetch_and_add(&escapes, 1);
		printf("ESCAPE: read the host marker through %s\n", how);
	}
}

static void try_open(int dirfd, const char *path) {
	__sync_fetch_and_add(&attempts, 1);
	int fd = openat(dirfd, path, O_RDONLY | O_NOFOLLOW);
	if (fd >= 0)
		check_fd(fd, path);
	fd = openat(dirfd, path, O_RDONLY);
	if (fd >= 0)
		check_fd(fd, path);
}

/* renamer: /vol/r/a/b/c exists; b moves up and back, so a walker in c
 * sees its ".." chain change under it. The same in the overlay (/ov). */
static void *renamer(void *arg) {
	const char *base = arg;
	char a[256], b[256], moved[256], c[256];
	snprintf(a, sizeof a, "%s/r/a", base);
	snprintf(b, sizeof b, "%s/r/a/b", base);
	snprintf(c, sizeof c, "%s/r/a/b/c", base);
	snprintf(moved, sizeof moved, "%s/moved", base);
	while (!stop_race) {
		rename(b, moved);
		rename(moved, b);
		rename(a, moved);
		rename(moved, a);
	}
	return NULL;
}

/* swapper: base/s is by turns a directory, a symlink to "..", "../..",
 * "/", "/.." and to the marker's own name one level up. */
static void *swapper(void *arg) {
	const char *base = arg;
	char s[256], tmp[256], up[512];
	snprintf(s, sizeof s, "%s/s", base);
	snprintf(tmp, sizeof tmp, "%s/s.tmp", base);
	snprintf(up, sizeof up, "../%s", marker);
	const char *targets[] = {"..", "../..", "/", "/..", "../../..", up};
	for (int i = 0; !stop_race; i++) {
		unlink(tmp);
		symlink(targets[i % 6], tmp);
		rename(tmp, s);
		unlink(s);
		mkdir(s, 0755);
		rmdir(s);
	}
	return NULL;
}

static void *walker(void *arg) {
	const char *base = arg;
	char c[256], p[512];
	snprintf(c, sizeof c, "%s/r/a/b/c", base);
	while (!stop_race) {
		int dfd = open(c, O_RDONLY | O_DIRECTORY);
		for (int up = 1; up <= 6; up++) {
			p[0] = 0;
			for (int i = 0; i < up; i++)
				strcat(p, "../");
			strcat(p, marker);
			if (dfd >= 0)
				try_open(dfd, p);
		}
		if (dfd >= 0)
			close(dfd);
		snprintf(p, sizeof p, "%s/s/%s", base, marker);
		try_open(AT_FDCWD, p);
		snprintf(p, sizeof p, "%s/s/../%s", base, marker);
		try_open(AT_FDCWD, p);
		snprintf(p, sizeof p, "%s/s/../../%s", base, marker);
		try_open(AT_FDCWD, p);
		snprintf(p, sizeof p, "%s/s", base);
		try_open(AT_FDCWD, p);
		/* h is swapped from the host's side (the test's goroutine
		 * exchanges a directory and a symlink to the marker's host
		 * directory, atomically). */
		snprintf(p, sizeof p, "%s/h/%s", base, marker);
		try_open(AT_FDCWD, p);
		snprintf(p, sizeof p, "%s/h/../%s", base, marker);
		try_open(AT_FDCWD, p);
		snprintf(p, sizeof p, "%s/h", base);
		int hfd = open(p, O_RDONLY | O_DIRECTORY);
		if (hfd >= 0) {
			try_open(hfd, marker);
			close(hfd);
		}
		/* Writes: create, rename and link next to where the marker is. */
		snprintf(p, sizeof p, "%s/s/ESCAPE-created", base);
		int fd = open(p, O_WRONLY | O_CREAT, 0644);
		if (fd >= 0)
			close(fd);
		snprintf(p, sizeof p, "%s/s/../ESCAPE-created", base);
		fd = open(p, O_WRONLY | O_CREAT, 0644);
		if (fd >= 0)
			close(fd);
		snprintf(p, sizeof p, "%s/s/%s", base, marker);
		char q[512];
		snprintf(q, sizeof q, "%s/stolen", base);
		if (link(p, q) == 0) {
			fd = open(q, O_RDONLY);
			if (fd >= 0)
				check_fd(fd, "a hard link");
			unlink(q);
		}
		if (rename(p, q) == 0) {
			fd = open(q, O_RDONLY);
			if (fd >= 0)
				check_fd(fd, "a rename");
			rename(q, p);
		}
	}
	return NULL;
}

/* cwd_walker works from inside the moving directory with relative paths. */
static void *cwd_walker(void *arg) {
	const char *base = arg;
	char c[256], p[512];
	snprintf(c, sizeof c, "%s/r/a/b/c", base);
	while (!stop_race) {
		if (chdir(c) != 0)
			continue;
		for (int up = 1; up <= 8; up++) {
			p[0] = 0;
			for (int i = 0; i < up; i++)
				strcat(p, "../");
			strcat(p, marker);
			try_open(AT_FDCWD, p);
		}
	}
	return NULL;
}

static int case_race(int secs) {
	/* The marker's bytes are given by the test in the environment, so
	 * that reading them proves the escape. */
	const char *mb = getenv("ESCAPE_MARKER_BYTES");
	if (!mb)
		die("ESCAPE_MARKER_BYTES");
	marker_len = strlen(mb);
	memcpy(marker_bytes, mb, marker_len);
	const char *bases[] = {"/vol", "/ov"};
	mkdir("/ov", 0755);
	pthread_t th[12];
	int n = 0;
	for (int b = 0; b < 2; b++) {
		char d[256];
		snprintf(d, sizeof d, "%s/r/a/b/c", bases[b]);
		for (char *q = d + 1; *q; q++)
			if (*q == '/') {
				*q = 0;
				mkdir(d, 0755);
				*q = '/';
			}
		if (mkdir(d, 0755) && errno != EEXIST)
			die("mkdir");
		pthread_create(&th[n++], NULL, renamer, (void *)bases[b]);
		pthread_create(&th[n++], NULL, swapper, (void *)bases[b]);
		pthread_create(&th[n++], NULL, walker, (void *)bases[b]);
	}
	/* cwd is per process: one process walks from a moving cwd per base. */
	pid_t kids[2];
	for (int b = 0; b < 2; b++) {
		kids[b] = fork();
		if (kids[b] == 0) {
			alarm(secs + 30);
			struct timespec end;
			clock_gettime(CLOCK_MONOTONIC, &end);
			end.tv_sec += secs;
			pthread_t w;
			pthread_create(&w, NULL, cwd_walker, (void *)bases[b]);
			for (;;) {
				struct timespec now;
				clock_gettime(CLOCK_MONOTONIC, &now);
				if (now.tv_sec > end.tv_sec || (now.tv_sec == end.tv_sec && now.tv_nsec >= end.tv_nsec))
					break;
				usleep(50000);
			}
			stop_race = 1;
			pthread_join(w, NULL);
			fflush(stdout);
			_exit(escapes ? 1 : 0);
		}
	}
	sleep(secs);
	stop_race = 1;
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	int bad = 0;
	for (int b = 0; b < 2; b++) {
		int st;
		waitpid(kids[b], &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			bad = 1;
	}
	fprintf(stderr, "race: %ld open attempts in %d s\n", attempts, secs);
	printf("race: %s\n", escapes || bad ? "ESCAPE" : "the marker was never read");
	printf("race: attempts made: %s\n", attempts > 0 ? "yes" : "no");
	return 0;
}

/* --- mounts --- */

static void reached(const char *how, const char *path) {
	struct stat st;
	printf("%s: %s\n", how, stat(path, &st) == 0 ? "REACHED" : "not reachable");
}

static int case_mounts(const char *hostpath) {
	char p[4096];
	/* The marker is a sibling of the volume's host directory; hostpath
	 * is its absolute host path. */
	reached("the marker's host path", hostpath);
	snprintf(p, sizeof p, "/vol/../%s", marker);
	reached("through /vol/..", p);

	/* chroot into the volume, climb out through descriptors kept outside. */
	mkdir("/vol/sub", 0755);
	int out = open("/", O_RDONLY | O_DIRECTORY);
	int vol = open("/vol", O_RDONLY | O_DIRECTORY);
	report("chroot /vol/sub", chroot("/vol/sub"));
	report("fchdir to the volume", fchdir(vol));
	for (int i = 0; i < 64; i++)
		chdir("..");
	reached("climbed from the volume past the chroot", marker);
	report("fchdir to the old root", fchdir(out));
	snprintf(p, sizeof p, "vol/../%s", marker);
	reached("the old root's vol/..", p);
	report("chroot .", chroot("."));
	snprintf(p, sizeof p, "/vol/../%s", marker);
	reached("after chroot(.) from the old root", p);

	mkdir("/mnt", 0755);
	mkdir("/mnt/b", 0755);
	report("mount --bind /vol/.. /mnt/b", mount("/vol/..", "/mnt/b", NULL, MS_BIND, NULL));
	snprintf(p, sizeof p, "/mnt/b/%s", marker);
	reached("through the bind of /vol/..", p);
	report("mount --rbind /vol/sub /mnt/b", mount("/vol/sub", "/mnt/b", NULL, MS_BIND | MS_REC, NULL));
	snprintf(p, sizeof p, "/mnt/b/../../%s", marker);
	reached("through the bind's ..", p);
	report("mount proc on /mnt/b", mount("proc", "/mnt/b", "proc", 0, NULL));
	snprintf(p, sizeof p, "/mnt/b/1/root%s", hostpath);
	reached("the marker through the fresh proc's 1/root", p);
	reached("the host's /etc/hostname through the fresh proc's 1/root", "/mnt/b/1/root/etc/hostname");
	report("mount devtmpfs", mount("devtmpfs", "/mnt/b", "devtmpfs", 0, NULL));
	report("mount ext4 /dev/sda", mount("/dev/sda", "/mnt/b", "ext4", MS_RDONLY, NULL));
	report("mount ext4 /dev/vda", mount("/dev/vda", "/mnt/b", "ext4", MS_RDONLY, NULL));
	report("mount sysfs", mount("sysfs", "/mnt/b", "sysfs", 0, NULL));
	report("pivot_root /vol /vol/sub", syscall(SYS_pivot_root, "/vol", "/vol/sub"));
	report("unshare CLONE_NEWNS|CLONE_NEWUSER", unshare(CLONE_NEWNS | CLONE_NEWUSER));
	int nsfd = open("/proc/1/ns/mnt", O_RDONLY);
	report("setns /proc/1/ns/mnt", nsfd < 0 ? -1 : setns(nsfd, 0));
	report("open_tree /vol/.. OPEN_TREE_CLONE", syscall(SYS_open_tree, AT_FDCWD, "/vol/..", 1 /* OPEN_TREE_CLONE */));
	report("fsopen proc", syscall(SYS_fsopen, "proc", 0));
	report("open_by_handle_at", syscall(SYS_open_by_handle_at, AT_FDCWD, NULL, O_RDONLY));
	report("umount2 /vol MNT_DETACH", umount2("/vol", MNT_DETACH));
	snprintf(p, sizeof p, "/vol/../%s", marker);
	reached("the volume's parent after detaching it", p);
	return 0;
}

/* --- devs --- */

static void read_dev(const char *how, int fd) {
	if (fd < 0) {
		report(how, -1);
		return;
	}
	char b[16];
	ssize_t n = read(fd, b, sizeof b);
	if (n > 0)
		printf("%s: ESCAPE: read %zd bytes\n", how, n);
	else
		printf("%s: opened, read = %zd\n", how, n);
	close(fd);
}

static int case_devs(const char *dir) {
	if (chdir(dir))
		die("chdir");
	const char *nodes[] = {"mem", "kmsg", "fifo"};
	for (int i = 0; i < 3; i++) {
		char l[256];
		snprintf(l, sizeof l, "open %s O_RDONLY|O_NONBLOCK", nodes[i]);
		read_dev(l, open(nodes[i], O_RDONLY | O_NONBLOCK));
		snprintf(l, sizeof l, "open %s O_RDWR|O_NONBLOCK", nodes[i]);
		read_dev(l, open(nodes[i], O_RDWR | O_NONBLOCK));
		int pfd = open(nodes[i], O_PATH);
		snprintf(l, sizeof l, "open %s O_PATH", nodes[i]);
		printf("%s: %s\n", l, pfd >= 0 ? "ok" : errname(errno));
		if (pfd >= 0) {
			char p[64];
			snprintf(p, sizeof p, "/proc/self/fd/%d", pfd);
			snprintf(l, sizeof l, "reopen %s through /proc/self/fd", nodes[i]);
			read_dev(l, open(p, O_RDONLY | O_NONBLOCK));
			close(pfd);
		}
		char lnk[64];
		snprintf(lnk, sizeof lnk, "%s.sym", nodes[i]);
		symlink(nodes[i], lnk);
		snprintf(l, sizeof l, "open %s through a symlink", nodes[i]);
		read_dev(l, open(lnk, O_RDONLY | O_NONBLOCK));
		snprintf(lnk, sizeof lnk, "%s.hard", nodes[i]);
		snprintf(l, sizeof l, "link %s", nodes[i]);
		report(l, link(nodes[i], lnk));
		snprintf(l, sizeof l, "open %s's hard link", nodes[i]);
		read_dev(l, open(lnk, O_RDONLY | O_NONBLOCK));
		struct open_how how = {.flags = O_RDONLY | O_NONBLOCK, .resolve = RESOLVE_BENEATH};
		snprintf(l, sizeof l, "openat2 %s", nodes[i]);
		read_dev(l, syscall(SYS_openat2, AT_FDCWD, nodes[i], &how, sizeof how));
	}
	report("mknod c 1 1", mknod("newmem", S_IFCHR | 0600, makedev(1, 1)));
	report("mknod b 8 0", mknod("newdisk", S_IFBLK | 0600, makedev(8, 0)));
	report("rename mem over a new file", (close(open("plain", O_CREAT | O_WRONLY, 0644)), rename("mem", "plain")));
	read_dev("open the renamed node", open("plain", O_RDONLY | O_NONBLOCK));
	return 0;
}

/* --- fds --- */

/* suspicious: what the sentry holds and a program must never see: its
 * memory file and stub image (memfds), stub pidfds, KVM's descriptors,
 * its debug log (the test names it escape-debug.log) and its own binary. */
static int suspicious(const char *target) {
	size_t n = strlen(target);
	while (n > 0 && (target[n - 1] == '\n' || target[n - 1] == ' '))
		n--;
	return strstr(target, "memfd:") || strstr(target, "runsc-lite-stub") || strstr(target, "pidfd") ||
	       strstr(target, "kvm") || strstr(target, "/dev/mem") || strstr(target, "escape-debug.log") ||
	       (n >= 11 && strncmp(target + n - 11, "/runsc-lite", 11) == 0);
}

static int case_fds(void) {
	int leaks = 0, procs = 0, fds = 0;
	DIR *proc = opendir("/proc");
	if (!proc)
		die("opendir /proc");
	struct dirent *e;
	while ((e = readdir(proc))) {
		int pid = atoi(e->d_name);
		if (pid <= 0)
			continue;
		procs++;
		char p[512], t[4096];
		snprintf(p, sizeof p, "/proc/%d/fd", pid);
		DIR *d = opendir(p);
		if (d) {
			struct dirent *f;
			while ((f = readdir(d))) {
				if (f->d_name[0] == '.')
					continue;
				snprintf(p, sizeof p, "/proc/%d/fd/%s", pid, f->d_name);
				ssize_t n = readlink(p, t, sizeof t - 1);
				if (n < 0)
					continue;
				t[n] = 0;
				fds++;
				if (suspicious(t)) {
					printf("LEAK: %s -> %s\n", p, t);
					leaks++;
				}
			}
			closedir(d);
		}
		snprintf(p, sizeof p, "/proc/%d/maps", pid);
		FILE *m = fopen(p, "r");
		if (m) {
			char l[4096];
			while (fgets(l, sizeof l, m))
				if (suspicious(l)) {
					printf("LEAK: %s: %s", p, l);
					leaks++;
				}
			fclose(m);
		}
	}
	closedir(proc);
	/* map_files: the memory file behind an anonymous mapping. */
	void *anon = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	memset(anon, 1, 4096);
	char p[256];
	snprintf(p, sizeof p, "/proc/self/map_files/%lx-%lx", (unsigned long)anon, (unsigned long)anon + 4096);
	int fd = open(p, O_RDWR);
	if (fd >= 0) {
		char t[4096];
		snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
		ssize_t n = readlink(p, t, sizeof t - 1);
		t[n > 0 ? n : 0] = 0;
		struct stat st;
		fstat(fd, &st);
		/* The memory file is as big as the sandbox's memory. */
		if (suspicious(t) || st.st_size > 4096) {
			printf("LEAK: map_files of a shared anonymous page is %s (size %lld)\n", t, (long long)st.st_size);
			leaks++;
		}
		close(fd);
	}
	/* Descriptor numbers a leak would sit at, probed directly. */
	for (int n = 3; n < 1024; n++) {
		struct stat st;
		if (fstat(n, &st) == 0) {
			printf("LEAK: descriptor %d is open (mode %o)\n", n, st.st_mode);
			leaks++;
		}
	}
	fprintf(stderr, "fds: %d processes, %d descriptors looked at\n", procs, fds);
	printf("processes looked at: %s\n", procs > 0 ? "yes" : "no");
	printf("leaks: %d\n", leaks);
	return 0;
}

/* --- xattr --- */

static int case_xattr(const char *file) {
	/* VFS_CAP_REVISION_2 with CAP_SETUID|CAP_SYS_ADMIN permitted and
	 * effective: what `setcap cap_setuid,cap_sys_admin+ep FILE` writes. */
	unsigned int cap[5] = {0x02000001, (1u << 7) | (1u << 21), 0, 0, 0};
	report("setxattr security.capability", setxattr(file, "security.capability", cap, sizeof cap, 0));
	report("setxattr trusted.overlay.opaque", setxattr(file, "trusted.overlay.opaque", "y", 1, 0));
	report("setxattr user.note", setxattr(file, "user.note", "x", 1, 0));
	return 0;
}

/* --- systrap: the systrap platform's stub code and message pages --- */

/* platform/systrap: its code at STUB_BASE + 0x180 (src/stub.S; offsets
 * from stubcode.go), its per-thread regions (message page, then signal
 * stack) from 0x7fff80000000 every 64 KiB. */
#define SYSTRAP_CODE (STUB_BASE + 0x180)
#define SYSTRAP_REGIONS 0x7fff80000000UL

static int case_systrap(void) {
	catch_faults();
	static const struct {
		const char *what;
		unsigned off;
	} targets[] = {
		{"call into the systrap stub's futex syscall", 0x3f},
		{"call into the systrap stub's arch_prctl syscall", 0xb4},
		{"call into the systrap stub's rt_sigreturn syscall", 0xbe},
		{"call into the systrap stub's bootstrap syscall", 0xc2},
		{"call into the systrap stub's sched_yield syscall", 0xd6},
	};
	for (unsigned i = 0; i < sizeof targets / sizeof targets[0]; i++)
		try_call(targets[i].what, SYSTRAP_CODE + targets[i].off, SYS_getpid);
	/* Into the handler and the restorer, in a child: natively nothing
	 * is there; in the sandbox the host runs a few of the stub's
	 * instructions with the program's registers before one traps, or
	 * an rt_sigreturn loads a frame made of the child's stack, after
	 * which its stub thread may die (and with it only the child). */
	fflush(stdout);
	pid_t child = fork();
	if (child == 0) {
		static const unsigned others[] = {0x0, 0xb9}; /* handler, restorer */
		for (unsigned i = 0; i < 2; i++) {
			if (sigsetjmp(jb, 1))
				continue;
			long r = call_at(SYSTRAP_CODE + others[i], SYS_getpid, 0, 0, 0);
			if (r == getpid())
				printf("call into the systrap stub's code: getpid()'s value (a syscall ran there)\n");
		}
		fflush(stdout);
		_exit(0);
	}
	int st;
	if (child < 0 || waitpid(child, &st, 0) != child)
		die("fork/waitpid");
	fprintf(stderr, "the child that called into the stub's handler and restorer: %s %d\n",
		WIFEXITED(st) ? "exited" : "killed by signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
	printf("the child that called into the stub's handler and restorer ended\n");
	/* Forge the first message pages: "event" in the state word, a
	 * signal number and frame pointers of our choosing, and a futex wake
	 * through libc (served by the sentry, on an address it does not
	 * give the program). Natively nothing is mapped there. */
	int forged = 0;
	for (unsigned long i = 0; i < 4; i++) {
		volatile unsigned *msg = (volatile unsigned *)(SYSTRAP_REGIONS + i * 0x10000);
		if (sigsetjmp(jb, 1))
			continue;
		msg[1] = SIGSYS;
		*(volatile unsigned long *)(msg + 2) = SYSTRAP_REGIONS + i * 0x10000 + 0x2000;
		*(volatile unsigned long *)(msg + 4) = (unsigned long)msg + 0x8000;
		msg[0] = 1;
		syscall(SYS_futex, msg, 1 /* FUTEX_WAKE */, 1, 0, 0, 0);
		forged++;
	}
	if (forged)
		fprintf(stderr, "forged %d message pages\n", forged);
	yesno("then getpid is still libc's", syscall(SYS_getpid) == getpid());
	return 0;
}

int main(int argc, char **argv) {
	init_output();
	if (argc < 2) {
		fprintf(stderr, "usage: escape code|legacy|systrap|exe|pids|killall|race SECS MARKER|mounts MARKER HOSTPATH|devs DIR|fds|xattr FILE\n");
		return 2;
	}
	const char *c = argv[1];
	if (!strcmp(c, "code"))
		return case_code();
	if (!strcmp(c, "legacy"))
		return case_legacy();
	if (!strcmp(c, "systrap"))
		return case_systrap();
	if (!strcmp(c, "exe"))
		return case_exe(argv[0]);
	if (!strcmp(c, "pids"))
		return case_pids();
	if (!strcmp(c, "killall"))
		return case_killall();
	if (!strcmp(c, "race") && argc == 4) {
		marker = argv[3];
		return case_race(atoi(argv[2]));
	}
	if (!strcmp(c, "mounts") && argc == 4) {
		marker = argv[2];
		return case_mounts(argv[3]);
	}
	if (!strcmp(c, "devs") && argc == 3)
		return case_devs(argv[2]);
	if (!strcmp(c, "true"))
		return 0;
	if (!strcmp(c, "fds"))
		return case_fds();
	if (!strcmp(c, "xattr") && argc == 3)
		return case_xattr(argv[2]);
	fprintf(stderr, "escape: unknown case %s\n", c);
	return 2;
}
