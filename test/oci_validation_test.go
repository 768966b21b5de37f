package test

// The OCI runtime-tools validation suite, run against runc and against
// runsc-lite on this machine: every program runc passes must pass with
// runsc-lite, but for the ones listed in validationKnown, each with why.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// validationKnown are the runtime-tools programs runc passes here and
// runsc-lite does not, and why (README.md lists them too). None since the
// state's pid is a stand-in in the config's namespaces and cgroup
// (runsc-lite/oci/standin.go): the namespace programs and the pids.max
// ones pass.
var validationKnown = map[string]string{}

// The suite's killsig and pidfile race their container's process, with
// any runtime; the runner takes the race out of each, so that both are
// asserted as the other programs are (runc must pass them too).
//
// killsig's container runs sh -c "trap 'touch /SIG' SIG; sleep 10 &
// wait $!" and is signalled right after start. A signal that comes before
// the trap is set is dropped (the container's init ignores a signal it has
// no handler for); one that comes after the trap but before wait runs the
// trap, and wait then waits out sleep 10, past the program's 5 s: either
// way the container is still running and delete fails. Only a signal that
// finds the shell blocked in wait passes. Its runtime is therefore a
// wrapper (killsigRuntime) whose kill first waits until, inside the
// container, sleep has started and the shell (PID 1) sleeps: after the fork
// of sleep, wait is the only place the shell blocks.
//
// pidfile's container runs true, and the program kills it with KILL after
// waiting for "running": true has usually exited by then (start returns
// once it is let go), and both runtimes answer "container not running", as
// the spec says they must. What the program checks, the --pid-file's PID
// against state's, does not depend on the process, so the runner builds it
// with sleep 60 as the container's process (validationPatches): its kill
// then finds it running, always.

// validationRaceFree are the programs whose race the runner takes out:
// both runtimes must pass them, at the first run.
var validationRaceFree = map[string]bool{"killsig": true, "pidfile": true}

// validationPatches are the runner's edits to the suite's sources, each a
// file, the text to replace (which must be there once) and its replacement.
var validationPatches = []struct{ file, old, new string }{
	{"validation/pidfile/pidfile.go", `g.SetProcessArgs([]string{"true"})`, `g.SetProcessArgs([]string{"sleep", "60"})`},
}

