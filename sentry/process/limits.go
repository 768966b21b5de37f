package process

import (
	"sync"

	"golang.org/x/sys/unix"
)

// NumLimits is the number of resource limits (RLIMIT_NLIMITS).
const NumLimits = 16

// Limit is one resource limit.
type Limit struct {
	Cur, Max uint64
}

// Limits is a process's resource limits (getrlimit/setrlimit/prlimit64).
type Limits struct {
	mu sync.Mutex
	l  [NumLimits]Limit
}

// HostLimits returns the limits the sentry itself runs with, so that a
// program sees the same limits inside the sandbox as outside.
func HostLimits() *Limits {
	ls := &Limits{}
	for i := 0; i < NumLimits; i++ {
		var r unix.Rlimit
		if err := unix.Getrlimit(i, &r); err == nil {
			ls.l[i] = Limit{r.Cur, r.Max}
		} else {
			ls.l[i] = Limit{unix.RLIM_INFINITY, unix.RLIM_INFINITY}
		}
	}
	return ls
}

// Get returns limit r. Preconditions: 0 <= r < NumLimits.
func (ls *Limits) Get(r int) Limit {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.l[r]
}

// Set replaces limit r and returns the old one. Raising the hard limit is
// refused with EPERM unless privileged; Cur > Max is EINVAL.
func (ls *Limits) Set(r int, nl Limit, privileged bool) (Limit, error) {
	if nl.Cur > nl.Max {
		return Limit{}, unix.EINVAL
	}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	old := ls.l[r]
	if nl.Max > old.Max && !privileged {
		return Limit{}, unix.EPERM
	}
	if r == unix.RLIMIT_NOFILE && nl.Max > 1<<20 {
		return Limit{}, unix.EPERM
	}
	ls.l[r] = nl
	return old, nil
}

// Fork returns a copy (fork).
func (ls *Limits) Fork() *Limits {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return &Limits{l: ls.l}
}

// raiseCPUSoft sets RLIMIT_CPU's soft limit to cur (seconds) after a
// SIGXCPU, as Linux does, unless the limit was changed meanwhile.
func (ls *Limits) raiseCPUSoft(cur uint64) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if l := &ls.l[unix.RLIMIT_CPU]; l.Cur == cur-1 && cur <= l.Max {
		l.Cur = cur
	}
}

// SetLimit sets the process's resource limit r (setrlimit, prlimit64; see
// Limits.Set) and makes a new RLIMIT_CPU take effect.
func (tg *ThreadGroup) SetLimit(r int, nl Limit, privileged bool) (Limit, error) {
	old, err := tg.Limits.Set(r, nl, privileged)
	if err == nil && r == unix.RLIMIT_CPU {
		tg.CPULimitChanged()
	}
	return old, err
}
