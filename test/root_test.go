package test

// The sandbox's filesystem view (issue 2, item 3): the host root read-only
// under an in-memory writable layer, --volume binds that do reach the
// host, and --root DIR confined to DIR.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// probeLines runs probe in the sandbox and returns its stdout, failing t
// when the status is not wantStatus.
func probeLines(t *testing.T, wantStatus int, o runOpts, args ...string) string {
	t.Helper()
	return probeAt(t, cProg(t, "probe"), wantStatus, o, args...)
}

// probeAt is probeLines with the probe at path prog inside the sandbox.
func probeAt(t *testing.T, prog string, wantStatus int, o runOpts, args ...string) string {
	t.Helper()
	argv := append([]string{prog}, args...)
	r := runSandbox(t, argv, o)
	if r.Status != wantStatus {
		t.Fatalf("sandbox %q: status %d, want %d\nstdout:\n%s\nstderr:\n%s", argv, r.Status, wantStatus, r.Stdout, tail(r.Stderr, 20))
	}
	return r.Stdout
}

func expectOutput(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s: got (- want, + got):\n%s", what, diff(want, got))
	}
}

// TestOverlayWritesVanish: writes to the read-only host root land in the
// sandbox's in-memory layer: visible inside, never on the host.
func TestOverlayWritesVanish(t *testing.T) {
	needSandbox(t)
	fresh := fmt.Sprintf("/tmp/runsc-lite-overlay-%d", os.Getpid())
	inEtc := fmt.Sprintf("/etc/runsc-lite-overlay-%d", os.Getpid())
	t.Cleanup(func() { os.Remove(fresh); os.Remove(inEtc) })
	os.Remove(fresh)

	out := probeLines(t, 0, runOpts{}, "write", fresh, "from the sandbox")
	expectOutput(t, "write "+fresh, out, fmt.Sprintf("write %s: 16\n%s: from the sandbox\n", fresh, fresh))
	if _, err := os.Lstat(fresh); !os.IsNotExist(err) {
		t.Errorf("a write to %s inside the sandbox reached the host (%v)", fresh, err)
	}
	out = probeLines(t, 0, runOpts{}, "write", inEtc, "x")
	expectOutput(t, "write "+inEtc, out, fmt.Sprintf("write %s: 1\n%s: x\n", inEtc, inEtc))
	if _, err := os.Lstat(inEtc); !os.IsNotExist(err) {
		t.Errorf("a write to %s inside the sandbox reached the host (%v)", inEtc, err)
	}

	// Overwriting and unlinking a host file change only the sandbox's view.
	host := filepath.Join(t.TempDir(), "host-file")
	writeFile(t, host, []byte("original\n"), 0o644)
	out = probeLines(t, 0, runOpts{}, "write", host, "changed")
	expectOutput(t, "overwrite a host file", out, fmt.Sprintf("write %s: 7\n%s: changed\n", host, host))
	out = probeLines(t, 0, runOpts{}, "unlink", host)
	expectOutput(t, "unlink a host file", out, fmt.Sprintf("unlink %s = 0\n", host))
	if got := readFile(t, host); got != "original\n" {
		t.Errorf("the host file now holds %q, want it untouched", got)
	}
	// Each sandbox starts from the host's state: the earlier write is gone.
	out = probeLines(t, 0, runOpts{}, "cat", host, fresh)
	expectOutput(t, "a later sandbox", out, fmt.Sprintf("%s: original\n%s: ENOENT\n", host, fresh))
}

