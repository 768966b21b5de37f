/* sched_api.c: the scheduling syscalls' return values and errnos, compared
 * natively and in the sandbox (run with as many sandbox CPUs as the host
 * has, as root): sched_get_priority_max/min, sched_setscheduler /
 * getscheduler / setparam / getparam, sched_setattr / getattr,
 * sched_rr_get_interval, setpriority / getpriority, sched_setaffinity /
 * getaffinity (empty masks, masks beyond the CPUs, short buffers), getcpu
 * within the affinity mask, sched_yield.
 *
 * Every line is deterministic: no timings, no PIDs.
 */
#include "common.h"

#include <sched.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>

struct sched_attr_v1 {
	uint32_t size, policy;
	uint64_t flags;
	int32_t nice;
	uint32_t priority;
	uint64_t runtime, deadline, period;
	uint32_t util_min, util_max;
};

static long getcpu_now(void) {
	unsigned cpu = 99, node = 99;
	long r = syscall(SYS_getcpu, &cpu, &node, NULL);
	return r == -1 ? -1 : (long)cpu;
}

static void policies(void) {
	static const struct {
		const char *name;
		int p;
	} pols[] = {{"SCHED_OTHER", SCHED_OTHER}, {"SCHED_FIFO", SCHED_FIFO}, {"SCHED_RR", SCHED_RR},
		    {"SCHED_BATCH", SCHED_BATCH}, {"SCHED_IDLE", SCHED_IDLE},   {"policy 42", 42}};
	for (unsigned i = 0; i < sizeof pols / sizeof pols[0]; i++) {
		reportf(sched_get_priority_max(pols[i].p), "sched_get_priority_max(%s)", pols[i].name);
		reportf(sched_get_priority_min(pols[i].p), "sched_get_priority_min(%s)", pols[i].name);
	}
}

static void set_get(void) {
	struct sched_param sp = {0};
	report("sched_getscheduler(0)", sched_getscheduler(0));
	report("sched_getscheduler(-1)", sched_getscheduler(-1));
	report("sched_getscheduler(no such pid)", sched_getscheduler(0x3ffff0));
	sp.sched_priority = 0;
	report("sched_setscheduler(FIFO, 0)", sched_setscheduler(0, SCHED_FIFO, &sp));
	sp.sched_priority = 100;
	report("sched_setscheduler(FIFO, 100)", sched_setscheduler(0, SCHED_FIFO, &sp));
	sp.sched_priority = 5;
	report("sched_setscheduler(OTHER, 5)", sched_setscheduler(0, SCHED_OTHER, &sp));
	report("sched_setscheduler(42)", sched_setscheduler(0, 42, &sp));
	report("sched_setscheduler(bad pointer)", sched_setscheduler(0, SCHED_FIFO, (void *)8));
	sp.sched_priority = 10;
	report("sched_setscheduler(FIFO, 10)", sched_setscheduler(0, SCHED_FIFO, &sp));
	report("sched_getscheduler after FIFO", sched_getscheduler(0));
	sp.sched_priority = -1;
	report("sched_getparam", sched_getparam(0, &sp));
	report("  priority", sp.sched_priority);
	sp.sched_priority = 20;
	report("sched_setparam(20)", sched_setparam(0, &sp));
	sched_getparam(0, &sp);
	report("  priority after setparam", sp.sched_priority);
	report("sched_yield as FIFO", sched_yield());
	sp.sched_priority = 3;
	report("sched_setscheduler(RR, 3)", sched_setscheduler(0, SCHED_RR, &sp));
	struct timespec ts = {-1, -1};
	report("sched_rr_get_interval as RR", sched_rr_get_interval(0, &ts));
	yesno("  RR interval is positive", ts.tv_sec > 0 || ts.tv_nsec > 0);
	report("sched_rr_get_interval(bad pointer)", sched_rr_get_interval(0, (void *)8));
	sp.sched_priority = 0;
	report("sched_setscheduler(BATCH, 0)", sched_setscheduler(0, SCHED_BATCH, &sp));
	report("sched_getscheduler after BATCH", sched_getscheduler(0));
	report("sched_setscheduler(IDLE, 0)", sched_setscheduler(0, SCHED_IDLE, &sp));
	report("sched_getscheduler after IDLE", sched_getscheduler(0));
	report("sched_setscheduler(OTHER, 0)", sched_setscheduler(0, SCHED_OTHER, &sp));
	report("sched_getscheduler after OTHER", sched_getscheduler(0));
}

