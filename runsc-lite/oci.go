package main

// The OCI verbs: runc's command line (spelling, flags, messages and exit
// statuses), wired to package oci.

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/runsc-lite/runsc-lite/runsc-lite/oci"
	"github.com/runsc-lite/runsc-lite/sentry/sandbox"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// ociSpecVersion is the runtime-spec version the runtime implements.
var ociSpecVersion = specs.Version

// ociCtx is what a verb gets.
type ociCtx struct {
	o      *options
	rt     *oci.Runtime
	name   string
	stderr io.Writer
	// logToStderr is set when the runtime's log is stderr (errors are
	// then printed once, by the log).
	logToStderr bool
}

// ociVerb is one OCI command: its flags, argument count and action.
type ociVerb struct {
	usage string
	// minArgs and maxArgs bound the positional arguments (-1: no max).
	minArgs, maxArgs int
	// stopAfter stops flag parsing after this many positional
	// arguments (0: flags may follow any), as runc does for kill, exec
	// and ps, whose later arguments are the signal or the command.
	stopAfter int
	flags     func(fs *flag.FlagSet) any
	run       func(c *ociCtx, fl any, args []string) (int, error)
}

var ociVerbs map[string]*ociVerb

func init() {
	ociVerbs = map[string]*ociVerb{
		"create":   {usage: "create [flags] ID", minArgs: 1, maxArgs: 1, flags: createFlags, run: verbCreate},
		"run":      {usage: "run [flags] ID", minArgs: 1, maxArgs: 1, flags: runFlags, run: verbRun},
		"start":    {usage: "start ID", minArgs: 1, maxArgs: 1, run: verbStart},
		"state":    {usage: "state ID", minArgs: 1, maxArgs: 1, run: verbState},
		"kill":     {usage: "kill [--all] ID [SIGNAL]", minArgs: 1, maxArgs: 2, stopAfter: 1, flags: killFlags, run: verbKill},
		"delete":   {usage: "delete [--force] ID", minArgs: 1, maxArgs: 1, flags: deleteFlags, run: verbDelete},
		"exec":     {usage: "exec [flags] ID COMMAND [ARGS...]  or  exec -p process.json ID", minArgs: 1, maxArgs: -1, stopAfter: 1, flags: execFlags, run: verbExec},
		"ps":       {usage: "ps [--format table|json] ID [ps options]", minArgs: 1, maxArgs: -1, stopAfter: 1, flags: formatFlags, run: verbPs},
		"list":     {usage: "list [--format table|json] [--quiet]", minArgs: 0, maxArgs: 0, flags: listFlags, run: verbList},
		"events":   {usage: "events [--stats] [--interval DURATION] ID", minArgs: 1, maxArgs: 1, flags: eventsFlags, run: verbEvents},
		"pause":    {usage: "pause ID", minArgs: 1, maxArgs: 1, run: verbPause},
		"resume":   {usage: "resume ID", minArgs: 1, maxArgs: 1, run: verbResume},
		"wait":     {usage: "wait ID", minArgs: 1, maxArgs: 1, run: verbWait},
		"spec":     {usage: "spec [--bundle DIR] [--rootless]", minArgs: 0, maxArgs: 0, flags: specFlags, run: verbSpec},
		"features": {usage: "features", minArgs: 0, maxArgs: 0, run: verbFeatures},
	}
}

// parseInterleaved parses flags that may come before and between
// positional arguments (up to stopAfter positionals, if set).
func parseInterleaved(fs *flag.FlagSet, args []string, stopAfter int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if stopAfter > 0 && len(pos) >= stopAfter {
			return append(pos, args...), nil
		}
		// "--" ends the flags; fs.Parse consumed it.
		if len(fs.Args()) > 0 && len(args) > 0 && args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
		if stopAfter > 0 && len(pos) >= stopAfter {
			return append(pos, args...), nil
		}
	}
}

