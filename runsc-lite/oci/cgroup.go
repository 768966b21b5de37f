package oci

// The host cgroups of a sandbox's first container: what runc does for a
// container's processes, done for the host processes that stand for it.
// The stand-in (standin.go) goes in the config's cgroup (cgroupsPath),
// whose limits are exactly the config's: it is the container's process to
// the outside, and runtime-tools and the engines read that cgroup. The
// sentry goes in a sibling cgroup, the config's path with "@sentry"
// appended (no container ID has an @), with the same memory and CPU limits
// plus room for the sentry's own host tasks and memory: the sandbox's own
// limits (its memory, CPUs, task limit) are enforced inside by the
// sentry, and the sibling bounds the sentry process itself. Both are made
// at create and removed at delete. What reads them: `events --stats` asks
// the sentry (the sandbox's usage and the container's pids); an engine
// that reads cgroupsPath itself (podman stats) sees the stand-in's.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// cgroupRoot is where the host's cgroup hierarchies are mounted.
const cgroupRoot = "/sys/fs/cgroup"

// sentryMemoryHeadroom is what the sentry process may use beyond the
// sandbox's memory (its own heap, page tables, stubs) before the host
// cgroup's memory limit stops it.
const sentryMemoryHeadroom = 64 << 20

// The sentry's host task count: its Go runtime's threads (about 30 when
// idle), and per sandbox process a stub process and a thread of the
// sentry that traces it, per sandbox thread a stub thread. A pids.max of
// exactly linux.resources.pids.limit would let the host refuse the Go
// runtime a thread, which ends the sentry ("failed to create new OS
// thread"), long before the sandbox reached its limit: the sentry's
// cgroup gets sentryPidsMax(limit), the config's (the stand-in's) the
// limit, and the limit itself is enforced inside
// (container.Spec.PidsLimit), where each sandbox task counts once.
const (
	sentryPidsPerTask = 2
	sentryPidsBase    = 128
)

// sentryPidsMax is the host cgroup's pids.max for a sandbox limited to
// limit tasks.
func sentryPidsMax(limit int64) int64 {
	return sentryPidsPerTask*limit + sentryPidsBase
}

// v1Controllers are the cgroup v1 hierarchies a sentry joins.
var v1Controllers = []string{"cpu", "cpuacct", "cpuset", "memory", "pids", "freezer", "devices", "blkio", "systemd"}

// cgroupPath returns the cgroup a container's sentry goes in: the
// config's cgroupsPath (a cgroupfs path, or systemd's slice:prefix:name
// when --systemd-cgroup), or /runsc-lite/ID. A relative path is taken
// under the caller's own cgroup of each hierarchy.
func cgroupPath(cgroupsPath string, systemd bool, id string) (string, error) {
	p := cgroupsPath
	if p == "" {
		return "/runsc-lite/" + id, nil
	}
	if systemd {
		parts := strings.Split(p, ":")
		if len(parts) != 3 {
			return "", fmt.Errorf("linux.cgroupsPath %q: with --systemd-cgroup, want slice:prefix:name", p)
		}
		slice, prefix, name := parts[0], parts[1], parts[2]
		if slice == "" {
			slice = "system.slice"
		}
		dir, err := expandSlice(slice)
		if err != nil {
			return "", fmt.Errorf("linux.cgroupsPath %q: %w", p, err)
		}
		unit := name
		if !strings.HasSuffix(name, ".slice") {
			unit = prefix + "-" + name + ".scope"
		}
		return filepath.Join(dir, unit), nil
	}
	if strings.Contains(p, ":") && !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("linux.cgroupsPath %q looks like a systemd path; pass --systemd-cgroup", p)
	}
	return filepath.Clean(p), nil
}

// expandSlice turns a systemd slice name into its cgroup path
// (a-b.slice is /a.slice/a-b.slice).
func expandSlice(slice string) (string, error) {
	if !strings.HasSuffix(slice, ".slice") || strings.Contains(slice, "/") {
		return "", fmt.Errorf("bad slice %q", slice)
	}
	if slice == "-.slice" {
		return "/", nil
	}
	name := strings.TrimSuffix(slice, ".slice")
	path, prefix := "", ""
	for _, comp := range strings.Split(name, "-") {
		if comp == "" {
			return "", fmt.Errorf("bad slice %q", slice)
		}
		path += "/" + prefix + comp + ".slice"
		prefix += comp + "-"
	}
	return path, nil
}

