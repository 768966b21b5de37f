package oci

// Bundles: config.json read, checked and turned into the sandbox's
// configuration.

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/runsc-lite/runsc-lite/sentry/container"
	"golang.org/x/sys/unix"
)

// ConfigName is a bundle's configuration file.
const ConfigName = "config.json"

// CRI annotations: how containerd's CRI plugin (and cri-o) group the
// containers of a Kubernetes pod.
const (
	annotationContainerType = "io.kubernetes.cri.container-type"
	annotationSandboxID     = "io.kubernetes.cri.sandbox-id"
	criSandbox              = "sandbox"
	criContainer            = "container"
)

// LoadSpec reads and checks dir's config.json. Errors are one line that
// names the file and the JSON field at fault.
func LoadSpec(dir string) (*specs.Spec, error) {
	p := filepath.Join(dir, ConfigName)
	data, err := os.ReadFile(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("JSON specification file %s not found", p)
		}
		return nil, err
	}
	spec, err := ParseSpec(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return spec, nil
}

// ParseSpec decodes and checks the contents of a config.json. Errors are
// one line that names the JSON field at fault.
func ParseSpec(data []byte) (*specs.Spec, error) {
	var spec *specs.Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		return nil, errors.New(jsonError(err, data))
	}
	if spec == nil {
		return nil, errors.New("config cannot be null")
	}
	if err := checkSpec(spec); err != nil {
		return nil, err
	}
	return spec, nil
}

// jsonError names the field of a type error, the line of a syntax error.
func jsonError(err error, data []byte) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field != "" {
			return fmt.Sprintf("%s: want %s, got JSON %s", te.Field, te.Type, te.Value)
		}
		return fmt.Sprintf("want %s, got JSON %s", te.Type, te.Value)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line := 1 + strings.Count(string(data[:min(int(se.Offset), len(data))]), "\n")
		return fmt.Sprintf("line %d: %v", line, se)
	}
	return err.Error()
}

// checkSpec checks what json.Unmarshal cannot: required fields and
// values the runtime must understand.
func checkSpec(s *specs.Spec) error {
	if s.Version == "" {
		return errors.New("ociVersion must be set")
	}
	if !strings.HasPrefix(s.Version, "1.") {
		return fmt.Errorf("ociVersion %q: only 1.x is supported", s.Version)
	}
	if s.Root == nil || s.Root.Path == "" {
		return errors.New("root.path must be set")
	}
	if err := checkProcess(s.Process, "process"); err != nil {
		return err
	}
	for i, m := range s.Mounts {
		if !filepath.IsAbs(m.Destination) {
			return fmt.Errorf("mounts[%d].destination %q must be an absolute path", i, m.Destination)
		}
	}
	if s.Hooks != nil {
		for name, hooks := range map[string][]specs.Hook{
			"prestart": s.Hooks.Prestart, "createRuntime": s.Hooks.CreateRuntime,
			"createContainer": s.Hooks.CreateContainer, "startContainer": s.Hooks.StartContainer,
			"poststart": s.Hooks.Poststart, "poststop": s.Hooks.Poststop,
		} {
			for i, h := range hooks {
				if !filepath.IsAbs(h.Path) {
					return fmt.Errorf("hooks.%s[%d].path %q must be an absolute path", name, i, h.Path)
				}
				if h.Timeout != nil && *h.Timeout <= 0 {
					return fmt.Errorf("hooks.%s[%d].timeout must be positive", name, i)
				}
			}
		}
	}
	l := s.Linux
	if l == nil {
		return nil
	}
	seen := map[specs.LinuxNamespaceType]bool{}
	for i, ns := range l.Namespaces {
		switch ns.Type {
		case specs.PIDNamespace, specs.NetworkNamespace, specs.MountNamespace, specs.IPCNamespace,
			specs.UTSNamespace, specs.UserNamespace, specs.CgroupNamespace, specs.TimeNamespace:
		default:
			return fmt.Errorf("linux.namespaces[%d].type %q is not a namespace type", i, ns.Type)
		}
		if seen[ns.Type] {
			return fmt.Errorf("linux.namespaces[%d]: namespace %q listed twice", i, ns.Type)
		}
		seen[ns.Type] = true
		if ns.Path != "" && !filepath.IsAbs(ns.Path) {
			return fmt.Errorf("linux.namespaces[%d].path %q must be an absolute path", i, ns.Path)
		}
	}
	for i, d := range l.Devices {
		if !filepath.IsAbs(d.Path) {
			return fmt.Errorf("linux.devices[%d].path %q must be an absolute path", i, d.Path)
		}
		switch d.Type {
		case "c", "u", "b", "p":
		default:
			return fmt.Errorf("linux.devices[%d].type %q: want c, u, b or p", i, d.Type)
		}
	}
	if r := l.Resources; r != nil {
		if m := r.Memory; m != nil && m.Limit != nil && *m.Limit != -1 && *m.Limit <= 0 {
			return fmt.Errorf("linux.resources.memory.limit %d must be positive", *m.Limit)
		}
		if c := r.CPU; c != nil {
			if c.Cpus != "" {
				if _, err := parseCPUSet(c.Cpus); err != nil {
					return fmt.Errorf("linux.resources.cpu.cpus %q: %w", c.Cpus, err)
				}
			}
			if c.Period != nil && *c.Period == 0 {
				return errors.New("linux.resources.cpu.period must be positive")
			}
		}
	}
	for _, m := range []struct {
		name string
		ms   []specs.LinuxIDMapping
	}{{"uidMappings", l.UIDMappings}, {"gidMappings", l.GIDMappings}} {
		for i, e := range m.ms {
			if e.Size == 0 {
				return fmt.Errorf("linux.%s[%d].size must be positive", m.name, i)
			}
		}
	}
	return nil
}

