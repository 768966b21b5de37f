/* vdso.c: the vDSO as a program finds and uses it.
 *
 * Finds the vDSO through getauxval(AT_SYSINFO_EHDR), looks up the symbols
 * glibc, musl and Go look up (name and version LINUX_2.6, through DT_HASH
 * and the version tables, as a dynamic loader does), and checks that its
 * clocks make one clock with the clock_gettime syscall: every syscall read
 * lies between the vDSO reads around it, reads stay monotonic when the
 * two are interleaved (in a child, also across a SIGSTOP/SIGCONT of it),
 * sleeps last at least what was asked as the vDSO measures them, and
 * clock_getres and the error returns agree. Prints only what native Linux
 * prints too.
 */
#include "common.h"
#include <elf.h>
#include <link.h>
#include <signal.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>

typedef long (*cg_fn)(long, struct timespec *);
typedef long (*gtod_fn)(struct timeval *, void *);
typedef long (*time_fn)(long *);
typedef long (*getcpu_fn)(unsigned *, unsigned *, void *);

static cg_fn vgettime, vgetres;
static gtod_fn vgtod;
static time_fn vtime;
static getcpu_fn vgetcpu;

/* lookup finds name@version in the vDSO at base, or NULL. */
static void *lookup(uintptr_t base, const char *name, const char *version) {
	ElfW(Ehdr) *eh = (void *)base;
	ElfW(Phdr) *ph = (void *)(base + eh->e_phoff);
	uintptr_t load = 0;
	ElfW(Dyn) *dyn = NULL;
	for (int i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type == PT_LOAD && !load)
			load = base + ph[i].p_offset - ph[i].p_vaddr;
		if (ph[i].p_type == PT_DYNAMIC)
			dyn = (void *)(base + ph[i].p_offset);
	}
	if (!load || !dyn)
		return NULL;
	ElfW(Sym) *sym = NULL;
	const char *str = NULL;
	Elf32_Word *hash = NULL;
	ElfW(Versym) *versym = NULL;
	ElfW(Verdef) *verdef = NULL;
	for (; dyn->d_tag != DT_NULL; dyn++) {
		uintptr_t p = load + dyn->d_un.d_ptr;
		switch (dyn->d_tag) {
		case DT_SYMTAB: sym = (void *)p; break;
		case DT_STRTAB: str = (void *)p; break;
		case DT_HASH: hash = (void *)p; break;
		case DT_VERSYM: versym = (void *)p; break;
		case DT_VERDEF: verdef = (void *)p; break;
		}
	}
	if (!sym || !str || !hash || !versym || !verdef)
		return NULL;
	for (Elf32_Word i = 0; i < hash[1]; i++) {
		if (ELF64_ST_TYPE(sym[i].st_info) != STT_FUNC || sym[i].st_shndx == SHN_UNDEF)
			continue;
		if (strcmp(str + sym[i].st_name, name) != 0)
			continue;
		/* The version's name, from the Verdef whose index versym names. */
		ElfW(Verdef) *d = verdef;
		for (;;) {
			if ((d->vd_ndx & 0x7fff) == (versym[i] & 0x7fff)) {
				ElfW(Verdaux) *a = (void *)((char *)d + d->vd_aux);
				if (strcmp(str + a->vda_name, version) == 0)
					return (void *)(load + sym[i].st_value);
				break;
			}
			if (!d->vd_next)
				break;
			d = (void *)((char *)d + d->vd_next);
		}
	}
	return NULL;
}

static long long ns_of(struct timespec ts) { return ts.tv_sec * 1000000000LL + ts.tv_nsec; }

static long long vnow(int clk) {
	struct timespec ts;
	if (vgettime(clk, &ts) != 0) {
		printf("vdso clock_gettime(%d) failed\n", clk);
		exit(1);
	}
	return ns_of(ts);
}

static long long snow(int clk) {
	struct timespec ts;
	if (syscall(SYS_clock_gettime, clk, &ts) != 0) {
		printf("clock_gettime(%d) failed\n", clk);
		exit(1);
	}
	return ns_of(ts);
}

