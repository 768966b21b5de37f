// Command runsc-lite runs Linux programs in a gVisor-style sandbox whose
// kernel, the sentry, is a process it starts (sentry/sandbox): for `do`
// and for the OCI verbs, which container engines drive as they drive runc.
//
//	runsc-lite [global flags] do [flags] [--] PROG [ARGS...]
//	runsc-lite [global flags] create|start|state|kill|delete|run|exec|ps|list|events|pause|resume|wait|spec ...
//	runsc-lite syscalls [--markdown]
//
// This file and oci.go are argument handling and wiring only; the sentry
// process is started by sentry/sandbox and builds the sandbox with
// sentry/boot; the OCI runtime is runsc-lite/oci.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/runsc-lite/runsc-lite/runsc-lite/oci"
	"github.com/runsc-lite/runsc-lite/sentry/boot"
	"github.com/runsc-lite/runsc-lite/sentry/container"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"github.com/runsc-lite/runsc-lite/sentry/sandbox"
	"github.com/runsc-lite/runsc-lite/sentry/syscalls"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// version is runsc-lite's version, as `--version` prints it.
const version = "0.2.0"

const usage = `usage: runsc-lite [global flags] COMMAND [ARGS...]

Commands:
  do [flags] [--] PROG [ARGS...]   run PROG in a new sandbox
  syscalls [--markdown]            print the sentry's syscall table
  debug --pid PID                  dump the sandbox's tasks and run queues to its log

OCI runtime commands (runc's, for podman, containerd, Docker and Kubernetes):
  create [--bundle DIR] [--pid-file F] [--console-socket S] [--preserve-fds N] ID
  start ID                         run a created container's process
  run [--bundle DIR] [--detach] [--pid-file F] [--keep] ID
  state ID                         print the container's state (JSON)
  kill [--all] ID [SIGNAL]         signal the container (default SIGTERM)
  delete [--force] ID              remove a stopped container
  exec [flags] ID CMD [ARGS...]    run a process in a running container (or -p process.json)
  ps [--format table|json] ID      list the container's processes
  list [--format table|json] [-q]  list containers
  events [--stats] [--interval D] ID  print resource usage as JSON
  pause ID, resume ID              freeze and thaw the container's processes
  wait ID                          wait for the container to exit; print its status
  spec [--bundle DIR] [--rootless] write an example config.json

Global flags (before the command; the sandbox flags also after "do"):
`

// options are the global flags and `do`'s.
type options struct {
	// runc's global flags.
	stateRoot     string
	log           string
	logFormat     string
	systemdCgroup bool
	rootless      string
	version       bool

	// The sandbox's flags.
	debug       bool
	debugLog    string
	strace      bool
	vdso        bool
	platform    string
	cpus        int
	totalMemory string
	swap        string
	network     string
	profileCPU  string
	unconfined  bool
	seccompLog  bool
	pidsLimit   int

	// do's flags.
	root     string
	volumes  volumeList
	cwd      string
	hostname string
	env      stringList
	user     string
	hostUDS  string
}

type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

// volumeList is --volume HOSTDIR:PATH[:ro], as bind mounts.
type volumeList []container.Mount

func (v *volumeList) String() string {
	var parts []string
	for _, m := range *v {
		parts = append(parts, m.Source+":"+m.Destination)
	}
	return strings.Join(parts, ",")
}

func (v *volumeList) Set(s string) error {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return fmt.Errorf("want HOSTDIR:PATH[:ro], got %q", s)
	}
	m := container.Mount{Source: parts[0], Destination: parts[1], Options: []string{"rbind"}}
	if len(parts) == 3 {
		switch parts[2] {
		case "ro":
			m.Options = append(m.Options, "ro")
		case "rw":
		default:
			return fmt.Errorf("volume option %q: want ro or rw", parts[2])
		}
	}
	if !strings.HasPrefix(m.Destination, "/") {
		return fmt.Errorf("volume path %q inside the sandbox must be absolute", m.Destination)
	}
	st, err := os.Stat(m.Source)
	if err != nil {
		return fmt.Errorf("volume %q: %v", m.Source, errors.Unwrap(err))
	}
	if !st.IsDir() {
		return fmt.Errorf("volume %q is not a directory", m.Source)
	}
	*v = append(*v, m)
	return nil
}

