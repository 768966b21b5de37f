package sandbox

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
	"unsafe"

	"github.com/runsc-lite/runsc-lite/sentry/boot"
	"github.com/runsc-lite/runsc-lite/sentry/fs/hostfd"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/bpf"
	"gvisor.dev/gvisor/pkg/seccomp"
)

// The sentry's confinement, applied by the sentry to itself once it holds
// every host resource it needs and before its first program runs (the
// launcher started it in new mount, PID, IPC, UTS and network
// namespaces):
//
//  1. its root is pivoted into an empty, read-only tmpfs, and the host's
//     tree is detached: from then on the sentry reaches host files only
//     through the descriptors it holds (the root's and volumes' O_PATH
//     descriptors, files already open);
//  2. every capability is dropped but keptCapabilities (bounding,
//     permitted, effective; inheritable and ambient emptied), with
//     securebits that stop it from ever regaining any (most of the
//     bounding set and the ambient set at the start of the sentry
//     process, prepareConfinement; the rest once the pivot is done);
//  3. no_new_privs;
//  4. the seccomp allow-list (filter.go), killing the sentry on anything
//     else (or, with Confinement.SeccompLog, only logging it).
//
// Capabilities, no_new_privs and the filter are per thread: they are set
// on every thread of the sentry at once (AllThreadsSyscall and the
// filter's TSYNC), and the threads made later inherit them. An
// AllThreadsSyscall stops the world and signals every thread: cheap while
// the sentry has a handful of threads, up to milliseconds each (and much
// more on a loaded host) once its kernel runs, so as few as possible
// happen once it runs: the launcher starts a root sentry with its bounding
// set already reduced (dropBoundingOnThisThread), the securebits and the
// drops of confineCaps from the bounding set happen when the platform has
// started (platformStarted), and confine makes one (capset).

// keptCapability is a capability the confined sentry keeps, and why.
type keptCapability struct {
	cap int
	why string
}

// keptCapabilities are the capabilities the sentry keeps: what the sandbox
// does to host files through its volumes (and reads of its root) as the
// host's root does it natively, and nothing more. Each was found needed by
// running the test suite without it (ARCHITECTURE.md lists what fails).
//
// Not CAP_CHOWN: a chown inside is not passed to the host (hostfs's owner
// rule keeps it in the sentry's view), unless the volumes get an owner map
// (OCI uidMappings), which chowns host files: whoever adds that adds
// CAP_CHOWN here for it (TestConfinementCapabilitiesNeeded shows what each
// one is for).
var keptCapabilities = []keptCapability{
	{unix.CAP_DAC_OVERRIDE, "reading, writing and searching host files and directories that other users own (root's view of the root and of volumes)"},
	{unix.CAP_FOWNER, "chmod, utimes and other owner-only changes to files in volumes that other users own"},
}

// ptraceScopeNeedsCap reports whether Yama's ptrace_scope (2: only
// CAP_SYS_PTRACE may trace) makes the ptrace platform need
// CAP_SYS_PTRACE. Scopes 0 and 1 do not: the stubs are the sentry's own
// children, run as its user and have no capabilities.
func ptraceScopeNeedsCap() bool {
	b, err := os.ReadFile("/proc/sys/kernel/yama/ptrace_scope")
	if err != nil {
		return false
	}
	n, err := strconv.Atoi(string(bytes.TrimSpace(b)))
	return err == nil && n >= 2
}

