// Package boot builds a sandbox and runs its first program: it creates the
// memory file and its zone (watermarks, LRU lists, swap, OOM killer), the
// kernel core with its CPUs and kthreadd, softirqs, workqueues and kswapd0,
// the platform, the filesystem (host-file reads through the zone's page
// cache), and the init process, then waits for init to exit.
//
// It owns no long-lived state of its own; the Sandbox it builds is torn
// down before Run returns.
package boot

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/kswapd"
	"github.com/runsc-lite/runsc-lite/platform"
	"github.com/runsc-lite/runsc-lite/platform/auto"
	"github.com/runsc-lite/runsc-lite/platform/kvm"
	"github.com/runsc-lite/runsc-lite/platform/ptrace"
	"github.com/runsc-lite/runsc-lite/platform/systrap"
	"github.com/runsc-lite/runsc-lite/sentry/container"
	"github.com/runsc-lite/runsc-lite/sentry/control"
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/hostfs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/inotify"
	"github.com/runsc-lite/runsc-lite/sentry/fs/tmpfs"
	"github.com/runsc-lite/runsc-lite/sentry/memfile"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"github.com/runsc-lite/runsc-lite/sentry/socket"
	unixsocket "github.com/runsc-lite/runsc-lite/sentry/socket/unix"
	"github.com/runsc-lite/runsc-lite/sentry/syscalls"
	"github.com/runsc-lite/runsc-lite/sentry/tty"
	"github.com/runsc-lite/runsc-lite/sentry/vdso"
	"github.com/runsc-lite/runsc-lite/softirqd"
	"github.com/runsc-lite/runsc-lite/timekeeper"
	"github.com/runsc-lite/runsc-lite/workqueue"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// Config describes a sandbox to run. The launcher (sentry/sandbox) sends
