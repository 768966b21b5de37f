package test

// Containers that join a sandbox: the CRI annotations containerd's CRI
// plugin puts on a pod's containers make them run in the pod's sentry.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func podSpec(podID, kind string, args ...string) *specs.Spec {
	s := baseSpec(args...)
	s.Annotations = map[string]string{
		"io.kubernetes.cri.container-type": kind,
		"io.kubernetes.cri.sandbox-id":     podID,
	}
	return s
}

// TestOCIPod: a sandbox container and two containers that join it: each
// has its own root, sees the pod's processes, can be exec'd into; its pid
// is a waiter that ends with its status; it is deleted without ending the
// pod.
func TestOCIPod(t *testing.T) {
	r := runscRuntime(t)
	subreaper(t)
	pod := makeBundle(t, podSpec("pod1", "sandbox", "/bin/sleep", "1000"))
	r.must(t, "create", "-b", pod, "pod1")
	podPid := r.state(t, "pod1").Pid
	r.must(t, "start", "pod1")

	app := makeBundle(t, podSpec("pod1", "container", "/bin/sh", "-c",
		"cat /marker; ls /proc | grep -x '[0-9]*' | sort -n | head -1; cat /proc/1/cmdline | tr '\\0' ' '; echo; "+
			waitForFileScript("exit 4")))
	writeFile(t, filepath.Join(app, "rootfs/marker"), []byte("app rootfs\n"), 0o644)
	out := filepath.Join(t.TempDir(), "app.out")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res := r.do(t, runOpts{Stdout: f}, "create", "-b", app, "app")
	if res.Status != 0 {
		t.Fatalf("create app: %d %s", res.Status, res.Stderr)
	}
	appPid := r.state(t, "app").Pid
	if appPid == podPid || ppidOf(appPid) != strconv.Itoa(os.Getpid()) {
		t.Errorf("app's pid %d (parent %s) should be a waiter of its own, a child of the caller %d", appPid, ppidOf(appPid), os.Getpid())
	}
	r.must(t, "start", "app")
	if got := r.must(t, "exec", "app", "/bin/cat", "/marker"); got != "app rootfs\n" {
		t.Errorf("exec in app: %q", got)
	}
	if _, err := os.Stat(filepath.Join(pod, "rootfs/marker")); err == nil {
		t.Fatal("the pod's rootfs has the app's marker")
	}
	if res := r.do(t, runOpts{}, "exec", "pod1", "/bin/cat", "/marker"); res.Status == 0 {
		t.Errorf("the pod's container sees the app's root: %q", res.Stdout)
	}
	writeFile(t, filepath.Join(app, "rootfs/tmp/go"), nil, 0o644)
	if ws := waitChild(t, appPid); !ws.Exited() || ws.ExitStatus() != 4 {
		t.Errorf("app's waiter ended with %v, want exit 4", ws)
	}
	got := readFile(t, out)
	if want := "app rootfs\n1\n/bin/sleep 1000 \n"; got != want {
		t.Errorf("app saw %q, want %q (its own root, the pod's processes)", got, want)
	}
	if st := r.state(t, "app"); st.Status != specs.StateStopped {
		t.Errorf("app after exit: %+v", st)
	}
	r.must(t, "delete", "app")
	if st := r.state(t, "pod1"); st.Status != specs.StateRunning {
		t.Errorf("the pod after deleting app: %+v", st)
	}

	// A second container killed from outside: its waiter dies of SIGKILL.
	app2 := makeBundle(t, podSpec("pod1", "container", "/bin/sleep", "1000"))
	r.must(t, "create", "-b", app2, "app2")
	pid2 := r.state(t, "app2").Pid
	r.must(t, "start", "app2")
	r.must(t, "kill", "app2", "KILL")
	if ws := waitChild(t, pid2); !ws.Signaled() || ws.Signal() != unix.SIGKILL {
		t.Errorf("app2's waiter ended with %v, want killed by SIGKILL", ws)
	}
	r.must(t, "delete", "app2")
	if res := r.do(t, runOpts{}, "create", "-b", makeBundle(t, podSpec("nopod", "container", "/bin/true")), "orphan"); res.Status != 1 || !strings.Contains(res.Stderr, "nopod") {
		t.Errorf("joining a missing sandbox: status %d stderr %q", res.Status, res.Stderr)
	}
	r.must(t, "delete", "--force", "pod1")
	waitChild(t, podPid)
}

// TestOCIPodPidsLimit: each container of a pod has its own task limit
// (linux.resources.pids.limit, its pids cgroup's pids.max), as each has
// its own pids cgroup under runc: a fork bomb in a container limited to
// 10 tasks stops at 10 (the bomb is one of them) while the pod's
// unlimited container, in the same sentry, still makes 30; events
// --stats reports the container's pids.current and pids.max.
func TestOCIPodPidsLimit(t *testing.T) {
	r := runscRuntime(t)
	bomb, err := os.ReadFile(cProg(t, "bomb"))
	if err != nil {
		t.Fatal(err)
	}
	pod := makeBundle(t, podSpec("pod2", "sandbox", "/bin/sleep", "1000"))
	writeFile(t, filepath.Join(pod, "rootfs/bomb"), bomb, 0o755)
	r.must(t, "run", "--detach", "--bundle", pod, "pod2")

	limit := int64(10)
	spec := podSpec("pod2", "container", "/bin/sleep", "1000")
	spec.Linux.Resources = &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &limit}}
	app := makeBundle(t, spec)
	writeFile(t, filepath.Join(app, "rootfs/bomb"), bomb, 0o755)
	r.must(t, "run", "--detach", "--bundle", app, "limited")

	// The exec'd bomb joins the container's cgroup, where sleep is one
	// task already: it makes 8 more.
	if got, want := r.must(t, "exec", "limited", "/bomb", "procs", "1000"), "processes: 8 created, then EAGAIN\nreaped 8\n"; got != want {
		t.Errorf("bomb in the limited container: %q, want %q", got, want)
	}
	if got, want := r.must(t, "exec", "pod2", "/bomb", "procs", "30"), "processes: 30 created, then none\nreaped 30\n"; got != want {
		t.Errorf("bomb in the pod's unlimited container: %q, want %q", got, want)
	}
	var ev struct {
		Data struct {
			Pids struct {
				Current uint64 `json:"current"`
				Limit   uint64 `json:"limit"`
			} `json:"pids"`
		} `json:"data"`
	}
	if out := r.must(t, "events", "--stats", "limited"); json.Unmarshal([]byte(out), &ev) != nil || ev.Data.Pids.Current != 1 || ev.Data.Pids.Limit != 10 {
		t.Errorf("events --stats limited: %s, want pids current 1 (sleep), limit 10", out)
	}
	r.must(t, "delete", "--force", "limited")
	r.must(t, "delete", "--force", "pod2")
}
