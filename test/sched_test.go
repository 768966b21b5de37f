package test

// The scheduler seen from inside the sandbox (issue 4): CPUs backed by host
// CPUs, scheduling classes, placement, preemption, kthreads in ps, the
// scheduler's /proc accounting and the debug dump.
//
// The syscalls' return values and errnos are compared with native
// (TestSchedAPI, TestSchedAffinityLimits). Everything about shares, turns,
// placement and latency is sandbox-only by nature: the host has its own
// CPU count and its own load (other engineers run tests on the same two
// cores), so those tests run the sandbox with a fixed --cpus and assert
// ratios and bounds only where the sandbox's scheduler decides them, with
// generous margins, medians and percentiles rather than maxima.

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// schedKV runs prog with args in the sandbox with flags and returns its
// "key = value" output, failing the test on a non-zero status.
func schedKV(t *testing.T, flags []string, prog string, args ...string) map[string]string {
	t.Helper()
	r := runSandbox(t, append([]string{cProg(t, prog)}, args...), runOpts{Flags: flags})
	if r.Status != 0 {
		t.Fatalf("%s %v in the sandbox (%v): status %d\nstdout:\n%s\nstderr:\n%s", prog, args, flags, r.Status, r.Stdout, tail(r.Stderr, 30))
	}
	return schedParse(r.Stdout)
}

// schedParse parses "key = value" and "key: value" lines.
func schedParse(out string) map[string]string {
	kv := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(l, " = "); ok {
			kv[k] = strings.TrimSpace(v)
		} else if k, v, ok := strings.Cut(l, ": "); ok {
			kv[k] = strings.TrimSpace(v)
		}
	}
	return kv
}

func schedNum(t *testing.T, kv map[string]string, key string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(strings.Fields(kv[key] + " x")[0], 64)
	if err != nil {
		t.Fatalf("no number for %q in %v", key, kv)
	}
	return v
}

// hostCPUs is the host's CPU count (runsc-lite's default --cpus).
func hostCPUs() int { return runtime.NumCPU() }

// TestSchedAPI: the scheduling syscalls return what Linux returns, errnos
// included (with as many sandbox CPUs as the host has, so affinity masks
// can be compared).
func TestSchedAPI(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: sched_api sets real-time policies")
	}
	compare(t, cmpCase{
		argv:   []string{cProg(t, "sched_api")},
		opts:   runOpts{Flags: []string{"--cpus", strconv.Itoa(hostCPUs())}},
		stderr: true,
	})
}

// TestSchedAffinityLimits: masks are limited to the sandbox's CPUs: the
// same program compared with native on as many CPUs as the host, and on
// one sandbox CPU a mask naming only CPU 1 is EINVAL and one naming 0 and 1
// is cut down to {0}.
func TestSchedAffinityLimits(t *testing.T) {
	compare(t, cmpCase{
		argv:   []string{cProg(t, "sched_place"), "limit"},
		opts:   runOpts{Flags: []string{"--cpus", strconv.Itoa(hostCPUs())}},
		stderr: true,
	})
	needSandbox(t)
	r := runSandbox(t, []string{cProg(t, "sched_place"), "limit"}, runOpts{Flags: []string{"--cpus", "1"}})
	want := "CPUs = 1\n" +
		"sched_setaffinity(only the first CPU beyond) = -1 EINVAL\n" +
		"sched_setaffinity(all and one beyond) = 0\n" +
		"mask has 1 CPU(s)\n" +
		"getcpu within the CPUs: yes\n"
	if r.Status != 0 || r.Stdout != want {
		t.Errorf("--cpus 1: status %d\n%s\nwant:\n%s\nstderr:\n%s", r.Status, r.Stdout, want, r.Stderr)
	}
}

// hostAffinities returns, for every thread of host process pid, its
// Cpus_allowed_list.
func hostAffinities(pid int) map[string]string {
	out := map[string]string{}
	dir := fmt.Sprintf("/proc/%d/task", pid)
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "status"))
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "Cpus_allowed_list:"); ok {
				out[e.Name()] = strings.TrimSpace(v)
			}
		}
	}
	return out
}