static const int clocks[] = {CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME, CLOCK_MONOTONIC_RAW, CLOCK_TAI};
#define NCLOCKS (int)(sizeof(clocks) / sizeof(clocks[0]))

/* interleave reads every clock alternately through the vDSO and the
 * syscall for about ms milliseconds; it returns the number of reads that
 * went backwards (each printed) and the largest step seen. */
static int interleave(int ms, long long *maxstep) {
	int bad = 0;
	long long start = snow(CLOCK_MONOTONIC);
	long long last[NCLOCKS] = {0};
	*maxstep = 0;
	for (long n = 0;; n++) {
		for (int c = 0; c < NCLOCKS; c++) {
			long long v = (n + c) % 2 ? vnow(clocks[c]) : snow(clocks[c]);
			if (last[c] && v < last[c] && clocks[c] != CLOCK_REALTIME && clocks[c] != CLOCK_TAI) {
				printf("clock %d went back by %lld ns (%s read)\n", clocks[c], last[c] - v, (n + c) % 2 ? "vdso" : "syscall");
				bad++;
			}
			if (last[c] && clocks[c] == CLOCK_MONOTONIC && v - last[c] > *maxstep)
				*maxstep = v - last[c];
			last[c] = v;
		}
		if (n % 64 == 0 && snow(CLOCK_MONOTONIC) - start > ms * 1000000LL)
			return bad;
	}
}