// checkProcess checks a process description (config.json's process, or
// exec's process.json).
func checkProcess(p *specs.Process, field string) error {
	if p == nil {
		return fmt.Errorf("%s must be set", field)
	}
	if len(p.Args) == 0 {
		return fmt.Errorf("%s.args must not be empty", field)
	}
	if p.Cwd == "" {
		return fmt.Errorf("%s.cwd must be set", field)
	}
	if !filepath.IsAbs(p.Cwd) {
		return fmt.Errorf("%s.cwd %q must be an absolute path", field, p.Cwd)
	}
	for i, rl := range p.Rlimits {
		if _, ok := rlimits[rl.Type]; !ok {
			return fmt.Errorf("%s.rlimits[%d].type %q is not a resource limit", field, i, rl.Type)
		}
		if rl.Soft > rl.Hard {
			return fmt.Errorf("%s.rlimits[%d]: soft limit %d is above the hard limit %d", field, i, rl.Soft, rl.Hard)
		}
	}
	if c := p.Capabilities; c != nil {
		for name, set := range map[string][]string{"bounding": c.Bounding, "effective": c.Effective,
			"inheritable": c.Inheritable, "permitted": c.Permitted, "ambient": c.Ambient} {
			for _, cap := range set {
				if _, ok := container.CapabilityByName(cap); !ok {
					return fmt.Errorf("%s.capabilities.%s: unknown capability %q", field, name, cap)
				}
			}
		}
	}
	if p.OOMScoreAdj != nil && (*p.OOMScoreAdj < -1000 || *p.OOMScoreAdj > 1000) {
		return fmt.Errorf("%s.oomScoreAdj %d: want -1000 to 1000", field, *p.OOMScoreAdj)
	}
	for i, e := range p.Env {
		if !strings.Contains(e, "=") {
			return fmt.Errorf("%s.env[%d] %q: want NAME=value", field, i, e)
		}
	}
	return nil
}

// rlimits are Linux's resource limits by their POSIX name.
var rlimits = map[string]int{
	"RLIMIT_CPU": unix.RLIMIT_CPU, "RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_DATA": unix.RLIMIT_DATA,
	"RLIMIT_STACK": unix.RLIMIT_STACK, "RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_RSS": unix.RLIMIT_RSS,
	"RLIMIT_NPROC": unix.RLIMIT_NPROC, "RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK,
	"RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS, "RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING,
	"RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE, "RLIMIT_NICE": unix.RLIMIT_NICE, "RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO,
	"RLIMIT_RTTIME": unix.RLIMIT_RTTIME,
}

