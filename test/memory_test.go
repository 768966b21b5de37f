package test

// Memory management with real programs (issue 7, items 1, 4, 5 and 6):
// the page cache under a small --total-memory, swap, the in-sandbox OOM
// killer, the host memory the sentry uses, and the memory files of /proc.
// All sandbox-only except where a native run gives the expected output.
//
// The heavy tests (a 1 GiB file read twice, 400 MiB of anonymous memory)
// are skipped with -short.

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// memTestMiB is the --total-memory of these tests.
const memTestMiB = 256

// hostOverheadMiB is what the sentry may use on the host beyond the
// sandbox's memory: the Go runtime and heap, the page-cache and LRU
// bookkeeping, platform stubs' page tables. Measured figures are logged by
// every test that samples them (see TestMemory* -v).
const hostOverheadMiB = 192

// vmstatValues parses /proc/vmstat-style "name value" lines.
func vmstatValues(out string) map[string]uint64 {
	m := map[string]uint64{}
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) == 2 {
			if v, err := strconv.ParseUint(f[1], 10, 64); err == nil {
				m[f[0]] = v
			}
		}
	}
	return m
}

// meminfoValues parses /proc/meminfo ("Name:   N kB") into KiB.
func meminfoValues(out string) map[string]uint64 {
	m := map[string]uint64{}
	for _, l := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		if n, err := strconv.ParseUint(f[0], 10, 64); err == nil {
			m[k] = n
		}
	}
	return m
}

// hostMem is what the sentry used on the host during one run.
type hostMem struct {
	// Peaks over the samples, in KiB.
	VmHWM, VmRSS, RssAnon, RssShmem uint64
	// MemfdKiB is the peak allocated size of the memory file.
	MemfdKiB uint64
	Samples  int
}

func (h hostMem) String() string {
	return fmt.Sprintf("VmHWM %d MiB, peak VmRSS %d MiB (RssAnon %d MiB, RssShmem %d MiB), memory file allocated %d MiB (%d samples)",
		h.VmHWM>>10, h.VmRSS>>10, h.RssAnon>>10, h.RssShmem>>10, h.MemfdKiB>>10, h.Samples)
}

// sampleHostMem adds one sample of process pid's memory to h.
func sampleHostMem(pid int, h *hostMem) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return
	}
	kv := keyValues(string(b))
	kib := func(k string) uint64 {
		f := strings.Fields(kv[k])
		if len(f) == 0 {
			return 0
		}
		n, _ := strconv.ParseUint(f[0], 10, 64)
		return n
	}
	h.VmHWM = max(h.VmHWM, kib("VmHWM"))
	h.VmRSS = max(h.VmRSS, kib("VmRSS"))
	h.RssAnon = max(h.RssAnon, kib("RssAnon"))
	h.RssShmem = max(h.RssShmem, kib("RssShmem"))
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	for _, e := range ents {
		p := fmt.Sprintf("/proc/%d/fd/%s", pid, e.Name())
		if l, err := os.Readlink(p); err != nil || !strings.Contains(l, "runsc-lite-memory") {
			continue
		}
		var st unix.Stat_t
		if unix.Stat(p, &st) == nil {
			h.MemfdKiB = max(h.MemfdKiB, uint64(st.Blocks)*512/1024)
		}
	}
	h.Samples++
}