// TestVolume: --volume HOSTDIR:PATH binds HOSTDIR writable (writes reach
// the host), :ro read-only, repeatable.
func TestVolume(t *testing.T) {
	needSandbox(t)
	a, b := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(a, "pre"), []byte("pre-existing in a\n"), 0o644)
	writeFile(t, filepath.Join(b, "pre"), []byte("pre-existing in b\n"), 0o644)

	vol := []string{"--volume", a + ":/mnt/runsc-lite-a"}
	out := probeLines(t, 0, runOpts{Flags: vol}, "cat", "/mnt/runsc-lite-a/pre")
	expectOutput(t, "read through a volume", out, "/mnt/runsc-lite-a/pre: pre-existing in a\n")
	out = probeLines(t, 0, runOpts{Flags: vol}, "write", "/mnt/runsc-lite-a/new", "reaches the host")
	expectOutput(t, "write through a volume", out, "write /mnt/runsc-lite-a/new: 16\n/mnt/runsc-lite-a/new: reaches the host\n")
	if got, err := os.ReadFile(filepath.Join(a, "new")); err != nil || string(got) != "reaches the host" {
		t.Errorf("host file %s/new: %q, %v; want the sandbox's write", a, got, err)
	}

	// Read-only, and two volumes at once.
	two := []string{"--volume", a + ":/mnt/runsc-lite-a", "--volume", b + ":/mnt/runsc-lite-b:ro"}
	out = probeLines(t, 1, runOpts{Flags: two}, "write", "/mnt/runsc-lite-b/new", "must fail")
	expectOutput(t, "write to a :ro volume", out, "write /mnt/runsc-lite-b/new: EROFS\n")
	if _, err := os.Lstat(filepath.Join(b, "new")); !os.IsNotExist(err) {
		t.Errorf("a write into a :ro volume reached the host (%v)", err)
	}
	out = probeLines(t, 0, runOpts{Flags: two}, "cat", "/mnt/runsc-lite-a/pre", "/mnt/runsc-lite-b/pre")
	expectOutput(t, "two volumes", out, "/mnt/runsc-lite-a/pre: pre-existing in a\n/mnt/runsc-lite-b/pre: pre-existing in b\n")
	out = probeLines(t, 0, runOpts{Flags: two}, "unlink", "/mnt/runsc-lite-b/pre")
	expectOutput(t, "unlink in a :ro volume", out, "unlink /mnt/runsc-lite-b/pre = -1 EROFS\n")
	out = probeLines(t, 0, runOpts{Flags: two}, "ls", "/mnt/runsc-lite-a")
	expectOutput(t, "list a volume", out, "ls /mnt/runsc-lite-a: new pre\n")
	// A file deleted inside a writable volume is deleted on the host.
	out = probeLines(t, 0, runOpts{Flags: vol}, "unlink", "/mnt/runsc-lite-a/new")
	expectOutput(t, "unlink in a volume", out, "unlink /mnt/runsc-lite-a/new = 0\n")
	if _, err := os.Lstat(filepath.Join(a, "new")); !os.IsNotExist(err) {
		t.Errorf("an unlink inside a writable volume did not reach the host (%v)", err)
	}
}