// runOCI runs verb name with args.
func runOCI(o *options, v *ociVerb, args []string, stderr io.Writer) int {
	name := strings.Fields(v.usage)[0]
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: runsc-lite %s\n", v.usage)
		fs.PrintDefaults()
	}
	var fl any
	if v.flags != nil {
		fl = v.flags(fs)
	}
	pos, err := parseInterleaved(fs, args, v.stopAfter)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if len(pos) < v.minArgs || (v.maxArgs >= 0 && len(pos) > v.maxArgs) {
		switch {
		case v.minArgs == v.maxArgs:
			fmt.Fprintf(stderr, "runsc-lite: %q requires exactly %d argument(s)\n", name, v.minArgs)
		case len(pos) < v.minArgs:
			fmt.Fprintf(stderr, "runsc-lite: %q requires a minimum of %d argument(s)\n", name, v.minArgs)
		default:
			fmt.Fprintf(stderr, "runsc-lite: %q requires a maximum of %d argument(s)\n", name, v.maxArgs)
		}
		fs.Usage()
		return 2
	}
	c := &ociCtx{o: o, name: name, stderr: stderr}
	status, msg := c.setup()
	if msg != "" {
		return usageError(stderr, "%s", msg)
	}
	if status != 0 {
		return status
	}
	code, err := v.run(c, fl, pos)
	if err != nil {
		c.rt.Log.Error(err)
		if !c.logToStderr {
			fmt.Fprintln(stderr, err)
		}
		if code == 0 {
			code = 1
		}
	}
	return code
}

// setup builds the runtime from the global flags.
func (c *ociCtx) setup() (int, string) {
	o := c.o
	root, err := filepath.Abs(o.stateRoot)
	if err != nil || root == "/" {
		return 0, "Option --root argument should not be set to /"
	}
	switch o.rootless {
	case "", "auto", "true", "false":
	default:
		return 0, fmt.Sprintf("--rootless %q: want true, false or auto", o.rootless)
	}
	mem, swap, msg := o.sandboxSettings(c.stderr)
	if msg != "" {
		return 0, msg
	}
	log := logrus.New()
	log.SetOutput(os.Stderr)
	log.SetLevel(logrus.InfoLevel)
	if o.debug {
		log.SetLevel(logrus.DebugLevel)
	}
	switch o.logFormat {
	case "", "text":
	case "json":
		log.SetFormatter(new(logrus.JSONFormatter))
	default:
		return 0, "invalid log-format: " + o.logFormat
	}
	c.logToStderr = true
	var logFile *os.File
	if o.log != "" {
		f, err := os.OpenFile(o.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_SYNC, 0o644)
		if err != nil {
			return 0, fmt.Sprintf("--log %s: %v", o.log, errors.Unwrap(err))
		}
		log.SetOutput(f)
		c.logToStderr = false
		logFile = f
	}
	// A detached sentry's stderr is its container's: the sentry logs to
	// --debug-log, else to the runtime's --log, else nowhere.
	sentryLog := logFile
	if o.debugLog != "" {
		f, err := os.OpenFile(o.debugLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return 0, fmt.Sprintf("--debug-log %s: %v", o.debugLog, errors.Unwrap(err))
		}
		sentryLog = f
	}
	if sentryLog == nil {
		null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err == nil {
			sentryLog = null
		}
	}
	level := logrus.WarnLevel
	if o.strace {
		level = logrus.InfoLevel
	}
	if o.debug {
		level = logrus.DebugLevel
	}
	var conf sandbox.Confinement
	warning, msg := o.confinement(&conf)
	if msg != "" {
		return 0, msg
	}
	if warning != "" {
		log.Warn(warning)
	}
	c.rt = &oci.Runtime{
		Root:          root,
		Log:           log,
		SystemdCgroup: o.systemdCgroup,
		Sentry: oci.SentryFlags{
			Platform: o.platform, CPUs: o.cpus, TotalMemory: mem, SwapSize: swap, Strace: o.strace,
			Network: o.network, Confinement: conf, PidsLimit: o.pidsLimit, LogFile: sentryLog, LogLevel: level,
		},
	}
	if o.rootless == "true" {
		log.Warn("--rootless=true: rootless operation is not supported; the runtime runs as the calling user")
	}
	return 0, ""
}