// registerGlobal registers the global flags: runc's and the sandbox's.
func (o *options) registerGlobal(fs *flag.FlagSet) {
	fs.StringVar(&o.stateRoot, "root", o.stateRoot, "OCI state `DIR` (one directory per container)")
	fs.StringVar(&o.log, "log", o.log, "write the runtime's log to `FILE` (default stderr)")
	fs.StringVar(&o.logFormat, "log-format", o.logFormat, "log format: text or json (runc's: level, msg, time)")
	fs.BoolVar(&o.systemdCgroup, "systemd-cgroup", o.systemdCgroup, "read linux.cgroupsPath as systemd's slice:prefix:name (the sentry's host cgroup is made under cgroupfs)")
	fs.StringVar(&o.rootless, "rootless", o.rootless, "accepted for runc compatibility: true, false or auto (rootless operation is not supported; see README)")
	fs.BoolVar(&o.version, "version", false, "print the version")
	fs.BoolVar(&o.version, "v", false, "print the version")
	o.registerSandbox(fs)
}

// registerSandbox registers the flags every sandbox takes.
func (o *options) registerSandbox(fs *flag.FlagSet) {
	fs.BoolVar(&o.debug, "debug", o.debug, "log debug messages")
	fs.StringVar(&o.debugLog, "debug-log", o.debugLog, "write the sentry's logs to `FILE` instead of stderr")
	fs.BoolVar(&o.strace, "strace", o.strace, "log every syscall of the sandboxed program with its arguments and result")
	fs.BoolVar(&o.vdso, "vdso", o.vdso, "map the sandbox's vDSO into every process (clock_gettime, gettimeofday and time without a trap); false: every clock read is a syscall")
	fs.StringVar(&o.platform, "platform", o.platform, "platform that runs application code: ptrace, systrap, kvm or auto")
	fs.IntVar(&o.cpus, "cpus", o.cpus, "number of sandbox CPUs (0: the host's count)")
	fs.StringVar(&o.totalMemory, "total-memory", o.totalMemory, "sandbox memory `SIZE` (e.g. 512M, 2G; default: a quarter of the host's RAM, at most 4G)")
	fs.StringVar(&o.swap, "swap", o.swap, "swap file `SIZE` for the sandbox's anonymous memory (e.g. 512M; 0 or absent: no swap)")
	fs.StringVar(&o.profileCPU, "profile-cpu", o.profileCPU, "write a Go CPU profile of the sentry to `FILE`")
	fs.StringVar(&o.network, "network", o.network, "network `MODE`: none (loopback only, default), sandbox (take over the interfaces of the sentry's network namespace) or host (host sockets; no network isolation)")
	fs.BoolVar(&o.unconfined, "unconfined", o.unconfined, "run the sentry without its confinement (namespaces, empty root, capability drop, no_new_privs, seccomp filter): for debugging only")
	fs.BoolVar(&o.seccompLog, "seccomp-log", o.seccompLog, "with --debug: the sentry's seccomp filter logs the calls it would refuse (in the kernel log) instead of killing the sentry")
	fs.IntVar(&o.pidsLimit, "pids-limit", o.pidsLimit, "most tasks (threads and processes) the sandbox may hold; fork and clone fail with EAGAIN beyond it (0: a thirty-second of the host's pid_max/threads-max, 512 to 16384; -1: no limit)")
}

// confinement checks the confinement's flags and sets c from them and
// from the test knobs (RUNSC_LITE_SECCOMP_DENY, RUNSC_LITE_DROP_CAPS,
// which can only tighten it); it returns a warning to give, and a usage
// error's message.
func (o *options) confinement(c *sandbox.Confinement) (warning, usage string) {
	if o.seccompLog && !o.debug {
		return "", "--seccomp-log is a debugging aid: use it with --debug"
	}
	if o.seccompLog && o.unconfined {
		return "", "--seccomp-log and --unconfined: an unconfined sentry has no seccomp filter"
	}
	c.Unconfined = o.unconfined
	c.SeccompLog = o.seccompLog
	if deny := os.Getenv("RUNSC_LITE_SECCOMP_DENY"); deny != "" {
		c.SeccompDeny = strings.Split(deny, ",")
	}
	if drop := os.Getenv("RUNSC_LITE_DROP_CAPS"); drop != "" {
		c.DropCaps = strings.Split(drop, ",")
	}
	if o.unconfined {
		warning = "--unconfined: the sentry runs as this user with all its capabilities, in the host's namespaces and root, without a seccomp filter; a bug in it is a bug in the host"
	}
	return warning, ""
}

