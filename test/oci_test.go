package test

// runsc-lite as an OCI runtime: the lifecycle of runtime-spec's
// runtime.md, runc's command line, errors and statuses, exec, pause, and
// what a config.json asks of the sandbox, compared with runc running the
// same bundle.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// waitForFileScript waits for /tmp/go (made by the test through the
// bundle's rootfs) and then runs rest.
func waitForFileScript(rest string) string {
	return "while [ ! -e /tmp/go ]; do sleep 0.02; done; " + rest
}

// TestOCILifecycle: create leaves the container created with its pid a
// live descendant of the caller; start runs it; the pid exits with the
// container's status; state moves created → running → stopped; the
// runc errors of a second start, a delete of a running container and a
// start of a stopped one; delete removes it.
func TestOCILifecycle(t *testing.T) {
	r := runscRuntime(t)
	subreaper(t)
	b := makeBundle(t, baseSpec("/bin/sh", "-c", waitForFileScript("exit 3")))
	pidFile := filepath.Join(t.TempDir(), "pid")
	r.must(t, "create", "--bundle", b, "--pid-file", pidFile, "c1")
	st := r.state(t, "c1")
	if st.Status != specs.StateCreated || st.ID != "c1" || st.Bundle != b {
		t.Fatalf("after create: %+v", st)
	}
	if got := strings.TrimSpace(readFile(t, pidFile)); got != strconv.Itoa(st.Pid) {
		t.Errorf("pid file %q, state pid %d", got, st.Pid)
	}
	if pp := ppidOf(st.Pid); pp != strconv.Itoa(os.Getpid()) {
		t.Errorf("the container's pid %d has parent %s, want the caller (a subreaper, %d)", st.Pid, pp, os.Getpid())
	}
	r.must(t, "start", "c1")
	if st := r.state(t, "c1"); st.Status != specs.StateRunning {
		t.Fatalf("after start: %+v", st)
	}
	res := r.do(t, runOpts{}, "start", "c1")
	if res.Status != 1 || !strings.Contains(res.Stderr, "cannot start an already running container") {
		t.Errorf("second start: status %d, stderr %q", res.Status, res.Stderr)
	}
	res = r.do(t, runOpts{}, "delete", "c1")
	if res.Status != 1 || !strings.Contains(res.Stderr, "cannot delete container c1 that is not stopped: running") {
		t.Errorf("delete of a running container: status %d, stderr %q", res.Status, res.Stderr)
	}
	writeFile(t, filepath.Join(b, "rootfs/tmp/go"), nil, 0o644)
	ws := waitChild(t, st.Pid)
	if !ws.Exited() || ws.ExitStatus() != 3 {
		t.Errorf("the container's pid ended with %v, want exit status 3", ws)
	}
	if st := r.state(t, "c1"); st.Status != specs.StateStopped || st.Pid != 0 {
		t.Errorf("after exit: %+v", st)
	}
	res = r.do(t, runOpts{}, "start", "c1")
	if res.Status != 1 || !strings.Contains(res.Stderr, "cannot start a container that has stopped") {
		t.Errorf("start of a stopped container: status %d, stderr %q", res.Status, res.Stderr)
	}
	r.must(t, "delete", "c1")
	res = r.do(t, runOpts{}, "state", "c1")
	if res.Status != 1 || !strings.Contains(res.Stderr, "container does not exist") {
		t.Errorf("state after delete: status %d, stderr %q", res.Status, res.Stderr)
	}
	if out := r.must(t, "list", "--quiet"); out != "" {
		t.Errorf("list after delete: %q", out)
	}
}

// diedOf reports whether ws is the end of a container's pid whose init
// died of sig: killed by it (an unconfined sentry dies as init died), or
// exiting 128+sig (a confined sentry is PID 1 of its own PID namespace
// and cannot die of a signal it sends itself; conmon and the containerd
// shim report both as exit code 128+sig).
func diedOf(ws unix.WaitStatus, sig unix.Signal) bool {
	if ws.Signaled() {
		return ws.Signal() == sig && !ws.CoreDump()
	}
	return ws.Exited() && ws.ExitStatus() == 128+int(sig)
}

