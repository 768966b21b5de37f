package kswapd

import (
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
)

// This file is the OOM killer (Linux's mm/oom_kill.c): when reclaim can
// free nothing, kill the process whose death frees the most memory.

// oomScoreAdjMin is OOM_SCORE_ADJ_MIN: never kill.
const oomScoreAdjMin = -1000

// pgtablePages estimates the page-table pages of a process (Linux counts
// them exactly; the candidate does not carry them): one PTE page per 512
// resident or swapped pages.
func pgtablePages(c OOMCandidate) uint64 {
	return (c.AnonRSS + c.FileRSS + c.ShmemRSS + c.SwapPages + 511) / 512
}

// Badness is Linux's oom_badness: the pages the process's death would free
// (resident + swapped + page tables) plus oom_score_adj thousandths of
// totalPages. ok is false for a process that must never be killed
// (oom_score_adj -1000).
func Badness(c OOMCandidate, totalPages uint64) (points int64, ok bool) {
	if c.OOMScoreAdj <= oomScoreAdjMin {
		return 0, false
	}
	points = int64(c.AnonRSS + c.FileRSS + c.ShmemRSS + c.SwapPages + pgtablePages(c))
	points += int64(c.OOMScoreAdj) * int64(totalPages/1000)
	return points, true
}

// OOMScore returns /proc/PID/oom_score for c in a zone of totalPages pages
// (memory plus swap), as Linux's proc_oom_score: badness scaled into
// [0, 2000] by (1000 + badness*1000/totalPages) * 2/3, and 0 for
// oom_score_adj -1000.
func OOMScore(c OOMCandidate, totalPages uint64) int {
	if totalPages == 0 {
		return 0
	}
	b, ok := Badness(c, totalPages)
	if !ok {
		return 0
	}
	points := (1000 + b*1000/int64(totalPages)) * 2 / 3
	if points < 0 {
		return 0
	}
	return int(points)
}

// oomTotalPages is the OOM killer's totalpages: memory plus swap.
func (z *Zone) oomTotalPages() uint64 {
	total := z.total
	if z.swap != nil {
		total += z.swap.Total()
	}
	return total
}

// OOMScore returns /proc/PID/oom_score for c in this zone (see the
// function OOMScore). It does not block.
func (z *Zone) OOMScore(c OOMCandidate) int { return OOMScore(c, z.oomTotalPages()) }

// outOfMemory is out_of_memory: pick a victim and kill it, or wait for the
// one already dying; then wait (bounded) for free memory. It returns nil
// when the caller should retry its allocation.
func (z *Zone) outOfMemory(t *kernel.Task, npages uint64) error {
	target := z.wm.Load().Min + npages
	enough := func() bool { return z.mf.FreePages() >= target }
	freedBefore := z.mf.FreedPages()
	retry := func(ok bool) error {
		if ok || z.mf.FreedPages() != freedBefore {
			return nil
		}
		return ErrOOM
	}
	self := int32(-1)
	if t != nil {
		self = t.TGID()
	}

	if !z.oomMu.TryLock() {
		// Another task is choosing a victim: give it a moment and
		// retry the allocation (Linux's oom_lock trylock).
		return retry(z.waitForFree(t, enough, congestionWait))
	}
	fp := z.oomCandidates.Load()
	if fp == nil || *fp == nil {
		z.oomMu.Unlock()
		z.log.Warn("Out of memory and no killable processes...")
		return ErrOOM
	}
	cands := (*fp)()
	total := z.oomTotalPages()
	var victim *OOMCandidate
	var best int64
	dying := false
	for i := range cands {
		c := &cands[i]
		if c.Dying || (c.PID == z.lastVictim && time.Since(z.lastKill) < oomWait) {
			if c.PID == self {
				// The caller's own process is dying: give up.
				z.oomMu.Unlock()
				return ErrOOM
			}
			dying = true
			continue
		}
		b, ok := Badness(*c, total)
		if !ok {
			continue
		}
		// Ties go to the later process, as Linux's select_bad_process.
		if victim == nil || b >= best {
			victim, best = c, b
		}
	}
	if dying {
		// A victim is on its way out: wait for its memory rather than
		// kill another (oom_evaluate_task's abort).
		z.oomMu.Unlock()
		return retry(z.waitForFree(t, enough, oomWait))
	}
	if victim == nil {
		z.oomMu.Unlock()
		z.log.Warn("Out of memory and no killable processes...")
		return ErrOOM
	}
	z.lastVictim = victim.PID
	z.lastKill = time.Now()
	z.Count(OOMKill, 1)
	const kb = pageSize / 1024
	z.log.Warnf("Out of memory: Killed process %d (%s) total-vm:%dkB, anon-rss:%dkB, file-rss:%dkB, shmem-rss:%dkB, UID:%d pgtables:%dkB oom_score_adj:%d",
		victim.PID, victim.Name, victim.TotalVMPages*kb, victim.AnonRSS*kb, victim.FileRSS*kb,
		victim.ShmemRSS*kb, victim.UID, pgtablePages(*victim)*kb, victim.OOMScoreAdj)
	kill := victim.Kill
	pid := victim.PID
	z.oomMu.Unlock()
	if kill != nil {
		kill()
	}
	if pid == self {
		return ErrOOM
	}
	return retry(z.waitForFree(t, enough, oomWait))
}