// hostChildren returns the PIDs of host processes whose parent is pid.
func hostChildren(pid int) []int {
	var kids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", n))
		if err != nil {
			continue
		}
		if regexp.MustCompile(`(?m)^PPid:\t` + strconv.Itoa(pid) + `$`).Match(b) {
			kids = append(kids, n)
		}
	}
	return kids
}

// TestSchedCPUsOnHostCPUs (item 1): sandbox CPU k is backed by host CPU
// k mod H. While two busy threads run, the sentry's host threads are
// read from the host's /proc: the threads that held a sandbox CPU are
// pinned to exactly its host CPU (Go's other threads keep the whole
// host), so with --cpus 1 every pinned thread is on host CPU 0, and with
// --cpus 2 (on a host with at least two) some are on 0 and some on 1.
// With one CPU the two threads never run at once (their CPU time is at
// most the wall time); with two they run in parallel (about twice).
func TestSchedCPUsOnHostCPUs(t *testing.T) {
	needSandbox(t)
	h := hostCPUs()
	counts := []int{1}
	if h >= 2 {
		counts = append(counts, 2)
	}
	for _, n := range counts {
		t.Run(fmt.Sprintf("cpus=%d", n), func(t *testing.T) {
			argv := append([]string{runscBin, "do"}, sandboxFlags(t, []string{"--cpus", strconv.Itoa(n)})...)
			argv = append(argv, "--", cProg(t, "sched_busy"), "2", "2")
			cmd, _, cancel := command(argv, runOpts{})
			defer cancel()
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(stdout)
			var out strings.Builder
			if !sc.Scan() || sc.Text() != "started" {
				cmd.Wait()
				t.Fatalf("sched_busy did not start: %q\n%s", sc.Text(), stderr.String())
			}
			// Sample the sentry's threads while the busy threads run.
			sentry := sentryPID(t, cmd.Process.Pid)
			pinned := map[string]int{} // Cpus_allowed_list of single-CPU threads -> count
			var stubs []string
			for i := 0; i < 5; i++ {
				time.Sleep(200 * time.Millisecond)
				for _, list := range hostAffinities(sentry) {
					if _, err := strconv.Atoi(list); err == nil {
						pinned[list]++
					}
				}
			}
			for _, kid := range hostChildren(sentry) {
				for _, list := range hostAffinities(kid) {
					stubs = append(stubs, list)
				}
			}
			for sc.Scan() {
				out.WriteString(sc.Text() + "\n")
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("sandbox: %v\n%s", err, stderr.String())
			}
			kv := schedParse(out.String())
			// The CPU times were read between wall (a lower bound
			// of the window) and wall2 (an upper bound).
			wall, cpu, ru, wall2 := schedNum(t, kv, "wall_ms"), schedNum(t, kv, "cpu_ms"), schedNum(t, kv, "rusage_ms"), schedNum(t, kv, "wall_after_ms")
			t.Logf("pinned sentry threads (host CPU: samples) %v; stub threads' affinity %v; wall %.0f-%.0fms cpu %.0fms rusage %.0fms",
				pinned, stubs, wall, wall2, cpu, ru)
			backing := map[string]bool{} // host CPUs k mod H of sandbox CPUs k
			for k := 0; k < n; k++ {
				backing[strconv.Itoa(k%h)] = true
			}
			for list := range pinned {
				if !backing[list] {
					t.Errorf("a sentry thread is pinned to host CPU %s, which backs none of the %d sandbox CPUs", list, n)
				}
			}
			for k := 0; k < n; k++ {
				if pinned[strconv.Itoa(k%h)] == 0 {
					t.Errorf("no sentry thread pinned to host CPU %d (sandbox CPU %d) while two threads were busy", k%h, k)
				}
			}
			if n == 1 {
				if cpu > wall2+50 || ru > wall2+50 {
					t.Errorf("one CPU: the busy threads got %.0fms (rusage %.0fms) of CPU in %.0fms of wall time: they ran at once", cpu, ru, wall2)
				}
				if cpu < wall/2 {
					t.Errorf("one CPU: only %.0fms of CPU in %.0fms", cpu, wall)
				}
			} else if cpu < 1.5*wall || cpu > 2*wall2+100 {
				t.Errorf("two CPUs: %.0fms of CPU in %.0f-%.0fms of wall time, want about twice", cpu, wall, wall2)
			}
		})
	}
}

