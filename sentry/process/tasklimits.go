package process

// Credentials and the limits on how many tasks may exist: RLIMIT_NPROC per
// real UID, the sandbox-wide task limit (--pids-limit, a pids cgroup's
// pids.max for the whole sandbox), and each container's (its Cgroup's
// pids.max).
//
// A task is counted from the clone that makes it until it is released
// (a thread when it exits, a process's leader when it is reaped): Linux
// counts tasks per user the same way (threads included, zombies until
// release_task), and so does the pids cgroup. Counting happens under the
// sandbox's tasklist lock (Sandbox.mu), so a check and the count it allows
// are one step and concurrent clones cannot both pass the last slot.

import (
	"github.com/runsc-lite/runsc-lite/sentry/auth"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// taskCounts are the sandbox's task counters. Protected by Sandbox.mu.
type taskCounts struct {
	// total is every user task that exists (running or zombie).
	total int
	// byUID counts them by real UID (RLIMIT_NPROC).
	byUID map[uint32]int
}

// SetPidsLimit bounds the number of tasks (threads and processes) the
// sandbox may hold at once; a clone beyond it fails with EAGAIN. 0 means
// no limit. Call it before the first process starts.
func (s *Sandbox) SetPidsLimit(n int) {
	s.mu.Lock()
	s.pidsLimit = n
	s.mu.Unlock()
}

// PidsLimit returns the sandbox-wide task limit (0: none).
func (s *Sandbox) PidsLimit() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pidsLimit
}

// TaskCount returns how many user tasks exist (for tests and /proc).
func (s *Sandbox) TaskCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts.total
}

// CgroupTasks returns how many tasks (threads and processes) cgroup c
// holds: its pids.current.
func (s *Sandbox) CgroupTasks(c *Cgroup) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return c.tasks
}

// chargeTask counts a new task of real UID uid in cgroup cg (nil: none),
// refusing it with EAGAIN when the sandbox's or the cgroup's task limit is
// reached, or when uid already has RLIMIT_NPROC (soft limit nproc) tasks
// and creds may not exceed it (uid 0, CAP_SYS_RESOURCE or CAP_SYS_ADMIN
// may: Linux's copy_process). enforce is false for a container's first
// process and its exec'd ones, which nobody forked (the pids controller
// does not refuse a process that is moved into a cgroup either).
func (s *Sandbox) chargeTask(creds *auth.Credentials, cg *Cgroup, nproc uint64, enforce bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pidsLimit > 0 && s.counts.total >= s.pidsLimit {
		s.pidsRefused++
		return unix.EAGAIN
	}
	if enforce && cg != nil && cg.pidsMax > 0 && cg.tasks >= cg.pidsMax {
		s.pidsRefused++
		return unix.EAGAIN
	}
	uid := creds.RealUID
	if enforce && uint64(s.counts.byUID[uid]) >= nproc && uid != 0 &&
		!creds.HasCapability(linux.CAP_SYS_RESOURCE) && !creds.HasCapability(linux.CAP_SYS_ADMIN) {
		return unix.EAGAIN
	}
	s.counts.total++
	if s.counts.byUID == nil {
		s.counts.byUID = make(map[uint32]int)
	}
	s.counts.byUID[uid]++
	if cg != nil {
		cg.tasks++
	}
	return nil
}

// unchargeTaskLocked forgets a task of real UID uid in cgroup cg (nil:
// none).
// Preconditions: s.mu is held.
func (s *Sandbox) unchargeTaskLocked(uid uint32, cg *Cgroup) {
	s.counts.total--
	if s.counts.byUID[uid]--; s.counts.byUID[uid] <= 0 {
		delete(s.counts.byUID, uid)
	}
	if cg != nil {
		cg.tasks--
	}
}

// PidsRefused returns how many clones the sandbox's task limit refused.
func (s *Sandbox) PidsRefused() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pidsRefused
}

// releaseTaskLocked frees t's TID and uncounts it: the end of a task's
// life (a thread's exit, a process leader's reap).
// Preconditions: s.mu is held.
func (s *Sandbox) releaseTaskLocked(t *Thread) {
	s.unchargeTaskLocked(t.Credentials().RealUID, t.TG.cgroup)
	pidNSUnlink(t)
	s.Kernel.Reap(t.Task)
}

// releaseTask is releaseTaskLocked taking s.mu.
func (s *Sandbox) releaseTask(t *Thread) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.releaseTaskLocked(t)
}

// SetCredentials replaces the thread's credentials with c, which must not
// be modified afterwards. A change of real UID moves the thread's count
// to the new user; if that user is now over its RLIMIT_NPROC (and is not
// privileged), the next execve fails with EAGAIN unless the count has
// dropped by then (Linux's set_user and PF_NPROC_EXCEEDED).
func (t *Thread) SetCredentials(c *auth.Credentials) {
	old := t.creds.Load()
	if old != nil && old.RealUID != c.RealUID && t.S != nil {
		s := t.S
		s.mu.Lock()
		s.counts.total--
		if s.counts.byUID[old.RealUID]--; s.counts.byUID[old.RealUID] <= 0 {
			delete(s.counts.byUID, old.RealUID)
		}
		s.counts.total++
		if s.counts.byUID == nil {
			s.counts.byUID = make(map[uint32]int)
		}
		s.counts.byUID[c.RealUID]++
		over := uint64(s.counts.byUID[c.RealUID]) > t.nprocLimit() && c.RealUID != 0
		s.mu.Unlock()
		t.nprocExceeded = over
	}
	if old != nil && t.TG != nil && credsLoseDumpable(old, c) {
		t.TG.SetDumpable(DumpableNo) // dumpable.go
	}
	// no_new_privs is sticky, and another thread's seccomp TSYNC may set
	// it meanwhile (sentry/process/seccomp.go): never store a value that
	// drops it.
	for {
		cur := t.creds.Load()
		if cur != nil && cur.NoNewPrivs && !c.NoNewPrivs {
			n := *c
			n.NoNewPrivs = true
			c = &n
		}
		if t.creds.CompareAndSwap(cur, c) {
			return
		}
	}
}

// nprocLimit returns the thread's RLIMIT_NPROC soft limit.
func (t *Thread) nprocLimit() uint64 {
	if t.TG == nil || t.TG.Limits == nil {
		return unix.RLIM_INFINITY
	}
	return t.TG.Limits.Get(unix.RLIMIT_NPROC).Cur
}

// CheckExecNproc is execve's RLIMIT_NPROC check: EAGAIN when a set*id
// call left the caller's user over its limit and it still is.
func (t *Thread) CheckExecNproc() error {
	if !t.nprocExceeded {
		return nil
	}
	c := t.Credentials()
	t.S.mu.Lock()
	n := t.S.counts.byUID[c.RealUID]
	t.S.mu.Unlock()
	if uint64(n) > t.nprocLimit() {
		return unix.EAGAIN
	}
	t.nprocExceeded = false
	return nil
}
