/*
 * The sandbox's vDSO: clock_gettime, gettimeofday, time and clock_getres
 * served in the program from the timekeeper's parameter page ([vvar], the
 * page just below the image), without a trap; everything else, and any
 * time the page says the formula is not valid, falls back to the syscall
 * instruction, which the platform traps to the sentry like any other.
 *
 * The functions return long where Linux declares int: the same for callers
 * that read eax, and a fallen-back syscall's error stays sign-extended in
 * rax for those that read all of it, as Linux's do.
 *
 * Freestanding: no libc, no relocations, a few hundred bytes of stack at
 * most (Go's runtime calls it on a small system stack). Built by gen.sh.
 *
 * A process in a time namespace of its own maps that namespace's page of
 * offsets (vvar_timens) in place of the first namespace's zeroes.
 *
 * The formula and the read protocol are the sentry's (timekeeper/clock.go,
 * Clock.Now): the two must stay the same, since a program mixes vDSO reads
 * with trapped ones.
 */

typedef unsigned int u32;
typedef unsigned long u64;
typedef long s64;

/* timekeeper.Params. */
struct vdso_params {
	volatile u32 seq;
	volatile u32 valid;
	volatile u64 base_tsc;
	volatile s64 base_mono;
	volatile u64 mult;
	volatile u32 shift;
	u32 pad;
	volatile s64 off_real;
	volatile s64 off_boot;
};

/*
 * The process's time namespace's offsets (sentry/vdso's putTimeNSOffsets,
 * sentry/process/timens.go): zero in the sandbox's first namespace. They
 * never change once a process maps them: no sequence count.
 */
struct vdso_timens {
	s64 mono;
	s64 boot;
};

/* Defined by vdso.lds: the page below the image, and the one below it. */
extern const struct vdso_params vvar_params __attribute__((visibility("hidden")));
extern const struct vdso_timens vvar_timens __attribute__((visibility("hidden")));

struct kernel_timespec { s64 tv_sec; s64 tv_nsec; };
struct kernel_timeval { s64 tv_sec; s64 tv_usec; };
struct kernel_timezone { int tz_minuteswest; int tz_dsttime; };

#define CLOCK_REALTIME 0
#define CLOCK_MONOTONIC 1
#define CLOCK_REALTIME_COARSE 5
#define CLOCK_MONOTONIC_COARSE 6
#define CLOCK_BOOTTIME 7

#define SYS_sched_yield 24
#define SYS_gettimeofday 96
#define SYS_time 201
#define SYS_clock_gettime 228
#define SYS_clock_getres 229
#define SYS_getcpu 309

#define TICK_NS 4000000 /* timekeeper.TickNs */
#define NSEC_PER_SEC 1000000000UL

#define barrier() __asm__ __volatile__("" ::: "memory")

static inline long syscall3(long nr, long a, long b, long c)
{
	long ret;
	__asm__ __volatile__("syscall"
			     : "=a"(ret)
			     : "a"(nr), "D"(a), "S"(b), "d"(c)
			     : "rcx", "r11", "memory");
	return ret;
}

/* As timekeeper's rdtsc: ordered against the seqcount's loads. */
static inline u64 rdtsc_ordered(void)
{
	u32 lo, hi;
	__asm__ __volatile__("lfence; rdtsc; lfence" : "=a"(lo), "=d"(hi) :: "memory");
	return ((u64)hi << 32) | lo;
}

/*
 * clock_ns evaluates the formula for clk into *ns. It returns 0, or -1
 * when the page does not serve clk now (the caller makes the syscall).
 */