// Sandbox is what a config.json asks of the sandbox as a whole (the
// sentry's flags), besides its first container.
type Sandbox struct {
	// TotalMemory is linux.resources.memory.limit (0: none).
	TotalMemory uint64
	// CPUs is what the CPU quota or cpuset allows (0: no limit).
	CPUs       int
	Hostname   string
	Domainname string
	// NetNS is the path of the network namespace the config joins ("":
	// a new one).
	NetNS string
	// HostNetwork is set when the config asks for no network namespace.
	HostNetwork bool
	// CgroupsPath is linux.cgroupsPath.
	CgroupsPath string
	// Resources are the host cgroup's limits.
	Resources *specs.LinuxResources
	// Namespaces, UIDMappings and GIDMappings are the config's: the
	// stand-in process lives in those namespaces (standin.go).
	Namespaces               []specs.LinuxNamespace
	UIDMappings, GIDMappings []specs.LinuxIDMapping
}

// Convert turns spec (of the bundle in dir) into container id's spec and
// the sandbox settings, with warnings for what the sandbox accepts but
// does not apply.
func Convert(spec *specs.Spec, dir, id string) (container.Spec, Sandbox, []string, error) {
	var warn []string
	root := spec.Root.Path
	if !filepath.IsAbs(root) {
		root = filepath.Join(dir, root)
	}
	st, err := os.Stat(root)
	if err != nil {
		return container.Spec{}, Sandbox{}, nil, fmt.Errorf("root.path %q: %w", root, errors.Unwrap(err))
	}
	if !st.IsDir() {
		return container.Spec{}, Sandbox{}, nil, fmt.Errorf("root.path %q: not a directory", root)
	}
	cs := container.Spec{
		ID:      id,
		Root:    container.Root{Path: root, ReadOnly: spec.Root.Readonly},
		Process: convertProcess(spec.Process),
	}
	for _, m := range spec.Mounts {
		cm := container.Mount{Destination: m.Destination, Type: m.Type, Source: m.Source, Options: m.Options}
		if cm.IsBind() && cm.Source != "" && !filepath.IsAbs(cm.Source) {
			cm.Source = filepath.Join(dir, cm.Source)
		}
		cs.Mounts = append(cs.Mounts, cm)
	}
	sb := Sandbox{Hostname: spec.Hostname, Domainname: spec.Domainname}
	if spec.Process != nil {
		if spec.Process.ApparmorProfile != "" {
			warn = append(warn, fmt.Sprintf("process.apparmorProfile %q ignored: the sandbox is its own security boundary", spec.Process.ApparmorProfile))
		}
		if spec.Process.SelinuxLabel != "" {
			warn = append(warn, fmt.Sprintf("process.selinuxLabel %q ignored: the sandbox is its own security boundary", spec.Process.SelinuxLabel))
		}
	}
	l := spec.Linux
	if l == nil {
		return cs, sb, warn, nil
	}
	cs.MaskedPaths = l.MaskedPaths
	cs.ReadonlyPaths = l.ReadonlyPaths
	cs.Sysctl = l.Sysctl
	for _, m := range l.UIDMappings {
		cs.UIDMappings = append(cs.UIDMappings, container.IDMapping(m))
	}
	for _, m := range l.GIDMappings {
		cs.GIDMappings = append(cs.GIDMappings, container.IDMapping(m))
	}
	for _, d := range l.Devices {
		cd := container.Device{Path: d.Path, Type: d.Type, Major: d.Major, Minor: d.Minor}
		if d.FileMode != nil {
			m := uint32(*d.FileMode & 07777)
			cd.Mode = &m
		}
		if d.UID != nil {
			cd.UID = *d.UID
		}
		if d.GID != nil {
			cd.GID = *d.GID
		}
		cs.Devices = append(cs.Devices, cd)
	}
	sb.CgroupsPath = l.CgroupsPath
	sb.Resources = l.Resources
	if r := l.Resources; r != nil {
		if r.Memory != nil && r.Memory.Limit != nil && *r.Memory.Limit > 0 {
			sb.TotalMemory = uint64(*r.Memory.Limit)
		}
		if c := r.CPU; c != nil {
			if c.Quota != nil && *c.Quota > 0 {
				period := uint64(100000)
				if c.Period != nil {
					period = *c.Period
				}
				sb.CPUs = int(math.Ceil(float64(*c.Quota) / float64(period)))
			}
			if c.Cpus != "" {
				set, _ := parseCPUSet(c.Cpus)
				if n := len(set); n > 0 && (sb.CPUs == 0 || n < sb.CPUs) {
					sb.CPUs = n
				}
			}
		}
		if r.Pids != nil && r.Pids.Limit != nil && *r.Pids.Limit > 0 {
			cs.PidsLimit = int(*r.Pids.Limit)
		}
	}
	sb.Namespaces, sb.UIDMappings, sb.GIDMappings = l.Namespaces, l.UIDMappings, l.GIDMappings
	netns := false
	for _, ns := range l.Namespaces {
		if ns.Type == specs.NetworkNamespace {
			netns = true
			sb.NetNS = ns.Path
		}
	}
	sb.HostNetwork = !netns
	if l.Seccomp != nil {
		sc, err := compileSeccomp(l.Seccomp)
		if err != nil {
			return container.Spec{}, Sandbox{}, nil, err
		}
		cs.Process.Seccomp = sc
	}
	if l.MountLabel != "" {
		warn = append(warn, fmt.Sprintf("linux.mountLabel %q ignored: the sandbox is its own security boundary", l.MountLabel))
	}
	return cs, sb, warn, nil
}