// keptFor returns the capabilities the sentry of confinement c keeps.
func keptFor(c Confinement) ([]keptCapability, error) {
	if os.Geteuid() != 0 {
		// An unprivileged user's sentry (a user namespace of its own,
		// see rootless) does to host files what the user can natively:
		// it needs no capability.
		return nil, nil
	}
	keep := append([]keptCapability(nil), keptCapabilities...)
	if c.Network == boot.NetworkHost {
		keep = append(keep, keptCapability{unix.CAP_NET_BIND_SERVICE, "--network=host: a sandboxed process's bind to a port below 1024 on the host's network (the sentry checks the process's own CAP_NET_BIND_SERVICE first)"})
	}
	if ptraceScopeNeedsCap() {
		keep = append(keep, keptCapability{unix.CAP_SYS_PTRACE, "Yama ptrace_scope 2: tracing the stubs needs it"})
	}
	for _, name := range c.DropCaps {
		found := false
		for i, k := range keep {
			if capName(k.cap) == name {
				keep = append(keep[:i], keep[i+1:]...)
				found = true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("RUNSC_LITE_DROP_CAPS: %q is not a capability the sentry keeps", name)
		}
	}
	return keep, nil
}

// confiner holds what the confinement needs from before the pivot.
type confiner struct {
	c   Confinement
	log *logrus.Logger
	// keep are the capabilities to keep.
	keep []keptCapability
	// filter builds the seccomp program; program is it, built.
	filter  filterOptions
	program []bpf.Instruction
	// prepared is how long prepareConfinement took.
	prepared time.Duration
}

// prepareConfinement reads, while the host's files are in view, what the
// confinement will need, builds the seccomp program, stops mount events
// from propagating between the sentry's mount namespace and the host's,
// and limits the capabilities the sentry could ever regain: every
// capability it will not keep dropped from the bounding set (which limits
// what an execve grants, not what the sentry holds: it keeps
// CAP_SYS_ADMIN for the pivot until confine). Call it first thing, while
// the sentry has few threads: each step runs on every thread.
func prepareConfinement(c Confinement, log *logrus.Logger, profiling bool) (*confiner, error) {
	start := time.Now()
	cf := &confiner{c: c, log: log}
	if c.Unconfined {
		return cf, nil
	}
	defer func() { cf.prepared = time.Since(start) }()
	var err error
	if cf.keep, err = keptFor(c); err != nil {
		return nil, err
	}
	network := c.Network
	if c.AdoptLinks && (network == "" || network == boot.NetworkNone) {
		// Interfaces may join at start, after the filter.
		network = boot.NetworkSandbox
	}
	cf.filter = filterOptions{
		pid:       os.Getpid(),
		network:   network,
		profiling: profiling,
		log:       c.SeccompLog,
		deny:      c.SeccompDeny,
		hostUDS:   c.HostUDS,
		control:   c.Control,
	}
	if cf.program, err = cf.filter.program(); err != nil {
		return nil, err
	}
	if err := unix.Mount("", "/", "", unix.MS_PRIVATE|unix.MS_REC, ""); err != nil {
		return nil, fmt.Errorf("making the sentry's mounts private: %w", err)
	}
	if err := limitCapabilities(c, cf.keep); err != nil {
		return nil, err
	}
	return cf, nil
}

// platformStarted drops from every thread's bounding set what only the
// ptrace zygote's exec needed there (boot.Config.PlatformStarted): every
// capability the sentry will not keep. The sentry still holds them
// (permitted, effective) for the pivot; the bounding set only limits what
// an execve grants, and none comes. Done now, with the Go runtime's few
// threads, each drop stops far fewer threads than at confine, when the
// kernel's CPUs and kthreads run (a stop of every thread per capability:
// ~6% of an OCI create's CPU).
//
// It locks the securebits too (sentrySecurebits, on every thread): they
// only change what an execve or a change of user ids grants, and the
// zygote's exec was the sentry's last; set now, with the Go runtime's few
// threads, confine's setCapabilities finds them set and saves the stop of
// every thread it would cost once the kernel's threads run.
func (cf *confiner) platformStarted() {
	if cf.c.Unconfined {
		return
	}
	if err := allThreadsPrctl(unix.PR_SET_SECUREBITS, sentrySecurebits, 0); err != nil && err != unix.EPERM {
		// confine sets them, or fails.
		cf.log.Debugf("securebits after the platform's start: %v", err)
	}
	if os.Geteuid() != 0 {
		return
	}
	kept := map[int]bool{}
	for _, k := range cf.keep {
		kept[k.cap] = true
	}
	if err := dropBounding(kept); err != nil {
		// confine drops what is left, or fails.
		cf.log.Debugf("bounding set after the platform's start: %v", err)
	}
}

// confine applies the confinement (boot.Config.Confine).
func (cf *confiner) confine() error {
	if cf.c.Unconfined {
		return nil
	}
	start := time.Now()
	if err := pivotToEmptyRoot(); err != nil {
		return err
	}
	hostfd.Confined()
	if err := setCapabilities(cf.keep); err != nil {
		return err
	}
	// seccomp.SetFilter sets no_new_privs on its thread, and the filter's
	// TSYNC sets it on every other thread with the filter.
	if err := seccomp.SetFilter(cf.program); err != nil {
		return fmt.Errorf("installing the seccomp filter: %w", err)
	}
	if cf.c.SeccompLog {
		cf.log.Warnf("seccomp filter in log-only mode (--seccomp-log): calls outside the allow-list are logged by the kernel, not stopped")
	}
	if cf.log.IsLevelEnabled(logrus.DebugLevel) {
		// size builds the rules again: only for the log.
		cf.log.Debugf("confined: empty root, capabilities kept %v, no_new_privs, seccomp allow-list of %d syscalls (%v at start-up, %v now)",
			capNames(cf.keep), cf.filter.size(), cf.prepared, time.Since(start))
	}
	return nil
}

// emptyRootOptions: the empty root is a tiny, read-only tmpfs.
const emptyRootOptions = "mode=0555,size=4k,nr_inodes=2"

// pivotToEmptyRoot makes an empty, read-only tmpfs the sentry's root and
// detaches the host's tree from its mount namespace.
func pivotToEmptyRoot() error {
	if err := mountEmptyRoot(); err != nil {
		return err
	}
	// pivot_root(".", ".") stacks the old root on top of the new one at
	// "/"; detaching "." then leaves the new one alone.
	err := unix.PivotRoot(".", ".")
	if err == unix.EINVAL {
		// The host's root is the initial ramfs, which cannot be
		// pivoted (a machine booted from an initramfs, such as
		// test-kvm's guest): move the empty root over it instead.
		return moveToEmptyRoot()
	}
	if err != nil {
		return fmt.Errorf("pivot_root into the empty root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detaching the host's root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("entering the empty root: %w", err)
	}
	return nil
}

// mountEmptyRoot mounts the empty root and makes it the working directory.
func mountEmptyRoot() error {
	// Any existing directory will do as the mount point: the mount is
	// private to the sentry's namespace, and the pivot moves it to "/".
	var err error
	for _, d := range []string{os.TempDir(), "/tmp", "/mnt", "/proc"} {
		if err = unix.Mount("runsc-lite-root", d, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC|unix.MS_RDONLY, emptyRootOptions); err == nil {
			if err := unix.Chdir(d); err != nil {
				return fmt.Errorf("entering the empty root: %w", err)
			}
			return nil
		}
	}
	return fmt.Errorf("mounting the sentry's empty root: %w", err)
}

// moveToEmptyRoot makes the empty root mounted at the working directory
// the root by moving it over "/" and chrooting into it, as switch_root
// does (the initial ramfs under it is no longer reachable by any path).
func moveToEmptyRoot() error {
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("moving the empty root over the initial ramfs: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("entering the empty root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("entering the empty root: %w", err)
	}
	return nil
}

// sentrySecurebits make capabilities unrecoverable: no root exemption on
// exec (SECBIT_NOROOT), no capability changes on uid changes
// (SECBIT_NO_SETUID_FIXUP), no keeping them across setuid
// (SECBIT_KEEP_CAPS_LOCKED), no raising ambient ones, all locked.
const sentrySecurebits = 1<<0 | 1<<1 | 1<<2 | 1<<3 | 1<<5 | 1<<6 | 1<<7

// confineCaps are the capabilities the confinement itself needs until it
// is done: CAP_SYS_ADMIN (the empty root's mount and the pivot),
// CAP_SYS_CHROOT (its fallback on an initial ramfs) and CAP_SETPCAP (the
// securebits and the bounding set).
var confineCaps = []uintptr{unix.CAP_SYS_ADMIN, unix.CAP_SYS_CHROOT, unix.CAP_SETPCAP}

// networkSetupCaps are what --network=sandbox's takeover needs at start-up,
// until confine: CAP_NET_RAW (its AF_PACKET sockets) and CAP_NET_ADMIN
// (moving the addresses off the host interfaces, its sockets' buffer
// sizes). The sockets keep working without them.
var networkSetupCaps = []uintptr{unix.CAP_NET_RAW, unix.CAP_NET_ADMIN}

// boundingKept returns the capabilities a sentry of confinement c keeping
// keep keeps in its bounding set until confine: keep and, for root,
// confineCaps (and networkSetupCaps with --network=sandbox). Root's exec
// is granted exactly its bounding set: the sentry's exec needs them, and
// so does the ptrace zygote's (CAP_SETPCAP: it empties its own sets). An
// unprivileged user's sentry carries them across its exec as ambient
// capabilities instead (see rootless), and its zygote's exec grants
// nothing.
func boundingKept(c Confinement, keep []keptCapability) map[int]bool {
	kept := map[int]bool{}
	if os.Geteuid() == 0 {
		for _, cp := range confineCaps {
			kept[int(cp)] = true
		}
		if c.Network == boot.NetworkSandbox {
			for _, cp := range networkSetupCaps {
				kept[int(cp)] = true
			}
		}
	}
	for _, k := range keep {
		kept[k.cap] = true
	}
	return kept
}

// dropBounding drops from every thread's bounding set the capabilities not
// in kept that it still has. The threads share the bounding set they were
// cloned with: reading the calling thread's is enough, and each drop is an
// AllThreadsSyscall.
func dropBounding(kept map[int]bool) error {
	for c := 0; c <= unix.CAP_LAST_CAP+8; c++ {
		if kept[c] {
			continue
		}
		in, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(c), 0, 0, 0)
		if err == unix.EINVAL {
			break // past the host's last capability
		}
		if err != nil || in == 0 {
			continue
		}
		if err := allThreadsPrctl(unix.PR_CAPBSET_DROP, uintptr(c), 0); err != nil && err != unix.EPERM {
			return fmt.Errorf("dropping capability %d from the bounding set: %w", c, err)
		}
	}
	return nil
}

// limitCapabilities drops from the bounding set of every thread the
// capabilities boundingKept does not keep, and empties the ambient set.
// The launcher already dropped them from the thread it started the sentry
// from (dropBoundingOnThisThread), so a root sentry normally has none left
// to drop here.
func limitCapabilities(c Confinement, keep []keptCapability) error {
	if err := dropBounding(boundingKept(c, keep)); err != nil {
		return err
	}
	for cp := 0; cp <= unix.CAP_LAST_CAP; cp++ {
		if set, err := unix.PrctlRetInt(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_IS_SET, uintptr(cp), 0, 0); err == nil && set == 1 {
			if err := allThreadsPrctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0); err != nil {
				return fmt.Errorf("clearing the ambient capabilities: %w", err)
			}
			break
		}
	}
	return nil
}

