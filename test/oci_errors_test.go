package test

// Bad input to the OCI verbs: runc's messages and statuses, one line each,
// and nothing left behind by a create that fails or a sentry that is
// killed.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// TestOCIErrors: unknown and invalid IDs, duplicate IDs, unknown signals
// and usage errors.
func TestOCIErrors(t *testing.T) {
	r := runscRuntime(t)
	for _, c := range []struct {
		args   []string
		status int
		want   string
	}{
		{[]string{"state", "nope"}, 1, "container does not exist"},
		{[]string{"start", "nope"}, 1, "container does not exist"},
		{[]string{"kill", "nope"}, 1, "container does not exist"},
		{[]string{"delete", "nope"}, 1, "container does not exist"},
		{[]string{"exec", "nope", "true"}, 255, "container does not exist"},
		{[]string{"state", "a/b"}, 1, "invalid container ID format"},
		{[]string{"state", ".."}, 1, "invalid container ID format"},
		{[]string{"create"}, 2, `"create" requires exactly 1 argument(s)`},
		{[]string{"kill", "a", "b", "c"}, 2, `"kill" requires a maximum of 2 argument(s)`},
		{[]string{"delete", "--bogus", "x"}, 2, "flag provided but not defined: -bogus"},
		{[]string{"list", "--format", "yaml"}, 1, "invalid format option"},
		{[]string{"nosuchverb"}, 2, `unknown command "nosuchverb"`},
	} {
		res := r.do(t, runOpts{}, c.args...)
		if res.Status != c.status || !strings.Contains(res.Stderr, c.want) {
			t.Errorf("%s: status %d, stderr %q; want status %d and %q", strings.Join(c.args, " "), res.Status, res.Stderr, c.status, c.want)
		}
	}
	res := r.do(t, runOpts{}, "--log-format", "xml", "list")
	if res.Status != 2 || !strings.Contains(res.Stderr, "invalid log-format: xml") {
		t.Errorf("--log-format xml: status %d stderr %q", res.Status, res.Stderr)
	}
	res = r.do(t, runOpts{}, "--root", "/", "list")
	if res.Status != 2 || !strings.Contains(res.Stderr, "should not be set to /") {
		t.Errorf("--root /: status %d stderr %q", res.Status, res.Stderr)
	}

	b := makeBundle(t, baseSpec("/bin/sleep", "1000"))
	r.must(t, "create", "-b", b, "dup")
	res = r.do(t, runOpts{}, "create", "-b", b, "dup")
	if res.Status != 1 || !strings.Contains(res.Stderr, "container with given ID already exists") {
		t.Errorf("duplicate create: status %d stderr %q", res.Status, res.Stderr)
	}
	for _, sig := range []string{"FOO", "SIGFOO", "-3", "65"} {
		res = r.do(t, runOpts{}, "kill", "dup", sig)
		if res.Status != 1 || !strings.Contains(res.Stderr, "unknown signal") {
			t.Errorf("kill dup %s: status %d stderr %q", sig, res.Status, res.Stderr)
		}
	}
	r.must(t, "delete", "dup")

	// --log json writes runc's level/msg/time lines there, not to stderr.
	logPath := filepath.Join(t.TempDir(), "log.json")
	res = r.do(t, runOpts{}, "--log", logPath, "--log-format", "json", "state", "nope")
	if res.Status != 1 || !strings.Contains(res.Stderr, "container does not exist") {
		t.Errorf("state nope with --log: status %d stderr %q", res.Status, res.Stderr)
	}
	logged := readFile(t, logPath)
	if !strings.Contains(logged, `"level":"error"`) || !strings.Contains(logged, `"msg":"container does not exist"`) || !strings.Contains(logged, `"time":`) {
		t.Errorf("json log: %q", logged)
	}
	// The sentry writes the same log in the same format: every line is
	// JSON with runc's keys (the containerd shim stops reading the log
	// for the runtime's last error at the first line that is not).
	res = r.do(t, runOpts{}, "--debug", "--log", logPath, "--log-format", "json", "run", "--bundle", makeBundle(t, baseSpec("/bin/true")), "logged")
	if res.Status != 0 {
		t.Fatalf("run with a json log: status %d stderr %q", res.Status, res.Stderr)
	}
	sentryLines := 0
	for _, l := range strings.Split(strings.TrimSpace(readFile(t, logPath)), "\n") {
		var e map[string]any
		if err := json.Unmarshal([]byte(l), &e); err != nil || e["level"] == nil || e["msg"] == nil || e["time"] == nil {
			t.Errorf("a log line that is not runc's JSON: %q", l)
			continue
		}
		if strings.Contains(e["msg"].(string), "kernel up") {
			sentryLines++
		}
	}
	if sentryLines == 0 {
		t.Errorf("no line of the sentry's in the log:\n%s", readFile(t, logPath))
	}
}

