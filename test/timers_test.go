package test

// Timers and softirqs (issue 6, items 4 and 5): POSIX timers and timerfd
// compared with native (c/timer_posix.c, c/timer_fd.c: only coarse facts
// are printed, e.g. "at least 5 deliveries of a 10 ms timer in 100 ms"),
// the accuracy of a 10 ms sleep against native's in the same test, and,
// in the sandbox only, /proc/softirqs, /proc/stat's softirq accounting and
// ksoftirqd's CPU time under a load of many short timers
// (c/timer_sleep.c).

import (
	"strconv"
	"strings"
	"testing"
)

// TestTimerPosix compares every case of timer_posix.c.
func TestTimerPosix(t *testing.T) {
	for _, c := range []string{"signal", "realtime", "gettime", "abstime", "overrun", "none", "threadid", "errors", "fork", "exec", "itimer"} {
		t.Run(c, func(t *testing.T) { compareC(t, "timer_posix", 0, c) })
	}
}

// TestTimerFD compares every case of timer_fd.c.
func TestTimerFD(t *testing.T) {
	for _, c := range []string{"read", "poll", "gettime", "abstime", "errors"} {
		t.Run(c, func(t *testing.T) { compareC(t, "timer_fd", 0, c) })
	}
}

// timerValues parses "key value" lines into a map of floats.
func timerValues(t *testing.T, what, out string) map[string]float64 {
	t.Helper()
	m := map[string]float64{}
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) != 2 {
			continue
		}
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			t.Fatalf("%s: bad line %q", what, l)
		}
		m[f[0]] = v
	}
	return m
}

// TestTimerSleepAccuracy: 50 10 ms nanosleeps natively and in the sandbox
// (issue 6 item 4). No sleep may end early, in either. How late they end
// is logged beside native's, and checked only against a loose bound: on a
// quiet machine the sandbox's median is within 2 ms of native's
// (bench/timers.sh, BENCHMARKS.md), but under load a sandbox sleep crosses
// more host threads than a native one (the timer's goroutine, the task's
// thread pinned to one host CPU, the ptrace stub), each of which the host
// may delay: under stress-ng --cpu 2 the sandbox's median was 4.7 ms and
// 22 ms against native's 0.1 ms. The bound, 100 ms (ten sleeps), catches a
// sleep that waits for something other than its own timer, not the host.
func TestTimerSleepAccuracy(t *testing.T) {
	argv := []string{cProg(t, "timer_sleep"), "lateness", "50", "10"}
	nat := runNative(t, argv, runOpts{})
	if nat.Status != 0 {
		t.Fatalf("native: status %d\n%s", nat.Status, nat.Stderr)
	}
	sb := secondRun(t, argv, runOpts{})
	if sb.Status != 0 {
		t.Fatalf("sandbox: status %d\n%s", sb.Status, sb.Stderr)
	}
	n := timerValues(t, "native", nat.Stdout)
	s := timerValues(t, "sandbox", sb.Stdout)
	t.Logf("10 ms nanosleep lateness: native least %.1f us median %.1f us p99 %.1f us; sandbox least %.1f us median %.1f us p99 %.1f us",
		n["min_us"], n["median_us"], n["p99_us"], s["min_us"], s["median_us"], s["p99_us"])
	for what, v := range map[string]map[string]float64{"native": n, "sandbox": s} {
		if v["min_us"] < 0 {
			t.Errorf("%s: a 10 ms nanosleep ended %.1f us early", what, -v["min_us"])
		}
	}
	if d := s["median_us"] - n["median_us"]; d > 100000 {
		t.Errorf("sandbox median lateness %.1f us is %.1f us past native's %.1f us (loose limit 100 ms)", s["median_us"], d, n["median_us"])
	}
}

// parseProcSoftirqs returns /proc/softirqs' CPU count and each vector's
// per-CPU counts.
func parseProcSoftirqs(t *testing.T, text string) (int, map[string][]uint64) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if len(lines) < 2 {
		t.Fatalf("/proc/softirqs too short:\n%s", text)
	}
	header := strings.Fields(lines[0])
	for i, h := range header {
		if h != "CPU"+strconv.Itoa(i) {
			t.Fatalf("/proc/softirqs header %q: column %d is %q", lines[0], i, h)
		}
	}
	rows := map[string][]uint64{}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) != len(header)+1 || !strings.HasSuffix(f[0], ":") {
			t.Fatalf("/proc/softirqs row %q does not have %d counts", l, len(header))
		}
		var counts []uint64
		for _, c := range f[1:] {
			v, err := strconv.ParseUint(c, 10, 64)
			if err != nil {
				t.Fatalf("/proc/softirqs row %q: %v", l, err)
			}
			counts = append(counts, v)
		}
		rows[strings.TrimSuffix(f[0], ":")] = counts
	}
	return len(header), rows
}

func sumCounts(v []uint64) (s uint64) {
	for _, x := range v {
		s += x
	}
	return s
}