// it to the sentry process as JSON; the fields that cannot travel are
// marked json:"-" and set on the sentry's side.
type Config struct {
	// Container is the sandbox's first container; its init is the
	// sandbox's PID 1.
	Container container.Spec `json:"container"`
	// InitFDs are init's descriptors: sentry descriptors by sandbox
	// number (nil: the sentry's stdin, stdout and stderr).
	InitFDs container.Stdio `json:"initFDs,omitempty"`
	// Platform names the platform ("ptrace", "systrap", "kvm", "auto").
	Platform string `json:"platform"`
	// CPUs is the number of sandbox CPUs (0: the host's count).
	CPUs int `json:"cpus,omitempty"`
	// TotalMemory is the size of the memory file in bytes.
	TotalMemory uint64 `json:"totalMemory,omitempty"`
	// SwapSize is the size of the swap file in bytes (0: no swap).
	SwapSize uint64 `json:"swapSize,omitempty"`
	// Strace logs every syscall.
	Strace bool `json:"strace,omitempty"`
	// NoVDSO maps no vDSO into the sandbox's processes (--vdso=false):
	// every clock read traps.
	NoVDSO bool `json:"noVDSO,omitempty"`
	// Hostname and Domainname are the sandbox's (uname).
	Hostname   string `json:"hostname,omitempty"`
	Domainname string `json:"domainname,omitempty"`
	// Control, if set, serves the sandbox's control channel (OCI).
	Control *Control `json:"control,omitempty"`
	// Network is the network mode: none (default), sandbox or host
	// (network.go).
	Network string `json:"network,omitempty"`
	// NetNS is the network namespace whose interfaces --network=sandbox
	// takes over ("": the one the sentry runs in).
	NetNS string `json:"netns,omitempty"`
	// PidsLimit bounds how many tasks (threads and processes) the
	// sandbox may hold: a clone beyond it fails with EAGAIN. 0 means
	// DefaultPidsLimit; negative means no limit.
	PidsLimit int `json:"pidsLimit,omitempty"`
	// HostUDS lets AF_UNIX sockets connect to host socket files on
	// volumes (--host-uds=open).
	HostUDS bool `json:"hostUDS,omitempty"`
	// ConsoleFD, if not 0, is the sentry's descriptor of a host
	// terminal that becomes init's terminal (OCI's process.terminal:
	// the replica of the pseudo-terminal whose master went to the
	// console socket, or to the CLI's relay; the launcher passes it as
	// an extra file): it is /dev/pts/0 of the first container, init's
	// stdin, stdout and stderr, and init's controlling terminal, with
	// Container.Process.ConsoleSize. When 0, a terminal on init's
	// stdin or stdout (InitFDs) is init's terminal in the same way for
	// the descriptors on it, unless LeaveTerminal. See
	// container.AttachTerminal.
	ConsoleFD int `json:"consoleFD,omitempty"`
	// LeaveTerminal passes a terminal on init's stdio through as host
	// files instead: the launcher sets it when it runs in the
	// background of its terminal, which must not turn raw under the
	// shell (the sentry, in a session of its own, cannot tell); the
	// OCI runtime sets it unless process.terminal asks for one.
	LeaveTerminal bool `json:"leaveTerminal,omitempty"`
	// Log receives the sandbox's logs.
	Log *logrus.Logger `json:"-"`
	// Signals, if not nil, carries the host signals the sentry already
	// catches for the sandbox (process.HostSignals); nil: Run catches them
	// itself once init is about to run.
	Signals <-chan os.Signal `json:"-"`
	// DebugSignals, if not nil, carries DebugSignal, already caught by
	// the sentry process; nil: Run catches it itself once the kernel is
	// up.
	DebugSignals <-chan os.Signal `json:"-"`
	// Confine, if not nil, is called once the sandbox holds every host
	// resource it needs (memory file, swap, platform, the root's and the
	// volumes' descriptors, stdio) and its first program is loaded, just
	// before that program runs: the launcher's confinement (pivot_root,
	// capabilities, seccomp) goes there. An error aborts the sandbox.
	Confine func() error `json:"-"`
	// PlatformStarted, if not nil, is called with the platform's name
	// once it is up (the ptrace zygote has been exec'd), while the
	// sentry still has few threads: what only that exec needed can go
	// there, cheaply. why says why --platform=auto chose it, with the
	// figures ("" for a platform named explicitly).
	PlatformStarted func(name, why string) `json:"-"`
}

// Control is how an OCI sandbox is driven from outside (package control).
type Control struct {
	// ListenFD is a listening Unix socket, a descriptor of the sentry.
	ListenFD int `json:"listenFD"`
	// WaitForStart leaves the first container created until the
	// control channel starts it (OCI create; otherwise it starts at
	// once, OCI run).
	WaitForStart bool `json:"waitForStart,omitempty"`
	// AdoptLinks (network none, the sentry in a new network namespace
	// of its own): the start call may hand the stack interfaces a hook
	// configured in that namespace after create (Docker's libnetwork
	// prestart hook), which the CLI prepared (net.PrepareTakeOver); the
	// seccomp filter then allows their frames' calls.
	AdoptLinks bool `json:"adoptLinks,omitempty"`
}

// ExitError is a failure to start the program, with the exit status a
// shell would give for it (127: not found, 126: found but not runnable).
type ExitError = container.ExitError

// DefaultTotalMemory is a quarter of the host's RAM, at most 4 GiB.
func DefaultTotalMemory() uint64 {
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil {
		return 1 << 30
	}
	return min(uint64(si.Totalram)*uint64(si.Unit)/4, 4<<30)
}

// DefaultPidsLimit is the sandbox's task limit when none is given: a
// thirty-second of what the host can hold (the smaller of kernel.pid_max
// and kernel.threads-max), between 512 and 16384. Every sandbox thread is
// a host thread of the sentry plus a stub thread, and every process adds a
// stub process and its tracer thread: at most four host tasks each (a fork
// bomb measured 4.1), so a fork bomb stops with EAGAIN having used at most
// an eighth of the host's capacity (1024 tasks, about 4,200 host threads,
// on a host with pid_max 32768).
func DefaultPidsLimit() int {
	host := readSysctl("/proc/sys/kernel/pid_max", 32768)
	if tm := readSysctl("/proc/sys/kernel/threads-max", host); tm < host {
		host = tm
	}
	return min(max(host/32, 512), 16384)
}

