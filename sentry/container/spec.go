package container

import (
	"os"
	"path/filepath"

	"gvisor.dev/gvisor/pkg/abi/linux"
)

// Spec and its parts are plain data: the CLI builds them (from flags for
// `do`, from an OCI bundle's config.json for the OCI verbs), they travel to
// the sentry as JSON (the launcher's config pipe, the control channel),
// and New builds the container from them.

// Spec describes a container: its filesystem and its first process.
type Spec struct {
	// ID names the container (the OCI container ID; "" for `do`).
	ID string `json:"id"`
	// Root is the container's root filesystem.
	Root Root `json:"root"`
	// Mounts are mounted in order on top of the root. Destinations
	// that do not exist are created (in the root's writable layer,
	// or on the host for a writable host root, as runc does).
	Mounts []Mount `json:"mounts,omitempty"`
	// Process is the container's first process.
	Process Process `json:"process"`
	// MaskedPaths are hidden: /dev/null is bound over files, an
	// empty read-only tmpfs over directories (runc's behaviour).
	MaskedPaths []string `json:"maskedPaths,omitempty"`
	// ReadonlyPaths are re-bound read-only.
	ReadonlyPaths []string `json:"readonlyPaths,omitempty"`
	// Sysctl are written to the sandbox's /proc/sys (dotted keys).
	Sysctl map[string]string `json:"sysctl,omitempty"`
	// Devices are extra device nodes made in /dev.
	Devices []Device `json:"devices,omitempty"`
	// UIDMappings and GIDMappings are shown in /proc/PID/uid_map and
	// gid_map (empty: the identity map of a root user namespace).
	UIDMappings []IDMapping `json:"uidMappings,omitempty"`
	GIDMappings []IDMapping `json:"gidMappings,omitempty"`
	// PidsLimit bounds the container's tasks (threads and processes):
	// its pids cgroup's pids.max, linux.resources.pids.limit (0: none).
	// A fork or clone beyond it fails with EAGAIN.
	PidsLimit int `json:"pidsLimit,omitempty"`
}

// Root is a container's root filesystem.
type Root struct {
	// Path is the host directory.
	Path string `json:"path"`
	// ReadOnly refuses every write with EROFS.
	ReadOnly bool `json:"readonly,omitempty"`
	// Overlay puts an in-memory writable layer over the host
	// directory, which is then never written (`do`). Without it, a
	// root that is not ReadOnly is written through to the host, as
	// runc writes into a bundle's rootfs.
	Overlay bool `json:"overlay,omitempty"`
	// FD, if not 0, is the sentry's descriptor of Path, opened by the
	// launcher (a confined sentry cannot open host paths); the
	// filesystem takes it over.
	FD int `json:"fd,omitempty"`
}

// Mount is one filesystem mounted in the container.
type Mount struct {
	// Destination is the absolute path inside the container.
	Destination string `json:"destination"`
	// Type is the filesystem type: bind, tmpfs, proc, sysfs, devpts,
	// mqueue, cgroup, cgroup2, devtmpfs; "" with a bind option is a
	// bind.
	Type string `json:"type,omitempty"`
	// Source is the host path of a bind, or what /proc/mounts shows as
	// the device for the others.
	Source string `json:"source,omitempty"`
	// Options are mount(8)'s options (ro, nosuid, nodev, noexec, bind,
	// rbind, size=, mode=, ...).
	Options []string `json:"options,omitempty"`
	// HostFD, if not 0, is the sentry's descriptor of a bind's source
	// directory (of the directory holding it, for a file), opened by
	// the launcher; the filesystem takes it over.
	HostFD int `json:"hostFD,omitempty"`
	// HostDir and HostName are BindDir's answer for the source, found
	// by whoever opened HostFD (the launcher, the OCI CLI): a confined
	// sentry looks up no host path.
	HostDir  string `json:"hostDir,omitempty"`
	HostName string `json:"hostName,omitempty"`
}

// IsBind reports whether m is a bind mount of a host path.
func (m Mount) IsBind() bool {
	if m.Type == "bind" {
		return true
	}
	for _, o := range m.Options {
		if o == "bind" || o == "rbind" {
			return true
		}
	}
	return false
}

// BindDir returns the host directory a bind mount's filesystem is made
// of: its source, symlinks resolved, or the directory holding it when it
// is a file; and the source's name in it ("" for a directory).
func (m Mount) BindDir() (dir, name string, err error) {
	src, err := filepath.EvalSymlinks(m.Source)
	if err != nil {
		return "", "", err
	}
	st, err := os.Stat(src)
	if err != nil {
		return "", "", err
	}
	if st.IsDir() {
		return src, "", nil
	}
	return filepath.Dir(src), filepath.Base(src), nil
}