// dropBoundingOnThisThread drops from the calling thread's bounding set
// what the sentry of confinement c will not keep, so that a sentry started
// from this thread starts without it (the bounding set is inherited
// through fork and exec) and need not drop it from every one of its
// threads. Errors are ignored: the sentry drops what is left.
// Preconditions: the caller is locked to its OS thread.
func dropBoundingOnThisThread(c Confinement) {
	keep, err := keptFor(c)
	if err != nil {
		return
	}
	kept := boundingKept(c, keep)
	for cap := 0; cap <= unix.CAP_LAST_CAP+8; cap++ {
		if kept[cap] {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(cap), 0, 0, 0); err == unix.EINVAL || err == unix.EPERM {
			return
		}
	}
}

// setCapabilities locks the securebits, reduces the bounding set to keep,
// makes keep the effective and permitted sets and empties the inheritable
// set, of every thread.
func setCapabilities(keep []keptCapability) error {
	// Normally set at the platform's start (platformStarted): the
	// threads share them, so the calling thread's tell.
	if bits, err := unix.PrctlRetInt(unix.PR_GET_SECUREBITS, 0, 0, 0, 0); err != nil || bits != sentrySecurebits {
		if err := allThreadsPrctl(unix.PR_SET_SECUREBITS, sentrySecurebits, 0); err != nil && err != unix.EPERM {
			return fmt.Errorf("securebits: %w", err)
		}
	}
	kept := map[int]bool{}
	for _, k := range keep {
		kept[k.cap] = true
	}
	if err := dropBounding(kept); err != nil {
		return err
	}
	var mask [2]uint32
	for _, k := range keep {
		mask[k.cap/32] |= 1 << (k.cap % 32)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{
		{Effective: mask[0], Permitted: mask[0]},
		{Effective: mask[1], Permitted: mask[1]},
	}
	if _, _, e := syscall.AllThreadsSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
		return fmt.Errorf("capset: %w", e)
	}
	return nil
}

