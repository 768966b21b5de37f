package oci

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestConvertResources(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "rootfs"), 0o755)
	quota, period := int64(150000), uint64(100000)
	limit := int64(64 << 20)
	pids := int64(100)
	s := Example()
	s.Linux.Resources = &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: &limit},
		CPU:    &specs.LinuxCPU{Quota: &quota, Period: &period, Cpus: "0-3"},
		Pids:   &specs.LinuxPids{Limit: &pids},
	}
	s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow}
	cs, sb, warns, err := Convert(s, dir, "c")
	if err != nil {
		t.Fatal(err)
	}
	if sb.TotalMemory != 64<<20 || sb.CPUs != 2 {
		t.Errorf("sandbox %+v: want 64 MiB, 2 CPUs (quota 1.5 rounded up, cpuset 4)", sb)
	}
	if cs.PidsLimit != 100 {
		t.Errorf("container's pids limit %d, want 100", cs.PidsLimit)
	}
	if cs.Root.Path != filepath.Join(dir, "rootfs") || !cs.Root.ReadOnly || cs.Process.User == nil {
		t.Errorf("container %+v", cs)
	}
	if len(warns) != 1 || !strings.Contains(warns[0], "linux.seccomp") {
		t.Errorf("warnings %q", warns)
	}
	s.Linux.Resources.CPU = &specs.LinuxCPU{Cpus: "1"}
	if _, sb, _, _ := Convert(s, dir, "c"); sb.CPUs != 1 {
		t.Errorf("cpuset 1: %d CPUs", sb.CPUs)
	}
}

func TestCheckSpec(t *testing.T) {
	for _, c := range []struct {
		edit func(*specs.Spec)
		want string
	}{
		{func(s *specs.Spec) { s.Version = "" }, "ociVersion must be set"},
		{func(s *specs.Spec) { s.Version = "2.0.0" }, "only 1.x"},
		{func(s *specs.Spec) { s.Root = nil }, "root.path must be set"},
		{func(s *specs.Spec) { s.Process.Env = []string{"NOEQUALS"} }, "process.env[0]"},
		{func(s *specs.Spec) { s.Mounts[0].Destination = "proc" }, "mounts[0].destination"},
		{func(s *specs.Spec) { s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/x", Type: "z"}} }, "linux.devices[0].type"},
		{func(s *specs.Spec) { n := -5; s.Process.OOMScoreAdj = &n; n2 := 2000; s.Process.OOMScoreAdj = &n2 }, "process.oomScoreAdj"},
		{func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 10, Hard: 5}}
		}, "above the hard limit"},
		{func(s *specs.Spec) {
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000}}
		}, "linux.uidMappings[0].size"},
		{func(s *specs.Spec) { s.Linux.Resources = &specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "3-1"}} }, "linux.resources.cpu.cpus"},
	} {
		s := Example()
		c.edit(s)
		if err := checkSpec(s); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("checkSpec: %v, want an error with %q", err, c.want)
		}
	}
	if err := checkSpec(Example()); err != nil {
		t.Errorf("the example spec: %v", err)
	}
}

func TestCgroupPath(t *testing.T) {
	for _, c := range []struct {
		path    string
		systemd bool
		want    string
	}{
		{"", false, "/runsc-lite/id"},
		{"/machine/abc", false, "/machine/abc"},
		{"rel/x", false, "rel/x"},
		{"system.slice:runsc-lite:abc", true, "/system.slice/runsc-lite-abc.scope"},
		{"machine-libpod.slice:libpod:abc", true, "/machine.slice/machine-libpod.slice/libpod-abc.scope"},
	} {
		got, err := cgroupPath(c.path, c.systemd, "id")
		if err != nil || got != c.want {
			t.Errorf("cgroupPath(%q, %v) = %q, %v; want %q", c.path, c.systemd, got, err, c.want)
		}
	}
	if _, err := cgroupPath("a:b:c", false, "id"); err == nil {
		t.Errorf("a systemd path without --systemd-cgroup was accepted")
	}
}
