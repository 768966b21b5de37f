package process

import (
	"github.com/runsc-lite/runsc-lite/kernel"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// Signal state.
//
// Each thread group has a groupSignals (process-directed pending signals,
// job control, the real-time interval timer) and each thread a
// threadSignals (thread-directed pending signals, the mask saved by
// rt_sigsuspend, the details of the last fault). Both are protected by
// ThreadGroup.mu, which is the group's "siglock": it also protects the
// signal actions and every write of a thread's SignalMask (the thread
// itself may read its own mask without it).
//
// They are the sig fields of Thread and ThreadGroup (process.go).

// sigQueue is a set of pending signals with their siginfo, in arrival
// order. A standard signal has at most one entry; real-time signals queue.
type sigQueue struct {
	set   linux.SignalSet
	infos []*linux.SignalInfo
}

// sigBit returns the signal set holding only sig.
func sigBit(sig int) linux.SignalSet { return linux.SignalSet(1) << uint(sig-1) }

// syncSignals are the signals a fault raises; they are dequeued first, as
// Linux does, so that a fault's signal is handled before anything that
// arrived meanwhile.
var syncSignals = linux.MakeSignalSet(linux.SIGSEGV, linux.SIGBUS, linux.SIGILL, linux.SIGTRAP, linux.SIGFPE, linux.SIGSYS)

func (q *sigQueue) has(sig int) bool { return q.set&sigBit(sig) != 0 }

// push appends info (the caller decides about coalescing).
func (q *sigQueue) push(info *linux.SignalInfo) {
	q.set |= sigBit(int(info.Signo))
	q.infos = append(q.infos, info)
}

// take removes and returns the oldest siginfo of sig, or nil if sig is
// pending without one (queued over RLIMIT_SIGPENDING).
func (q *sigQueue) take(sig int) *linux.SignalInfo {
	idx, more := -1, false
	for i, info := range q.infos {
		if int(info.Signo) != sig {
			continue
		}
		if idx >= 0 {
			more = true
			break
		}
		idx = i
	}
	var got *linux.SignalInfo
	if idx >= 0 {
		got = q.infos[idx]
		copy(q.infos[idx:], q.infos[idx+1:])
		q.infos[len(q.infos)-1] = nil
		q.infos = q.infos[:len(q.infos)-1]
	}
	if !more {
		q.set &^= sigBit(sig)
	}
	return got
}

// discard removes every pending instance of the signals in set and
// returns how many siginfos it removed.
func (q *sigQueue) discard(set linux.SignalSet) int {
	if q.set&set == 0 {
		return 0
	}
	n := 0
	kept := q.infos[:0]
	for _, info := range q.infos {
		if set&sigBit(int(info.Signo)) != 0 {
			n++
			continue
		}
		kept = append(kept, info)
	}
	for i := len(kept); i < len(q.infos); i++ {
		q.infos[i] = nil
	}
	q.infos = kept
	q.set &^= set
	return n
}

// next returns the signal to dequeue among those not in mask: a
// synchronous one first, then the lowest numbered; 0 if none.
func (q *sigQueue) next(mask linux.SignalSet) int {
	ready := q.set &^ mask
	if ready == 0 {
		return 0
	}
	if s := ready & syncSignals; s != 0 {
		ready = s
	}
	return lowestSignal(ready)
}

// lowestSignal returns the lowest signal of a non-empty set.
func lowestSignal(set linux.SignalSet) int {
	for sig := 1; sig <= linux.SignalMaximum; sig++ {
		if set&sigBit(sig) != 0 {
			return sig
		}
	}
	return 0
}

// groupSignals is a thread group's signal state. Protected by
// ThreadGroup.mu.
type groupSignals struct {
	// pending are the process-directed pending signals.
	pending sigQueue
	// queued counts the siginfos queued in the group and its threads, for
	// RLIMIT_SIGPENDING.
	queued int

	// Job control. stopPending is set from the dequeue of a stop signal
	// until SIGCONT or SIGKILL; stopSig is that signal; parked counts
	// the threads parked in the stop; stopped is set when every thread
	// is parked (the group-stop is complete). stopReport and contReport
	// are the stop (its signal) and continue events not yet reported to
	// a wait4/waitid of the parent.
	stopPending bool
	stopSig     int
	parked      int
	stopped     bool
	stopReport  int
	contReport  bool
	// stopGen counts group stops; a thread that took part in stop
	// stopGen (threadSignals.stopJoined) does not join it again (a
	// tracee the tracer resumed during the stop runs on).
	stopGen uint64
	// stopWQ is where stopped threads wait for SIGCONT.
	stopWQ kernel.WaitQueue

	// realTimer is ITIMER_REAL (alarm, setitimer).
	realTimer intervalTimer

	// signalfd wakes signalfd readers and watchers (signalfd.go).
	signalfd signalfdWaiters
}

// threadSignals is a thread's signal state. Protected by ThreadGroup.mu.
type threadSignals struct {
	// pending are the thread-directed pending signals.
	pending sigQueue
	// savedMask is the mask to restore after rt_sigsuspend (or another
	// syscall that ran with a temporary mask), valid when haveSavedMask.
	savedMask     linux.SignalSet
	haveSavedMask bool
	// realMask is the mask before rt_sigtimedwait unblocked the signals
	// it waits for (Linux's real_blocked), valid when inSigwait: such a
	// signal is not fatal at send time.
	realMask  linux.SignalSet
	inSigwait bool
	// stopJoined is the groupSignals.stopGen of the last group stop
	// the thread took part in.
	stopJoined uint64
	// fault describes the last synchronous fault (for the sigcontext's
	// trapno, err and cr2); valid when fault.sig is the signal being
	// delivered.
	fault faultInfo
}

// faultInfo is what a fault leaves in the sigcontext.
type faultInfo struct {
	sig    int
	trapno uint64
	err    uint64
	cr2    uint64
}

// signals returns the group's signal state.
func (tg *ThreadGroup) signals() *groupSignals { return &tg.sig }

// signals returns the thread's signal state.
func (t *Thread) signals() *threadSignals { return &t.sig }

// discardTimerSignals removes the queued siginfos of POSIX timers
// (SI_TIMER) and returns how many it removed.
func (q *sigQueue) discardTimerSignals() int {
	n := 0
	kept := q.infos[:0]
	var removed linux.SignalSet
	for _, info := range q.infos {
		if info.Code == linux.SI_TIMER {
			n++
			removed |= sigBit(int(info.Signo))
			continue
		}
		kept = append(kept, info)
	}
	for i := len(kept); i < len(q.infos); i++ {
		q.infos[i] = nil
	}
	q.infos = kept
	q.set &^= removed
	for _, info := range q.infos {
		q.set |= sigBit(int(info.Signo))
	}
	return n
}

// FlushTimerSignals drops every queued POSIX timer signal of the group and
// its threads (execve: the timers die with the old image, and so do their
// pending signals, as Linux's flush_itimer_signals).
func (tg *ThreadGroup) FlushTimerSignals() {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	n := tg.sig.pending.discardTimerSignals()
	for _, th := range tg.threads {
		n += th.sig.pending.discardTimerSignals()
	}
	tg.sig.queued -= n
}
