// Command runsc-lite runs Linux programs in a gVisor-style sandbox whose
// kernel, the sentry, is a process it starts (sentry/sandbox).
//
//	runsc-lite [global flags] do [flags] [--] PROG [ARGS...]
//	runsc-lite syscalls [--markdown]
//
// This file is argument handling and wiring only; the sentry process is
// started by sentry/sandbox and builds the sandbox with sentry/boot.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"

	"github.com/runsc-lite/runsc-lite/sentry/boot"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"github.com/runsc-lite/runsc-lite/sentry/sandbox"
	"github.com/runsc-lite/runsc-lite/sentry/syscalls"
	"github.com/runsc-lite/runsc-lite/sentry/vfs"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

const usage = `usage: runsc-lite [flags] COMMAND [ARGS...]

Commands:
  do [flags] [--] PROG [ARGS...]   run PROG in a new sandbox
  syscalls [--markdown]            print the sentry's syscall table
  debug --pid PID                  dump the sandbox's tasks and run queues to its log

Flags (before or after the command):
`

// options are the flags shared by the global position and the commands.
type options struct {
	debug       bool
	debugLog    string
	strace      bool
	vdso        bool
	platform    string
	cpus        int
	totalMemory string
	swap        string
	root        string
	volumes     volumeList
	cwd         string
	hostname    string
	profileCPU  string
	unconfined  bool
	seccompLog  bool
	pidsLimit   int
	hostUDS     string
	network     string
}

type volumeList []vfs.Volume

func (v *volumeList) String() string {
	var parts []string
	for _, vol := range *v {
		parts = append(parts, vol.HostPath+":"+vol.SandboxPath)
	}
	return strings.Join(parts, ",")
}

func (v *volumeList) Set(s string) error {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return fmt.Errorf("want HOSTDIR:PATH[:ro], got %q", s)
	}
	vol := vfs.Volume{HostPath: parts[0], SandboxPath: parts[1]}
	if len(parts) == 3 {
		switch parts[2] {
		case "ro":
			vol.ReadOnly = true
		case "rw":
		default:
			return fmt.Errorf("volume option %q: want ro or rw", parts[2])
		}
	}
	if !strings.HasPrefix(vol.SandboxPath, "/") {
		return fmt.Errorf("volume path %q inside the sandbox must be absolute", vol.SandboxPath)
	}
	st, err := os.Stat(vol.HostPath)
	if err != nil {
		return fmt.Errorf("volume %q: %v", vol.HostPath, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("volume %q is not a directory", vol.HostPath)
	}
	*v = append(*v, vol)
	return nil
}

func (o *options) register(fs *flag.FlagSet) {
	fs.BoolVar(&o.debug, "debug", o.debug, "log debug messages")
	fs.StringVar(&o.debugLog, "debug-log", o.debugLog, "write logs to `FILE` instead of stderr")
	fs.BoolVar(&o.strace, "strace", o.strace, "log every syscall of the sandboxed program with its arguments and result")
	fs.BoolVar(&o.vdso, "vdso", o.vdso, "map the sandbox's vDSO into every process (clock_gettime, gettimeofday and time without a trap); false: every clock read is a syscall")
	fs.StringVar(&o.platform, "platform", o.platform, "platform that runs application code: ptrace, kvm or auto")
	fs.IntVar(&o.cpus, "cpus", o.cpus, "number of sandbox CPUs (0: the host's count)")
	fs.StringVar(&o.totalMemory, "total-memory", o.totalMemory, "sandbox memory `SIZE` (e.g. 512M, 2G; default: a quarter of the host's RAM, at most 4G)")
	fs.StringVar(&o.swap, "swap", o.swap, "swap file `SIZE` for the sandbox's anonymous memory (e.g. 512M; 0 or absent: no swap)")
	fs.StringVar(&o.root, "root", o.root, "host `DIR` shown read-only as the sandbox's root (default /)")
	fs.Var(&o.volumes, "volume", "bind a host directory: `HOSTDIR:PATH[:ro]` (repeatable; writable unless :ro)")
	fs.StringVar(&o.cwd, "cwd", o.cwd, "working directory inside the sandbox (default: the current one)")
	fs.StringVar(&o.hostname, "hostname", o.hostname, "the sandbox's hostname")
	fs.StringVar(&o.profileCPU, "profile-cpu", o.profileCPU, "write a Go CPU profile of the sentry to `FILE`")
	fs.StringVar(&o.network, "network", o.network, "network `MODE`: none (loopback only, default), sandbox (take over the interfaces of the sentry's network namespace) or host (host sockets; no network isolation)")
	fs.BoolVar(&o.unconfined, "unconfined", o.unconfined, "run the sentry without its confinement (namespaces, empty root, capability drop, no_new_privs, seccomp filter): for debugging only")
	fs.BoolVar(&o.seccompLog, "seccomp-log", o.seccompLog, "with --debug: the sentry's seccomp filter logs the calls it would refuse (in the kernel log) instead of killing the sentry")
	fs.IntVar(&o.pidsLimit, "pids-limit", o.pidsLimit, "most tasks (threads and processes) the sandbox may hold; fork and clone fail with EAGAIN beyond it (0: a thirty-second of the host's pid_max/threads-max, 512 to 16384; -1: no limit)")
	fs.StringVar(&o.hostUDS, "host-uds", o.hostUDS, "host Unix sockets the sandbox may reach: `none` (default) or open (connect to host socket files on --volume mounts)")
}

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	var o options
	o.platform = "auto"
	o.vdso = true
	global := flag.NewFlagSet("runsc-lite", flag.ContinueOnError)
	global.SetOutput(stderr)
	o.register(global)
	global.Usage = func() {
		fmt.Fprint(stderr, usage)
		global.PrintDefaults()
	}
	if err := global.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	rest := global.Args()
	if len(rest) == 0 {
		global.Usage()
		return 2
	}
	switch rest[0] {
	case "do":
		return cmdDo(&o, rest[1:], stderr)
	case "syscalls":
		return cmdSyscalls(rest[1:], stderr)
	case "debug":
		return cmdDebug(rest[1:], stderr)
	case "boot":
		// Internal: the sentry process that `do` starts.
		return sandbox.Main(rest[1:], stderr)
	case "help":
		global.SetOutput(os.Stdout)
		global.Usage()
		return 0
	}
	fmt.Fprintf(stderr, "runsc-lite: unknown command %q\n", rest[0])
	global.Usage()
	return 2
}