// createOpts are create's and run's flags.
type createOpts struct {
	bundle, pidFile, consoleSocket, pidfdSocket string
	preserveFDs                                 int
	noPivot, noNewKeyring                       bool
	// run's.
	detach, keep, noSubreaper bool
}

func createFlags(fs *flag.FlagSet) any {
	f := &createOpts{}
	fs.StringVar(&f.bundle, "bundle", "", "path to the root of the bundle `DIR` (default: the current directory)")
	fs.StringVar(&f.bundle, "b", "", "shorthand for --bundle")
	fs.StringVar(&f.consoleSocket, "console-socket", "", "path to an AF_UNIX socket which will receive the master end of the console's pseudoterminal")
	fs.StringVar(&f.pidfdSocket, "pidfd-socket", "", "path to an AF_UNIX socket which will receive a pidfd of the container's process (not supported)")
	fs.StringVar(&f.pidFile, "pid-file", "", "write the container's process ID (the sentry's host PID) to `FILE`")
	fs.IntVar(&f.preserveFDs, "preserve-fds", 0, "pass `N` additional file descriptors (3 to 3+N-1) to the container")
	fs.BoolVar(&f.noPivot, "no-pivot", false, "accepted for runc compatibility (the sandbox never pivot_roots the host)")
	fs.BoolVar(&f.noNewKeyring, "no-new-keyring", false, "accepted for runc compatibility (the sandbox has no keyrings)")
	return f
}

func runFlags(fs *flag.FlagSet) any {
	f := createFlags(fs).(*createOpts)
	fs.BoolVar(&f.detach, "detach", false, "detach from the container's process")
	fs.BoolVar(&f.detach, "d", false, "shorthand for --detach")
	fs.BoolVar(&f.keep, "keep", false, "do not delete the container after it exits")
	fs.BoolVar(&f.noSubreaper, "no-subreaper", false, "accepted for runc compatibility")
	return f
}

func (f *createOpts) options(id string) (oci.CreateOptions, error) {
	if f.pidfdSocket != "" {
		return oci.CreateOptions{}, errors.New("--pidfd-socket: the container's processes are not host processes; no pidfd can name them")
	}
	if f.preserveFDs < 0 {
		return oci.CreateOptions{}, fmt.Errorf("--preserve-fds %d: must not be negative", f.preserveFDs)
	}
	bundle := f.bundle
	if bundle == "" {
		bundle = "."
	}
	return oci.CreateOptions{ID: id, Bundle: bundle, PidFile: f.pidFile, ConsoleSocket: f.consoleSocket, PreserveFDs: f.preserveFDs}, nil
}

func verbCreate(c *ociCtx, fl any, args []string) (int, error) {
	o, err := fl.(*createOpts).options(args[0])
	if err != nil {
		return 1, err
	}
	_, err = c.rt.Create(o)
	return 0, err
}

func verbRun(c *ociCtx, fl any, args []string) (int, error) {
	f := fl.(*createOpts)
	o, err := f.options(args[0])
	if err != nil {
		return 1, err
	}
	o.Foreground = !f.detach
	id := args[0]
	var fwd *signalForwarder
	if !f.detach {
		// Caught from the start, as runc's run does: a signal sent
		// while the container is made reaches its init once it runs.
		fwd = forwardToInit(c.rt, id)
	}
	created, err := c.rt.Create(o)
	if err != nil {
		return 1, err
	}
	// The terminal is relayed, and this process's terminal raw, before
	// the program starts: what is typed from then on reaches it.
	finishRelay := func() {}
	if !f.detach {
		finishRelay = created.Relay()
	}
	if err := c.rt.StartCreated(created); err != nil {
		c.rt.Delete(id, true)
		finishRelay()
		return 1, err
	}
	if f.detach {
		return 0, nil
	}
	fwd.started()
	st, _ := created.Sentry.Wait()
	fwd.stop()
	finishRelay()
	if !f.keep {
		if err := c.rt.DeleteExited(created); err != nil {
			c.rt.Log.Warn(err)
		}
	}
	return st.ShellStatus(), nil
}