// killsigRuntime writes, in dir, killsig's runtime for runtime: runtime
// itself, but for a kill that first waits (for 60 s at most, polling with
// exec) until the container's shell is blocked in wait.
func killsigRuntime(t *testing.T, dir, runtime string) string {
	t.Helper()
	path := filepath.Join(dir, "killsig-"+filepath.Base(runtime))
	script := fmt.Sprintf(`#!/bin/sh
# killsig's runtime (test/oci_validation_test.go): %[1]s, whose kill waits
# until the container's shell has started sleep and sleeps itself, in wait.
rt='%[1]s'
if [ "$1" = kill ]; then
	n=0
	until "$rt" exec "$2" sh -c 'set -- $(cat /proc/1/stat) && [ "$3" = S ] && cat /proc/[0-9]*/comm 2>/dev/null | grep -qx sleep'; do
		n=$((n+1))
		if [ $n -ge 600 ]; then
			echo "killsig's runtime: the container's shell did not reach wait in 60 s" >&2
			exit 1
		fi
		sleep 0.1
	done
fi
exec "$rt" "$@"
`, runtime)
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// runtimeToolsVersion is the runtime-tools the suite is built from: a
// pseudo-version of its main branch (commit 260e151b8552, March 2025),
// because @latest resolves to v0.9.0 (2019), which does not build with
// today's dependencies. The module carries its vendor directory.
const runtimeToolsVersion = "github.com/opencontainers/runtime-tools@v0.9.1-0.20250303011046-260e151b8552"

// TestRuntimeToolsValidation builds the suite from runtimeToolsVersion,
// fetched through the Go module proxy (or from a checkout named by
// RUNSC_LITE_RUNTIME_TOOLS, with its vendor directory), and compares
// runsc-lite with runc.
func TestRuntimeToolsValidation(t *testing.T) {
	began := time.Now()
	needSandbox(t)
	runcRuntime(t)
	src := os.Getenv("RUNSC_LITE_RUNTIME_TOOLS")
	if src == "" {
		src = downloadModule(t, runtimeToolsVersion)
	}
	dir := filepath.Join(t.TempDir(), "runtime-tools")
	// A copy the build can write into (the module cache is read-only).
	if out, err := exec.Command("cp", "-r", src, dir).CombinedOutput(); err != nil {
		t.Fatalf("copying %s: %v\n%s", src, err, out)
	}
	if out, err := exec.Command("chmod", "-R", "u+w", dir).CombinedOutput(); err != nil {
		t.Fatalf("making %s writable: %v\n%s", dir, err, out)
	}
	for _, p := range validationPatches {
		path := filepath.Join(dir, p.file)
		b, err := os.ReadFile(path)
		if err != nil || strings.Count(string(b), p.old) != 1 {
			t.Fatalf("%s: want %q in it once (the suite changed?): %v", p.file, p.old, err)
		}
		if err := os.WriteFile(path, []byte(strings.Replace(string(b), p.old, p.new, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A checkout builds from its vendor directory; a module from the
	// proxy has none (module zips leave vendor/ out but for modules.txt):
	// its dependencies come through the proxy too, at go.sum's versions.
	mod := "-mod=vendor"
	if _, err := os.Stat(filepath.Join(dir, "vendor", "github.com")); err != nil {
		os.RemoveAll(filepath.Join(dir, "vendor"))
		mod = "-mod=mod"
	}
	build := func(out string, static bool, pkgs ...string) {
		cmd := exec.Command("go", append([]string{"build", mod, "-o", out}, pkgs...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS="+mod)
		if static {
			cmd.Env = append(cmd.Env, "CGO_ENABLED=0")
		}
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", strings.Join(pkgs, " "), err, b)
		}
	}
	// runtimetest runs inside the containers (static); the programs,
	// one go build for all (a go build each took minutes on a loaded
	// machine), in bin/.
	build("runtimetest", true, "./cmd/runtimetest")
	build("bin/", false, "./validation/...")
	ents, _ := os.ReadDir(filepath.Join(dir, "bin"))
	var progs []string
	for _, e := range ents {
		progs = append(progs, e.Name())
	}
	sort.Strings(progs)
	t.Logf("built the suite (%d programs) in %v", len(progs), time.Since(began).Round(time.Second))

	// The programs run three at a time (they mostly wait: for states,
	// polled each second); the cgroup programs all use the same cgroup
	// paths (/cgrouptest, testdir/cgrouptest/container; and
	// delete_only_create_resources makes /cgrouptest itself), so they run
	// one at a time, runc's run and runsc-lite's in turn.
	type result struct {
		runc, rl       bool
		runcOut, rlOut string
		took           time.Duration
	}
	results := make([]result, len(progs))
	killsigRunc, killsigRL := killsigRuntime(t, dir, "runc"), killsigRuntime(t, dir, runscBin)
	runtimes := func(p string) (runc, rl string) {
		if p == "killsig" {
			return killsigRunc, killsigRL
		}
		return "runc", runscBin
	}
	var cgroupMu sync.Mutex
	sem := make(chan struct{}, 3)
	var wg sync.WaitGroup
	ran := time.Now()
	for i, p := range progs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if usesCgroups(p) {
				cgroupMu.Lock()
				defer cgroupMu.Unlock()
			}
			began := time.Now()
			runc, rl := runtimes(p)
			results[i].runc, results[i].runcOut = runValidation(t, dir, runc, p)
			results[i].rl, results[i].rlOut = runValidation(t, dir, rl, p)
			results[i].took = time.Since(began)
		}()
	}
	wg.Wait()
	t.Logf("ran them with runc and runsc-lite in %v", time.Since(ran).Round(time.Second))

	var table []string
	for i, p := range progs {
		runc, rl := results[i].runc, results[i].rl
		_, known := validationKnown[p]
		switch {
		case validationRaceFree[p] && !runc:
			t.Errorf("%s: runc fails it, with the runner's fix of its race:\n%s", p, tail(results[i].runcOut, 30))
		case validationRaceFree[p] && !rl:
			t.Errorf("%s: runc passes, runsc-lite fails, with the runner's fix of its race:\n%s", p, tail(results[i].rlOut, 30))
		case runc && !rl && !known:
			// Again, alone: what failed beside other programs
			// (whose load slows it) must pass by itself.
			var out string
			_, rlRuntime := runtimes(p)
			if rl, out = runValidation(t, dir, rlRuntime, p); rl {
				t.Logf("%s: runsc-lite failed it beside other programs, passed it alone", p)
			} else {
				t.Errorf("%s: runc passes, runsc-lite fails:\n%s", p, tail(out, 30))
			}
		}
		switch why, known := validationKnown[p]; {
		case runc && !rl && known:
			t.Logf("%s: runc passes, runsc-lite fails (known: %s)", p, why)
		case known && rl:
			t.Logf("%s: now passes with runsc-lite; remove it from validationKnown", p)
		}
		table = append(table, fmt.Sprintf("%-36s runc %-4s runsc-lite %-4s (both runs: %v)", p, passFail(runc), passFail(rl), results[i].took.Round(100*time.Millisecond)))
	}
	t.Logf("results:\n%s", strings.Join(table, "\n"))
}

// runValidation runs the suite's program prog (built in dir's bin/) with the
// runtime at path runtime, and reports whether it passed, with its
// output. A program that has not ended in 2 minutes failed.
//
// The program makes its bundles (ocitestNNN) in a TMPDIR of its own, and
// what is still mounted under it afterwards is detached and logged: a
// container that shares the host's mount namespace leaves its rootfs,
// proc and dev mounts on the host when the runtime does not undo them
// (runc leaves them), and they would pile up in the host's mount table
// run after run.
func runValidation(t *testing.T, dir, runtime, prog string) (bool, string) {
	tmp, err := os.MkdirTemp(dir, "tmp-"+prog+"-")
	if err != nil {
		return false, err.Error()
	}
	defer func() {
		if n := detachMountsUnder(tmp); n > 0 {
			t.Logf("%s with %s left %d mounts under its bundle; detached", prog, filepath.Base(runtime), n)
		}
	}()
	cmd := exec.Command("./bin/" + prog)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "RUNTIME="+runtime, "TMPDIR="+tmp)
	done := make(chan struct{})
	var out []byte
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		<-done
		return false, string(out) + "\n(killed after 2 minutes)"
	}
	s := string(out)
	return err == nil && strings.Contains(s, "\nok ") && !strings.Contains(s, "\nnot ok ") && !strings.HasPrefix(s, "not ok"), s
}

// detachMountsUnder detaches every mount of the host's mount table at or
// below dir, deepest first, and returns how many it found.
func detachMountsUnder(dir string) int {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return 0
	}
	var points []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		// mountinfo escapes space, tab, newline and backslash in octal.
		mp := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`).Replace(f[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			points = append(points, mp)
		}
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	for _, mp := range points {
		unix.Unmount(mp, unix.MNT_DETACH)
	}
	return len(points)
}

// usesCgroups reports whether prog makes the suite's fixed cgroups.
func usesCgroups(prog string) bool {
	return strings.HasPrefix(prog, "linux_cgroups_") || prog == "delete_resources" || prog == "delete_only_create_resources"
}

func passFail(ok bool) string {
	if ok {
		return "pass"
	}
	return "fail"
}

// downloadModule fetches module@version through the Go module proxy and
// returns its directory in the module cache.
func downloadModule(t *testing.T, modVersion string) string {
	t.Helper()
	cmd := exec.Command("go", "mod", "download", "-json", modVersion)
	cmd.Dir = t.TempDir() // outside this module: no go.mod to consult
	out, err := cmd.Output()
	var m struct{ Dir, Error string }
	if jerr := json.Unmarshal(out, &m); err != nil || jerr != nil || m.Dir == "" {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("go mod download %s (the suite's source, from the Go module proxy): %v %s\n%s%s", modVersion, err, m.Error, out, stderr)
	}
	return m.Dir
}