// convertProcess turns an OCI process into the sandbox's.
func convertProcess(p *specs.Process) container.Process {
	u := p.User
	cp := container.Process{
		Args:            p.Args,
		Env:             p.Env,
		Cwd:             p.Cwd,
		User:            &container.User{UID: u.UID, GID: u.GID, AdditionalGids: u.AdditionalGids, Umask: u.Umask},
		NoNewPrivileges: p.NoNewPrivileges,
		OOMScoreAdj:     p.OOMScoreAdj,
		Terminal:        p.Terminal,
	}
	if b := p.ConsoleSize; b != nil && p.Terminal {
		cp.ConsoleSize = &container.ConsoleSize{Height: uint16(min(b.Height, math.MaxUint16)), Width: uint16(min(b.Width, math.MaxUint16))}
	}
	for _, rl := range p.Rlimits {
		cp.Rlimits = append(cp.Rlimits, container.Rlimit{Resource: rlimits[rl.Type], Soft: rl.Soft, Hard: rl.Hard})
	}
	// No process.capabilities is no capability at all, as runc applies
	// it (the spec leaves it open).
	cp.Capabilities = &container.Capabilities{}
	if c := p.Capabilities; c != nil {
		cp.Capabilities = &container.Capabilities{Bounding: c.Bounding, Effective: c.Effective,
			Inheritable: c.Inheritable, Permitted: c.Permitted, Ambient: c.Ambient}
	}
	return cp
}

// parseCPUSet reads a cpuset list ("0-3,6").
func parseCPUSet(s string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("bad CPU %q", part)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("bad CPU range %q", part)
			}
		}
		if b-a > 4096 {
			return nil, fmt.Errorf("CPU range %q is too large", part)
		}
		for i := a; i <= b; i++ {
			out = append(out, i)
		}
	}
	return out, nil
}

// Example is the config.json `spec` writes: runc's example, running sh
// in ./rootfs, with the sandbox's defaults.
func Example() *specs.Spec {
	caps := []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}
	return &specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: "rootfs", Readonly: true},
		Process: &specs.Process{
			Terminal: true,
			User:     specs.User{},
			Args:     []string{"sh"},
			Env:      []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"},
			Cwd:      "/",
			Capabilities: &specs.LinuxCapabilities{
				Bounding: caps, Effective: caps, Permitted: caps,
			},
			Rlimits:         []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}},
			NoNewPrivileges: true,
		},
		Hostname: "runsc-lite",
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
		},
		Linux: &specs.Linux{
			MaskedPaths: []string{"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
				"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"},
			ReadonlyPaths: []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"},
			Resources: &specs.LinuxResources{
				Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
			},
			Namespaces: []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace},
				{Type: specs.IPCNamespace}, {Type: specs.UTSNamespace}, {Type: specs.MountNamespace}},
		},
	}
}