// signalForwarder passes the signals this process gets to a foreground
// container's init (the sentry runs in a session of its own: a terminal's
// ^C reaches only this process), as runc's run does: every signal but
// SIGCHLD, SIGURG, SIGPIPE and SIGWINCH.
type signalForwarder struct {
	startedCh chan struct{}
	// done is set once the container has exited: later signals are
	// dropped.
	done atomic.Bool
}

// forwardToInit starts catching every signal for container id; they
// are forwarded once started is called. Catching every signal costs a
// round trip with the Go runtime's signal-mask thread per signal (two
// host context switches each, ~130 in all: ~1.3 ms here), so it is done
// on a goroutine of its own while the container is made, and never undone
// (signal.Stop costs as much again): signals after stop are dropped.
func forwardToInit(rt *oci.Runtime, id string) *signalForwarder {
	fw := &signalForwarder{startedCh: make(chan struct{})}
	go func() {
		sigs := make(chan os.Signal, 16)
		signal.Notify(sigs)
		<-fw.startedCh
		for sig := range sigs {
			n, ok := sig.(syscall.Signal)
			if !ok || n == unix.SIGCHLD || n == unix.SIGURG || n == unix.SIGPIPE || n == unix.SIGWINCH || fw.done.Load() {
				continue
			}
			rt.Kill(id, n, false)
		}
	}()
	return fw
}

// started starts forwarding: the container's init runs.
func (fw *signalForwarder) started() { close(fw.startedCh) }

// stop stops forwarding: the container has exited.
func (fw *signalForwarder) stop() { fw.done.Store(true) }

func verbStart(c *ociCtx, _ any, args []string) (int, error) {
	return 0, c.rt.Start(args[0])
}

func verbState(c *ociCtx, _ any, args []string) (int, error) {
	st, err := c.rt.State(args[0])
	if err != nil {
		return 1, err
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return 1, err
	}
	os.Stdout.Write(data)
	return 0, nil
}

type killOpts struct{ all bool }

func killFlags(fs *flag.FlagSet) any {
	f := &killOpts{}
	fs.BoolVar(&f.all, "all", false, "send the signal to every process of the container")
	fs.BoolVar(&f.all, "a", false, "shorthand for --all")
	return f
}

func verbKill(c *ociCtx, fl any, args []string) (int, error) {
	sigstr := "SIGTERM"
	if len(args) > 1 {
		sigstr = args[1]
	}
	sig, err := parseSignal(sigstr)
	if err != nil {
		return 1, err
	}
	return 0, c.rt.Kill(args[0], sig, fl.(*killOpts).all)
}