func readSysctl(path string, def int) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return def
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n <= 0 {
		return def
	}
	return n
}

// raiseNoFile raises the sentry's own RLIMIT_NOFILE soft limit to its
// hard limit (every open host file of the sandbox holds a host descriptor
// of the sentry, shared per host file) and returns how many of them open
// host files may use: the limit less a reserve for the sentry's own
// descriptors — a pidfd per stub thread (two per task of the task limit,
// pids; a quarter of the limit without one) and a thousand for everything
// else (memory file, logs, stubs' setup, transient lookups).
func raiseNoFile(pids int) (int, error) {
	var r unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &r); err != nil {
		return 0, err
	}
	if r.Cur < r.Max {
		r.Cur = r.Max
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &r); err != nil {
			return 0, err
		}
	}
	hard := int(min(r.Max, 1<<30))
	reserve := 1024 + 2*pids
	if pids <= 0 {
		reserve = 1024 + hard/4
	}
	return max(hard-reserve, hard/4, 64), nil
}

// setMaxThreads raises the Go runtime's thread limit (10000 by default,
// beyond which it crashes the sentry) above what the sandbox can use:
// one locked thread per task, one per address space (the ptrace tracer),
// and the runtime's own. pids <= 0 (no task limit) takes the host's
// thread limit.
func setMaxThreads(pids int) {
	n := 2*pids + 2000
	if pids <= 0 {
		n = readSysctl("/proc/sys/kernel/threads-max", 100000)
	}
	if n > 10000 {
		debug.SetMaxThreads(n)
	}
}

