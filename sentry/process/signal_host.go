package process

// Host signals: what runsc-lite does when it is itself signalled.

import (
	"os"
	"os/signal"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// hostStopWindow is how soon a second SIGINT or SIGTERM must follow the
// first to stop the sandbox outright.
const hostStopWindow = 2 * time.Second

// HostSignals are the host signals runsc-lite forwards into the sandbox.
// SIGUSR2 is not one of them: it asks the sentry for a debug dump
// (sentry/boot's DebugSignal).
var HostSignals = []os.Signal{unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGWINCH, unix.SIGALRM}

// ForwardHostSignals makes HostSignals sent to the sentry reach the
// sandbox: each is forwarded to its init (PID 1) as a signal from outside
// the sandbox's PID namespace (SI_USER, si_pid 0), except SIGINT and
// SIGWINCH when the sandbox owns the terminal (the sentry's standard input
// is a terminal), which go to the terminal's foreground process group, as
// the terminal itself would send them. With a host terminal attached as
// the sandbox's /dev/pts/0 (foreground not nil), a ^C typed is no host
// signal at all (the host terminal is raw and the sentry's line discipline
// sends SIGINT), and SIGWINCH is left to the terminal's link, which reads
// the new size before it signals. A second SIGINT or SIGTERM within
// two seconds of the previous one stops the sandbox outright: every
// process is killed and init's status is "killed by" that signal, so
// runsc-lite exits with 128+N.
//
// foreground, if not nil, returns the foreground process group of the
// sandbox's terminal (a host terminal attached as /dev/pts/0; 0: none),
// and SIGINT goes there whatever runsc-lite's stdin is; when nil, init's
// process group is used if stdin is a terminal.
//
// ch, if not nil, is a channel the caller already subscribed to those
// signals with signal.Notify (the launcher does so as soon as the sentry
// starts, so that none arriving during boot kills it); when nil,
// ForwardHostSignals subscribes its own.
//
// It returns at once; forwarding goes on until stop is called or init
// exits. stop is idempotent; it restores the default handling of the
// signals when ForwardHostSignals subscribed them itself.
func ForwardHostSignals(s *Sandbox, foreground func() int32, ch <-chan os.Signal) (stop func()) {
	var own chan os.Signal
	if ch == nil {
		own = make(chan os.Signal, 8)
		signal.Notify(own, HostSignals...)
		ch = own
	}
	done := make(chan struct{})
	go func() {
		var last time.Time
		for {
			select {
			case <-done:
				return
			case <-s.InitExited():
				return
			case hs := <-ch:
				sig, ok := hs.(unix.Signal)
				if !ok {
					continue
				}
				if sig == unix.SIGINT || sig == unix.SIGTERM {
					now := time.Now()
					if !last.IsZero() && now.Sub(last) < hostStopWindow {
						s.Log.Infof("second %v within %v: stopping the sandbox", sig, hostStopWindow)
						s.KillAll(KilledBy(int(sig)))
						continue
					}
					last = now
				}
				s.forwardHostSignal(int(sig), foreground)
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			if own != nil {
				signal.Stop(own)
			}
			close(done)
		})
	}
}

// forwardHostSignal sends sig, received by runsc-lite, into the sandbox.
func (s *Sandbox) forwardHostSignal(sig int, foreground func() int32) {
	init := s.Init()
	if init == nil {
		return
	}
	if sig == int(unix.SIGWINCH) && foreground != nil {
		return
	}
	if (sig == int(unix.SIGINT) || sig == int(unix.SIGWINCH)) && (foreground != nil || stdinIsTerminal()) {
		pgid := int32(0)
		if foreground != nil {
			pgid = foreground()
		}
		if pgid <= 0 {
			pgid = init.ProcessGroup()
		}
		if members := s.ProcessGroupMembers(pgid); len(members) > 0 {
			s.Log.Debugf("host %v: forwarded to process group %d", unix.Signal(sig), pgid)
			for _, tg := range members {
				tg.SendSignalInfo(UserSignalInfo(sig, nil))
			}
			return
		}
	}
	s.Log.Debugf("host %v: forwarded to pid %d", unix.Signal(sig), init.TGID())
	init.SendSignalInfo(UserSignalInfo(sig, nil))
}

// KillAll ends every process of the sandbox at once; init's exit status
// is status. It does not wait for them.
func (s *Sandbox) KillAll(status WaitStatus) {
	init := s.Init()
	if init != nil {
		init.Exit(status)
	}
	for _, tg := range s.ThreadGroups() {
		if tg != init {
			tg.Exit(KilledBy(int(unix.SIGKILL)))
		}
	}
}

// stdinIsTerminal reports whether runsc-lite's standard input is a
// terminal (the sandbox then owns it).
func stdinIsTerminal() bool {
	_, err := unix.IoctlGetTermios(0, unix.TCGETS)
	return err == nil
}