// TestSchedNiceShares (item 2): two busy threads at nice 0 and 5, then 0
// and 19, on one CPU share it like Linux's weights (1024:335 = 3.06,
// 1024:15 = 68.3). Sandbox-only: natively the host's two CPUs and load
// decide. The program samples the threads' CPU time every 100 ms and stops
// once the ratio has held within 20% for a second (see shareSettles in
// kernel/accounting_test.go for why it must settle).
//
// On a loaded host it may not settle, and that is not the scheduler's
// doing: a thread in application code leaves its sandbox CPU only when the
// ptrace stub it runs in has stopped, and under stress-ng --cpu 2 the
// nice-19 thread was seen to keep the CPU for over a second past its slice
// (ratio 13.7 after 20 s: it ran 1.4 s instead of 0.3 s). Its weight is
// charged for all of it, but a second is most of the light thread's share
// over the whole run. So when the ratio did not settle, the test only
// checks, loosely, that the nicer thread got clearly less (the ratio is at
// least an eighth of the way from 1 to Linux's), and says so; the weights
// themselves are kernel/TestNiceSharesSettle's check, where nothing stands
// between the scheduler and the tasks.
func TestSchedNiceShares(t *testing.T) {
	needSandbox(t)
	for _, c := range []struct {
		a, b     int
		want     float64
		min, max string
	}{{0, 5, 1024.0 / 335, "2", "15"}, {0, 19, 1024.0 / 15, "3", "20"}} {
		kv := schedKV(t, []string{"--cpus", "1"}, "sched_share", "nice", strconv.Itoa(c.a), strconv.Itoa(c.b),
			fmt.Sprintf("%.2f", c.want), c.min, c.max)
		t.Logf("nice %d vs %d: ratio %s (want %.2f), settled %s after %ss, CPU seconds %s", c.a, c.b, kv["ratio"], c.want, kv["settled"], kv["after_s"], kv["cpu_s"])
		if kv["settled"] == "yes" {
			continue
		}
		loose := 1 + (c.want-1)/8
		if r := schedNum(t, kv, "ratio"); r < loose {
			t.Errorf("nice %d vs %d: ratio %.2f never held within 20%% of %.2f for a second, and is below even the loose %.2f", c.a, c.b, r, c.want, loose)
		} else {
			t.Logf("nice %d vs %d: did not settle within 20%% of %.2f (a loaded host stalls the stubs); ratio %.2f is above the loose %.2f", c.a, c.b, c.want, r, loose)
		}
	}
}

// TestSchedFIFOAheadOfFair (item 2): on one CPU a SCHED_FIFO thread that
// spins for 300 ms leaves nothing to the fair thread beside it.
func TestSchedFIFOAheadOfFair(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for SCHED_FIFO")
	}
	needSandbox(t)
	kv := schedKV(t, []string{"--cpus", "1"}, "sched_share", "fifo")
	others := schedNum(t, kv, "others_ms during 300ms of FIFO")
	t.Logf("other threads got %.1fms while the FIFO thread spun 300ms; the fair thread %sms in all", others, kv["fair thread cpu_ms"])
	if others > 15 {
		t.Errorf("other threads got %.1fms of CPU while a SCHED_FIFO thread spun on the only CPU", others)
	}
	if schedNum(t, kv, "fair thread cpu_ms") < 50 {
		t.Errorf("the fair thread barely ran before the FIFO one: %sms", kv["fair thread cpu_ms"])
	}
}