int main(void) {
	init_output();
	uintptr_t base = getauxval(AT_SYSINFO_EHDR);
	printf("AT_SYSINFO_EHDR present = %d\n", base != 0);
	if (!base)
		return 1;

	static const char *names[] = {"__vdso_clock_gettime", "__vdso_gettimeofday", "__vdso_time",
				      "__vdso_getcpu", "__vdso_clock_getres", "clock_gettime",
				      "gettimeofday", "time", "getcpu", "clock_getres"};
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		printf("%s@LINUX_2.6 = %s\n", names[i], lookup(base, names[i], "LINUX_2.6") ? "found" : "missing");
	vgettime = lookup(base, "__vdso_clock_gettime", "LINUX_2.6");
	vgetres = lookup(base, "__vdso_clock_getres", "LINUX_2.6");
	vgtod = lookup(base, "__vdso_gettimeofday", "LINUX_2.6");
	vtime = lookup(base, "__vdso_time", "LINUX_2.6");
	vgetcpu = lookup(base, "__vdso_getcpu", "LINUX_2.6");
	if (!vgettime || !vgetres || !vgtod || !vtime || !vgetcpu)
		return 1;

	/* [vdso] and [vvar] in the maps, the image where the auxv says. */
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int vdso_line = 0, vvar_line = 0;
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		char perms[8];
		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3)
			continue;
		if (strstr(line, "[vdso]"))
			vdso_line = lo == base && strcmp(perms, "r-xp") == 0;
		if (strstr(line, "[vvar]"))
			vvar_line = strcmp(perms, "r--p") == 0 && hi <= base;
	}
	printf("maps: [vdso] r-xp at AT_SYSINFO_EHDR = %d, [vvar] r--p below it = %d\n", vdso_line, vvar_line);

	/* Every syscall read lies between the vDSO reads around it. */
	int outside = 0;
	for (int i = 0; i < 2000; i++) {
		int c = clocks[i % 3];
		long long a = vnow(c), s = snow(c), b = vnow(c);
		if (s < a || s > b) {
			if (outside++ < 5)
				printf("clock %d: syscall %lld outside vdso [%lld, %lld]\n", c, s, a, b);
		}
	}
	printf("syscall reads between vdso reads: %s\n", outside ? "no" : "yes");

	/* gettimeofday and time against CLOCK_REALTIME, the same way. */
	int gbad = 0;
	for (int i = 0; i < 1000; i++) {
		long long a = snow(CLOCK_REALTIME);
		struct timeval tv;
		long r = vgtod(&tv, NULL);
		long t1 = vtime(NULL), t2;
		vtime(&t2);
		long long b = snow(CLOCK_REALTIME);
		long long g = tv.tv_sec * 1000000000LL + tv.tv_usec * 1000LL;
		if (r != 0 || g < a - 999 || g > b || t1 < a / 1000000000 || t1 > b / 1000000000 || t2 < t1)
			gbad++;
	}
	printf("gettimeofday and time agree with CLOCK_REALTIME: %s\n", gbad ? "no" : "yes");
	struct timezone tz = {1, 1};
	long tzr = vgtod(NULL, &tz);
	printf("gettimeofday(NULL, &tz) = %ld, tz = %d %d\n", tzr, tz.tz_minuteswest, tz.tz_dsttime);

	/* clock_getres and errors: the vDSO as the syscall. */
	for (int c = -1; c <= 12; c++) {
		/* The alarm clocks depend on the host's RTC (EINVAL without
		 * one), which the sandbox does not model. */
		if (c == CLOCK_REALTIME_ALARM || c == CLOCK_BOOTTIME_ALARM)
			continue;
		struct timespec a = {7, 7}, b = {7, 7};
		long ra = vgetres(c, &a);
		long rb = syscall(SYS_clock_getres, c, &b);
		if (rb < 0)
			rb = -errno;
		printf("clock_getres(%d): vdso %ld %ld.%09ld, syscall %ld %ld.%09ld\n", c, ra, (long)a.tv_sec, a.tv_nsec, rb, (long)b.tv_sec, b.tv_nsec);
	}
	struct timespec ts;
	printf("vdso clock_gettime(100) = %ld\n", vgettime(100, &ts));
	printf("vdso clock_gettime(CLOCK_PROCESS_CPUTIME_ID) = %ld\n", vgettime(CLOCK_PROCESS_CPUTIME_ID, &ts));
	unsigned cpu = ~0u, node = ~0u;
	long r = vgetcpu(&cpu, &node, NULL);
	printf("getcpu = %ld, cpu in range = %d, node = %u\n", r, cpu < (unsigned)sysconf(_SC_NPROCESSORS_CONF), node);

	/* Interleaved reads stay monotonic. */
	long long step;
	printf("interleaved reads monotonic: %s\n", interleave(200, &step) ? "no" : "yes");

	/* Sleeps, as the vDSO measures them. */
	int short_sleeps = 0;
	for (int i = 0; i < 20; i++) {
		struct timespec d = {0, 1000000 + i * 100000};
		long long a = vnow(CLOCK_MONOTONIC);
		nanosleep(&d, NULL);
		long long b = vnow(CLOCK_MONOTONIC);
		if (b - a < ns_of(d))
			short_sleeps++;
		struct timespec dl;
		long long target = vnow(CLOCK_MONOTONIC) + 1500000;
		dl.tv_sec = target / 1000000000;
		dl.tv_nsec = target % 1000000000;
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &dl, NULL);
		if (vnow(CLOCK_MONOTONIC) < target)
			short_sleeps++;
	}
	printf("sleeps at least as long as asked: %s\n", short_sleeps ? "no" : "yes");

	/* A child reads both ways while it is stopped and continued: its
	 * clocks stay monotonic and show the time it was stopped. */
	pid_t pid = fork();
	if (pid == 0) {
		long long step;
		int bad = interleave(600, &step);
		_exit(bad ? 1 : step >= 100000000LL ? 0 : 2);
	}
	struct timespec d = {0, 150000000};
	nanosleep(&d, NULL);
	kill(pid, SIGSTOP);
	d.tv_nsec = 200000000;
	nanosleep(&d, NULL);
	kill(pid, SIGCONT);
	int st;
	waitpid(pid, &st, 0);
	printf("child across SIGSTOP/SIGCONT: %s\n",
	       WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "monotonic, saw the stop" : WIFEXITED(st) && WEXITSTATUS(st) == 2 ? "monotonic, no stop seen" : "went back");
	return 0;
}