static void attrs(void) {
	struct sched_attr_v1 a;
	memset(&a, 0, sizeof a);
	a.size = sizeof a;
	a.policy = SCHED_RR;
	a.priority = 7;
	report("sched_setattr(RR 7)", syscall(SYS_sched_setattr, 0, &a, 0));
	memset(&a, 0xff, sizeof a);
	report("sched_getattr", syscall(SYS_sched_getattr, 0, &a, sizeof a, 0));
	printf("  size %u policy %u priority %u nice %d\n", a.size, a.policy, a.priority, a.nice);
	report("sched_getattr(size 8)", syscall(SYS_sched_getattr, 0, &a, 8, 0));
	report("sched_getattr(flags 1)", syscall(SYS_sched_getattr, 0, &a, sizeof a, 1));
	memset(&a, 0, sizeof a);
	a.size = sizeof a;
	a.policy = SCHED_OTHER;
	a.nice = 3;
	report("sched_setattr(OTHER nice 3)", syscall(SYS_sched_setattr, 0, &a, 0));
	report("getpriority after setattr", getpriority(PRIO_PROCESS, 0));
	a.policy = 42;
	report("sched_setattr(policy 42)", syscall(SYS_sched_setattr, 0, &a, 0));
	a.policy = SCHED_OTHER;
	report("sched_setattr(flags 1)", syscall(SYS_sched_setattr, 0, &a, 1));
}

static void nices(void) {
	report("setpriority(PROCESS, 0, 5)", setpriority(PRIO_PROCESS, 0, 5));
	errno = 0;
	report("getpriority(PROCESS, 0)", getpriority(PRIO_PROCESS, 0));
	report("setpriority(PROCESS, 0, 40) clamps", setpriority(PRIO_PROCESS, 0, 40));
	report("  getpriority", getpriority(PRIO_PROCESS, 0));
	report("setpriority(PROCESS, 0, -5) as root", setpriority(PRIO_PROCESS, 0, -5));
	report("  getpriority", getpriority(PRIO_PROCESS, 0));
	report("setpriority(which 7)", setpriority(7, 0, 0));
	errno = 0;
	long r = getpriority(PRIO_PROCESS, 0x3ffff0);
	printf("getpriority(no such pid) = %ld %s\n", r, errno ? errname(errno) : "");
	report("nice(2)", nice(2));
	report("setpriority(PROCESS, 0, 0)", setpriority(PRIO_PROCESS, 0, 0));
}

static void affinity(void) {
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	cpu_set_t set;
	CPU_ZERO(&set);
	report("sched_getaffinity", sched_getaffinity(0, sizeof set, &set));
	yesno("  affinity covers every online CPU", CPU_COUNT(&set) == n);
	report("raw sched_getaffinity returns the mask size", syscall(SYS_sched_getaffinity, 0, sizeof set, &set) > 0);
	report("sched_getaffinity(size 1)", syscall(SYS_sched_getaffinity, 0, 1, &set));
	report("sched_getaffinity(size 12)", syscall(SYS_sched_getaffinity, 0, 12, &set));
	report("sched_getaffinity(bad pointer)", syscall(SYS_sched_getaffinity, 0, sizeof set, (void *)8));
	report("sched_getaffinity(no such pid)", sched_getaffinity(0x3ffff0, sizeof set, &set));
	report("sched_getaffinity(pid -1)", sched_getaffinity(-1, sizeof set, &set));
	report("sched_setaffinity(pid -1)", sched_setaffinity(-1, sizeof set, &set));
	CPU_ZERO(&set);
	report("sched_setaffinity(empty mask)", sched_setaffinity(0, sizeof set, &set));
	CPU_SET(1000, &set);
	report("sched_setaffinity(only CPU 1000)", sched_setaffinity(0, sizeof set, &set));
	report("sched_setaffinity(bad pointer)", sched_setaffinity(0, sizeof set, (void *)8));
	report("sched_setaffinity(no such pid)", sched_setaffinity(0x3ffff0, sizeof set, &set));
	for (long cpu = 0; cpu < n; cpu++) {
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		CPU_SET(1000, &set); /* ignored: beyond the CPUs */
		reportf(sched_setaffinity(0, sizeof set, &set), "sched_setaffinity({%ld, 1000})", cpu);
		CPU_ZERO(&set);
		sched_getaffinity(0, sizeof set, &set);
		printf("  mask now has %d CPU(s), CPU %ld: %s\n", CPU_COUNT(&set), cpu, CPU_ISSET(cpu, &set) ? "yes" : "no");
		int always = 1;
		for (int i = 0; i < 200; i++) {
			if (getcpu_now() != cpu)
				always = 0;
			if (i % 50 == 0)
				sched_yield();
		}
		printf("  getcpu always %ld: %s\n", cpu, always ? "yes" : "no");
	}
	CPU_ZERO(&set);
	for (long cpu = 0; cpu < n; cpu++)
		CPU_SET(cpu, &set);
	report("sched_setaffinity(all)", sched_setaffinity(0, sizeof set, &set));
	long c = getcpu_now();
	yesno("getcpu within the CPUs", c >= 0 && c < n);
	report("getcpu(NULL, NULL)", syscall(SYS_getcpu, NULL, NULL, NULL));
	report("getcpu(bad pointer)", syscall(SYS_getcpu, (void *)8, NULL, NULL));
}

int main(int argc, char **argv) {
	init_output();
	(void)argc;
	(void)argv;
	policies();
	set_get();
	attrs();
	nices();
	affinity();
	return 0;
}