// runSandboxSampled is runSandbox that also samples the sentry process's
// host memory every 20 ms while it runs.
func runSandboxSampled(t *testing.T, argv []string, o runOpts) (result, hostMem) {
	t.Helper()
	needSandbox(t)
	full := append([]string{runscBin, "do"}, sandboxFlags(t, o.Flags)...)
	full = append(append(full, "--"), argv...)
	cmd, ctx, cancel := command(full, o)
	defer cancel()
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %q: %v", full, err)
	}
	var h hostMem
	var mu sync.Mutex
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tk := time.NewTicker(20 * time.Millisecond)
		defer tk.Stop()
		sentry := 0
		for {
			if sentry == 0 {
				if sentry = findSentry(cmd.Process.Pid); sentry != 0 && o.onSentry != nil {
					o.onSentry(sentry)
				}
			}
			if sentry != 0 {
				mu.Lock()
				sampleHostMem(sentry, &h)
				mu.Unlock()
			}
			select {
			case <-done:
				return
			case <-tk.C:
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	wg.Wait()
	r := result{Stdout: stdout.String(), Stderr: stderr.String(), Elapsed: time.Since(start)}
	r.Status = exitStatus(t, "sandbox", full, ctx, cmd, err)
	return r, h
}

// checkHostMem fails t when the sentry used more host memory than the
// sandbox's size plus the fixed overhead.
func checkHostMem(t *testing.T, what string, h hostMem) {
	t.Helper()
	t.Logf("%s: sentry host memory: %v", what, h)
	if h.Samples == 0 {
		t.Errorf("%s: the sentry's host memory was never sampled (no sentry process found)", what)
	}
	limit := uint64(memTestMiB+hostOverheadMiB) << 10
	if h.VmHWM > limit {
		t.Errorf("%s: the sentry's peak RSS %d MiB is over %d MiB + %d MiB", what, h.VmHWM>>10, memTestMiB, hostOverheadMiB)
	}
	if h.MemfdKiB > uint64(memTestMiB)<<10 {
		t.Errorf("%s: the memory file holds %d MiB, over --total-memory %d MiB", what, h.MemfdKiB>>10, memTestMiB)
	}
}

// writeRandomFile writes size bytes of pseudo-random data to path.
func writeRandomFile(t *testing.T, path string, size int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rng := rand.NewChaCha8([32]byte{7})
	buf := make([]byte, 4<<20)
	for done := int64(0); done < size; done += int64(len(buf)) {
		rng.Read(buf)
		if _, err := f.Write(buf[:min(int64(len(buf)), size-done)]); err != nil {
			t.Fatal(err)
		}
	}
}

var memFlags = []string{"--total-memory", strconv.Itoa(memTestMiB) + "M"}

// TestMemoryPageCacheReclaim: with --total-memory 256M, a 1 GiB file read
// twice with sha256sum gives the native hashes, kswapd reclaims page-cache
// pages (pgsteal_kswapd grows), and the sentry's host memory stays
// bounded.
func TestMemoryPageCacheReclaim(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: reads a 1 GiB file")
	}
	needSandbox(t)
	dir := t.TempDir()
	big := filepath.Join(dir, "big")
	writeRandomFile(t, big, 1<<30)
	native := runNative(t, []string{"sha256sum", big}, runOpts{Timeout: heavyTimeout})
	if native.Status != 0 {
		t.Fatalf("native sha256sum: %d %s", native.Status, native.Stderr)
	}
	script := fmt.Sprintf(`sha256sum %s; sha256sum %s; grep -E "^(pgsteal_kswapd|pgscan_kswapd|pgsteal_direct|pgscan_direct|allocstall_normal|workingset_refault_file) " /proc/vmstat`, big, big)
	r, h := runSandboxSampled(t, []string{"sh", "-c", script}, runOpts{Flags: memFlags, Timeout: heavyTimeout})
	if r.Status != 0 {
		t.Fatalf("sandbox: status %d\nstdout:\n%s\nstderr:\n%s", r.Status, r.Stdout, tail(r.Stderr, 40))
	}
	lines := strings.SplitN(r.Stdout, "\n", 3)
	if len(lines) < 3 || lines[0] != strings.TrimSpace(native.Stdout) || lines[1] != strings.TrimSpace(native.Stdout) {
		t.Errorf("hashes differ: native %q, sandbox:\n%s", native.Stdout, r.Stdout)
	}
	vm := vmstatValues(r.Stdout)
	t.Logf("after reading 1 GiB twice in %v: %v", r.Elapsed.Round(time.Millisecond), vm)
	if vm["pgsteal_kswapd"] == 0 {
		t.Errorf("pgsteal_kswapd is 0 after reading 1 GiB twice through 256 MiB:\n%s", r.Stdout)
	}
	checkHostMem(t, "page cache", h)
}

// TestMemorySwap: 400 MiB of anonymous memory under --total-memory 256M
// --swap 512M is written and read back intact, and pages went to swap.
func TestMemorySwap(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: touches 400 MiB")
	}
	hog := cProg(t, "memhog")
	script := hog + ` 400; echo hog=$?; grep -E "^(pswpout|pswpin|pgsteal_kswapd|pgsteal_direct|allocstall_normal|oom_kill) " /proc/vmstat; grep -E "^Swap(Total|Free):" /proc/meminfo`
	r, h := runSandboxSampled(t, []string{"sh", "-c", script}, runOpts{Flags: append([]string{"--swap", "512M"}, memFlags...), Timeout: heavyTimeout})
	t.Logf("memhog 400 with swap in %v:\n%s", r.Elapsed.Round(time.Millisecond), r.Stdout)
	if r.Status != 0 || !strings.HasPrefix(r.Stdout, "ok\nhog=0\n") {
		t.Fatalf("memhog with swap: status %d\nstdout:\n%s\nstderr:\n%s", r.Status, r.Stdout, tail(r.Stderr, 40))
	}
	vm := vmstatValues(r.Stdout)
	if vm["pswpout"] == 0 {
		t.Errorf("pswpout is 0 after 400 MiB in 256 MiB with swap")
	}
	if mi := meminfoValues(r.Stdout); mi["SwapTotal"] < 500<<10 {
		t.Errorf("SwapTotal %d kB, want about 512 MiB", mi["SwapTotal"])
	}
	checkHostMem(t, "swap", h)
}