// registerDo registers do's own flags.
func (o *options) registerDo(fs *flag.FlagSet) {
	o.registerSandbox(fs)
	fs.StringVar(&o.root, "root", o.root, "host `DIR` shown read-only as the sandbox's root (default /)")
	fs.Var(&o.volumes, "volume", "bind a host directory: `HOSTDIR:PATH[:ro]` (repeatable; writable unless :ro)")
	fs.StringVar(&o.cwd, "cwd", o.cwd, "working directory inside the sandbox; it must exist (default: the current one, or / when it does not exist inside)")
	fs.StringVar(&o.hostname, "hostname", o.hostname, "the sandbox's hostname")
	fs.Var(&o.env, "env", "set an environment variable: `NAME=VALUE`, or NAME to pass the host's (repeatable)")
	fs.Var(&o.env, "e", "shorthand for --env")
	fs.StringVar(&o.user, "user", o.user, "run as `UID[:GID]` or NAME[:GROUP] (names from the sandbox root's /etc/passwd and /etc/group)")
	fs.StringVar(&o.user, "u", o.user, "shorthand for --user")
	fs.StringVar(&o.hostUDS, "host-uds", o.hostUDS, "host Unix sockets the sandbox may reach: `none` (default) or open (connect to host socket files on --volume mounts)")
}

// ignoredSignals returns the process's ignored set (SigIgn): the signals
// runsc-lite was started with ignored (and the Go runtime left so). `do`
// reads it before it catches any signal itself, so that the program it
// runs starts with them ignored, as one exec'd directly would. (Read when
// `do` needs it, not at package initialisation: every runsc-lite process,
// the sentry's included, would pay for the /proc read.)
func ignoredSignals() uint64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "SigIgn:"); ok {
			n, _ := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return n
		}
	}
	return 0
}

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	o := options{platform: "auto", stateRoot: oci.DefaultRoot, logFormat: "text", rootless: "auto", vdso: true}
	global := flag.NewFlagSet("runsc-lite", flag.ContinueOnError)
	global.SetOutput(stderr)
	o.registerGlobal(global)
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
	if o.version {
		fmt.Printf("runsc-lite version %s\nspec: %s\ngo: %s\n", version, ociSpecVersion, runtime.Version())
		return 0
	}
	rest := global.Args()
	if len(rest) == 0 {
		global.Usage()
		return 2
	}
	cmd, cargs := rest[0], rest[1:]
	switch cmd {
	case "do":
		return cmdDo(&o, cargs, stderr)
	case "syscalls":
		return cmdSyscalls(cargs, stderr)
	case "debug":
		return cmdDebug(cargs, stderr)
	case "boot":
		// Internal: the sentry process that `do` and create start.
		return sandbox.Main(cargs, stderr)
	case oci.ProxyCommand:
		oci.RunProxy()
		return 1
	case "help":
		global.SetOutput(os.Stdout)
		global.Usage()
		return 0
	}
	if v, ok := ociVerbs[cmd]; ok {
		return runOCI(&o, v, cargs, stderr)
	}
	fmt.Fprintf(stderr, "runsc-lite: unknown command %q\n", cmd)
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

// usageError prints a one-line usage error and returns 2.
func usageError(stderr io.Writer, format string, args ...any) int {
	fmt.Fprintf(stderr, "runsc-lite: "+format+"\n", args...)
	return 2
}