// TestSchedRRTakesTurns (item 2): two SCHED_RR threads of equal priority
// on one CPU take turns by time slice (100 ms): over two seconds each gets
// a fair part, takes turns and is preempted. The checks are the ones host
// load cannot break: a loaded host may stretch a turn (a thread in
// application code keeps its CPU until its stub stops; over a second was
// seen), so the number of turns has no lower bound beyond alternating at
// all, but nothing ends a turn before its quantum except the main thread's
// final wake-up, so it has an upper bound: the thread's CPU time in
// quanta, plus the first turn and the one cut short.
func TestSchedRRTakesTurns(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for SCHED_RR")
	}
	needSandbox(t)
	kv := schedKV(t, []string{"--cpus", "1"}, "sched_share", "rr", "2")
	var cpu [2]float64
	for i := range cpu {
		var turns, inv int
		if _, err := fmt.Sscanf(kv[fmt.Sprintf("rr%d", i)], "cpu_ms %f turns %d nivcsw %d", &cpu[i], &turns, &inv); err != nil {
			t.Fatalf("rr%d: %q: %v", i, kv[fmt.Sprintf("rr%d", i)], err)
		}
		if turns < 2 || inv < 1 {
			t.Errorf("rr%d: %d turns, %d involuntary switches in two seconds of 100ms slices: no turns taken", i, turns, inv)
		}
		if most := int(cpu[i]/100) + 2; turns > most {
			t.Errorf("rr%d: %d turns in %.0fms of CPU: turns shorter than the 100ms quantum", i, turns, cpu[i])
		}
	}
	t.Logf("rr0 %s; rr1 %s", kv["rr0"], kv["rr1"])
	if sum := cpu[0] + cpu[1]; cpu[0] < sum/4 || cpu[1] < sum/4 {
		t.Errorf("RR threads of equal priority did not share: %.0fms / %.0fms", cpu[0], cpu[1])
	}
}

// TestSchedPlacementSplit (item 3): four busy threads on two CPUs split
// two and two (the processor field of /proc/self/task/TID/stat, sampled).
func TestSchedPlacementSplit(t *testing.T) {
	needSandbox(t)
	kv := schedKV(t, []string{"--cpus", "2"}, "sched_place", "split", "3")
	samples, split := schedNum(t, kv, "samples"), schedNum(t, kv, "split two and two")
	t.Logf("%.0f of %.0f samples split two and two", split, samples)
	if samples < 5 || split < 0.6*samples {
		t.Errorf("four busy threads on two CPUs: split two and two in %.0f of %.0f samples", split, samples)
	}
}

// TestSchedPinnedNeverLeaves (item 3): a thread pinned to CPU 1 beside
// three busy threads always finds itself on CPU 1.
func TestSchedPinnedNeverLeaves(t *testing.T) {
	needSandbox(t)
	kv := schedKV(t, []string{"--cpus", "2"}, "sched_place", "pinned", "1.5")
	if schedNum(t, kv, "getcpu calls") < 10 || schedNum(t, kv, "getcpu not 1") != 0 {
		t.Errorf("pinned thread: %s getcpu calls, %s not on CPU 1", kv["getcpu calls"], kv["getcpu not 1"])
	}
}

// TestSchedWakeupLatency (item 4): on one CPU a thread that sleeps 10 ms
// at a time runs again soon after each wake-up although another thread
// spins. The lateness is logged beside the same program's natively (the
// host's noise), and its median checked only against a loose bound: on a
// quiet machine it is within a few 4 ms ticks of native's, but under load
// the host delays the sentry's and the stubs' threads, pinned to one host
// CPU, by whatever it likes (a 10 ms nanosleep alone ended 0.7 s late
// under stress-ng --cpu 2). The bound, 100 ms past native's median,
// catches a sleeper left waiting for the spinner to give up the CPU by
// itself; that the wake-up preempts the spinner at once is
// kernel/TestWakeupPreemptsSpinner's check, and the latency on a quiet
// machine is in BENCHMARKS.md.
func TestSchedWakeupLatency(t *testing.T) {
	needSandbox(t)
	nat := runNative(t, []string{cProg(t, "sched_wake"), "100"}, runOpts{})
	nkv := schedParse(nat.Stdout)
	kv := schedKV(t, []string{"--cpus", "1"}, "sched_wake", "100")
	p50, p90 := schedNum(t, kv, "p50_us"), schedNum(t, kv, "p90_us")
	n50, n90 := schedNum(t, nkv, "p50_us"), schedNum(t, nkv, "p90_us")
	t.Logf("sandbox median %.0fµs p90 %.0fµs max %sµs; native median %.0fµs p90 %.0fµs max %sµs",
		p50, p90, kv["max_us"], n50, n90, nkv["max_us"])
	if p50 > n50+100000 {
		t.Errorf("wake-ups beside a spinner: median lateness %.0fµs, more than 100 ms past native's %.0fµs", p50, n50)
	}
}