// sentryCgroup is the sentry's cgroup beside the container's cgroup path.
func sentryCgroup(path string) string {
	return filepath.Clean(path) + "@sentry"
}

// placeCgroup makes the cgroup path in every hierarchy, writes r's limits
// and moves pid into it: the limits exactly for the stand-in, with the
// sentry's headroom (memory, host tasks) when sentry is set. It returns the
// directories it made (for removeCgroups) and the limits it could not
// set, as warnings: a host whose cgroups the runtime may not change still
// runs the container, bounded inside the sandbox.
func placeCgroup(path string, r *specs.LinuxResources, pid int, sentry bool) (made []string, warn []string) {
	pidsMax := pidsLimit(r)
	mem := memLimit(r)
	if sentry && pidsMax > 0 {
		pidsMax = sentryPidsMax(pidsMax)
	}
	if sentry && mem > 0 {
		mem += sentryMemoryHeadroom
	}
	type dirLimits struct {
		dir    string
		limits [][2]string
	}
	var dirs []dirLimits
	if _, err := os.Stat(filepath.Join(cgroupRoot, "cgroup.controllers")); err == nil {
		// cgroup v2.
		d := dirLimits{dir: join(cgroupRoot, path, "")}
		if mem > 0 {
			d.limits = append(d.limits, [2]string{"memory.max", strconv.FormatInt(mem, 10)})
		}
		if pidsMax > 0 {
			d.limits = append(d.limits, [2]string{"pids.max", strconv.FormatInt(pidsMax, 10)})
		}
		if c := cpuOf(r); c != nil {
			if c.Quota != nil && *c.Quota > 0 {
				d.limits = append(d.limits, [2]string{"cpu.max", fmt.Sprintf("%d %d", *c.Quota, period(c))})
			}
			if c.Cpus != "" {
				d.limits = append(d.limits, [2]string{"cpuset.cpus", c.Cpus})
			}
			if c.Mems != "" {
				d.limits = append(d.limits, [2]string{"cpuset.mems", c.Mems})
			}
		}
		dirs = append(dirs, d)
	} else {
		for _, ctrl := range v1Controllers {
			base := filepath.Join(cgroupRoot, ctrl)
			if _, err := os.Stat(filepath.Join(base, "cgroup.procs")); err != nil {
				continue
			}
			d := dirLimits{dir: join(base, path, ctrl)}
			switch ctrl {
			case "pids":
				if pidsMax > 0 {
					d.limits = append(d.limits, [2]string{"pids.max", strconv.FormatInt(pidsMax, 10)})
				}
			case "memory":
				if mem > 0 {
					d.limits = append(d.limits, [2]string{"memory.limit_in_bytes", strconv.FormatInt(mem, 10)})
				}
			case "cpu":
				if c := cpuOf(r); c != nil && c.Quota != nil && *c.Quota > 0 {
					d.limits = append(d.limits, [2]string{"cpu.cfs_period_us", strconv.FormatUint(period(c), 10)},
						[2]string{"cpu.cfs_quota_us", strconv.FormatInt(*c.Quota, 10)})
				}
				if c := cpuOf(r); c != nil && c.Shares != nil && *c.Shares > 0 {
					d.limits = append(d.limits, [2]string{"cpu.shares", strconv.FormatUint(*c.Shares, 10)})
				}
			case "cpuset":
				// A new cpuset must have CPUs and memory nodes before
				// a task may join it: the parent's, or the config's.
				cpus, mems := readParent(d.dir, "cpuset.cpus"), readParent(d.dir, "cpuset.mems")
				if c := cpuOf(r); c != nil && c.Cpus != "" {
					cpus = c.Cpus
				}
				if c := cpuOf(r); c != nil && c.Mems != "" {
					mems = c.Mems
				}
				d.limits = append(d.limits, [2]string{"cpuset.cpus", cpus}, [2]string{"cpuset.mems", mems})
			}
			dirs = append(dirs, d)
		}
	}
	for _, d := range dirs {
		created, err := mkdirAllCgroup(d.dir)
		made = append(made, created...)
		if err != nil {
			warn = append(warn, fmt.Sprintf("host cgroup %s: %v", d.dir, err))
			continue
		}
		for _, l := range d.limits {
			if err := os.WriteFile(filepath.Join(d.dir, l[0]), []byte(l[1]), 0); err != nil {
				warn = append(warn, fmt.Sprintf("host cgroup %s: %s=%s: %v", d.dir, l[0], l[1], err))
			}
		}
		if err := os.WriteFile(filepath.Join(d.dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
			warn = append(warn, fmt.Sprintf("host cgroup %s: moving process %d in: %v", d.dir, pid, err))
		}
	}
	return made, warn
}

// join places path under a hierarchy's base: absolute paths from its
// root, relative ones under the caller's own cgroup there.
func join(base, path, ctrl string) string {
	if filepath.IsAbs(path) {
		return filepath.Join(base, path)
	}
	return filepath.Join(base, ownCgroup(ctrl), path)
}

// ownCgroup returns the caller's cgroup in the hierarchy of ctrl ("" for
// cgroup v2's unified one).
func ownCgroup(ctrl string) string {
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "/"
	}
	for _, line := range strings.Split(string(data), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == ctrl || (ctrl == "systemd" && c == "name=systemd") || (ctrl == "" && parts[0] == "0") {
				return parts[2]
			}
		}
	}
	return "/"
}

