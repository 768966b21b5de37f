package process

import (
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// defaultIgnored are the signals whose default action is to ignore them.
var defaultIgnored = linux.MakeSignalSet(linux.SIGCHLD, linux.SIGURG, linux.SIGWINCH, linux.SIGCONT)

// SendSignal sends sig to the thread group. Until handler delivery lands,
// SIG_IGN and default actions are honoured and a caught signal is treated
// as its default action (logged). Signal 0 only checks existence.
// Errors: EINVAL for a bad signal number.
func (tg *ThreadGroup) SendSignal(sig int) error {
	if sig < 0 || sig > linux.SignalMaximum {
		return unix.EINVAL
	}
	if sig == 0 {
		return nil
	}
	act := tg.Action(sig)
	killOrStop := sig == int(unix.SIGKILL) || sig == int(unix.SIGSTOP)
	if act.Handler == linux.SIG_IGN && !killOrStop {
		return nil
	}
	if defaultIgnored&linux.SignalSetOf(linux.Signal(sig)) != 0 {
		// Ignored by default; a handler for it cannot run yet, and
		// dropping the signal is closer to Linux than killing.
		return nil
	}
	if act.Handler != linux.SIG_DFL && act.Handler != linux.SIG_IGN && !killOrStop {
		tg.s.Log.Warnf("pid %d: signal %d has a handler, but handler delivery is not implemented yet: applying the default action", tg.tgid, sig)
	}
	tg.Exit(KilledBy(sig))
	return nil
}