// allThreadsPrctl runs prctl(option, arg2, arg3) on every thread.
func allThreadsPrctl(option int, arg2, arg3 uintptr) error {
	if _, _, e := syscall.AllThreadsSyscall(unix.SYS_PRCTL, uintptr(option), arg2, arg3); e != 0 {
		if e == unix.ENOTSUP {
			return fmt.Errorf("prctl on every thread: %w (runsc-lite must be built without cgo)", e)
		}
		return e
	}
	return nil
}

func capNames(keep []keptCapability) []string {
	var names []string
	for _, k := range keep {
		names = append(names, capName(k.cap))
	}
	return names
}

// capName is a capability's name as capabilities(7) spells it.
func capName(c int) string {
	names := map[int]string{
		unix.CAP_CHOWN: "CAP_CHOWN", unix.CAP_DAC_OVERRIDE: "CAP_DAC_OVERRIDE",
		unix.CAP_DAC_READ_SEARCH: "CAP_DAC_READ_SEARCH", unix.CAP_FOWNER: "CAP_FOWNER",
		unix.CAP_FSETID: "CAP_FSETID", unix.CAP_SYS_PTRACE: "CAP_SYS_PTRACE",
		unix.CAP_NET_BIND_SERVICE: "CAP_NET_BIND_SERVICE",
	}
	if n, ok := names[c]; ok {
		return n
	}
	return "capability " + strconv.Itoa(c)
}