// mkdirAllCgroup makes dir and its missing parents, and returns the ones
// it made, deepest last.
func mkdirAllCgroup(dir string) ([]string, error) {
	if _, err := os.Stat(dir); err == nil {
		return nil, nil
	}
	parent := filepath.Dir(dir)
	var made []string
	if parent != dir {
		m, err := mkdirAllCgroup(parent)
		made = m
		if err != nil {
			return made, err
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return made, err
	}
	// A new v1 cpuset inherits nothing: fill it from its parent so that
	// its children can take tasks.
	if strings.HasPrefix(dir, filepath.Join(cgroupRoot, "cpuset")+"/") {
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			if v := readParent(dir, f); v != "" {
				os.WriteFile(filepath.Join(dir, f), []byte(v), 0)
			}
		}
	}
	return append(made, dir), nil
}

func readParent(dir, file string) string {
	data, _ := os.ReadFile(filepath.Join(filepath.Dir(dir), file))
	return strings.TrimSpace(string(data))
}

// removeCgroups removes the cgroup directories made, deepest first; ones
// still in use stay. A process whose thread group leader has exited (a
// zombie: stopped, to State.alive) may still have threads leaving its
// cgroups, which are busy (EBUSY) until they are gone: a busy directory
// is tried again for up to ten seconds (a loaded host can take that long
// to end a sentry's stub processes), then left with a warning.
func removeCgroups(made []string) {
	for i := len(made) - 1; i >= 0; i-- {
		deadline := time.Now().Add(10 * time.Second)
		for {
			err := unix.Rmdir(made[i])
			if err != unix.EBUSY {
				break
			}
			if time.Now().After(deadline) {
				logrus.Warnf("cgroup %s is still in use after 10s; left behind", made[i])
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// memLimit is linux.resources.memory.limit (0: none).
func memLimit(r *specs.LinuxResources) int64 {
	if r == nil || r.Memory == nil || r.Memory.Limit == nil || *r.Memory.Limit <= 0 {
		return 0
	}
	return *r.Memory.Limit
}

// pidsLimit is linux.resources.pids.limit (0: none).
func pidsLimit(r *specs.LinuxResources) int64 {
	if r == nil || r.Pids == nil || r.Pids.Limit == nil || *r.Pids.Limit <= 0 {
		return 0
	}
	return *r.Pids.Limit
}

func cpuOf(r *specs.LinuxResources) *specs.LinuxCPU {
	if r == nil {
		return nil
	}
	return r.CPU
}

func period(c *specs.LinuxCPU) uint64 {
	if c.Period != nil && *c.Period > 0 {
		return *c.Period
	}
	return 100000
}

// limits reports whether r asks for a limit the host cgroup would apply.
func limits(r *specs.LinuxResources) bool {
	if memLimit(r) > 0 || pidsLimit(r) > 0 {
		return true
	}
	if c := cpuOf(r); c != nil && ((c.Quota != nil && *c.Quota > 0) || c.Cpus != "" || c.Mems != "" || (c.Shares != nil && *c.Shares > 0)) {
		return true
	}
	return false
}