// TestOCIBadConfig: config.json errors name the field, exit 1, and leave
// no state directory and no sentry behind.
func TestOCIBadConfig(t *testing.T) {
	r := runscRuntime(t)
	before := sentryProcesses()
	for _, c := range []struct {
		name   string
		config string // written as config.json (empty: none)
		spec   func(*specs.Spec)
		want   string
	}{
		{name: "no config", want: "config.json not found"},
		{name: "syntax", config: "{\n  \"ociVersion\": \"1.0.2\",\n  \"process\": {,\n}", want: "line 3"},
		{name: "type", config: `{"ociVersion": "1.0.2", "root": {"path": "rootfs"}, "process": {"args": "sh", "cwd": "/"}}`, want: "process.args"},
		{name: "uid type", config: `{"ociVersion": "1.0.2", "root": {"path": "rootfs"}, "process": {"args": ["sh"], "cwd": "/", "user": {"uid": "root"}}}`, want: "process.user.uid"},
		{name: "no args", spec: func(s *specs.Spec) { s.Process.Args = nil }, want: "process.args must not be empty"},
		{name: "relative cwd", spec: func(s *specs.Spec) { s.Process.Cwd = "tmp" }, want: "process.cwd"},
		{name: "no rootfs", spec: func(s *specs.Spec) { s.Root.Path = "missing" }, want: "root.path"},
		{name: "bad rlimit", spec: func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_BOGUS", Hard: 1, Soft: 1}}
		}, want: "process.rlimits[0].type"},
		{name: "bad capability", spec: func(s *specs.Spec) {
			s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: []string{"CAP_BOGUS"}}
		}, want: "CAP_BOGUS"},
		{name: "bad namespace", spec: func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "bogus"})
		}, want: "linux.namespaces[5].type"},
		{name: "missing program", spec: func(s *specs.Spec) { s.Process.Args = []string{"/no/such/program"} }, want: "/no/such/program"},
		{name: "bind source missing", spec: func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Type: "bind", Source: "/no/such/dir", Options: []string{"rbind"}})
		}, want: "/no/such/dir"},
		{name: "unknown fs", spec: func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x", Type: "ext4", Source: "/dev/sda1"})
		}, want: "is not supported in the sandbox"},
		{name: "failing prestart hook", spec: func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{Prestart: []specs.Hook{{Path: "/bin/false"}}}
		}, want: "prestart hook #0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := makeBundle(t, baseSpec("/bin/true"))
			switch {
			case c.spec != nil:
				s := baseSpec("/bin/true")
				c.spec(s)
				writeSpec(t, b, s)
			case c.config != "":
				writeFile(t, filepath.Join(b, "config.json"), []byte(c.config), 0o644)
			default:
				os.Remove(filepath.Join(b, "config.json"))
			}
			res := r.do(t, runOpts{}, "create", "--bundle", b, "bad")
			lines := strings.Split(strings.TrimSpace(res.Stderr), "\n")
			if res.Status != 1 || !strings.Contains(res.Stderr, c.want) || len(lines) != 1 {
				t.Errorf("status %d, stderr %q; want status 1 and one line with %q", res.Status, res.Stderr, c.want)
			}
			if _, err := os.Stat(filepath.Join(r.root, "bad")); err == nil {
				t.Errorf("a failed create left its state directory")
			}
		})
	}
	// A sentry killed as its create failed may take a moment to exit
	// on a loaded host: wait (bounded) for the new ones to go, instead of
	// looking once after a fixed 100 ms. One left behind stays for ever.
	var left []int
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		left = left[:0]
		for pid := range sentryProcesses() {
			if !before[pid] {
				left = append(left, pid)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, pid := range left {
		t.Errorf("a failed create left sentry %d running (10 s after)", pid)
	}
}

// TestOCIKilledSentry: a sentry killed with SIGKILL leaves no process
// behind (its ptrace stubs die with it, the stand-in ends as if init was
// killed), state says stopped, and delete cleans up.
func TestOCIKilledSentry(t *testing.T) {
	r := runscRuntime(t)
	subreaper(t)
	b := makeBundle(t, baseSpec("/bin/sh", "-c", "sleep 1000 & sleep 1000"))
	r.must(t, "run", "-d", "-b", b, "k9")
	st := r.state(t, "k9")
	sentry := r.sentryPid(t, "k9")
	var children []int
	for deadline := time.Now().Add(30 * time.Second); len(children) < 3 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		children = childrenOf(sentry)
	}
	if len(children) < 3 {
		t.Fatalf("the sentry has %d child processes (ptrace stubs); want at least 3 (sh and two sleeps)", len(children))
	}
	unix.Kill(sentry, unix.SIGKILL)
	waitChild(t, sentry)
	if ws := waitChild(t, st.Pid); !diedOf(ws, unix.SIGKILL) {
		t.Errorf("the stand-in %d ended with %#x after its sentry was killed, want SIGKILL's end", st.Pid, ws)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var alive []int
		for _, c := range children {
			if processStart(c) != 0 {
				alive = append(alive, c)
			}
		}
		if len(alive) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes of the killed sentry still alive: %v", alive)
		}
	}
	if st := r.state(t, "k9"); st.Status != specs.StateStopped {
		t.Errorf("after kill -9 of the sentry: %+v", st)
	}
	r.must(t, "delete", "k9")
	if _, err := os.Stat(filepath.Join(r.root, "k9")); err == nil {
		t.Errorf("delete left the state directory")
	}
}

// childrenOf returns pid's children.
func childrenOf(pid int) []int {
	var out []int
	tasks, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	for _, task := range tasks {
		data, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + task.Name() + "/children")
		for _, f := range strings.Fields(string(data)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// processStart returns pid's start time, 0 if it is gone or a zombie.
func processStart(pid int) uint64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 20 || f[0] == "Z" {
		return 0
	}
	n, _ := strconv.ParseUint(f[19], 10, 64)
	return n
}