// sandboxSettings checks the sandbox flags and returns the memory and
// swap sizes; a usage error is returned as a message.
func (o *options) sandboxSettings(stderr io.Writer) (mem, swap uint64, msg string) {
	var err error
	if o.totalMemory != "" {
		if mem, err = parseSize(o.totalMemory); err != nil {
			return 0, 0, fmt.Sprintf("--total-memory: %v", err)
		}
	}
	if o.swap != "" && strings.TrimSpace(o.swap) != "0" {
		if swap, err = parseSize(o.swap); err != nil {
			return 0, 0, fmt.Sprintf("--swap: %v", err)
		}
	}
	if o.cpus < 0 || o.cpus > 1024 {
		return 0, 0, fmt.Sprintf("--cpus %d: want 0 to 1024", o.cpus)
	}
	if o.cpus > runtime.NumCPU() {
		fmt.Fprintf(stderr, "runsc-lite: warning: --cpus %d is more than the host's %d CPUs; sandbox CPUs will share host CPUs\n", o.cpus, runtime.NumCPU())
	}
	switch o.platform {
	case "ptrace", "systrap", "kvm", "auto":
	default:
		return 0, 0, fmt.Sprintf("--platform %q: want ptrace, systrap, kvm or auto", o.platform)
	}
	switch o.network {
	case "", "none", "sandbox", "host":
	default:
		return 0, 0, fmt.Sprintf("--network %q: want none, sandbox or host", o.network)
	}
	if o.pidsLimit < -1 {
		return 0, 0, fmt.Sprintf("--pids-limit %d: want a positive number, 0 (default) or -1 (no limit)", o.pidsLimit)
	}
	return mem, swap, ""
}

