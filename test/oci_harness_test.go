package test

// The OCI tests' harness: busybox bundles, and OCI runtimes (runsc-lite,
// and runc to compare with) each with a state root of its own.

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// busyboxPath is Debian's busybox-static (a static busybox: a rootfs of
// one file).
const busyboxPath = "/bin/busybox"

var (
	busyboxOnce   sync.Once
	busyboxRootfs string
	busyboxErr    error
)

// busyboxTree builds, once, a root filesystem holding busybox, a link for
// each of its applets, /etc/passwd and /etc/group.
func busyboxTree(t *testing.T) string {
	t.Helper()
	busyboxOnce.Do(func() {
		dir := filepath.Join(workDir, "busybox-rootfs")
		busyboxErr = makeBusyboxTree(dir)
		busyboxRootfs = dir
	})
	if busyboxErr != nil {
		t.Fatalf("busybox rootfs (needs Debian's busybox-static at %s): %v", busyboxPath, busyboxErr)
	}
	return busyboxRootfs
}

func makeBusyboxTree(dir string) error {
	// The rootfs holds nothing but busybox: it must be static.
	ef, err := elf.Open(busyboxPath)
	if err != nil {
		return err
	}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			ef.Close()
			return fmt.Errorf("%s is dynamically linked; want busybox-static's", busyboxPath)
		}
	}
	ef.Close()
	for _, d := range []string{"bin", "etc", "tmp", "proc", "sys", "dev", "root", "var/run"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	os.Chmod(filepath.Join(dir, "tmp"), 0o1777)
	data, err := os.ReadFile(busyboxPath)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "bin/busybox"), data, 0o755); err != nil {
		return err
	}
	list, err := exec.Command(busyboxPath, "--list").Output()
	if err != nil {
		return err
	}
	for _, name := range strings.Fields(string(list)) {
		if name != "busybox" {
			os.Symlink("busybox", filepath.Join(dir, "bin", name))
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\ntester:x:1000:1000::/tmp:/bin/sh\n"), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "etc/group"), []byte("root:x:0:\nusers:x:100:\ntester:x:1000:\nextra:x:2000:\nnogroup:x:65534:\n"), 0o644)
}

// copyTree copies src to dst with cp -a (busybox's tree is one file and
// links: cheap).
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp -a %s %s: %v\n%s", src, dst, err, out)
	}
}

// baseSpec is a container running args in ./rootfs, without a terminal,
// with runc's example mounts and namespaces.
func baseSpec(args ...string) *specs.Spec {
	return &specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: "rootfs"},
		Process: &specs.Process{
			Args: args,
			Env:  []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"},
			Cwd:  "/",
		},
		Hostname: "oci-test",
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace}, {Type: specs.MountNamespace}, {Type: specs.NetworkNamespace}},
		},
	}
}

// makeBundle writes a bundle (a busybox rootfs and spec's config.json) in
// a new directory and returns it.
func makeBundle(t *testing.T, spec *specs.Spec) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "bundle")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	copyTree(t, busyboxTree(t), filepath.Join(dir, "rootfs"))
	writeSpec(t, dir, spec)
	return dir
}

func writeSpec(t *testing.T, dir string, spec *specs.Spec) {
	t.Helper()
	data, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "config.json"), data, 0o644)
}

// sentryPid returns the host PID of the sentry of runsc-lite's container
// id (its state directory's record: the state's pid is the stand-in).
func (r *ociRuntime) sentryPid(t *testing.T, id string) int {
	t.Helper()
	var st struct {
		SentryPid int `json:"sentryPid"`
	}
	data, err := os.ReadFile(filepath.Join(r.root, id, "state.json"))
	if err == nil {
		err = json.Unmarshal(data, &st)
	}
	if err != nil || st.SentryPid <= 0 {
		t.Fatalf("the sentry's pid of %s: %d, %v", id, st.SentryPid, err)
	}
	return st.SentryPid
}

// ociRuntime is an OCI runtime binary with a state root of its own.
type ociRuntime struct {
	name string
	argv []string // the binary and its global flags
	root string
}

// runscRuntime returns runsc-lite as an OCI runtime.
func runscRuntime(t *testing.T) *ociRuntime {
	t.Helper()
	needSandbox(t)
	root := filepath.Join(t.TempDir(), "state")
	argv := []string{runscBin, "--root", root}
	if p := os.Getenv("RUNSC_LITE_TEST_PLATFORM"); p != "" {
		argv = append(argv, "--platform", p)
	}
	r := &ociRuntime{name: "runsc-lite", argv: argv, root: root}
	t.Cleanup(func() { r.cleanup(t) })
	return r
}

