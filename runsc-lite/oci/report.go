package oci

// What the runtime reports in runc's shapes: events' stats, features, and
// spec --rootless's changes.

import (
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
	"github.com/runsc-lite/runsc-lite/sentry/control"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// runcStats is runc's events "stats" data (runc's types.Stats), with what
// the sandbox measures.
type runcStats struct {
	CPU struct {
		Usage struct {
			Total  uint64   `json:"total,omitempty"`
			Percpu []uint64 `json:"percpu,omitempty"`
			Kernel uint64   `json:"kernel"`
			User   uint64   `json:"user"`
		} `json:"usage,omitempty"`
	} `json:"cpu"`
	Memory struct {
		Cache uint64      `json:"cache,omitempty"`
		Usage memoryEntry `json:"usage,omitempty"`
		Swap  memoryEntry `json:"swap,omitempty"`
	} `json:"memory"`
	Pids struct {
		Current uint64 `json:"current,omitempty"`
		Limit   uint64 `json:"limit,omitempty"`
	} `json:"pids"`
}

type memoryEntry struct {
	Limit   uint64 `json:"limit"`
	Usage   uint64 `json:"usage,omitempty"`
	Failcnt uint64 `json:"failcnt"`
}

// RuncStats returns st as runc's events print it.
func RuncStats(st *control.Stats) any {
	var r runcStats
	r.CPU.Usage.Total = st.CPUTotal
	r.CPU.Usage.Percpu = st.PerCPU
	r.CPU.Usage.Kernel = st.CPUSystem
	r.CPU.Usage.User = st.CPUUser
	r.Memory.Cache = st.MemoryCache
	r.Memory.Usage = memoryEntry{Limit: st.MemoryLimit, Usage: st.MemoryUsage}
	r.Memory.Swap = memoryEntry{Limit: st.SwapLimit, Usage: st.SwapUsage}
	r.Pids.Current = st.Pids
	r.Pids.Limit = st.PidsLimit
	return r
}

// Features returns what `features` prints.
func Features() *features.Features {
	var caps []string
	for c := linux.Capability(0); c <= linux.CAP_LAST_CAP; c++ {
		caps = append(caps, c.String())
	}
	no := false
	return &features.Features{
		OCIVersionMin: "1.0.0",
		OCIVersionMax: specs.Version,
		Hooks:         []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"},
		MountOptions: []string{"ro", "rw", "bind", "rbind", "nosuid", "nodev", "noexec", "suid", "dev", "exec",
			"relatime", "noatime", "strictatime", "private", "rprivate", "shared", "rshared", "slave", "rslave"},
		Linux: &features.Linux{
			Namespaces:   []string{"cgroup", "ipc", "mount", "network", "pid", "user", "uts"},
			Capabilities: caps,
			Seccomp:      &features.Seccomp{Enabled: &no},
			Apparmor:     &features.Apparmor{Enabled: &no},
			Selinux:      &features.Selinux{Enabled: &no},
		},
		Annotations: map[string]string{"io.github.runsc-lite.sandbox": "gVisor-style sentry; every process runs inside it"},
	}
}

// ToRootless changes an example spec the way runc's spec --rootless
// does: a user namespace mapping the caller's IDs to root, no cgroup
// limits, and the host's /sys bound read-only.
func ToRootless(s *specs.Spec) {
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	s.Linux.UIDMappings = []specs.LinuxIDMapping{{HostID: uint32(os.Geteuid()), ContainerID: 0, Size: 1}}
	s.Linux.GIDMappings = []specs.LinuxIDMapping{{HostID: uint32(os.Getegid()), ContainerID: 0, Size: 1}}
	s.Linux.Resources = nil
	var mounts []specs.Mount
	for _, m := range s.Mounts {
		switch m.Destination {
		case "/sys":
			m = specs.Mount{Destination: "/sys", Type: "none", Source: "/sys", Options: []string{"rbind", "nosuid", "noexec", "nodev", "ro"}}
		case "/sys/fs/cgroup":
			continue
		case "/dev/pts":
			var opts []string
			for _, o := range m.Options {
				if o != "gid=5" {
					opts = append(opts, o)
				}
			}
			m.Options = opts
		}
		mounts = append(mounts, m)
	}
	s.Mounts = mounts
}