// parseSignal reads a signal as runc does: a number, or a name with or
// without SIG.
func parseSignal(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 0 || n > 64 {
			return -1, fmt.Errorf("unknown signal %q", s)
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	// Real-time signals: SIGRTMIN+n, SIGRTMAX-n.
	if rest, ok := strings.CutPrefix(name, "SIGRTMIN"); ok {
		if n, err := strconv.Atoi(strings.TrimPrefix(rest, "+")); err == nil && (rest == "" || rest[0] == '+') && n >= 0 && n <= 30 {
			return unix.Signal(34 + n), nil
		} else if rest == "" {
			return 34, nil
		}
	}
	if rest, ok := strings.CutPrefix(name, "SIGRTMAX"); ok {
		if rest == "" {
			return 64, nil
		}
		if n, err := strconv.Atoi(strings.TrimPrefix(rest, "-")); err == nil && rest[0] == '-' && n >= 0 && n <= 30 {
			return unix.Signal(64 - n), nil
		}
	}
	return -1, fmt.Errorf("unknown signal %q", s)
}

type deleteOpts struct{ force bool }

func deleteFlags(fs *flag.FlagSet) any {
	f := &deleteOpts{}
	fs.BoolVar(&f.force, "force", false, "kill the container's processes first if it is still running")
	fs.BoolVar(&f.force, "f", false, "shorthand for --force")
	return f
}

func verbDelete(c *ociCtx, fl any, args []string) (int, error) {
	return 0, c.rt.Delete(args[0], fl.(*deleteOpts).force)
}

type execOpts struct {
	process, cwd, user, consoleSocket, pidFile, pidfdSocket string
	processLabel, apparmor                                  string
	env, caps, gids, cgroups                                stringList
	tty, detach, ignorePaused, noNewPrivs                   bool
	preserveFDs                                             int
}

func execFlags(fs *flag.FlagSet) any {
	f := &execOpts{}
	fs.StringVar(&f.consoleSocket, "console-socket", "", "path to an AF_UNIX socket which will receive the master end of the console's pseudoterminal")
	fs.StringVar(&f.pidfdSocket, "pidfd-socket", "", "not supported")
	fs.StringVar(&f.cwd, "cwd", "", "current working directory in the container")
	fs.Var(&f.env, "env", "set an environment variable (repeatable)")
	fs.Var(&f.env, "e", "shorthand for --env")
	fs.BoolVar(&f.tty, "tty", false, "allocate a pseudo-TTY")
	fs.BoolVar(&f.tty, "t", false, "shorthand for --tty")
	fs.StringVar(&f.user, "user", "", "UID (format: <uid>[:<gid>])")
	fs.StringVar(&f.user, "u", "", "shorthand for --user")
	fs.Var(&f.gids, "additional-gids", "additional gids (repeatable)")
	fs.Var(&f.gids, "g", "shorthand for --additional-gids")
	fs.StringVar(&f.process, "process", "", "path to the process.json")
	fs.StringVar(&f.process, "p", "", "shorthand for --process")
	fs.BoolVar(&f.detach, "detach", false, "detach from the container's process")
	fs.BoolVar(&f.detach, "d", false, "shorthand for --detach")
	fs.StringVar(&f.pidFile, "pid-file", "", "write the process ID (a host process that lives as long as it) to `FILE`")
	fs.StringVar(&f.processLabel, "process-label", "", "ignored: the sandbox is its own security boundary")
	fs.StringVar(&f.apparmor, "apparmor", "", "ignored: the sandbox is its own security boundary")
	fs.BoolVar(&f.noNewPrivs, "no-new-privs", false, "set the no new privileges value for the process")
	fs.Var(&f.caps, "cap", "add a capability to the bounding set for the process (repeatable)")
	fs.Var(&f.caps, "c", "shorthand for --cap")
	fs.IntVar(&f.preserveFDs, "preserve-fds", 0, "pass `N` additional file descriptors to the process")
	fs.Var(&f.cgroups, "cgroup", "accepted for runc compatibility (sandbox processes share the sentry's host cgroup)")
	fs.BoolVar(&f.ignorePaused, "ignore-paused", false, "allow exec in a paused container")
	return f
}

func verbExec(c *ociCtx, fl any, args []string) (int, error) {
	f := fl.(*execOpts)
	if f.pidfdSocket != "" {
		return 255, errors.New("exec failed: --pidfd-socket: the container's processes are not host processes")
	}
	o := oci.ExecOptions{
		ID: args[0], ProcessFile: f.process, Args: args[1:], Cwd: f.cwd, Env: f.env, User: f.user,
		Tty: f.tty, Caps: f.caps, Detach: f.detach, PidFile: f.pidFile, ConsoleSocket: f.consoleSocket,
		PreserveFDs: f.preserveFDs, IgnorePaused: f.ignorePaused,
	}
	for _, g := range f.gids {
		n, err := strconv.ParseInt(g, 10, 64)
		if err != nil {
			return 255, fmt.Errorf("exec failed: --additional-gids %q: not a number", g)
		}
		o.AdditionalGids = append(o.AdditionalGids, n)
	}
	if isFlagSet(c, "no-new-privs") {
		o.NoNewPrivs = &f.noNewPrivs
	}
	status, err := c.rt.Exec(o)
	if err != nil {
		return 255, fmt.Errorf("exec failed: %w", err)
	}
	return status, nil
}

// isFlagSet reports whether flag name appeared on the command line.
func isFlagSet(c *ociCtx, name string) bool {
	for _, a := range os.Args {
		if a == "--"+name || a == "-"+name || strings.HasPrefix(a, "--"+name+"=") || strings.HasPrefix(a, "-"+name+"=") {
			return true
		}
	}
	return false
}

type formatOpts struct {
	format string
	quiet  bool
}

func formatFlags(fs *flag.FlagSet) any {
	f := &formatOpts{format: "table"}
	fs.StringVar(&f.format, "format", "table", "select one of: table or json")
	fs.StringVar(&f.format, "f", "table", "shorthand for --format")
	return f
}

func listFlags(fs *flag.FlagSet) any {
	f := formatFlags(fs).(*formatOpts)
	fs.BoolVar(&f.quiet, "quiet", false, "display only container IDs")
	fs.BoolVar(&f.quiet, "q", false, "shorthand for --quiet")
	return f
}

func verbPs(c *ociCtx, fl any, args []string) (int, error) {
	f := fl.(*formatOpts)
	if f.format != "table" && f.format != "json" {
		return 1, errors.New("invalid format option")
	}
	procs, sentry, err := c.rt.Processes(args[0])
	if err != nil {
		return 1, err
	}
	sort.Slice(procs, func(i, j int) bool { return procs[i].Pid < procs[j].Pid })
	if f.format == "json" {
		// runc prints the host PIDs of the container's processes: here
		// the host processes that run them (their ptrace stubs; the
		// sentry on KVM). A process that is exiting has none any more.
		seen := map[int]bool{}
		pids := []int{}
		for _, p := range procs {
			pid := p.HostPid
			if pid == 0 {
				continue
			}
			if !seen[pid] {
				seen[pid] = true
				pids = append(pids, pid)
			}
		}
		return 0, json.NewEncoder(os.Stdout).Encode(pids)
	}
	if len(args) > 1 {
		c.rt.Log.Warnf("ps options %q ignored: the host's ps would show the sandbox's host processes, not the programs they run", strings.Join(args[1:], " "))
	}
	// runc's table is the host's ps -ef for the container's host PIDs.
	// The same columns, from the sentry: PID is the process's host PID,
	// PPID its parent's, or the sentry's for a process whose parent is
	// not in the container (its first process, exec'd ones).
	hostOf := map[int32]int{}
	for _, p := range procs {
		hostOf[p.Pid] = p.HostPid
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 8, 1, ' ', 0)
	fmt.Fprintln(w, "UID\tPID\tPPID\tC\tSTIME\tTIME\tCMD")
	for _, p := range procs {
		if p.HostPid == 0 {
			continue
		}
		ppid, ok := hostOf[p.PPid]
		if !ok || ppid == 0 {
			ppid = sentry
		}
		secs := int64(p.CPU / time.Second)
		fmt.Fprintf(w, "%d\t%d\t%d\t0\t%s\t%02d:%02d:%02d\t%s\n", p.UID, p.HostPid, ppid, p.Started.Format("15:04"),
			secs/3600, secs/60%60, secs%60, p.Cmdline)
	}
	return 0, w.Flush()
}

func verbList(c *ociCtx, fl any, args []string) (int, error) {
	f := fl.(*formatOpts)
	list, err := c.rt.List(c.stderr)
	if err != nil {
		return 1, err
	}
	if f.quiet {
		for _, s := range list {
			fmt.Println(s.ID)
		}
		return 0, nil
	}
	switch f.format {
	case "table":
		w := tabwriter.NewWriter(os.Stdout, 12, 1, 3, ' ', 0)
		fmt.Fprint(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER\n")
		for _, s := range list {
			fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", s.ID, s.Pid, s.Status, s.Bundle, s.Created.Format(time.RFC3339Nano), s.Owner)
		}
		return 0, w.Flush()
	case "json":
		if list == nil {
			list = []*oci.PublicState{}
		}
		return 0, json.NewEncoder(os.Stdout).Encode(list)
	}
	return 1, errors.New("invalid format option")
}

type eventsOpts struct {
	stats    bool
	interval time.Duration
}

func eventsFlags(fs *flag.FlagSet) any {
	f := &eventsOpts{}
	fs.BoolVar(&f.stats, "stats", false, "display the container's stats then exit")
	fs.DurationVar(&f.interval, "interval", 5*time.Second, "set the stats collection interval")
	return f
}

// event is runc's events line.
type event struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Data any    `json:"data,omitempty"`
}

func verbEvents(c *ociCtx, fl any, args []string) (int, error) {
	f := fl.(*eventsOpts)
	if f.interval <= 0 {
		return 1, errors.New("duration interval must be greater than 0")
	}
	id := args[0]
	enc := json.NewEncoder(os.Stdout)
	for {
		st, err := c.rt.Stats(id)
		if err != nil {
			if f.stats {
				return 1, err
			}
			// The container stopped: the stream ends.
			return 0, nil
		}
		enc.Encode(event{Type: "stats", ID: id, Data: oci.RuncStats(st)})
		if f.stats {
			return 0, nil
		}
		time.Sleep(f.interval)
	}
}

func verbPause(c *ociCtx, _ any, args []string) (int, error) {
	return 0, c.rt.Pause(args[0])
}

func verbResume(c *ociCtx, _ any, args []string) (int, error) {
	return 0, c.rt.Resume(args[0])
}

// verbWait prints runsc's wait answer: the container's exit status.
func verbWait(c *ociCtx, _ any, args []string) (int, error) {
	e, err := c.rt.Wait(args[0])
	if err != nil {
		return 1, err
	}
	out, _ := json.Marshal(struct {
		ID         string `json:"id"`
		ExitStatus int    `json:"exitStatus"`
	}{args[0], e.ShellStatus()})
	fmt.Println(string(out))
	return 0, nil
}

type specOpts struct {
	bundle   string
	rootless bool
}

func specFlags(fs *flag.FlagSet) any {
	f := &specOpts{}
	fs.StringVar(&f.bundle, "bundle", "", "path to the root of the bundle directory")
	fs.StringVar(&f.bundle, "b", "", "shorthand for --bundle")
	fs.BoolVar(&f.rootless, "rootless", false, "generate a configuration for a rootless container")
	return f
}

func verbSpec(c *ociCtx, fl any, _ []string) (int, error) {
	f := fl.(*specOpts)
	spec := oci.Example()
	if f.rootless {
		oci.ToRootless(spec)
	}
	p := filepath.Join(f.bundle, oci.ConfigName)
	if _, err := os.Stat(p); err == nil {
		return 1, fmt.Errorf("File %s exists. Remove it first", oci.ConfigName)
	} else if !errors.Is(err, os.ErrNotExist) {
		return 1, err
	}
	data, err := json.MarshalIndent(spec, "", "\t")
	if err != nil {
		return 1, err
	}
	return 0, os.WriteFile(p, data, 0o666)
}

func verbFeatures(c *ociCtx, _ any, _ []string) (int, error) {
	data, err := json.MarshalIndent(oci.Features(), "", "    ")
	if err != nil {
		return 1, err
	}
	fmt.Println(string(data))
	return 0, nil
}