// TestSchedKthreadsInPs (item 5): the host's own ps, run in the sandbox,
// lists [kthreadd] as PID 2 (parent 0) and every other kthread as its
// child; kthreadd has PF_KTHREAD in /proc/2/stat and an empty cmdline.
func TestSchedKthreadsInPs(t *testing.T) {
	needSandbox(t)
	r := runSandbox(t, []string{"/bin/ps", "-ef"}, runOpts{})
	if r.Status != 0 {
		t.Fatalf("ps -ef: status %d\n%s\n%s", r.Status, r.Stdout, r.Stderr)
	}
	found := false
	for _, l := range strings.Split(r.Stdout, "\n")[1:] {
		f := strings.Fields(l)
		if len(f) < 8 {
			continue
		}
		cmd := strings.Join(f[7:], " ")
		if !strings.HasPrefix(cmd, "[") {
			continue
		}
		if cmd == "[kthreadd]" {
			found = true
			if f[1] != "2" || f[2] != "0" {
				t.Errorf("kthreadd: PID %s PPID %s, want 2 and 0", f[1], f[2])
			}
		} else if f[2] != "2" {
			t.Errorf("kthread %s has PPID %s, want 2 (kthreadd)", cmd, f[2])
		}
	}
	if !found {
		t.Errorf("ps -ef lists no [kthreadd]:\n%s", r.Stdout)
	}
	r = runSandbox(t, []string{"/bin/cat", "/proc/2/stat", "/proc/2/cmdline"}, runOpts{})
	f := strings.Fields(r.Stdout)
	if r.Status != 0 || len(f) != 52 || f[1] != "(kthreadd)" {
		t.Fatalf("cat /proc/2/stat /proc/2/cmdline: status %d, %q", r.Status, r.Stdout)
	}
	if flags, _ := strconv.ParseUint(f[8], 10, 32); flags&0x00200000 == 0 {
		t.Errorf("kthreadd's flags %#x lack PF_KTHREAD", flags)
	}
}