// makeRoot builds a root directory whose only program is probe, with files
// and symlinks that try to escape it, and returns its path.
func makeRoot(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "root")
	probe, err := os.ReadFile(cProg(t, "probe"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "bin", "probe"), probe, 0o755)
	writeFile(t, filepath.Join(dir, "etc", "hello"), []byte("hello from the root\n"), 0o644)
	writeFile(t, filepath.Join(dir, "etc", "passwd"), []byte("the root's own passwd\n"), 0o644)
	if err := os.MkdirAll(filepath.Join(dir, "sub", "deep"), 0o755); err != nil {
		t.Fatal(err)
	}
	links := map[string]string{
		"abs-link":        "/etc/passwd",
		"rel-link":        "../../../../../../../../etc/passwd",
		"sub/deep/climb":  "../../../../../../../../../etc/hostname",
		"host-dir-link":   "/usr/bin",
		"dotdot-dir":      "../../../..",
		"sub/abs-dir":     "/",
		"sub/deep/to-bin": "../../bin",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestRootConfined: with --root DIR, no path, "..", or symlink inside DIR
// reaches a host file outside DIR; absolute symlinks resolve inside DIR.
func TestRootConfined(t *testing.T) {
	needSandbox(t)
	dir := makeRoot(t)
	o := runOpts{Flags: []string{"--root", dir}, Dir: "/"}
	paths := []string{
		"/etc/hello",
		"/../../../etc/passwd",
		"/abs-link",
		"/rel-link",
		"/sub/deep/climb",
		"/host-dir-link/env",
		"/dotdot-dir/etc/hello",
		"/dotdot-dir/etc/passwd",
		"/sub/abs-dir/etc/hello",
		"/etc/hostname",
		"/usr/bin/env",
		dir + "/etc/hello", // the host path of DIR means nothing inside it
	}
	want := strings.Join([]string{
		"/etc/hello: hello from the root",
		"/../../../etc/passwd: the root's own passwd",
		"/abs-link: the root's own passwd",
		"/rel-link: the root's own passwd",
		"/sub/deep/climb: ENOENT",
		"/host-dir-link/env: ENOENT",
		"/dotdot-dir/etc/hello: hello from the root",
		"/dotdot-dir/etc/passwd: the root's own passwd",
		"/sub/abs-dir/etc/hello: hello from the root",
		"/etc/hostname: ENOENT",
		"/usr/bin/env: ENOENT",
		dir + "/etc/hello: ENOENT",
	}, "\n") + "\n"
	r := runSandbox(t, append([]string{"/bin/probe", "cat"}, paths...), o)
	if r.Status != 0 {
		t.Fatalf("--root %s do /bin/probe: status %d\nstdout:\n%s\nstderr:\n%s", dir, r.Status, r.Stdout, tail(r.Stderr, 20))
	}
	expectOutput(t, "paths inside --root", r.Stdout, want)
	hostPasswd := strings.SplitN(readFile(t, "/etc/passwd"), "\n", 2)[0]
	if strings.Contains(r.Stdout, hostPasswd) {
		t.Errorf("the host's /etc/passwd was reached from inside --root")
	}

	// ".." from a working directory deep inside.
	out := probeAt(t, "/bin/probe", 0, o, "chdir-cat", "/sub/deep", "../../../../../etc/passwd")
	expectOutput(t, "relative climb from /sub/deep", out, "chdir /sub/deep = 0\n../../../../../etc/passwd: the root's own passwd\n")

	// The root's listing is DIR's (plus whatever the sentry mounts itself,
	// such as /proc and /dev), never the host's.
	out = probeAt(t, "/bin/probe", 0, o, "ls", "/")
	for _, name := range []string{"bin", "etc", "sub", "abs-link"} {
		if !strings.Contains(" "+strings.TrimSpace(out)+" ", " "+name+" ") {
			t.Errorf("ls / inside --root lacks %s: %s", name, out)
		}
	}
	for _, name := range []string{"usr", "work", "root", "lib64"} {
		if strings.Contains(" "+strings.TrimSpace(out)+" ", " "+name+" ") {
			t.Errorf("ls / inside --root shows the host's %s: %s", name, out)
		}
	}

	// The program is found through PATH inside DIR, and a symlinked
	// directory inside DIR works as a path to it.
	r = runSandbox(t, []string{"probe", "cat", "/etc/hello"}, o)
	if r.Status != 0 || r.Stdout != "/etc/hello: hello from the root\n" {
		t.Errorf("--root do probe (via PATH): status %d, stdout %q\nstderr:\n%s", r.Status, r.Stdout, tail(r.Stderr, 20))
	}
	r = runSandbox(t, []string{"/sub/deep/to-bin/probe", "exit", "7"}, o)
	if r.Status != 7 {
		t.Errorf("--root do /sub/deep/to-bin/probe exit 7: status %d\nstderr:\n%s", r.Status, tail(r.Stderr, 20))
	}
	// A host program outside DIR does not exist inside.
	r = runSandbox(t, []string{"/bin/true"}, o)
	if r.Status != 127 {
		t.Errorf("--root do /bin/true (absent from DIR): status %d, want 127\nstderr:\n%s", r.Status, tail(r.Stderr, 20))
	}
	// Writes inside --root go to the in-memory layer, never into DIR.
	out = probeAt(t, "/bin/probe", 0, o, "write", "/etc/new", "data")
	expectOutput(t, "write inside --root", out, "write /etc/new: 4\n/etc/new: data\n")
	if _, err := os.Lstat(filepath.Join(dir, "etc", "new")); !os.IsNotExist(err) {
		t.Errorf("a write inside --root reached DIR on the host (%v)", err)
	}
}