// TestOCIKillStatus: the container's pid ends as its init died (SIGKILL
// from kill; a fault inside; see diedOf), and kill works on a created
// container, as runtime.md says.
func TestOCIKillStatus(t *testing.T) {
	r := runscRuntime(t)
	subreaper(t)
	b := makeBundle(t, baseSpec("/bin/sleep", "1000"))
	r.must(t, "create", "-b", b, "k1")
	pid := r.state(t, "k1").Pid
	r.must(t, "kill", "k1", "KILL")
	if ws := waitChild(t, pid); !diedOf(ws, unix.SIGKILL) {
		t.Errorf("killed while created: the sentry ended with %#x, want SIGKILL's end", ws)
	}
	r.waitStatus(t, "k1", specs.StateStopped)
	r.must(t, "delete", "k1")

	// Signals by name, number and with SIG; TERM to an init without a
	// handler is ignored (Linux's rule for a PID namespace's init),
	// KILL ends it.
	b = makeBundle(t, baseSpec("/bin/sh", "-c", "trap 'exit 42' USR1; touch /tmp/ready; while :; do sleep 0.05; done"))
	r.must(t, "create", "-b", b, "k2")
	pid = r.state(t, "k2").Pid
	r.must(t, "start", "k2")
	if ready := filepath.Join(b, "rootfs/tmp/ready"); !waitForFile(t, ready) {
		t.Fatalf("%s did not appear within 30s", ready)
	}
	r.must(t, "kill", "k2", "10")
	if ws := waitChild(t, pid); !ws.Exited() || ws.ExitStatus() != 42 {
		t.Errorf("kill k2 10 (SIGUSR1, trapped): %v, want exit status 42", ws)
	}
	r.must(t, "delete", "k2")

	b = makeBundle(t, baseSpec("/bin/sleep", "1000"))
	r.must(t, "create", "-b", b, "k3")
	pid = r.state(t, "k3").Pid
	r.must(t, "start", "k3")
	r.must(t, "kill", "k3")
	time.Sleep(200 * time.Millisecond)
	if st := r.state(t, "k3"); st.Status != specs.StateRunning {
		t.Errorf("SIGTERM to an init without a handler stopped it: %+v", st)
	}
	r.must(t, "kill", "k3", "SIGKILL")
	if ws := waitChild(t, pid); !diedOf(ws, unix.SIGKILL) {
		t.Errorf("kill k3 SIGKILL: %#x", ws)
	}
	res := r.do(t, runOpts{}, "kill", "k3", "KILL")
	if res.Status != 1 || !strings.Contains(res.Stderr, "container not running") {
		t.Errorf("kill of a stopped container: status %d, stderr %q", res.Status, res.Stderr)
	}
	r.must(t, "kill", "--all", "k3", "KILL")
	r.must(t, "delete", "k3")

	// A fault kills init with SIGSEGV: so does the sentry end.
	b = makeBundle(t, baseSpec("/segv"))
	writeFile(t, filepath.Join(b, "rootfs/segv"), []byte(readFile(t, cProgs["segv"])), 0o755)
	r.must(t, "create", "-b", b, "k4")
	pid = r.state(t, "k4").Pid
	r.must(t, "start", "k4")
	if ws := waitChild(t, pid); !diedOf(ws, unix.SIGSEGV) {
		t.Errorf("init faulted: the sentry ended with %#x, want SIGSEGV's end without a core", ws)
	}
	r.must(t, "delete", "k4")
}

// TestOCIRun: run in the foreground returns the container's status and
// removes it; run --detach leaves it running.
func TestOCIRun(t *testing.T) {
	r := runscRuntime(t)
	b := makeBundle(t, baseSpec("/bin/sh", "-c", "echo out; echo err >&2; exit 7"))
	res := r.do(t, runOpts{}, "run", "-b", b, "r1")
	if res.Status != 7 || res.Stdout != "out\n" || !strings.Contains(res.Stderr, "err") {
		t.Errorf("run: status %d stdout %q stderr %q", res.Status, res.Stdout, res.Stderr)
	}
	if out := r.must(t, "list", "-q"); out != "" {
		t.Errorf("run left %q", out)
	}
	res = r.do(t, runOpts{Stdin: []byte("from stdin\n")}, "run", "-b", makeBundle(t, baseSpec("/bin/cat")), "r2")
	if res.Status != 0 || res.Stdout != "from stdin\n" {
		t.Errorf("run cat: status %d stdout %q stderr %q", res.Status, res.Stdout, res.Stderr)
	}
	r.must(t, "run", "-d", "-b", makeBundle(t, baseSpec("/bin/sleep", "1000")), "r3")
	if st := r.state(t, "r3"); st.Status != specs.StateRunning {
		t.Errorf("run -d: %+v", st)
	}
	r.must(t, "delete", "--force", "r3")
}