// TestSchedProcAccounting (item 7): the scheduler's accounting as the
// sandbox's /proc shows it to a real shell.
func TestSchedProcAccounting(t *testing.T) {
	needSandbox(t)
	script := "i=0; while [ $i -lt 20 ]; do i=$((i+1)); /bin/true; done; " +
		"cat /proc/1/status; echo ---; cat /proc/1/schedstat; echo ---; " +
		// The child that reads /proc/1/stat can run before the shell
		// reaches wait4 (two CPUs): it looks again, for up to 10 s,
		// until the shell sleeps.
		"sh -c 'i=0; while [ $i -lt 100 ] && [ \"$(cut -d\" \" -f3 /proc/1/stat)\" != S ]; do i=$((i+1)); sleep 0.1; done; cat /proc/1/stat'; " +
		"echo ---; cat /proc/stat; echo ---; cat /proc/loadavg"
	r := runSandbox(t, []string{"/bin/sh", "-c", script}, runOpts{Flags: []string{"--cpus", "2"}})
	parts := strings.Split(r.Stdout, "---\n")
	if r.Status != 0 || len(parts) != 5 {
		t.Fatalf("status %d\n%s\n%s", r.Status, r.Stdout, r.Stderr)
	}
	status, schedstat, stat, pstat, loadavg := parts[0], parts[1], parts[2], parts[3], parts[4]
	if m := regexp.MustCompile(`(?m)^voluntary_ctxt_switches:\t(\d+)$`).FindStringSubmatch(status); m == nil || m[1] == "0" {
		t.Errorf("the shell waited for 20 children but has no voluntary context switches:\n%s", status)
	}
	if !regexp.MustCompile(`(?m)^nonvoluntary_ctxt_switches:\t\d+$`).MatchString(status) {
		t.Errorf("status lacks nonvoluntary_ctxt_switches:\n%s", status)
	}
	if ss := strings.Fields(schedstat); len(ss) != 3 || ss[0] == "0" || ss[2] == "0" {
		t.Errorf("/proc/1/schedstat %q", schedstat)
	}
	sf := strings.Fields(stat[strings.LastIndex(stat, ")")+2:]) // from field 3
	field := func(n int) string { return sf[n-3] }
	// The shell (PID 1) is asleep in wait4 for cat: S.
	if field(3) != "S" || field(18) != "20" || field(19) != "0" || field(40) != "0" || field(41) != "0" {
		t.Errorf("/proc/1/stat state %s priority %s nice %s rt_priority %s policy %s", field(3), field(18), field(19), field(40), field(41))
	}
	if p := field(39); p != "0" && p != "1" {
		t.Errorf("/proc/1/stat processor %s with two CPUs", p)
	}
	cpuLines := regexp.MustCompile(`(?m)^cpu\d* +\d+ 0 \d+ \d+ 0 0 0 0 0 0$`).FindAllString(pstat, -1)
	if len(cpuLines) != 3 {
		t.Errorf("/proc/stat has %d cpu lines for 2 CPUs:\n%s", len(cpuLines), pstat)
	}
	for _, key := range []string{"ctxt", "processes", "procs_running", "procs_blocked"} {
		if !regexp.MustCompile(`(?m)^` + key + ` \d+$`).MatchString(pstat) {
			t.Errorf("/proc/stat lacks %s:\n%s", key, pstat)
		}
	}
	if m := regexp.MustCompile(`(?m)^processes (\d+)$`).FindStringSubmatch(pstat); m != nil {
		if n, _ := strconv.Atoi(m[1]); n < 22 {
			t.Errorf("processes %d after 20 forks, init and kthreadd", n)
		}
	}
	if !regexp.MustCompile(`^\d+\.\d\d \d+\.\d\d \d+\.\d\d \d+/\d+ \d+\n$`).MatchString(loadavg) {
		t.Errorf("/proc/loadavg %q", loadavg)
	}
}

// TestSchedDebugDump (item 7): `runsc-lite debug --pid SENTRYPID` makes a
// running sentry write every task and run queue to its log.
func TestSchedDebugDump(t *testing.T) {
	needSandbox(t)
	log := debugDump(t, "end of kernel dump", `task 1 tgid 1 "sleep"`)
	for _, want := range []string{"kernel dump", "cpu 0 (host ", `"kthreadd"`, `task 1 tgid 1 "sleep"`, "end of kernel dump"} {
		if !strings.Contains(log, want) {
			t.Errorf("the dump lacks %q; log:\n%s", want, tail(log, 30))
		}
	}
	// Refuses what is not a sandbox.
	if r := runRunsc(t, []string{"debug", "--pid", strconv.Itoa(os.Getpid())}, runOpts{}); r.Status == 0 {
		t.Errorf("runsc-lite debug signalled a process that is not a sandbox (the test binary)")
	}
}

