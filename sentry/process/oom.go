package process

import (
	"sync/atomic"

	"github.com/runsc-lite/runsc-lite/kswapd"
	"github.com/runsc-lite/runsc-lite/sentry/mm"
	"golang.org/x/sys/unix"
)

// The OOM killer's view of the processes: oom_score_adj and the candidates
// the zone chooses from (its badness is kswapd.Badness).
//
// oom_score_adj is per thread group (Linux keeps it in signal_struct),
// inherited by fork and clone and kept by execve. adjMin is the lowest
// value the group may set back to without CAP_SYS_RESOURCE (Linux's
// oom_score_adj_min: a privileged write sets it).
//
// Locking: both values are atomics. OOMCandidates takes Sandbox.mu (to
// list the groups), then each ThreadGroup.mu in turn, then, with neither
// held, each memory manager's lock.

// OOM score limits (include/uapi/linux/oom.h).
const (
	OOMScoreAdjMin = -1000
	OOMScoreAdjMax = 1000
	// OOMDisable and OOMAdjustMax bound the legacy /proc/PID/oom_adj.
	OOMDisable   = -17
	OOMAdjustMax = 15
)

// oomState is a thread group's OOM settings.
type oomState struct {
	adj, adjMin atomic.Int32
}

// OOMScoreAdj returns the group's oom_score_adj. It does not block.
func (tg *ThreadGroup) OOMScoreAdj() int { return int(tg.oom.adj.Load()) }

// SetOOMScoreAdj sets the group's oom_score_adj as a write to
// /proc/PID/oom_score_adj does (legacy: the value came from oom_adj,
// already scaled). privileged is the writer's CAP_SYS_RESOURCE (root in
// the sandbox). Errors: EINVAL out of -1000..1000; EACCES when an
// unprivileged writer lowers the value below what it may.
func (tg *ThreadGroup) SetOOMScoreAdj(adj int, privileged, legacy bool) error {
	if adj < OOMScoreAdjMin || adj > OOMScoreAdjMax {
		return unix.EINVAL
	}
	if !privileged {
		if legacy && adj < tg.OOMScoreAdj() {
			return unix.EACCES
		}
		if !legacy && adj < int(tg.oom.adjMin.Load()) {
			return unix.EACCES
		}
	}
	tg.oom.adj.Store(int32(adj))
	if !legacy && privileged {
		tg.oom.adjMin.Store(int32(adj))
	}
	return nil
}

// inheritOOM copies parent's OOM settings into a new group (fork, clone).
func (tg *ThreadGroup) inheritOOM(parent *ThreadGroup) {
	tg.oom.adj.Store(parent.oom.adj.Load())
	tg.oom.adjMin.Store(parent.oom.adjMin.Load())
}

// MemoryPages returns what the group's current memory manager holds, in
// pages: anonymous, file and shared resident pages and swap entries (zeros
// for a group without one). It takes the memory manager's lock.
func (tg *ThreadGroup) MemoryPages() (anon, file, shmem, swap uint64) {
	m := tg.MM()
	if m == nil {
		return 0, 0, 0, 0
	}
	return m.RSS()
}

// OOMCandidate returns the group as the OOM killer sees it; ok is false
// for a group without a memory manager (a zombie), except while its last
// thread is still releasing its memory: it is then a dying candidate, so
// that the killer waits for that memory rather than kill another process
// (a victim vanished from the list as soon as its memory manager was
// detached, and the next allocation's OOM pass took its parent).
func (tg *ThreadGroup) OOMCandidate() (kswapd.OOMCandidate, bool) {
	tg.mu.Lock()
	m := tg.mm
	leader := tg.leader
	dying := tg.exiting || tg.zombie
	releasing := tg.releasingMM
	tg.mu.Unlock()
	if m == nil && releasing && leader != nil {
		return kswapd.OOMCandidate{PID: tg.tgid, Name: leader.Task.Name(), Dying: true}, true
	}
	if m == nil || leader == nil {
		return kswapd.OOMCandidate{}, false
	}
	c := kswapd.OOMCandidate{
		PID:          tg.tgid,
		Name:         leader.Task.Name(),
		OOMScoreAdj:  tg.OOMScoreAdj(),
		TotalVMPages: m.VirtualSize() / mm.PageSize,
		Dying:        dying,
		Kill:         func() { tg.SendSignal(int(unix.SIGKILL)) },
	}
	if cr := leader.Credentials(); cr != nil {
		c.UID = cr.RealUID
	}
	c.AnonRSS, c.FileRSS, c.ShmemRSS, c.SwapPages = m.RSS()
	return c, true
}

// OOMCandidates lists every process of the sandbox that has an address
// space (kthreads have none), for the zone's OOM killer
// (kswapd.Zone.SetOOMCandidates). It takes the process table's lock and
// each group's and memory manager's locks in turn; it does not block
// otherwise. The caller must hold no memory manager lock.
func (s *Sandbox) OOMCandidates() []kswapd.OOMCandidate {
	var out []kswapd.OOMCandidate
	for _, tg := range s.ThreadGroups() {
		if c, ok := tg.OOMCandidate(); ok {
			out = append(out, c)
		}
	}
	return out
}
