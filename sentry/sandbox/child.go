package sandbox

import (
	"errors"
	"flag"
	"fmt"
	"github.com/runsc-lite/runsc-lite/sentry/fs/hostfs"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/runsc-lite/runsc-lite/sentry/boot"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// Main is the sentry process: `runsc-lite boot --boot-fd=N`, started by
// Start. It returns the process's exit status: init's status as a shell
// reports it, or the failure's (125 when the sandbox could not start for
// a reason of its own).
func Main(args []string, stderr io.Writer) int {
	// Catch the forwarded signals at once: until the sandbox forwards
	// them, one arriving during boot must not kill the sentry (they are
	// delivered to init once it runs); and the debug dump's, made once
	// the kernel is up.
	gcPercent := relaxBootGC()
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, process.HostSignals...)
	debugSigs := make(chan os.Signal, 1)
	signal.Notify(debugSigs, boot.DebugSignal)
	// Exec'd through /proc/self/exe, the process is named "exe": name it
	// for ps and top.
	os.WriteFile("/proc/self/comm", []byte("runsc-lite"), 0)

	fs := flag.NewFlagSet("boot", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bootFD := fs.Int("boot-fd", -1, "descriptor of the boot pipe")
	bootSocket := fs.Bool("boot-socket", false, "the boot descriptor is a socket whose message brings the descriptors (Prestart)")
	statusFD := fs.Int("status-fd", -1, "descriptor of the status pipe (with --boot-socket)")
	reserved := fs.Int("reserved-fds", 0, "descriptors from 3 kept for the boot message's (with --boot-socket)")
	if err := fs.Parse(args); err != nil || *bootFD < 0 {
		fmt.Fprintln(stderr, "runsc-lite boot is internal: runsc-lite starts it (use runsc-lite do)")
		return 2
	}
	var msg *bootMessage
	var err error
	if *bootSocket {
		msg, err = receiveBootMessage(*bootFD, *reserved)
		unix.Close(*bootFD)
		if msg != nil {
			msg.StatusFD = *statusFD
		}
	} else {
		bootPipe := os.NewFile(uintptr(*bootFD), "boot pipe")
		msg, err = readBootMessage(bootPipe)
		bootPipe.Close()
	}
	if err != nil {
		fmt.Fprintf(stderr, "runsc-lite boot: %v\n", err)
		return 125
	}
	// Nothing inherited may leak to what the sentry starts.
	closeOnExecFrom(3)
	var status *statusWriter
	if msg.StatusFD >= 0 {
		status = &statusWriter{f: os.NewFile(uintptr(msg.StatusFD), "status pipe")}
	}
	fail := func(code int, err error) int {
		if status != nil {
			status.send(statusMessage{Event: "error", Error: err.Error(), ExitStatus: code})
		} else {
			fmt.Fprintf(stderr, "runsc-lite: %v\n", err)
		}
		return code
	}

	log := logrus.New()
	log.SetFormatter(LogFormatter{})
	if msg.LogJSON {
		log.SetFormatter(new(logrus.JSONFormatter))
	}
	log.SetOutput(os.Stderr)
	if msg.LogFD >= 0 {
		log.SetOutput(os.NewFile(uintptr(msg.LogFD), "log"))
	}
	level, err := logrus.ParseLevel(msg.LogLevel)
	if err != nil {
		level = logrus.WarnLevel
	}
	log.SetLevel(level)
	// The local time zone is read from /etc/localtime on first use:
	// read it now, while the host's files are in view.
	time.Now().Zone()

	// stopProfile ends the CPU profile; ExitLike does not return, so
	// a deferred stop would never run and leave the file empty.
	stopProfile := func() {}
	if msg.ProfileFD >= 0 {
		f := os.NewFile(uintptr(msg.ProfileFD), "cpu profile")
		if err := pprof.StartCPUProfile(f); err != nil {
			return fail(125, fmt.Errorf("--profile-cpu: %w", err))
		}
		stopProfile = func() {
			pprof.StopCPUProfile()
			f.Close()
		}
		defer stopProfile()
	}

	cfg := msg.Config
	if msg.NetNSFD >= 0 && cfg.NetNS == "" {
		// The takeover's thread joins it while it takes the
		// interfaces over (sentry/net.Stack.TakeOver); the sentry
		// stays in its own network namespace.
		cfg.NetNS = fmt.Sprintf("/proc/self/fd/%d", msg.NetNSFD)
	}
	conf := msg.Confinement
	conf.HostUDS = msg.Config.HostUDS
	conf.Control = msg.Config.Control != nil
	conf.AdoptLinks = conf.Control && msg.Config.Control.AdoptLinks
	if conf.HostUDS {
		if err := hostfs.KeepProcSelfFD(); err != nil {
			return fail(125, fmt.Errorf("--host-uds=open needs the host's /proc: %w", err))
		}
	}
	image := readOnlyImage()
	cf, err := prepareConfinement(conf, log, msg.ProfileFD >= 0)
	if err != nil {
		return fail(125, err)
	}

	cfg.Log = log
	var platformName, platformWhy string
	cfg.PlatformStarted = func(name, why string) {
		platformName, platformWhy = name, why
		cf.platformStarted()
	}
	cfg.Signals = sigs
	cfg.DebugSignals = debugSigs
	cfg.Confine = func() error {
		if msg.NetNSFD >= 0 {
			unix.Close(msg.NetNSFD) // taken over
		}
		if err := cf.confine(); err != nil {
			return fmt.Errorf("confining the sentry: %w", err)
		}
		status.send(statusMessage{Event: "started", Platform: platformName, PlatformWhy: platformWhy})
		// Init is built: what only start-up needed goes back to
		// the host once the sandbox has run a moment (release.go).
		time.AfterFunc(releaseDelay, func() { releaseStartupMemory(image, gcPercent) })
		return nil
	}
	ws, err := boot.Run(cfg)
	if err != nil {
		var ee *boot.ExitError
		if errors.As(err, &ee) {
			return fail(ee.Status, err)
		}
		return fail(125, err)
	}
	status.send(statusMessage{Event: "exit", WaitStatus: uint32(ws)})
	stopProfile()
	ExitLike(ws)
	return ws.ShellStatus()
}

// ExitLike ends the process the way init ended: killed by its signal
// (with the default action restored, without a core dump), so that a
// parent waiting for the sentry (conmon, the containerd shim, an OCI
// runtime's waiter) sees the same death; or exits with its code. It
// returns only for a status that is neither.
func ExitLike(ws process.WaitStatus) {
	sig, ok := ws.Signaled()
	if !ok {
		os.Exit(ws.ExitCode())
	}
	unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{})
	signal.Reset(unix.Signal(sig))
	// The Go runtime handles some signals itself (SIGSEGV, SIGBUS...):
	// put the default action back with the raw system call.
	var dfl [4]uint64 // struct sigaction: SIG_DFL, no flags, empty mask
	unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&dfl[0])), 0, 8, 0, 0)
	set := uint64(1) << (uint(sig) - 1)
	unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_UNBLOCK, uintptr(unsafe.Pointer(&set)), 0, 8, 0, 0)
	unix.Tgkill(unix.Getpid(), unix.Gettid(), unix.Signal(sig))
	// A signal whose default is to ignore (or continue) leaves us here.
}

// closeOnExecFrom marks every descriptor from fd up close-on-exec.
func closeOnExecFrom(fd int) {
	if unix.CloseRange(uint(fd), ^uint(0), unix.CLOSE_RANGE_CLOEXEC) == nil {
		return
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil && n >= fd {
			unix.CloseOnExec(n)
		}
	}
}

// LogFormatter prints log lines in the style of runsc's logs: a level
// letter, the time, the fields and the message. The launcher and the
// sentry both use it.
type LogFormatter struct{}

// Format implements logrus.Formatter.
func (LogFormatter) Format(e *logrus.Entry) ([]byte, error) {
	var b strings.Builder
	b.WriteByte(strings.ToUpper(e.Level.String())[0])
	b.WriteString(e.Time.Format("0102 15:04:05.000000"))
	b.WriteString(" ")
	for k, v := range e.Data {
		fmt.Fprintf(&b, "[%s=%v] ", k, v)
	}
	b.WriteString(e.Message)
	b.WriteByte('\n')
	return []byte(b.String()), nil
}
