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

// ForwardHostSignals makes SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to
// runsc-lite reach the sandbox: each is forwarded to its init (PID 1) as a
// signal from outside the sandbox's PID namespace (SI_USER, si_pid 0),
// except SIGINT when the sandbox owns a terminal, which goes to the
// terminal's foreground process group, as the terminal itself would send
// it. (A ^C typed on a host terminal attached as the sandbox's /dev/pts/0
// is not a host signal at all: the host terminal is raw and the sentry's
// line discipline sends SIGINT; this is for kill -INT.) A second SIGINT or SIGTERM within two seconds of the previous
// one stops the sandbox outright: every process is killed and init's
// status is "killed by" that signal, so runsc-lite exits with 128+N.
//
// foreground, if not nil, returns the foreground process group of the
// sandbox's terminal (a host terminal attached as /dev/pts/0; 0: none),
// and SIGINT goes there whatever runsc-lite's stdin is; when nil, init's
// process group is used if stdin is a terminal.
//
// It returns at once; forwarding goes on until stop is called or init
// exits. stop is idempotent and restores the default handling of those
// signals.
func ForwardHostSignals(s *Sandbox, foreground func() int32) (stop func()) {
	ch := make(chan os.Signal, 8)
	signal.Notify(ch, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT)
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
			signal.Stop(ch)
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
	if sig == int(unix.SIGINT) && (foreground != nil || stdinIsTerminal()) {
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
