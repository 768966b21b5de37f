package oci

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	inside "github.com/runsc-lite/runsc-lite/sentry/seccomp"
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
	if len(warns) != 0 {
		t.Errorf("warnings %q", warns)
	}
	if cs.Process.Seccomp == nil || len(cs.Process.Seccomp.Program) == 0 {
		t.Errorf("linux.seccomp was not compiled: %+v", cs.Process.Seccomp)
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

// TestCompileSeccomp: the config's profile errors name the field; a
// compiled program is one the sandbox's seccomp(2) accepts.
func TestCompileSeccomp(t *testing.T) {
	eperm := uint(1)
	good := &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
		Flags:         []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog},
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"read", "write", "no_such_call"}, Action: specs.ActAllow},
			{Names: []string{"personality"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 0xffffffff, Op: specs.OpEqualTo}}},
			{Names: []string{"clone"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 0x7e020000, Op: specs.OpMaskedEqual}}},
			{Names: []string{"mkdir"}, Action: specs.ActErrno, ErrnoRet: &eperm},
			{Names: []string{"chmod"}, Action: specs.ActLog},
		},
	}
	sc, err := compileSeccomp(good)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inside.New(sc.Program, sc.Flags); err != nil {
		t.Fatalf("the sandbox refuses the compiled program: %v", err)
	}
	logs := 0
	for _, in := range sc.Program {
		if in.K == inside.RetLog {
			logs++
		}
	}
	if logs == 0 || sc.Flags != inside.FlagLog {
		t.Errorf("SCMP_ACT_LOG returns %d, flags %#x", logs, sc.Flags)
	}
	for _, c := range []struct {
		s    specs.LinuxSeccomp
		want string
	}{
		{specs.LinuxSeccomp{DefaultAction: "SCMP_ACT_BOGUS"}, "linux.seccomp.defaultAction"},
		{specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{specs.ArchAARCH64}}, "linux.seccomp.architectures"},
		{specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActNotify}}}, "linux.seccomp.syscalls[0].action"},
		{specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 6, Op: specs.OpEqualTo}}}}}, "linux.seccomp.syscalls[0].args"},
		{specs.LinuxSeccomp{DefaultAction: specs.ActAllow, ListenerPath: "/run/agent.sock"}, "linux.seccomp.listenerPath"},
		{specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Flags: []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_BOGUS"}}, "linux.seccomp.flags"},
	} {
		if _, err := compileSeccomp(&c.s); err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error naming %s", c.s, err, c.want)
		}
	}
}