// TestMemoryOOMKill: without swap, the 400 MiB hog is killed by the
// sandbox's OOM killer (SIGKILL, status 137, logged as Linux logs it)
// while a sibling keeps running and exits normally.
func TestMemoryOOMKill(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: touches 400 MiB")
	}
	hog := cProg(t, "memhog")
	script := `sleep 1 & ` + hog + ` 400; echo hog=$?; wait $!; echo sibling=$?; grep "^oom_kill " /proc/vmstat`
	r := runSandbox(t, []string{"sh", "-c", script}, runOpts{Flags: memFlags, Timeout: heavyTimeout})
	t.Logf("stdout:\n%s\nstderr:\n%s", r.Stdout, tail(r.Stderr, 20))
	if r.Status != 0 {
		t.Fatalf("sh: status %d", r.Status)
	}
	if !strings.Contains(r.Stdout, "hog=137\n") {
		t.Errorf("the hog was not killed by SIGKILL:\n%s", r.Stdout)
	}
	if !strings.Contains(r.Stdout, "sibling=0\n") {
		t.Errorf("the sibling did not survive:\n%s", r.Stdout)
	}
	if !strings.Contains(r.Stderr, "Out of memory: Killed process") {
		t.Errorf("no OOM report on the sentry's stderr:\n%s", tail(r.Stderr, 40))
	}
	if vm := vmstatValues(r.Stdout); vm["oom_kill"] == 0 {
		t.Errorf("oom_kill is 0")
	}
}