// TestSoftirqsProc: /proc/softirqs in the sandbox shows Linux's ten
// vectors for every CPU, the TIMER counts grow across 200 1 ms sleeps,
// and /proc/stat's softirq line and cpu lines are consistent with it.
func TestSoftirqsProc(t *testing.T) {
	r := runSandbox(t, []string{cProg(t, "timer_sleep"), "softirqs"}, runOpts{})
	if r.Status != 0 {
		t.Fatalf("status %d\n%s", r.Status, r.Stderr)
	}
	parts := strings.Split(r.Stdout, "--\n")
	if len(parts) != 3 {
		t.Fatalf("unexpected output:\n%s", r.Stdout)
	}
	ncpu, before := parseProcSoftirqs(t, parts[0])
	_, after := parseProcSoftirqs(t, parts[1])
	want := []string{"HI", "TIMER", "NET_TX", "NET_RX", "BLOCK", "IRQ_POLL", "TASKLET", "SCHED", "HRTIMER", "RCU"}
	for _, v := range want {
		if _, ok := after[v]; !ok {
			t.Errorf("/proc/softirqs has no %s row:\n%s", v, parts[1])
		}
	}
	if len(after) != len(want) {
		t.Errorf("/proc/softirqs has %d rows, want %d", len(after), len(want))
	}
	grew := sumCounts(after["TIMER"]) - sumCounts(before["TIMER"])
	t.Logf("%d CPUs; TIMER before %v after %v", ncpu, before["TIMER"], after["TIMER"])
	if grew < 100 {
		t.Errorf("TIMER grew by %d across 200 sleeps, want at least 100", grew)
	}
	var softirqLine, cpuLines []string
	for _, l := range strings.Split(parts[2], "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) > 0 && f[0] == "softirq":
			softirqLine = f
		case len(f) > 0 && strings.HasPrefix(f[0], "cpu"):
			cpuLines = append(cpuLines, l)
			if len(f) != 11 {
				t.Errorf("/proc/stat line %q: %d fields, want 11", l, len(f))
			}
		}
	}
	if len(cpuLines) != ncpu+1 {
		t.Errorf("/proc/stat has %d cpu lines, want %d", len(cpuLines), ncpu+1)
	}
	if len(softirqLine) != 12 {
		t.Fatalf("/proc/stat softirq line %q: want \"softirq\", the total and 10 vectors", softirqLine)
	}
	total, _ := strconv.ParseUint(softirqLine[1], 10, 64)
	timer, _ := strconv.ParseUint(softirqLine[3], 10, 64)
	var vecs uint64
	for _, c := range softirqLine[2:] {
		v, _ := strconv.ParseUint(c, 10, 64)
		vecs += v
	}
	if total != vecs || timer < sumCounts(after["TIMER"]) {
		t.Errorf("/proc/stat softirq line %q: total %d, vector sum %d, TIMER %d < /proc/softirqs' %d", softirqLine, total, vecs, timer, sumCounts(after["TIMER"]))
	}
}

// TestSoftirqsKsoftirqdTime: under a load of many short timers (64
// timerfds with periods near 100 us, for 1 s) ksoftirqd/N's CPU time
// (/proc/PID/schedstat) grows: the TIMER softirq overflows to it.
func TestSoftirqsKsoftirqdTime(t *testing.T) {
	r := runSandbox(t, []string{cProg(t, "timer_sleep"), "storm", "1000"}, runOpts{})
	if r.Status != 0 {
		t.Fatalf("status %d\n%s", r.Status, r.Stderr)
	}
	kv := timerValues(t, "sandbox", r.Stdout)
	before, after := kv["ksoftirqd_ns_before"], kv["ksoftirqd_ns_after"]
	t.Logf("expirations %.0f; ksoftirqd CPU time %.3f ms -> %.3f ms", kv["expirations"], before/1e6, after/1e6)
	if before < 0 {
		t.Fatalf("no ksoftirqd/N in the sandbox's /proc")
	}
	if after-before < 1e6 {
		t.Errorf("ksoftirqd's CPU time grew by %.3f ms under the timer storm, want at least 1 ms", (after-before)/1e6)
	}
}

// TestSleepStoppedAndContinued: a sleep or timed wait (nanosleep,
// clock_nanosleep, poll, futex) stopped by SIGSTOP and continued ends at its
// original deadline (restart_syscall), as natively.
func TestSleepStoppedAndContinued(t *testing.T) { compareC(t, "sleep_stop", 0) }

// TestCPUClocks compares cpuclock.c: the thread's, the process's and other
// processes' CPU-time clocks, POSIX timers and clock_nanosleep on them,
// RLIMIT_CPU's SIGXCPU and SIGKILL, and clock setting refused without
// CAP_SYS_TIME (issue 15 item 8).
func TestCPUClocks(t *testing.T) {
	for _, c := range []string{"clocks", "timers", "nanosleep", "rlimit", "settime"} {
		t.Run(c, func(t *testing.T) { compareC(t, "cpuclock", 0, c) })
	}
}