// Run runs cfg.Argv in a new sandbox and returns its init's exit status.
func Run(cfg Config) (process.WaitStatus, error) {
	if len(cfg.Container.Process.Args) == 0 {
		return 0, &ExitError{Status: 2, Err: errors.New("no program to run")}
	}
	log := cfg.Log
	// The program starts with the limits runsc-lite was started with,
	// read before the sentry raises its own RLIMIT_NOFILE below.
	limits := process.HostLimits()
	if cfg.TotalMemory == 0 {
		cfg.TotalMemory = DefaultTotalMemory()
	}
	mf, err := memfile.New(cfg.TotalMemory)
	if err != nil {
		return 0, fmt.Errorf("creating the sandbox's memory: %w", err)
	}
	defer mf.Release()
	zone, err := kswapd.New(mf, kswapd.Config{SwapSize: cfg.SwapSize, Log: log})
	if err != nil {
		return 0, fmt.Errorf("setting up the sandbox's memory: %w", err)
	}

	plat, platWhy, err := newPlatform(cfg.Platform, mf, log)
	if err != nil {
		return 0, err
	}
	defer plat.Release()
	// RUNSC_LITE_PLATFORM_COUNTS=1: the platform's host round trips, on
	// stderr at exit (a measurement aid: bench/roundtrips.sh).
	if os.Getenv("RUNSC_LITE_PLATFORM_COUNTS") == "1" {
		defer func() { fmt.Fprintf(os.Stderr, "runsc-lite: platform round trips: %s\n", &platform.Counts) }()
	}
	if cfg.PlatformStarted != nil {
		cfg.PlatformStarted(plat.Name(), platWhy)
	}

	k := kernel.New(kernel.Config{CPUs: cfg.CPUs})
	defer k.Shutdown()
	if u, ok := plat.(platform.HostCPUsBusyUser); ok {
		u.SetHostCPUsBusy(k.HostCPUsBusy)
	}
	// Every task holding a sandbox CPU may sit in a ptrace wait4 or spin in
	// sentry code; the tick, timers and wakers need Go Ps of their own.
	if runtime.GOMAXPROCS(0) < k.NumCPUs()+2 {
		runtime.GOMAXPROCS(k.NumCPUs() + 2)
	}
	initTID := k.ReserveTID()
	k.StartKthreadd()
	sirq, err := softirqd.Start(k)
	if err != nil {
		return 0, fmt.Errorf("starting softirqs: %w", err)
	}
	sirq.SetKickApps(true)
	if os.Getenv("RUNSC_LITE_PLATFORM_COUNTS") == "1" {
		// With the platform's round trips: who ran each CPU's
		// softirqs (kicks of application code, ksoftirqd wake-ups).
		defer func() {
			for cpu := 0; cpu < k.NumCPUs(); cpu++ {
				st := sirq.Stats(cpu)
				fmt.Fprintf(os.Stderr, "runsc-lite: softirqs cpu%d: kicks=%d ksoftirqd_wakeups=%d overflows=%d net_tx=%d net_rx=%d\n",
					cpu, st.Kicks, st.KsoftirqdWakeups, st.Overflows, st.Handled[softirqd.NET_TX], st.Handled[softirqd.NET_RX])
			}
		}()
	}
	wqs, err := workqueue.Init(k, workqueue.Config{Log: log})
	if err != nil {
		return 0, fmt.Errorf("starting workqueues: %w", err)
	}
	defer InstallDebugHandlerWithWorkqueues(k, wqs, log, cfg.DebugSignals)()
	// kswapd0 is a kthread like the workqueues' workers (a child of
	// kthreadd); it is stopped, and the swap file released, before the
	// kernel shuts down.
	if err := zone.Start(k); err != nil {
		return 0, fmt.Errorf("starting kswapd0: %w", err)
	}
	defer zone.Stop()
	// The sandbox's /proc/cpuinfo is the host's, read while it is in
	// view (once: the clocks below read its TSC flags from the same).
	timekeeper.HostCPUInfo()
	// Reads of host files go through the zone's page cache.
	hostfs.SetPageCache(zone)
	// tmpfs data (/tmp, /dev/shm, the root overlay's upper layer) lives in
	// the memory file too, bounded by --total-memory.
	tmpfs.SetMemory(zone)
	defer hostfs.SetPageCache(nil)
	log.Debugf("kernel up: %d CPUs, %d MiB of memory, platform %s", k.NumCPUs(), cfg.TotalMemory>>20, plat.Name())

	// The sandbox's clocks: calibrated from the host's in the background
	// (timekeeper), read by the sentry and by the vDSO.
	timekeeper.Sandbox.Start()
	log.Debugf("clocks: TSC formula usable %v, vDSO %v (fast path %v)", timekeeper.Sandbox.Usable(), !cfg.NoVDSO, plat.Name() != "kvm")
	var vd *vdso.VDSO
	if !cfg.NoVDSO {
		// KVM's guests read an offset TSC: their vDSO falls back to the
		// syscall (its page is never valid).
		if vd, err = vdso.New(zone, timekeeper.Sandbox, plat.Name() != "kvm"); err != nil {
			return 0, err
		}
		// Before the memory file is unmapped (deferred first): a
		// clock update writing the page after that killed the
		// sentry with SIGSEGV as it ended.
		defer timekeeper.Sandbox.Detach()
	}

	s := process.NewSandbox()
	s.VDSO = vd
	s.Kernel = k
	s.Softirqs = sirq
	s.MF = mf
	s.Zone = zone
	s.IPC = process.NewIPCNamespace(zone)
	s.Platform = plat
	s.Syscalls = syscalls.Dispatcher{}
	s.Log = log
	s.Strace = cfg.Strace
	pids := cfg.PidsLimit
	if pids == 0 {
		pids = DefaultPidsLimit()
	}
	if pids > 0 {
		s.SetPidsLimit(pids)
	}
	setMaxThreads(pids)
	if budget, err := raiseNoFile(pids); err != nil {
		log.Warnf("raising the sentry's RLIMIT_NOFILE: %v", err)
	} else {
		hostfs.SetHostFDBudget(budget)
		log.Debugf("host descriptors for open host files: at most %d", budget)
	}
	zone.SetOOMCandidates(s.OOMCandidates)
	s.Sockets = socket.NewRegistry()
	// Every container's inotify watches ask the whole sandbox whether a
	// deleted file is still open.
	inotify.OpenElsewhere = func(key fs.FileKey) bool { return fileOpen(s, key) }
	s.Sockets.Register(unixsocket.New(unixsocket.Options{HostUDS: cfg.HostUDS}))
	stack, stopNetwork, err := setupNetwork(s, cfg, log)
	if err != nil {
		return 0, err
	}
	defer stopNetwork()
	// A stub killed from the host ends the processes it ran, at once.
	if dw, ok := plat.(platform.DeathWatcher); ok {
		dw.WatchDeaths(s.KillUsersOf)
	}
	if cfg.Hostname != "" {
		s.Hostname = cfg.Hostname
	}
	if cfg.Domainname != "" {
		s.Domainname = cfg.Domainname
	}
	for _, m := range cfg.Container.UIDMappings {
		s.UIDMap = append(s.UIDMap, process.IDMapEntry{Inner: m.ContainerID, Outer: m.HostID, Count: m.Size})
	}
	for _, m := range cfg.Container.GIDMappings {
		s.GIDMap = append(s.GIDMap, process.IDMapEntry{Inner: m.ContainerID, Outer: m.HostID, Count: m.Size})
	}

	closer := workqueue.NewHostFDCloser(wqs.Unbound, nil)
	wqUsers, err := startWorkqueueUsers(wqs, log)
	if err != nil {
		return 0, err
	}
	defer wqUsers.finish()
	ttyFD := -1
	if tty.IsTerminal(0) {
		ttyFD = 0
	}
	env := &container.Env{Sandbox: s, FDCloser: closer, Writable: wqUsers.addWritable, TTYHostFD: ttyFD, Limits: limits, Log: log}
	stdio := cfg.InitFDs
	if stdio == nil {
		stdio = container.HostStdio
	}
	var term *container.Terminal
	switch {
	case cfg.ConsoleFD != 0:
		term = &container.Terminal{Host: os.NewFile(uintptr(cfg.ConsoleFD), "console")}
	case !cfg.LeaveTerminal:
		term = &container.Terminal{}
	}
	first, err := container.New(env, &cfg.Container, stdio, term, initTID)
	if term != nil && term.Host != nil {
		// The link has a descriptor of its own.
		term.Host.Close()
	}
	if err != nil {
		return 0, err
	}
	console := first.Console()
	defer console.Close()
	s.VFS = first.VFS
	if cfg.Control != nil {
		srv := control.NewServer(env, first, stack)
		if err := srv.Serve(cfg.Control.ListenFD); err != nil {
			return 0, err
		}
		defer srv.Close()
	}
	init := first.Init()
	if cfg.Confine != nil {
		// Init has not run: the sentry exits with this error right
		// after, which tears down what is built.
		if err := cfg.Confine(); err != nil {
			return 0, err
		}
	}
	log.Debugf("created %s (pid %d)", init.Exe(), init.TGID())
	// Forward host signals before init runs, so a signal sent as soon as
	// the program is up reaches it instead of killing runsc-lite.
	stopForwarding := process.ForwardHostSignals(s, console.Foreground(), cfg.Signals)
	defer stopForwarding()
	if cfg.Control == nil || !cfg.Control.WaitForStart {
		first.Start()
	}
	<-s.InitExited()
	status := init.ExitStatus()
	log.Debugf("init exited: %v", status)
	shutdown(s)
	// The program's last output reaches the host terminal, and the
	// terminal gets its settings back, before runsc-lite exits.
	console.Close()
	// Write back every volume's dirty data before runsc-lite exits.
	wqUsers.finish()
	return status, nil
}