// runcRuntime returns Debian's runc, to compare with.
func runcRuntime(t *testing.T) *ociRuntime {
	t.Helper()
	bin, err := exec.LookPath("runc")
	if err != nil {
		t.Fatalf("runc is not installed (apt-get install -y runc; .ci/run installs it): %v", err)
	}
	root := filepath.Join(t.TempDir(), "runc-state")
	r := &ociRuntime{name: "runc", argv: []string{bin, "--root", root}, root: root}
	t.Cleanup(func() { r.cleanup(t) })
	return r
}

// do runs the runtime with args. Its standard output and error are files
// (a detached sentry or waiter keeps them open: pipes would not end).
func (r *ociRuntime) do(t *testing.T, o runOpts, args ...string) result {
	t.Helper()
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Minute
	}
	argv := append(append([]string(nil), r.argv...), args...)
	cmd, ctx, cancel := command(argv, o)
	defer cancel()
	dir := t.TempDir()
	stdout, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	defer stdout.Close()
	stderr, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if o.Stdout != nil {
		cmd.Stdout = o.Stdout
	}
	if o.Stdin != nil {
		cmd.Stdin = bytes.NewReader(o.Stdin)
	}
	start := time.Now()
	err = cmd.Run()
	res := result{Elapsed: time.Since(start)}
	res.Status = exitStatus(t, r.name, argv, ctx, cmd, err)
	res.Stdout = readFile(t, stdout.Name())
	res.Stderr = readFile(t, stderr.Name())
	return res
}

// must runs the runtime and fails the test unless it exits 0.
func (r *ociRuntime) must(t *testing.T, args ...string) string {
	t.Helper()
	res := r.do(t, runOpts{}, args...)
	if res.Status != 0 {
		t.Fatalf("%s %s: status %d\nstdout: %s\nstderr: %s", r.name, strings.Join(args, " "), res.Status, res.Stdout, tail(res.Stderr, 30))
	}
	return res.Stdout
}

// state returns the container's state, as `state` prints it.
func (r *ociRuntime) state(t *testing.T, id string) specs.State {
	t.Helper()
	out := r.must(t, "state", id)
	var st specs.State
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("%s state %s: %v\n%s", r.name, id, err, out)
	}
	return st
}

// waitStatus waits up to a minute for the container to reach status.
func (r *ociRuntime) waitStatus(t *testing.T, id string, status specs.ContainerState) specs.State {
	t.Helper()
	var st specs.State
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if st = r.state(t, id); st.Status == status {
			return st
		}
	}
	t.Fatalf("%s: container %s is %s after a minute, want %s", r.name, id, st.Status, status)
	return st
}

// cleanup force-deletes whatever containers a test left.
func (r *ociRuntime) cleanup(t *testing.T) {
	ents, _ := os.ReadDir(r.root)
	for _, e := range ents {
		if e.IsDir() {
			cmd := exec.Command(r.argv[0], append(r.argv[1:], "delete", "--force", e.Name())...)
			cmd.Run()
		}
	}
}

// subreaper makes the test process a child subreaper for the rest of the
// test, so that a runtime's detached processes (the sentry, waiters) are
// its children and their exit can be waited for, as conmon and the
// containerd shim wait for them.
func subreaper(t *testing.T) {
	t.Helper()
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatalf("PR_SET_CHILD_SUBREAPER: %v", err)
	}
	t.Cleanup(func() { unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0) })
}

// waitChild waits up to a minute for child pid to end and returns its
// wait status.
func waitChild(t *testing.T, pid int) unix.WaitStatus {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		if err != nil {
			t.Fatalf("wait4(%d): %v (is it a child of the test? ppid %s)", pid, err, ppidOf(pid))
		}
		if got == pid {
			return ws
		}
		if time.Now().After(deadline) {
			status, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
			stack, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stack")
			t.Fatalf("process %d did not exit within a minute:\n%s\n%s", pid, status, stack)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ppidOf returns pid's parent as /proc says ("?" if gone).
func ppidOf(pid int) string {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "?"
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 2 {
		return "?"
	}
	return f[1]
}

// sentryProcesses returns the PIDs of live runsc-lite sentries (processes
// of runscBin running the hidden boot command) and their children.
func sentryProcesses() map[int]bool {
	out := map[int]bool{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmd, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		args := strings.Split(string(cmd), "\x00")
		if len(args) >= 2 && args[1] == "boot" {
			if exe, err := os.Readlink("/proc/" + e.Name() + "/exe"); err == nil && exe == runscBin {
				out[pid] = true
			}
		}
	}
	return out
}
