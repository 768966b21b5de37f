package kswapd

import (
	"fmt"

	"github.com/runsc-lite/runsc-lite/kernel"
)

// This file is kswapd0, the zone's background reclaimer (Linux's kswapd()
// and balance_pgdat()).

// Start creates kswapd0 (a kthread, child of kthreadd) and returns once it
// exists. A wake-up that arrived before it existed is not lost. Calling it
// twice is a no-op.
//
// Preconditions: k.StartKthreadd was called.
func (z *Zone) Start(k *kernel.Kernel) error {
	if z.kswapd.Load() != nil {
		return nil
	}
	// Created, not run: kswapd0 gets its host thread when first woken
	// (wakeKswapd), which a sandbox that never nears its low watermark
	// never does.
	kt, err := k.KthreadCreate(kernel.KthreadOptions{Name: "kswapd0", CPU: -1}, z.kswapd0)
	if err != nil {
		return fmt.Errorf("kswapd: creating kswapd0: %w", err)
	}
	z.kswapd.Store(kt)
	if z.kswapdWake.Load() {
		// Woken while it was being created: that wake-up found no
		// thread to start (Run is idempotent).
		kt.Run()
	}
	z.wakeKswapdIfLow()
	return nil
}

// Kswapd returns kswapd0 (nil before Start and after Stop).
func (z *Zone) Kswapd() *kernel.Kthread { return z.kswapd.Load() }

// wakeKswapd wakes kswapd0 (wakeup_kswapd), unless a wake-up is already
// pending or kswapd0 has failed too often to be worth waking (it is woken
// again once some reclaim makes progress). It never blocks.
func (z *Zone) wakeKswapd() {
	if z.kswapdFailures.Load() >= maxReclaimRetries {
		return
	}
	if z.kswapdWake.Swap(true) {
		return
	}
	if kt := z.kswapd.Load(); kt != nil {
		// Its first wake-up starts it; it looks at kswapdWake before
		// it first sleeps.
		kt.Run()
	}
	z.kswapdWQ.NotifyOne()
}

// balanced reports whether free memory is at the high watermark
// (pgdat_balanced), or kswapd0 has given up (a hopeless node).
func (z *Zone) balanced() bool {
	return z.mf.FreePages() >= z.wm.Load().High || z.kswapdFailures.Load() >= maxReclaimRetries
}

// kswapd0 is the thread's body: sleep until woken, balance, try to sleep.
func (z *Zone) kswapd0(kt *kernel.Kthread) int {
	t := kt.Task()
	woken := func() bool { return z.kswapdWake.Load() || kt.ShouldStop() }
	for {
		z.kswapdWQ.Wait(t, woken, kernel.WaitOpts{Timeout: kernel.Forever})
		for {
			if kt.ShouldStop() {
				return 0
			}
			z.kswapdWake.Store(false)
			z.balance(t, kt)
			if kt.ShouldStop() {
				return 0
			}
			// kswapd_try_to_sleep: a short nap first; woken during
			// it, the low watermark was hit again quickly; still
			// short of high after it, the high one was.
			if !z.balanced() {
				z.Count(KswapdHighWmarkHitQuickly, 1)
				continue
			}
			if z.kswapdWQ.Wait(t, woken, kernel.WaitOpts{Timeout: kswapdNap}) == nil {
				z.Count(KswapdLowWmarkHitQuickly, 1)
				continue
			}
			if !z.balanced() {
				z.Count(KswapdHighWmarkHitQuickly, 1)
				continue
			}
			break // sleep until woken
		}
	}
}

// balance reclaims until free memory reaches the high watermark or the
// priorities run out (balance_pgdat): each pass scans lru_size >> priority
// pages of each list; a pass that falls short of its goal raises the
// priority (scans harder).
func (z *Zone) balance(t *kernel.Task, kt *kernel.Kthread) {
	var reclaimed uint64
	var scratch scanControl
	prio := defPriority
	for prio >= 1 && !kt.ShouldStop() {
		free, high := z.mf.FreePages(), z.wm.Load().High
		if free >= high {
			break
		}
		sc := scanControl{t: t, kswapd: true, priority: prio, nrToReclaim: max(high-free, swapClusterMax),
			batch: scratch.batch, results: scratch.results}
		z.shrinkNode(&sc)
		scratch = sc
		reclaimed += sc.nrReclaimed
		if sc.nrReclaimed < sc.nrToReclaim {
			prio--
		}
		if sc.nrReclaimed == 0 && sc.nrKept > 0 {
			// Mostly busy pages (their owners were in use or
			// writing back): give them a moment instead of
			// spinning over them (reclaim_throttle).
			z.waitForFree(t, func() bool {
				return kt.ShouldStop() || z.mf.FreePages() >= z.wm.Load().High
			}, kswapdThrottle)
		}
		t.PreemptPoint()
	}
	if reclaimed == 0 && z.mf.FreePages() < z.wm.Load().High {
		z.kswapdFailures.Add(1)
	}
}