// TestOCIExec: exec's exit status, its environment and working
// directory flags, a process.json, exec --detach's pid (a live child of
// the caller that ends with the process's status), and signals passed on
// to the exec'd process.
func TestOCIExec(t *testing.T) {
	r := runscRuntime(t)
	subreaper(t)
	b := makeBundle(t, baseSpec("/bin/sleep", "1000"))
	r.must(t, "run", "-d", "-b", b, "e1")
	res := r.do(t, runOpts{}, "exec", "--env", "FOO=bar", "--cwd", "/tmp", "e1", "/bin/sh", "-c", "echo $FOO $(pwd); exit 5")
	if res.Status != 5 || res.Stdout != "bar /tmp\n" {
		t.Errorf("exec: status %d stdout %q stderr %q", res.Status, res.Stdout, res.Stderr)
	}
	proc := specs.Process{Args: []string{"/bin/sh", "-c", "id -u; id -g"}, Cwd: "/", User: specs.User{UID: 1000, GID: 2000}, Env: []string{"PATH=/bin"}}
	data, _ := json.Marshal(proc)
	pj := filepath.Join(t.TempDir(), "process.json")
	writeFile(t, pj, data, 0o644)
	if out := r.must(t, "exec", "-p", pj, "e1"); out != "1000\n2000\n" {
		t.Errorf("exec -p: %q", out)
	}
	res = r.do(t, runOpts{}, "exec", "e1", "/no/such/program")
	if res.Status != 255 || !strings.Contains(res.Stderr, "exec failed") || !strings.Contains(res.Stderr, "no such file") {
		t.Errorf("exec of a missing program: status %d stderr %q", res.Status, res.Stderr)
	}
	// exec --detach: the pid is a child of the caller and ends as the
	// process does.
	pidFile := filepath.Join(t.TempDir(), "exec.pid")
	r.must(t, "exec", "--detach", "--pid-file", pidFile, "e1", "/bin/sh", "-c", waitForFileScript("exit 6"))
	pid, _ := strconv.Atoi(strings.TrimSpace(readFile(t, pidFile)))
	if pp := ppidOf(pid); pp != strconv.Itoa(os.Getpid()) {
		t.Errorf("exec -d pid %d has parent %s, want the caller %d", pid, pp, os.Getpid())
	}
	writeFile(t, filepath.Join(b, "rootfs/tmp/go"), nil, 0o644)
	if ws := waitChild(t, pid); !ws.Exited() || ws.ExitStatus() != 6 {
		t.Errorf("exec -d process ended with %v, want exit 6", ws)
	}
	// A signal to the exec'd process's pid reaches the process.
	os.Remove(filepath.Join(b, "rootfs/tmp/go"))
	r.must(t, "exec", "-d", "--pid-file", pidFile, "e1", "/bin/sh", "-c", "trap 'exit 9' TERM; touch /tmp/ready; while :; do sleep 0.05; done")
	pid, _ = strconv.Atoi(strings.TrimSpace(readFile(t, pidFile)))
	if ready := filepath.Join(b, "rootfs/tmp/ready"); !waitForFile(t, ready) {
		t.Fatalf("%s did not appear within 30s", ready)
	}
	unix.Kill(pid, unix.SIGTERM)
	if ws := waitChild(t, pid); !ws.Exited() || ws.ExitStatus() != 9 {
		t.Errorf("SIGTERM to the exec -d pid: %v, want exit 9 (the trap's)", ws)
	}
	// A program that a process in the container holds open for
	// writing is busy for exec, as for execve (ETXTBSY), a script too
	// (whose interpreter is what the new image runs).
	os.Remove(filepath.Join(b, "rootfs/tmp/ready"))
	r.must(t, "exec", "-d", "--pid-file", pidFile, "e1", "/bin/sh", "-c", "printf '#!/bin/sh\\necho ran\\n' > /tmp/busy; chmod +x /tmp/busy; exec 3>>/tmp/busy; touch /tmp/ready; exec /bin/sleep 1000")
	pid, _ = strconv.Atoi(strings.TrimSpace(readFile(t, pidFile)))
	if ready := filepath.Join(b, "rootfs/tmp/ready"); !waitForFile(t, ready) {
		t.Fatalf("%s did not appear within 30s", ready)
	}
	res = r.do(t, runOpts{}, "exec", "e1", "/tmp/busy")
	if res.Status == 0 || !strings.Contains(res.Stderr, "text file busy") {
		t.Errorf("exec of a program open for writing: status %d stderr %q, want a failure with 'text file busy'", res.Status, res.Stderr)
	}
	unix.Kill(pid, unix.SIGKILL)
	waitChild(t, pid)
	r.must(t, "exec", "-d", "--pid-file", pidFile, "e1", "/bin/sleep", "1000")
	pid, _ = strconv.Atoi(strings.TrimSpace(readFile(t, pidFile)))
	unix.Kill(pid, unix.SIGKILL)
	waitChild(t, pid)
	ps := r.must(t, "ps", "e1")
	if !strings.Contains(ps, "PID") || !strings.Contains(ps, "/bin/sleep 1000") {
		t.Errorf("ps:\n%s", ps)
	}
	var pids []int
	if err := json.Unmarshal([]byte(r.must(t, "ps", "--format", "json", "e1")), &pids); err != nil || len(pids) == 0 {
		t.Errorf("ps --format json: %v %v", pids, err)
	}
	r.must(t, "kill", "e1", "KILL")
	r.waitStatus(t, "e1", specs.StateStopped)
	res = r.do(t, runOpts{}, "exec", "e1", "true")
	if res.Status != 255 || !strings.Contains(res.Stderr, "cannot exec in a stopped container") {
		t.Errorf("exec in a stopped container: status %d stderr %q", res.Status, res.Stderr)
	}
}