func cmdDo(o *options, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("do", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o.registerDo(fs)
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
	mem, swap, msg := o.sandboxSettings(stderr)
	if msg != "" {
		return usageError(stderr, "%s", msg)
	}
	root := o.root
	if root == "" {
		root = "/"
	}
	if st, err := os.Stat(root); err != nil {
		return usageError(stderr, "--root %s: %v", root, errors.Unwrap(err))
	} else if !st.IsDir() {
		return usageError(stderr, "--root %s: not a directory", root)
	}
	env, err := doEnv(o.env)
	if err != nil {
		return usageError(stderr, "%v", err)
	}
	var u *container.User
	if o.user != "" {
		if u, err = parseUser(root, o.user); err != nil {
			return usageError(stderr, "--user: %v", err)
		}
	}
	cwd := o.cwd
	if cwd == "" {
		// The current directory if the sandbox has it, else /.
		cwd = "/"
		if wd, err := os.Getwd(); err == nil {
			if st, err := os.Stat(filepath.Join(root, wd)); err == nil && st.IsDir() {
				cwd = wd
			}
		}
	} else if !strings.HasPrefix(cwd, "/") {
		return usageError(stderr, "--cwd %q: want an absolute path", cwd)
	} else if !hostDirExists(root, o.volumes, cwd) {
		return usageError(stderr, "--cwd %s: no such directory in the sandbox", cwd)
	}
	log, closeLog, err := newLogger(o, o.debugLog)
	if err != nil {
		return usageError(stderr, "%v", err)
	}
	defer closeLog()
	var hostUDS bool
	switch o.hostUDS {
	case "", "none":
	case "open":
		hostUDS = true
	default:
		return usageError(stderr, "--host-uds %q: want none or open", o.hostUDS)
	}
	var opts sandbox.Options
	warning, msg := o.confinement(&opts.Confinement)
	if msg != "" {
		return usageError(stderr, "%s", msg)
	}
	switch o.network {
	case boot.NetworkSandbox:
		// The sentry takes over the interfaces of the namespace
		// runsc-lite runs in (one prepared by the caller).
		opts.NetNS = "/proc/self/ns/net"
	case boot.NetworkHost:
		opts.HostNetwork = true
	}
	if warning != "" {
		fmt.Fprintln(stderr, "runsc-lite: warning:", warning)
	}
	if o.profileCPU != "" {
		f, err := os.Create(o.profileCPU)
		if err != nil {
			return usageError(stderr, "--profile-cpu: %v", err)
		}
		defer f.Close()
		opts.ProfileCPU = f
	}
	mounts := []container.Mount{
		{Destination: "/dev", Type: "devtmpfs", Source: "devtmpfs", Options: []string{"mode=755"}},
		// A devpts mounted without options, as Linux's defaults
		// (mode=600, ptmxmode=000): a terminal on do's stdio is its
		// /dev/pts/0.
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts"},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm"},
		// The IPC namespace's POSIX message queues, where Linux
		// distributions mount them.
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "nodev", "noexec"}},
	}
	mounts = append(mounts, o.volumes...)
	mounts = append(mounts,
		container.Mount{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "nodev", "noexec"}},
		container.Mount{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"ro", "nosuid", "nodev", "noexec"}},
	)
	// Read before signal.Notify below: catching a signal that was
	// ignored takes it out of the set.
	ignored := ignoredSignals()
	// Catch the signals to forward before the sentry exists, so that
	// none sent from now on is lost or kills runsc-lite.
	// Not undone when the sandbox has exited (runsc-lite exits next):
	// signal.Stop costs two host context switches per signal here.
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, forwardedSignals...)
	p, err := sandbox.Start(boot.Config{
		Container: container.Spec{
			Root:    container.Root{Path: root, Overlay: true},
			Mounts:  mounts,
			Process: container.Process{Args: argv, Env: env, Cwd: cwd, User: u, IgnoredSignals: ignored},
		},
		Platform:    o.platform,
		CPUs:        o.cpus,
		TotalMemory: mem,
		SwapSize:    swap,
		Strace:      o.strace,
		NoVDSO:      !o.vdso,
		Hostname:    o.hostname,
		Network:     o.network,
		PidsLimit:   o.pidsLimit,
		HostUDS:     hostUDS,
		Log:         log,
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

// hostDirExists reports whether sandbox path p names a directory, looked
// up on the host through root and the volumes (symlinks are followed on
// the host: a best effort before the sandbox exists, which checks again).
func hostDirExists(root string, vols []container.Mount, p string) bool {
	hp := filepath.Join(root, p)
	for _, v := range vols {
		if rel, err := filepath.Rel(v.Destination, p); err == nil && !strings.HasPrefix(rel, "..") {
			hp = filepath.Join(v.Source, rel)
		}
	}
	st, err := os.Stat(hp)
	return err == nil && st.IsDir()
}

// doEnv is the host's environment with --env's changes.
func doEnv(sets []string) ([]string, error) {
	env := boot.HostEnv()
	for _, e := range sets {
		name, val, hasVal := strings.Cut(e, "=")
		if name == "" {
			return nil, fmt.Errorf("--env %q: want NAME=VALUE or NAME", e)
		}
		if !hasVal {
			v, ok := os.LookupEnv(name)
			if !ok {
				continue
			}
			val = v
		}
		out := env[:0]
		for _, kv := range env {
			if !strings.HasPrefix(kv, name+"=") {
				out = append(out, kv)
			}
		}
		env = append(out, name+"="+val)
	}
	return env, nil
}

// parseUser reads --user: UID[:GID], or names looked up in the sandbox
// root's /etc/passwd and /etc/group.
func parseUser(root, s string) (*container.User, error) {
	us, gs, hasGroup := strings.Cut(s, ":")
	u := &container.User{}
	if uid, err := strconv.ParseUint(us, 10, 32); err == nil {
		u.UID = uint32(uid)
		u.GID = u.UID
		if ent, ok := oci.LookupDB(filepath.Join(root, "etc/passwd"), 2, us); ok {
			if gid, err := strconv.ParseUint(ent[3], 10, 32); err == nil {
				u.GID = uint32(gid)
			}
		}
	} else {
		ent, ok := oci.LookupDB(filepath.Join(root, "etc/passwd"), 0, us)
		if !ok {
			return nil, fmt.Errorf("no user %q in the sandbox's /etc/passwd", us)
		}
		uid, err1 := strconv.ParseUint(ent[2], 10, 32)
		gid, err2 := strconv.ParseUint(ent[3], 10, 32)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("user %q: bad /etc/passwd entry", us)
		}
		u.UID, u.GID = uint32(uid), uint32(gid)
	}
	if hasGroup {
		if gid, err := strconv.ParseUint(gs, 10, 32); err == nil {
			u.GID = uint32(gid)
		} else {
			ent, ok := oci.LookupDB(filepath.Join(root, "etc/group"), 0, gs)
			if !ok {
				return nil, fmt.Errorf("no group %q in the sandbox's /etc/group", gs)
			}
			gid, err := strconv.ParseUint(ent[2], 10, 32)
			if err != nil {
				return nil, fmt.Errorf("group %q: bad /etc/group entry", gs)
			}
			u.GID = uint32(gid)
		}
	}
	return u, nil
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

// newLogger returns the sentry's logger: warnings (info with --strace,
// debug with --debug) to stderr or to file.
func newLogger(o *options, file string) (*logrus.Logger, func(), error) {
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
	if file != "" {
		f, err := os.OpenFile(file, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
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