// fieldRE matches one "name value" line of /proc/zoneinfo.
func zoneinfoValue(t *testing.T, text, name string) uint64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^\s+` + name + `\s+(\d+)$`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no %q in /proc/zoneinfo:\n%s", name, tail(text, 60))
	}
	v, _ := strconv.ParseUint(m[1], 10, 64)
	return v
}

// TestMemoryProcFiles: /proc/meminfo, /proc/zoneinfo and /proc/vmstat
// under --total-memory 256M, the sysctls, drop_caches, kswapd0 in ps.
func TestMemoryProcFiles(t *testing.T) {
	needSandbox(t)
	r := runSandbox(t, []string{"sh", "-c", `cat /proc/meminfo; echo ==; cat /proc/zoneinfo; echo ==; cat /proc/vmstat; echo ==; cat /proc/sys/vm/min_free_kbytes /proc/sys/vm/watermark_scale_factor /proc/sys/vm/swappiness; echo ==; echo 4096 > /proc/sys/vm/min_free_kbytes && cat /proc/zoneinfo; echo ==; echo -1 > /proc/sys/vm/min_free_kbytes; echo bad=$?; echo 0 > /proc/sys/vm/watermark_scale_factor; echo bad=$?; echo x > /proc/sys/vm/drop_caches; echo bad=$?; cat /proc/sys/vm/drop_caches; echo bad=$?`},
		runOpts{Flags: memFlags, Timeout: heavyTimeout})
	if r.Status != 0 {
		t.Fatalf("status %d\n%s\n%s", r.Status, r.Stdout, r.Stderr)
	}
	parts := strings.Split(r.Stdout, "==\n")
	if len(parts) != 6 {
		t.Fatalf("want 6 parts, got %d:\n%s", len(parts), r.Stdout)
	}
	mi := meminfoValues(parts[0])
	for _, k := range []string{"MemTotal", "MemFree", "MemAvailable", "Buffers", "Cached", "SwapCached", "Active", "Inactive",
		"Active(anon)", "Inactive(anon)", "Active(file)", "Inactive(file)", "Unevictable", "Mlocked", "SwapTotal", "SwapFree",
		"Dirty", "Writeback", "AnonPages", "Mapped", "Shmem", "CommitLimit", "Committed_AS"} {
		if _, ok := mi[k]; !ok {
			t.Errorf("meminfo has no %s", k)
		}
	}
	if mi["MemTotal"] != memTestMiB<<10 {
		t.Errorf("MemTotal %d kB, want %d", mi["MemTotal"], memTestMiB<<10)
	}
	if mi["MemFree"] > mi["MemTotal"] || mi["MemAvailable"] > mi["MemTotal"] {
		t.Errorf("MemFree %d / MemAvailable %d over MemTotal %d", mi["MemFree"], mi["MemAvailable"], mi["MemTotal"])
	}
	if mi["Active"] != mi["Active(anon)"]+mi["Active(file)"] || mi["Inactive"] != mi["Inactive(anon)"]+mi["Inactive(file)"] {
		t.Errorf("Active/Inactive are not the sums of their anon and file parts: %v", mi)
	}
	if mi["SwapTotal"] != 0 || mi["SwapFree"] != 0 {
		t.Errorf("swap without --swap: %d/%d", mi["SwapTotal"], mi["SwapFree"])
	}
	// Linux's formula for 256 MiB: min_free_kbytes = sqrt(262144*16) =
	// 2048 (512 pages), low = min + max(min/4, managed*10/10000), high
	// = min + 2*that.
	zi := parts[1]
	if !strings.HasPrefix(zi, "Node 0, zone   Normal\n") {
		t.Errorf("zoneinfo does not start with Node 0, zone Normal:\n%s", tail(zi, 10))
	}
	for _, w := range []struct {
		name string
		want uint64
	}{{"min", 512}, {"low", 640}, {"high", 768}, {"managed", memTestMiB << 8}, {"present", memTestMiB << 8}} {
		if got := zoneinfoValue(t, zi, w.name); got != w.want {
			t.Errorf("zoneinfo %s = %d, want %d", w.name, got, w.want)
		}
	}
	if free := zoneinfoValue(t, zi, "pages free"); free*4 > mi["MemTotal"] {
		t.Errorf("zoneinfo pages free %d over the total", free)
	}
	vm := vmstatValues(parts[2])
	for _, k := range []string{"nr_free_pages", "nr_inactive_anon", "nr_active_anon", "nr_inactive_file", "nr_active_file",
		"nr_dirty", "nr_writeback", "nr_anon_pages", "nr_mapped", "nr_file_pages", "nr_shmem",
		"pgpgin", "pgpgout", "pswpin", "pswpout", "allocstall_normal", "pgfault", "pgmajfault",
		"pgsteal_kswapd", "pgsteal_direct", "pgscan_kswapd", "pgscan_direct", "oom_kill", "workingset_refault_file"} {
		if _, ok := vm[k]; !ok {
			t.Errorf("vmstat has no %s", k)
		}
	}
	if sys := strings.Fields(parts[3]); len(sys) != 3 || sys[0] != "2048" || sys[1] != "10" || sys[2] != "60" {
		t.Errorf("min_free_kbytes, watermark_scale_factor, swappiness = %q, want 2048 10 60", sys)
	}
	// min_free_kbytes 4096: min 1024, low and high 256 pages apart.
	zi2 := parts[4]
	if got := zoneinfoValue(t, zi2, "min"); got != 1024 {
		t.Errorf("after min_free_kbytes=4096: min %d, want 1024", got)
	}
	if lo, hi := zoneinfoValue(t, zi2, "low"), zoneinfoValue(t, zi2, "high"); lo != 1280 || hi != 1536 {
		t.Errorf("after min_free_kbytes=4096: low %d high %d, want 1280 1536", lo, hi)
	}
	if got := strings.Count(parts[5], "bad=1"); got != 4 {
		t.Errorf("bad sysctl writes did not all fail:\n%s\n%s", parts[5], r.Stderr)
	}
}

// TestMemoryDropCaches: reading a file fills Cached; echo 3 >
// /proc/sys/vm/drop_caches empties it again.
func TestMemoryDropCaches(t *testing.T) {
	needSandbox(t)
	f := filepath.Join(t.TempDir(), "data")
	writeRandomFile(t, f, 32<<20)
	r := runSandbox(t, []string{"sh", "-c", `grep ^Cached: /proc/meminfo; cat ` + f + ` > /dev/null; grep ^Cached: /proc/meminfo; echo 3 > /proc/sys/vm/drop_caches; echo drop=$?; grep ^Cached: /proc/meminfo; grep ^drop_pagecache /proc/vmstat`},
		runOpts{Flags: memFlags, Timeout: heavyTimeout})
	if r.Status != 0 {
		t.Fatalf("status %d\n%s\n%s", r.Status, r.Stdout, r.Stderr)
	}
	var cached []uint64
	for _, l := range strings.Split(r.Stdout, "\n") {
		if strings.HasPrefix(l, "Cached:") {
			cached = append(cached, meminfoValues(l)["Cached"])
		}
	}
	t.Logf("Cached before, after reading 32 MiB, after drop_caches: %v kB\n%s", cached, r.Stdout)
	if len(cached) != 3 || !strings.Contains(r.Stdout, "drop=0") {
		t.Fatalf("unexpected output:\n%s\n%s", r.Stdout, r.Stderr)
	}
	if cached[1] < cached[0]+30<<10 {
		t.Errorf("Cached grew from %d to %d kB after reading 32 MiB", cached[0], cached[1])
	}
	if cached[2] > cached[1]-30<<10 {
		t.Errorf("Cached %d kB after drop_caches (was %d)", cached[2], cached[1])
	}
}

// TestMemoryOOMScoreAdj: oom_score_adj and oom_adj round trips, limits
// and inheritance, compared with the host (raising only: the host may
// run the tests without CAP_SYS_RESOURCE); lowering as the sandbox's root
// and oom_score in the sandbox only.
func TestMemoryOOMScoreAdj(t *testing.T) {
	script := `echo 500 > /proc/self/oom_score_adj; cat /proc/self/oom_score_adj; cat /proc/self/oom_adj;` +
		` sh -c 'cat /proc/$$/oom_score_adj'; exec 2>/dev/null;` +
		` echo 1001 > /proc/self/oom_score_adj; echo big=$?; echo -1001 > /proc/self/oom_score_adj; echo small=$?;` +
		` echo 15 > /proc/self/oom_adj; cat /proc/self/oom_score_adj /proc/self/oom_adj; echo 16 > /proc/self/oom_adj; echo adjbig=$?`
	compare(t, cmpCase{argv: []string{"sh", "-c", script}})
	if nativeOnly {
		return
	}
	// Root in the sandbox may lower it; a process's oom_score is within
	// 0..2000, follows oom_score_adj, and is 0 at -1000.
	r := runSandbox(t, []string{"sh", "-c", `cat /proc/self/oom_score; echo 1000 > /proc/self/oom_score_adj; cat /proc/self/oom_score;` +
		` echo -17 > /proc/self/oom_adj; cat /proc/self/oom_score_adj /proc/self/oom_score; echo 300 > /proc/self/oom_score_adj; echo -1000 > /proc/self/oom_score_adj; cat /proc/self/oom_score_adj`}, runOpts{Flags: memFlags, Timeout: heavyTimeout})
	f := strings.Fields(r.Stdout)
	if r.Status != 0 || len(f) != 5 {
		t.Fatalf("status %d: %q %s", r.Status, r.Stdout, r.Stderr)
	}
	a, _ := strconv.Atoi(f[0])
	b, _ := strconv.Atoi(f[1])
	// Linux's scale: (1000 + badness*1000/totalpages) * 2/3, so a small
	// process scores about 666, and about 1333 at oom_score_adj 1000.
	if a < 600 || a > 800 || b < 1300 || b > 1400 {
		t.Errorf("oom_score %d, then %d with oom_score_adj 1000", a, b)
	}
	if f[2] != "-1000" || f[3] != "0" || f[4] != "-1000" {
		t.Errorf("lowering as root: oom_score_adj %s oom_score %s, then %s; want -1000 0 -1000", f[2], f[3], f[4])
	}
}

// TestMemoryFreeAndVmstat: the host's free and vmstat run in the sandbox
// and show its memory; kswapd0 is a kthread under kthreadd.
func TestMemoryFreeAndVmstat(t *testing.T) {
	needSandbox(t)
	for _, tool := range []string{"free", "vmstat", "ps"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	r := runSandbox(t, []string{"sh", "-c", `free -k; echo ==; vmstat; echo ==; vmstat -s; echo ==; ps -e -o pid=,ppid=,comm= | grep kswapd`}, runOpts{Flags: memFlags, Timeout: heavyTimeout})
	if r.Status != 0 {
		t.Fatalf("status %d\n%s\n%s", r.Status, r.Stdout, r.Stderr)
	}
	t.Logf("\n%s", r.Stdout)
	parts := strings.Split(r.Stdout, "==\n")
	if len(parts) != 4 {
		t.Fatalf("unexpected output:\n%s", r.Stdout)
	}
	var total uint64
	for _, l := range strings.Split(parts[0], "\n") {
		if f := strings.Fields(l); len(f) > 3 && f[0] == "Mem:" {
			total, _ = strconv.ParseUint(f[1], 10, 64)
			used, _ := strconv.ParseUint(f[2], 10, 64)
			free, _ := strconv.ParseUint(f[3], 10, 64)
			if used > total || free > total {
				t.Errorf("free: used %d, free %d, total %d", used, free, total)
			}
		}
	}
	if total != memTestMiB<<10 {
		t.Errorf("free's Mem: total %d, want %d:\n%s", total, memTestMiB<<10, parts[0])
	}
	if lines := strings.Split(strings.TrimSpace(parts[1]), "\n"); len(lines) != 3 || !strings.Contains(lines[0], "memory") {
		t.Errorf("vmstat:\n%s", parts[1])
	}
	if !strings.Contains(parts[2], fmt.Sprintf("%d K total memory", memTestMiB<<10)) {
		t.Errorf("vmstat -s:\n%s", parts[2])
	}
	if f := strings.Fields(parts[3]); len(f) != 3 || f[1] != "2" || f[2] != "kswapd0" {
		t.Errorf("kswapd0 is not a child of kthreadd: %q", parts[3])
	}
}

// TestMemoryFlags: --swap takes the size syntax of --total-memory.
func TestMemoryFlags(t *testing.T) {
	for _, bad := range []string{"x", "1K", "-5M"} {
		r := runRunsc(t, []string{"do", "--swap", bad, "--", "true"}, runOpts{})
		if r.Status != 2 || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 || !strings.Contains(r.Stderr, "--swap") {
			t.Errorf("--swap %s: status %d, stderr %q", bad, r.Status, r.Stderr)
		}
	}
	r := runRunsc(t, []string{"do", "--swap", "64M", "--total-memory", "64M", "--", "grep", "^SwapTotal:", "/proc/meminfo"}, runOpts{})
	if r.Status != 0 || meminfoValues(r.Stdout)["SwapTotal"] < 60<<10 {
		t.Errorf("--swap 64M: status %d, %q %s", r.Status, r.Stdout, r.Stderr)
	}
}

// TestMemoryTmpfsBounded: what a program writes to /tmp (the root
// overlay's in-memory upper layer) lives in the memory file, is freed when
// the file is removed, and is limited like Linux's tmpfs (half the memory:
// ENOSPC beyond), so the sentry's host memory stays bounded by the size.
func TestMemoryTmpfsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: writes 600 MiB")
	}
	script := `for i in 1 2 3 4 5 6; do dd if=/dev/zero of=/tmp/fill bs=1M count=100 2>/dev/null || echo "round $i failed"; rm /tmp/fill; done; echo rounds done