// TestOCIPauseResume: pause freezes the container's processes (a counter
// stops advancing), exec is refused while paused, resume thaws them.
func TestOCIPauseResume(t *testing.T) {
	r := runscRuntime(t)
	b := makeBundle(t, baseSpec("/bin/sh", "-c", "i=0; while :; do i=$((i+1)); echo $i > /tmp/count; sleep 0.01; done"))
	r.must(t, "run", "-d", "-b", b, "p1")
	count := filepath.Join(b, "rootfs/tmp/count")
	read := func() string {
		data, _ := os.ReadFile(count)
		return strings.TrimSpace(string(data))
	}
	waitChange := func(what string) {
		t.Helper()
		first := read()
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if c := read(); c != first && c != "" {
				return
			}
		}
		t.Fatalf("%s: the counter stays at %q", what, first)
	}
	waitChange("running")
	r.must(t, "pause", "p1")
	if st := r.state(t, "p1"); st.Status != "paused" {
		t.Errorf("after pause: %+v", st)
	}
	time.Sleep(100 * time.Millisecond)
	frozen := read()
	time.Sleep(500 * time.Millisecond)
	if c := read(); c != frozen {
		t.Errorf("paused, the counter went from %s to %s", frozen, c)
	}
	res := r.do(t, runOpts{}, "exec", "p1", "true")
	if res.Status != 255 || !strings.Contains(res.Stderr, "cannot exec in a paused container") {
		t.Errorf("exec while paused: status %d stderr %q", res.Status, res.Stderr)
	}
	res = r.do(t, runOpts{}, "resume", "p1")
	if res.Status != 0 {
		t.Fatalf("resume: %d %s", res.Status, res.Stderr)
	}
	waitChange("resumed")
	res = r.do(t, runOpts{}, "resume", "p1")
	if res.Status != 1 || !strings.Contains(res.Stderr, "container not paused") {
		t.Errorf("resume of a running container: status %d stderr %q", res.Status, res.Stderr)
	}
	// events --stats prints runc's stats event.
	var ev struct {
		Type string
		ID   string
		Data struct {
			Memory struct {
				Usage struct{ Limit, Usage uint64 }
			}
			Pids struct{ Current uint64 }
		}
	}
	if err := json.Unmarshal([]byte(r.must(t, "events", "--stats", "p1")), &ev); err != nil || ev.Type != "stats" || ev.ID != "p1" ||
		ev.Data.Memory.Usage.Usage == 0 || ev.Data.Pids.Current == 0 {
		t.Errorf("events --stats: %+v %v", ev, err)
	}
	// Pausing then deleting with --force leaves nothing.
	r.must(t, "pause", "p1")
	r.must(t, "delete", "--force", "p1")
}