// debugDump starts a sandbox running sleep with a debug log, asks it for a
// dump with `runsc-lite debug --pid` and returns the log once a dump that
// ends with end and contains ready (the program has started) is in it. A
// sandbox still starting may not be ready, or may not yet handle the
// signal at all (a loaded host can take seconds to start one), so the
// request is repeated until such a dump appears, for up to a minute, rather
// than sent once after a fixed wait. It skips when runsc-lite has no debug
// command.
func debugDump(t *testing.T, end, ready string) string {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "debug.log")
	argv := append([]string{runscBin, "do"}, sandboxFlags(t, []string{"--debug-log", logPath})...)
	argv = append(argv, "--", "/bin/sleep", "120")
	cmd, _, cancel := command(argv, runOpts{})
	defer cancel()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	// The signal must not reach a sentry too young to handle it (before
	// Go's runtime is up, it would end the process): wait until the
	// sentry runs a stub, the sandbox's init.
	sentry := sentryPID(t, cmd.Process.Pid)
	for deadline := time.Now().Add(time.Minute); len(hostChildren(sentry)) == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the sentry (pid %d) started no stub in a minute", sentry)
		}
	}
	var log string
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
		dumps := strings.Count(log, end)
		r := runRunsc(t, []string{"debug", "--pid", strconv.Itoa(cmd.Process.Pid)}, runOpts{})
		if r.Status == 2 && strings.Contains(r.Stderr, "unknown command") {
			t.Skip(`runsc-lite has no debug command yet (main.go needs case "debug": return cmdDebug(rest[1:], stderr))`)
		}
		if r.Status != 0 {
			t.Fatalf("runsc-lite debug: status %d\n%s", r.Status, r.Stderr)
		}
		// Wait a little for this request's dump, then ask again.
		for wait := time.Now().Add(2 * time.Second); time.Now().Before(wait); time.Sleep(50 * time.Millisecond) {
			if log = readFileOrEmpty(logPath); strings.Count(log, end) > dumps {
				break
			}
		}
		if last := strings.LastIndex(log, end); last >= 0 && strings.Contains(log[:last], ready) {
			return log
		}
	}
	return log
}

func readFileOrEmpty(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// pingPong runs sched_pingpong natively (both threads pinned to CPU 0) and
// in the sandbox on one CPU, and returns the round-trip times in ns.
func pingPong(t testing.TB, rounds int) (native, sandbox float64) {
	prog, ok := cProgs["sched_pingpong"]
	if !ok {
		t.Fatalf("no sched_pingpong")
	}
	parse := func(what string, argv []string) float64 {
		cmd, _, cancel := command(argv, runOpts{})
		defer cancel()
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s %q: %v", what, argv, err)
		}
		v, err := strconv.ParseFloat(schedParse(string(out))["roundtrip_ns"], 64)
		if err != nil {
			t.Fatalf("%s: %q", what, out)
		}
		return v
	}
	native = parse("native", []string{prog, strconv.Itoa(rounds * 10), "pin"})
	argv := append([]string{runscBin, "do"}, sandboxFlags(nil, []string{"--cpus", "1"})...)
	sandbox = parse("sandbox", append(argv, "--", prog, strconv.Itoa(rounds)))
	return native, sandbox
}

// TestSchedPipePingPong (item 9): a pipe ping-pong between two threads on
// one CPU, sandbox vs native (logged; BenchmarkSchedPipePingPong is the
// same as a benchmark).
func TestSchedPipePingPong(t *testing.T) {
	needSandbox(t)
	n, s := pingPong(t, 1000)
	t.Logf("pipe round trip between two threads on one CPU: native %.1fµs, sandbox %.1fµs, ratio %.1fx", n/1e3, s/1e3, s/n)
}

// BenchmarkSchedPipePingPong reports the native and sandbox round trips
// and their ratio:
//
//	go test ./test/ -run XXX -bench SchedPipePingPong -benchtime 3x
func BenchmarkSchedPipePingPong(b *testing.B) {
	if nativeOnly || runscBin == "" {
		b.Skip("needs the sandbox")
	}
	var n, s float64
	for i := 0; i < b.N; i++ {
		ni, si := pingPong(b, 2000)
		n += ni
		s += si
	}
	b.ReportMetric(n/float64(b.N), "native-ns/roundtrip")
	b.ReportMetric(s/float64(b.N), "sandbox-ns/roundtrip")
	b.ReportMetric(s/n, "ratio")
	b.ReportMetric(0, "ns/op")
}