dd if=/dev/zero of=/tmp/big bs=1M count=200 2>&1 | grep -o "No space left on device" | head -1
grep -E "^Shmem:" /proc/meminfo; rm -f /tmp/big; grep -E "^Shmem:" /proc/meminfo`
	r, h := runSandboxSampled(t, []string{"sh", "-c", script}, runOpts{Flags: memFlags, Timeout: heavyTimeout})
	t.Logf("stdout:\n%s", r.Stdout)
	if r.Status != 0 {
		t.Fatalf("status %d\n%s", r.Status, tail(r.Stderr, 20))
	}
	if !strings.Contains(r.Stdout, "rounds done\n") || strings.Contains(r.Stdout, "failed") {
		t.Errorf("writing and removing 100 MiB six times did not work: removed files' memory was not freed?\n%s", r.Stdout)
	}
	if !strings.Contains(r.Stdout, "No space left on device") {
		t.Errorf("200 MiB into /tmp under --total-memory %dM did not hit ENOSPC", memTestMiB)
	}
	shm := regexp.MustCompile(`Shmem:\s+(\d+) kB`).FindAllStringSubmatch(r.Stdout, -1)
	if len(shm) != 2 {
		t.Fatalf("no Shmem lines:\n%s", r.Stdout)
	}
	full, _ := strconv.ParseUint(shm[0][1], 10, 64)
	empty, _ := strconv.ParseUint(shm[1][1], 10, 64)
	if full < uint64(memTestMiB)<<10/2*9/10 || empty > 1024 {
		t.Errorf("Shmem %d kB with /tmp full and %d kB after rm; want about half of %d MiB, then ~0", full, empty, memTestMiB)
	}
	checkHostMem(t, "tmpfs", h)
}