func cmdSyscalls(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("syscalls", flag.ContinueOnError)
	fs.SetOutput(stderr)
	md := fs.Bool("markdown", false, "print a markdown table")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	syscalls.WriteTable(os.Stdout, *md)
	return 0
}

func cmdDo(o *options, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("do", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o.register(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: runsc-lite do [flags] [--] PROG [ARGS...]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	argv := fs.Args()
	if len(argv) == 0 {
		fmt.Fprintln(stderr, "runsc-lite do: no program given")
		fs.Usage()
		return 2
	}
	log, closeLog, err := newLogger(o)
	if err != nil {
		fmt.Fprintf(stderr, "runsc-lite: %v\n", err)
		return 2
	}
	defer closeLog()
	mem := uint64(0)
	if o.totalMemory != "" {
		if mem, err = parseSize(o.totalMemory); err != nil {
			fmt.Fprintf(stderr, "runsc-lite: --total-memory: %v\n", err)
			return 2
		}
	}
	swap := uint64(0)
	if o.swap != "" && strings.TrimSpace(o.swap) != "0" {
		if swap, err = parseSize(o.swap); err != nil {
			fmt.Fprintf(stderr, "runsc-lite: --swap: %v\n", err)
			return 2
		}
	}
	if o.cpus < 0 || o.cpus > 1024 {
		fmt.Fprintf(stderr, "runsc-lite: --cpus %d: want 0 to 1024\n", o.cpus)
		return 2
	}
	if o.pidsLimit < -1 {
		fmt.Fprintf(stderr, "runsc-lite: --pids-limit %d: want a positive number, 0 (default) or -1 (no limit)\n", o.pidsLimit)
		return 2
	}
	var hostUDS bool
	switch o.hostUDS {
	case "", "none":
	case "open":
		hostUDS = true
	default:
		fmt.Fprintf(stderr, "runsc-lite: --host-uds %q: want none or open\n", o.hostUDS)
		return 2
	}
	var opts sandbox.Options
	switch o.network {
	case "", boot.NetworkNone:
	case boot.NetworkSandbox:
		// The sentry takes over the interfaces of the namespace
		// runsc-lite runs in (a CNI-prepared one for containers).
		opts.NetNS = "/proc/self/ns/net"
	case boot.NetworkHost:
		opts.HostNetwork = true
	default:
		fmt.Fprintf(stderr, "runsc-lite: --network %q: want none, sandbox or host\n", o.network)
		return 2
	}
	if o.seccompLog && !o.debug {
		fmt.Fprintln(stderr, "runsc-lite: --seccomp-log is a debugging aid: use it with --debug")
		return 2
	}
	if o.seccompLog && o.unconfined {
		fmt.Fprintln(stderr, "runsc-lite: --seccomp-log and --unconfined: an unconfined sentry has no seccomp filter")
		return 2
	}
	opts.Unconfined = o.unconfined
	opts.SeccompLog = o.seccompLog
	// Test knobs that can only tighten the confinement: syscalls taken
	// out of the allow-list, capabilities not kept.
	if deny := os.Getenv("RUNSC_LITE_SECCOMP_DENY"); deny != "" {
		opts.SeccompDeny = strings.Split(deny, ",")
	}
	if drop := os.Getenv("RUNSC_LITE_DROP_CAPS"); drop != "" {
		opts.DropCaps = strings.Split(drop, ",")
	}
	if o.unconfined {
		fmt.Fprintln(stderr, "runsc-lite: warning: --unconfined: the sentry runs as this user with all its capabilities, in the host's namespaces and root, without a seccomp filter; a bug in it is a bug in the host")
	}
	if o.profileCPU != "" {
		f, err := os.Create(o.profileCPU)
		if err != nil {
			fmt.Fprintf(stderr, "runsc-lite: --profile-cpu: %v\n", err)
			return 2
		}
		defer f.Close()
		opts.ProfileCPU = f
	}
	cwd := o.cwd
	if cwd == "" {
		if cwd, err = os.Getwd(); err != nil {
			cwd = "/"
		}
	}
	// Catch the signals to forward before the sentry exists, so that
	// none sent from now on is lost or kills runsc-lite.
	ignored := sandbox.IgnoredAtStart()
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, forwardedSignals...)
	defer signal.Stop(sigs)
	p, err := sandbox.Start(boot.Config{
		Argv:           argv,
		Env:            boot.HostEnv(),
		Cwd:            cwd,
		Root:           o.root,
		Volumes:        o.volumes,
		Platform:       o.platform,
		CPUs:           o.cpus,
		TotalMemory:    mem,
		SwapSize:       swap,
		Strace:         o.strace,
		NoVDSO:         !o.vdso,
		Hostname:       o.hostname,
		Network:        o.network,
		IgnoredSignals: ignored,
		PidsLimit:      o.pidsLimit,
		HostUDS:        hostUDS,
		Log:            log,
	}, opts)
	if err != nil {
		fmt.Fprintf(stderr, "runsc-lite: %v\n", err)
		var ee *boot.ExitError
		if errors.As(err, &ee) {
			return ee.Status
		}
		return 125
	}
	done := make(chan struct{})
	defer close(done)
	go forwardSignals(p, sigs, done)
	status, err := p.Wait()
	for _, call := range p.SeccompLogged() {
		log.Warnf("seccomp (--seccomp-log): the sentry made syscall %s, which its allow-list refuses", call)
	}
	if err != nil {
		fmt.Fprintf(stderr, "runsc-lite: %v\n", err)
		var ee *boot.ExitError
		if errors.As(err, &ee) {
			return ee.Status
		}
		var de *sandbox.SentryDiedError
		if errors.As(err, &de) {
			if o.debugLog != "" {
				log.Warnf("%v", err) // the debug log records it too
			}
			return de.ShellStatus()
		}
		return 125
	}
	return status.ShellStatus()
}

// forwardedSignals are the signals `do` passes on to the sentry: those
// the sentry forwards to the sandbox's init (process.HostSignals), the
// debug dump's (boot.DebugSignal), and the terminal's stop and continue.
var forwardedSignals = append([]os.Signal{boot.DebugSignal, unix.SIGTSTP, unix.SIGCONT}, process.HostSignals...)

// forwardSignals passes the signals received on sigs to the sentry until
// done is closed. The sentry runs in a session of its own, so a
// terminal's ^C, ^\ and window-size changes reach only runsc-lite, which
// forwards each once. ^Z (SIGTSTP) stops the sentry and then runsc-lite
// itself, as it stopped the whole sandbox when the sentry was this
// process; SIGCONT continues both.
func forwardSignals(p *sandbox.Process, sigs <-chan os.Signal, done <-chan struct{}) {
	for {
		select {
		case <-done:
			return
		case s := <-sigs:
			switch s {
			case unix.SIGTSTP:
				p.Signal(unix.SIGSTOP)
				unix.Kill(os.Getpid(), unix.SIGSTOP)
			default:
				p.Signal(s)
			}
		}
	}
}

// parseSize reads sizes like 512M, 2G, 1048576 or 64KiB.
func parseSize(s string) (uint64, error) {
	t := strings.TrimSuffix(strings.TrimSuffix(strings.ToUpper(strings.TrimSpace(s)), "IB"), "B")
	mult := uint64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		case 'T':
			mult = 1 << 40
		}
		if mult != 1 {
			t = t[:n-1]
		}
	}
	v, err := strconv.ParseUint(t, 10, 64)
	if err != nil || v == 0 {
		return 0, fmt.Errorf("bad size %q (want e.g. 512M or 2G)", s)
	}
	if v > (1<<46)/mult {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	if v*mult < 16<<20 {
		return 0, fmt.Errorf("size %q is below the 16M minimum", s)
	}
	return v * mult, nil
}

func newLogger(o *options) (*logrus.Logger, func(), error) {
	log := logrus.New()
	log.SetFormatter(sandbox.LogFormatter{})
	log.SetOutput(os.Stderr)
	log.SetLevel(logrus.WarnLevel)
	closeFn := func() {}
	if o.strace {
		log.SetLevel(logrus.InfoLevel)
	}
	if o.debug {
		log.SetLevel(logrus.DebugLevel)
	}
	if o.debugLog != "" {
		f, err := os.OpenFile(o.debugLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, nil, fmt.Errorf("--debug-log: %v", err)
		}
		log.SetOutput(f)
		if !o.debug {
			log.SetLevel(max(log.GetLevel(), logrus.InfoLevel))
		}
		closeFn = func() { f.Close() }
	}
	return log, closeFn, nil
}