// Process describes a process to start in a container.
type Process struct {
	// Args is the program and its arguments; Args[0] is looked up in
	// Env's PATH when it has no slash.
	Args []string `json:"args"`
	// Env is the environment.
	Env []string `json:"env,omitempty"`
	// Cwd is the working directory; it must exist.
	Cwd string `json:"cwd"`
	// User is the identity the process runs as. Nil: the host user
	// running the sentry (`do`).
	User *User `json:"user,omitempty"`
	// Rlimits replace the sentry's own limits.
	Rlimits []Rlimit `json:"rlimits,omitempty"`
	// Capabilities are the capability sets, by Linux name (CAP_...).
	Capabilities *Capabilities `json:"capabilities,omitempty"`
	// NoNewPrivileges is prctl(PR_SET_NO_NEW_PRIVS) set before exec.
	NoNewPrivileges bool `json:"noNewPrivileges,omitempty"`
	// OOMScoreAdj is the process's oom_score_adj.
	OOMScoreAdj *int `json:"oomScoreAdj,omitempty"`
	// Terminal asks for a pseudo-terminal as stdio: the CLI makes one
	// on the host and hands its replica to the sentry (New's and
	// Exec's Terminal), which serves it as /dev/pts/N.
	Terminal bool `json:"terminal,omitempty"`
	// ConsoleSize is the terminal's initial window size (nil: the host
	// terminal's).
	ConsoleSize *ConsoleSize `json:"consoleSize,omitempty"`
	// IgnoredSignals is the set of signals (bit N-1 for signal N) the
	// process starts with ignored, as a program exec'd by the caller
	// inherits its ignored signals (`do`: nohup's SIGHUP).
	IgnoredSignals uint64 `json:"ignoredSignals,omitempty"`
	// Seccomp is the filter the process starts with (nil: none); a
	// process exec'd into a container without one of its own gets the
	// container's first process's, as runc applies linux.seccomp to
	// every process of the container.
	Seccomp *Seccomp `json:"seccomp,omitempty"`
}

// Seccomp is a seccomp filter program (classic BPF over struct
// seccomp_data, as seccomp(2) takes it) with seccomp(2)'s filter flags:
// linux.seccomp, compiled by the OCI CLI. The sentry evaluates it at each
// of the process's syscalls (sentry/seccomp).
type Seccomp struct {
	Program []linux.BPFInstruction `json:"program"`
	Flags   uint32                 `json:"flags,omitempty"`
}

// ConsoleSize is a terminal's window size in characters.
type ConsoleSize struct {
	Height uint16 `json:"height"`
	Width  uint16 `json:"width"`
}

// User is a process's identity.
type User struct {
	UID            uint32   `json:"uid"`
	GID            uint32   `json:"gid"`
	AdditionalGids []uint32 `json:"additionalGids,omitempty"`
	// Umask is the file mode creation mask (nil: 022).
	Umask *uint32 `json:"umask,omitempty"`
}

// Rlimit is one resource limit, by its Linux number (RLIMIT_*).
type Rlimit struct {
	Resource int    `json:"resource"`
	Soft     uint64 `json:"soft"`
	Hard     uint64 `json:"hard"`
}

// Capabilities are a process's capability sets by name.
type Capabilities struct {
	Bounding    []string `json:"bounding,omitempty"`
	Effective   []string `json:"effective,omitempty"`
	Inheritable []string `json:"inheritable,omitempty"`
	Permitted   []string `json:"permitted,omitempty"`
	Ambient     []string `json:"ambient,omitempty"`
}

// Device is a device node in the container's /dev.
type Device struct {
	// Path is the node's absolute path (under /dev).
	Path string `json:"path"`
	// Type is "c" (or "u") for a character device, "b" for a block
	// device, "p" for a FIFO.
	Type  string `json:"type"`
	Major int64  `json:"major"`
	Minor int64  `json:"minor"`
	// Mode is the node's permission bits (nil: 0666).
	Mode *uint32 `json:"fileMode,omitempty"`
	UID  uint32  `json:"uid,omitempty"`
	GID  uint32  `json:"gid,omitempty"`
}

// IDMapping is one line of a uid_map or gid_map.
type IDMapping struct {
	ContainerID uint32 `json:"containerID"`
	HostID      uint32 `json:"hostID"`
	Size        uint32 `json:"size"`
}