// shutdown ends what is left of the sandbox once init has exited: every
// other process is killed and given a moment to go. The workqueues are
// not drained: runsc-lite exits right after, and the host closes whatever
// descriptors deferred closes still held; waiting for every kworker to
// stop would only delay the exit status.
func shutdown(s *process.Sandbox) {
	for _, tg := range s.ThreadGroups() {
		tg.Exit(process.KilledBy(int(unix.SIGKILL)))
	}
	deadline := time.After(time.Second)
	for _, tg := range s.ThreadGroups() {
		select {
		case <-tg.Exited():
		case <-deadline:
			s.Log.Debugf("process %d did not exit within 1s of init", tg.TGID())
		}
	}
}

// platforms are the platforms by --platform name, in --platform=auto's
// order of preference. A preferred platform that starts is taken by auto
// unmeasured (KVM's constructor runs its self-test); among the others auto
// measures (platform/auto) and takes the fastest round trip on this host.
// A new platform is one line here.
var platforms = []struct {
	name      string
	preferred bool
	start     func(mf *memfile.MemoryFile, log *logrus.Logger) (platform.Platform, error)
}{
	{"kvm", true, startKVM},
	{"ptrace", false, startPtrace},
	{"systrap", false, startSystrap},
}

func startKVM(mf *memfile.MemoryFile, log *logrus.Logger) (platform.Platform, error) {
	if err := kvm.SelfTest(); err != nil {
		return nil, err
	}
	p, err := kvm.New(mf)
	if err != nil {
		return nil, err
	}
	p.SetLogger(log)
	return p, nil
}