static int clock_ns(int clk, u64 *ns)
{
	const struct vdso_params *p = &vvar_params;
	u32 seq;
	u64 base_tsc, mult, tsc, delta;
	s64 base_mono, off, nsoff;
	u32 shift;
	int coarse = 0;

	for (unsigned spins = 0;; spins++) {
		seq = p->seq;
		barrier();
		if (seq & 1) {
			/* An update takes nanoseconds, unless the host
			 * descheduled the sentry's writer in the middle:
			 * then give the CPU away rather than spin. */
			if (spins > 1000)
				syscall3(SYS_sched_yield, 0, 0, 0);
			else
				__builtin_ia32_pause();
			continue;
		}
		if (p->valid != 1)
			return -1;
		base_tsc = p->base_tsc;
		base_mono = p->base_mono;
		mult = p->mult;
		shift = p->shift;
		switch (clk) {
		case CLOCK_MONOTONIC:
			off = 0;
			nsoff = vvar_timens.mono;
			break;
		case CLOCK_MONOTONIC_COARSE:
			off = 0;
			nsoff = vvar_timens.mono;
			coarse = 1;
			break;
		case CLOCK_REALTIME:
			off = p->off_real;
			nsoff = 0;
			break;
		case CLOCK_REALTIME_COARSE:
			off = p->off_real;
			nsoff = 0;
			coarse = 1;
			break;
		case CLOCK_BOOTTIME:
			off = p->off_boot;
			nsoff = vvar_timens.boot;
			break;
		default:
			return -1;
		}
		tsc = rdtsc_ordered();
		barrier();
		if (p->seq == seq)
			break;
	}
	delta = tsc > base_tsc ? tsc - base_tsc : 0;
	*ns = (u64)(base_mono + off) + (u64)(((unsigned __int128)delta * mult) >> shift);
	if (coarse)
		*ns -= *ns % TICK_NS;
	/* The namespace's offset after the rounding, as the sentry's
	 * clock_gettime adds it to the sandbox's clock. */
	*ns += nsoff;
	return 0;
}

long __vdso_clock_gettime(int clk, struct kernel_timespec *ts)
{
	u64 ns;

	if (clock_ns(clk, &ns) != 0)
		return syscall3(SYS_clock_gettime, clk, (long)ts, 0);
	ts->tv_sec = ns / NSEC_PER_SEC;
	ts->tv_nsec = ns % NSEC_PER_SEC;
	return 0;
}

long __vdso_gettimeofday(struct kernel_timeval *tv, struct kernel_timezone *tz)
{
	u64 ns;

	if (tv) {
		if (clock_ns(CLOCK_REALTIME, &ns) != 0)
			return syscall3(SYS_gettimeofday, (long)tv, (long)tz, 0);
		tv->tv_sec = ns / NSEC_PER_SEC;
		tv->tv_usec = ns % NSEC_PER_SEC / 1000;
	}
	if (tz) {
		/* The sentry's gettimeofday: UTC, no DST. */
		tz->tz_minuteswest = 0;
		tz->tz_dsttime = 0;
	}
	return 0;
}

s64 __vdso_time(s64 *t)
{
	u64 ns;
	s64 sec;

	if (clock_ns(CLOCK_REALTIME, &ns) != 0)
		return syscall3(SYS_time, (long)t, 0, 0);
	sec = ns / NSEC_PER_SEC;
	if (t)
		*t = sec;
	return sec;
}

long __vdso_clock_getres(int clk, struct kernel_timespec *res)
{
	s64 nsec;

	/* The sentry's clock_getres for the clocks the page serves. */
	switch (clk) {
	case CLOCK_REALTIME:
	case CLOCK_MONOTONIC:
	case CLOCK_BOOTTIME:
		nsec = 1;
		break;
	case CLOCK_REALTIME_COARSE:
	case CLOCK_MONOTONIC_COARSE:
		nsec = TICK_NS;
		break;
	default:
		return syscall3(SYS_clock_getres, clk, (long)res, 0);
	}
	if (res) {
		res->tv_sec = 0;
		res->tv_nsec = nsec;
	}
	return 0;
}

/*
 * The sandbox CPU a task runs on is known only to the sentry (the host's
 * CPU number, which Linux's vDSO reads, says nothing about it): always the
 * syscall.
 */
long __vdso_getcpu(unsigned *cpu, unsigned *node, void *unused)
{
	return syscall3(SYS_getcpu, (long)cpu, (long)node, (long)unused);
}

long clock_gettime(int, struct kernel_timespec *) __attribute__((weak, alias("__vdso_clock_gettime")));
long gettimeofday(struct kernel_timeval *, struct kernel_timezone *) __attribute__((weak, alias("__vdso_gettimeofday")));
s64 time(s64 *) __attribute__((weak, alias("__vdso_time")));
long clock_getres(int, struct kernel_timespec *) __attribute__((weak, alias("__vdso_clock_getres")));
long getcpu(unsigned *, unsigned *, void *) __attribute__((weak, alias("__vdso_getcpu")));