// TestOCIConfined: an OCI container's sentry is confined by default, as
// `do`'s is (TestConfinementPosture): seccomp filter, no_new_privs, the
// kept capabilities only, namespaces of its own and an empty root; and
// ps reports the container's processes by their host PIDs (the stubs,
// children of the sentry), not by their numbers in the sentry's PID
// namespace.
func TestOCIConfined(t *testing.T) {
	r := runscRuntime(t)
	b := makeBundle(t, baseSpec("/bin/sh", "-c", "sleep 1000 & wait"))
	r.must(t, "run", "--detach", "--bundle", b, "conf")
	sentry := r.sentryPid(t, "conf")
	st := statusFields(t, sentry)
	for k, v := range map[string]string{"Seccomp": "2", "NoNewPrivs": "1", "CapEff": sentryCaps(), "CapBnd": sentryCaps()} {
		if st[k] != v {
			t.Errorf("sentry %d: %s: %s, want %s", sentry, k, st[k], v)
		}
	}
	for _, ns := range confinedNamespaces {
		if got, host := nsOf(t, sentry, ns), nsOf(t, 0, ns); got == host {
			t.Errorf("sentry %d shares the host's %s namespace %s", sentry, ns, got)
		}
	}
	if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/root", sentry)); err != nil || len(ents) != 0 {
		t.Errorf("the sentry's root: %d entries, %v; want empty", len(ents), err)
	}
	// sh starts sleep: wait (up to a minute) for both.
	var pids []int
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		pids = nil
		err := json.Unmarshal([]byte(r.must(t, "ps", "--format", "json", "conf")), &pids)
		if err == nil && len(pids) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ps --format json: %v %v, want two processes (sh, sleep)", pids, err)
		}
	}
	if p := os.Getenv("RUNSC_LITE_TEST_PLATFORM"); p == "" || p == "ptrace" {
		stubs := map[int]bool{}
		for _, s := range hostChildrenNamed(t, sentry, "runsc-lite-stub") {
			stubs[s] = true
		}
		for _, pid := range pids {
			if !stubs[pid] {
				t.Errorf("ps: pid %d is not a stub of the sentry %d (stubs %v)", pid, sentry, stubs)
			}
		}
	}
	r.must(t, "delete", "--force", "conf")
}

// TestOCIPsAcrossExec: a process keeps its host PID across execve, as
// under runc, and ps (its table and --format json) shows it: the host
// process that runs a sandbox process is its stub, which the new image
// runs in. Compared with runc on the same bundle.
func TestOCIPsAcrossExec(t *testing.T) {
	for _, r := range []*ociRuntime{runcRuntime(t), runscRuntime(t)} {
		t.Run(r.name, func(t *testing.T) {
			b := makeBundle(t, baseSpec("/bin/sh", "-c", waitForFileScript("exec /bin/sleep 1000")))
			r.must(t, "run", "--detach", "--bundle", b, "psx")
			// rows returns ps's table as host PID → command.
			rows := func() map[int]string {
				lines := strings.Split(strings.TrimSpace(r.must(t, "ps", "psx")), "\n")
				head := strings.Fields(lines[0])
				pidCol, cmdCol := -1, -1
				for i, h := range head {
					switch h {
					case "PID":
						pidCol = i
					case "CMD":
						cmdCol = i
					}
				}
				if pidCol < 0 || cmdCol < 0 {
					t.Fatalf("%s ps: no PID or CMD column:\n%s", r.name, strings.Join(lines, "\n"))
				}
				out := map[int]string{}
				for _, l := range lines[1:] {
					f := strings.Fields(l)
					if len(f) <= cmdCol {
						continue
					}
					pid, err := strconv.Atoi(f[pidCol])
					if err != nil {
						t.Fatalf("%s ps: PID %q:\n%s", r.name, f[pidCol], strings.Join(lines, "\n"))
					}
					out[pid] = strings.Join(f[cmdCol:], " ")
				}
				return out
			}
			// find returns the one process whose command starts with
			// prefix. The waiting shell forks a sleep every 20 ms, and
			// between fork and exec the child's command is the shell's
			// too: a table with two of them is read again.
			find := func(prefix string) int {
				for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
					var found []int
					for pid, cmd := range rows() {
						if strings.HasPrefix(cmd, prefix) {
							found = append(found, pid)
						}
					}
					if len(found) == 1 {
						return found[0]
					}
				}
				t.Fatalf("%s ps: not one %q after a minute: %v", r.name, prefix, rows())
				return 0
			}
			before := find("/bin/sh -c")
			writeFile(t, filepath.Join(b, "rootfs/tmp/go"), nil, 0o644)
			if after := find("/bin/sleep 1000"); after != before {
				t.Errorf("%s: the shell ran as host PID %d, the program it exec'd as %d; want the same", r.name, before, after)
			}
			var pids []int
			if err := json.Unmarshal([]byte(r.must(t, "ps", "--format", "json", "psx")), &pids); err != nil || len(pids) != 1 || pids[0] != before {
				t.Errorf("%s ps --format json: %v %v, want [%d]", r.name, pids, err, before)
			}
			r.must(t, "delete", "--force", "psx")
		})
	}
}