func startSystrap(mf *memfile.MemoryFile, _ *logrus.Logger) (platform.Platform, error) {
	p, err := systrap.New(mf)
	if err != nil {
		return nil, fmt.Errorf("starting the systrap platform: %w", err)
	}
	return p, nil
}

func startPtrace(mf *memfile.MemoryFile, _ *logrus.Logger) (platform.Platform, error) {
	p, err := ptrace.New(mf)
	if err != nil {
		return nil, fmt.Errorf("starting the ptrace platform: %w", err)
	}
	return p, nil
}

// AutoRemembered reports whether name is a platform that --platform=auto's
// choice of may be remembered for the boot (sentry/sandbox): a known
// platform that is not preferred (a preferred one is tested at every
// start, as an explicit --platform=kvm is).
func AutoRemembered(name string) bool {
	for _, p := range platforms {
		if p.name == name {
			return !p.preferred
		}
	}
	return false
}

// newPlatform starts the platform name ("auto" or "": chosen by
// platform/auto among platforms) and says why it is the one (auto).
func newPlatform(name string, mf *memfile.MemoryFile, log *logrus.Logger) (platform.Platform, string, error) {
	if name == "" || name == "auto" {
		var cands []auto.Candidate
		for _, p := range platforms {
			cands = append(cands, auto.Candidate{
				Name:      p.name,
				Preferred: p.preferred,
				New:       func() (platform.Platform, error) { return p.start(mf, log) },
			})
		}
		c, err := auto.Choose(cands, mf)
		if err != nil {
			return nil, "", err
		}
		if c.Measured {
			log.Infof("platform auto: %s", c.Reason())
		} else {
			log.Debugf("platform auto: %s", c.Reason())
		}
		return c.Platform, c.Reason(), nil
	}
	for _, p := range platforms {
		if p.name == name {
			plat, err := p.start(mf, log)
			return plat, "", err
		}
	}
	var names []string
	for _, p := range platforms {
		names = append(names, p.name)
	}
	return nil, "", fmt.Errorf("unknown platform %q (want %s or auto)", name, strings.Join(names, ", "))
}

// HostEnv returns the sentry's own environment, for `do`.
func HostEnv() []string { return os.Environ() }
