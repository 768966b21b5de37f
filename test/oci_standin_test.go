package test

// The stand-in: the state's pid of a sandbox's first container is a host
// process in the config's namespaces and cgroup (runsc-lite/oci/standin.go),
// while the sentry keeps its own namespaces and a cgroup beside the
// config's.

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// pidsCgroupDir is the directory of cgroup path in the pids controller's
// hierarchy (v1) or the unified one (v2).
func pidsCgroupDir(path string) string {
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return filepath.Join("/sys/fs/cgroup", path)
	}
	return filepath.Join("/sys/fs/cgroup/pids", path)
}

// TestOCIStandIn: the state's pid lives in the namespaces the config
// names (new mount, PID, IPC, UTS and network ones; the runtime's user and
// cgroup namespaces, which the config does not list), as runc's init
// does, and the sentry in its own; the stand-in sits in cgroupsPath with
// pids.max exactly the limit and the sentry beside it with its headroom;
// its connection to the sentry blocks; a kill -9 of the stand-in ends the container (the sentry exits), as
// killing runc's init does; delete removes both cgroups.
func TestOCIStandIn(t *testing.T) {
	r := runscRuntime(t)
	if os.Geteuid() != 0 {
		t.Skip("host cgroups need root")
	}
	subreaper(t)
	spec := baseSpec("/bin/sleep", "1000")
	cg := fmt.Sprintf("/runsc-lite-test/standin-%d", os.Getpid())
	limit := int64(50)
	spec.Linux.CgroupsPath = cg
	spec.Linux.Resources = &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &limit}}
	b := makeBundle(t, spec)
	defer os.Remove(pidsCgroupDir("/runsc-lite-test"))
	r.must(t, "create", "-b", b, "si1")
	// An early failure leaves no container, sentry or cgroup behind
	// (after the test's own delete this one finds nothing).
	t.Cleanup(func() { r.do(t, runOpts{}, "delete", "--force", "si1") })
	standIn := r.state(t, "si1").Pid
	sentry := r.sentryPid(t, "si1")
	if standIn == sentry {
		t.Fatalf("the state's pid is the sentry %d", sentry)
	}
	for _, ns := range []string{"mnt", "pid", "ipc", "uts", "net"} {
		host, si, se := nsOf(t, 0, ns), nsOf(t, standIn, ns), nsOf(t, sentry, ns)
		if si == host {
			t.Errorf("the stand-in %d shares the runtime's %s namespace %s; the config asks for a new one", standIn, ns, host)
		}
		if se == host || se == si {
			t.Errorf("the sentry %d's %s namespace %s is the runtime's (%s) or the stand-in's (%s): want its own", sentry, ns, se, host, si)
		}
	}
	for _, ns := range []string{"user", "cgroup"} {
		if host, si := nsOf(t, 0, ns), nsOf(t, standIn, ns); si != host {
			t.Errorf("the stand-in's %s namespace %s, want the runtime's %s (the config lists none)", ns, si, host)
		}
	}
	dir, sentryDir := pidsCgroupDir(cg), pidsCgroupDir(cg+"@sentry")
	check := func(dir string, pid int, max string) {
		t.Helper()
		if got := strings.TrimSpace(readFile(t, filepath.Join(dir, "pids.max"))); got != max {
			t.Errorf("%s/pids.max: %s, want %s", dir, got, max)
		}
		if procs := strings.Fields(readFile(t, filepath.Join(dir, "cgroup.procs"))); !contains(procs, strconv.Itoa(pid)) {
			t.Errorf("%s/cgroup.procs: %v, want %d in it", dir, procs, pid)
		}
	}
	check(dir, standIn, "50")
	check(sentryDir, sentry, strconv.Itoa(2*50+128))
	// The stand-in's control connection (its fd 3) blocks: a
	// non-blocking one would read an exit record split in two as the
	// sandbox gone.
	for _, l := range strings.Split(readFile(t, fmt.Sprintf("/proc/%d/fdinfo/3", standIn)), "\n") {
		if f, ok := strings.CutPrefix(l, "flags:"); ok {
			if v, err := strconv.ParseUint(strings.TrimSpace(f), 8, 64); err != nil || v&unix.O_NONBLOCK != 0 {
				t.Errorf("the stand-in's fd 3 has flags %s: want a blocking socket", strings.TrimSpace(f))
			}
		}
	}
	r.must(t, "start", "si1")
	unix.Kill(standIn, unix.SIGKILL)
	waitChild(t, standIn)
	// The sentry kills the container and exits (it is a child of the
	// test, a subreaper, since the CLI that started it exited).
	waitChild(t, sentry)
	if st := r.state(t, "si1"); st.Status != specs.StateStopped {
		t.Errorf("after kill -9 of the stand-in: %+v", st)
	}
	r.must(t, "delete", "si1")
	for _, d := range []string{dir, sentryDir} {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("delete left the cgroup %s", d)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
