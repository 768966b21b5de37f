package test

// do's command line: --env, --user, --cwd, and its usage errors, which
// all exit 2 with one line.

import (
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// TestDoEnvUserCwd: --env sets and passes variables, --user runs as a
// uid and gid (numbers, or names from the sandbox root's /etc/passwd),
// --cwd sets the working directory.
func TestDoEnvUserCwd(t *testing.T) {
	o := runOpts{Env: append(append([]string(nil), baseEnv...), "FROM_HOST=yes")}
	o.Flags = []string{"--env", "FOO=bar", "-e", "FROM_HOST", "-e", "LANG=en", "--cwd", "/tmp"}
	r := runSandbox(t, []string{"/bin/sh", "-c", "echo $FOO $FROM_HOST $LANG $(pwd)"}, o)
	if r.Status != 0 || r.Stdout != "bar yes en /tmp\n" {
		t.Errorf("--env/--cwd: status %d stdout %q stderr %q", r.Status, r.Stdout, r.Stderr)
	}
	r = runSandbox(t, []string{"/bin/sh", "-c", "id -u; id -g"}, runOpts{Flags: []string{"--user", "1234:5678"}})
	if r.Status != 0 || r.Stdout != "1234\n5678\n" {
		t.Errorf("--user 1234:5678: status %d stdout %q stderr %q", r.Status, r.Stdout, r.Stderr)
	}
	root := busyboxTree(t)
	r = runSandbox(t, []string{"/bin/sh", "-c", "id -u; id -g"}, runOpts{Dir: "/", Flags: []string{"--root", root, "-u", "tester"}})
	if r.Status != 0 || r.Stdout != "1000\n1000\n" {
		t.Errorf("-u tester: status %d stdout %q stderr %q", r.Status, r.Stdout, r.Stderr)
	}
}

// TestDoUsageErrors: bad flags exit 2 with one line; --cpus above the
// host's count only warns.
func TestDoUsageErrors(t *testing.T) {
	for _, c := range []struct {
		flags []string
		want  string
	}{
		{[]string{"--root", "/no/such/dir"}, "--root /no/such/dir: no such file or directory"},
		{[]string{"--platform", "vax"}, `--platform "vax"`},
		{[]string{"--network", "bogus"}, `--network "bogus"`},
		{[]string{"--cwd", "/no/such/dir"}, "--cwd /no/such/dir: no such directory in the sandbox"},
		{[]string{"--cwd", "relative"}, "want an absolute path"},
		{[]string{"--user", "nosuchuser"}, `no user "nosuchuser"`},
		{[]string{"--env", "=x"}, "want NAME=VALUE"},
		{[]string{"--total-memory", "lots"}, "bad size"},
		{[]string{"--bogus"}, "flag provided but not defined"},
	} {
		r := runSandbox(t, []string{"/bin/true"}, runOpts{Flags: c.flags})
		lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
		if r.Status != 2 || !strings.Contains(lines[0], c.want) {
			t.Errorf("do %s: status %d stderr %q; want status 2 and %q", strings.Join(c.flags, " "), r.Status, r.Stderr, c.want)
		}
	}
	n := strconv.Itoa(runtime.NumCPU() + 1)
	r := runSandbox(t, []string{"/bin/sh", "-c", "nproc"}, runOpts{Flags: []string{"--cpus", n}})
	if r.Status != 0 || strings.TrimSpace(r.Stdout) != n || !strings.Contains(r.Stderr, "warning: --cpus "+n+" is more than the host's") {
		t.Errorf("--cpus %s: status %d stdout %q stderr %q", n, r.Status, r.Stdout, r.Stderr)
	}
}

// TestDoBadInterpreter: a script whose #! interpreter is missing says so
// and exits 126, as bash does; a missing program exits 127.
func TestDoBadInterpreter(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "script")
	if err := os.WriteFile(script, []byte("#!/no/such/interpreter\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := runSandbox(t, []string{script}, runOpts{})
	if r.Status != 126 || !strings.Contains(r.Stderr, "/no/such/interpreter: bad interpreter: no such file or directory") {
		t.Errorf("script with a missing interpreter: status %d stderr %q", r.Status, r.Stderr)
	}
	r = runSandbox(t, []string{"no-such-program-anywhere"}, runOpts{})
	if r.Status != 127 || !strings.Contains(r.Stderr, "command not found") {
		t.Errorf("missing program: status %d stderr %q", r.Status, r.Stderr)
	}
}

// TestDoProfileCPU: --profile-cpu leaves a whole CPU profile of the sentry
// (a gzipped protobuf, as runtime/pprof writes it) when the program exits,
// with the program's exit status passed through. The sentry ends by
// exiting like init, which skips deferred calls: the profile was once
// left empty.
func TestDoProfileCPU(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cpu.pprof")
	r := runSandbox(t, []string{"/bin/sh", "-c", "for i in 1 2 3 4 5 6 7 8; do /bin/true; done; exit 3"},
		runOpts{Flags: []string{"--profile-cpu", path}})
	if r.Status != 3 {
		t.Fatalf("status %d, want 3; stderr %q", r.Status, r.Stderr)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s is not a gzipped profile: %v", path, err)
	}
	n, err := io.Copy(io.Discard, zr)
	if err != nil || n == 0 {
		t.Fatalf("%s: %d bytes of profile, error %v", path, n, err)
	}
}
