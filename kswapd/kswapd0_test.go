package kswapd

import (
	"testing"
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
)

func TestKswapdReclaimsToHigh(t *testing.T) {
	k := bootKernel(t)
	z := newZone(t, 4*mib, Config{})
	if err := z.Start(k); err != nil {
		t.Fatal(err)
	}
	kt := z.Kswapd()
	if kt == nil {
		t.Fatal("no kswapd0")
	}
	task := kt.Task()
	if task.Name() != "kswapd0" || !task.IsKthread() || task.Parent() != k.Kthreadd() {
		t.Fatalf("kswapd0 is %q, kthread %v, parent %v", task.Name(), task.IsKthread(), task.Parent())
	}
	// Created, not started: nothing has woken it (free memory is above
	// low), so it has no host thread yet; the low watermark below starts
	// it (wakeKswapd), which pgsteal_kswapd shows.
	if kt.State() != kernel.KthreadCreated || task.State() != kernel.TaskCreated {
		t.Fatalf("kswapd0 is %v (task %v) before any wake-up, want created and not started", kt.State(), task.State())
	}
	if err := z.Start(k); err != nil {
		t.Fatal("second Start:", err)
	}

	// Take memory down to just under low (80 free): that allocation
	// wakes kswapd0, which brings it back to high (96).
	o := newOwner(z, File)
	wm := z.Watermarks()
	key := uint64(0)
	for z.FreePages() >= wm.Low {
		if !o.alloc(t, key) {
			t.Fatal("allocation failed above low")
		}
		key += pageSize
	}
	eventually(t, 10*time.Second, "free memory back at high", func() bool { return z.FreePages() >= wm.High })
	s := z.Snapshot()
	if s.Events[PgStealKswapd] == 0 || s.Events[PgScanKswapd] < s.Events[PgStealKswapd] || s.Events[PgStealDirect] != 0 {
		t.Fatalf("events: pgscan_kswapd %d pgsteal_kswapd %d pgsteal_direct %d",
			s.Events[PgScanKswapd], s.Events[PgStealKswapd], s.Events[PgStealDirect])
	}
	eventually(t, 10*time.Second, "kswapd0 to sleep again", func() bool { return task.State() == kernel.TaskSleeping })

	// Pressure that keeps coming back: allocate on (with direct reclaim
	// when needed) from a task; kswapd0 keeps up most of the time.
	runTask(k, "allocator", func(tk *kernel.Task) {
		for i := 0; i < 3000; i++ {
			for !o.alloc(t, key) {
				if err := z.Reclaim(tk, 1); err != nil {
					t.Errorf("Reclaim: %v", err)
					return
				}
			}
			key += pageSize
			tk.PreemptPoint()
		}
	})
	s = z.Snapshot()
	if s.Events[PgStealKswapd]+s.Events[PgStealDirect] < 3000-uint64(s.FreePages) {
		t.Fatalf("3000 allocations in 1024 pages with only %d + %d reclaimed", s.Events[PgStealKswapd], s.Events[PgStealDirect])
	}
	t.Logf("pgsteal_kswapd %d pgsteal_direct %d allocstall %d low_wmark_hit_quickly %d high_wmark_hit_quickly %d",
		s.Events[PgStealKswapd], s.Events[PgStealDirect], s.Events[AllocStall],
		s.Events[KswapdLowWmarkHitQuickly], s.Events[KswapdHighWmarkHitQuickly])
	z.Stop()
	select {
	case <-kt.Exited():
	default:
		t.Fatal("kswapd0 did not exit on Stop")
	}
	if z.Kswapd() != nil {
		t.Fatal("Kswapd() after Stop")
	}
	// Without kswapd0 the zone still works.
	if !o.alloc(t, key) {
		if err := z.Reclaim(nil, 1); err != nil {
			t.Fatal(err)
		}
	}
}

func TestStartWithoutKthreadd(t *testing.T) {
	k := kernel.New(kernel.Config{CPUs: 1})
	defer k.Shutdown()
	z := newZone(t, 1*mib, Config{})
	if err := z.Start(k); err == nil {
		t.Fatal("Start without kthreadd succeeded")
	}
}

func TestKswapdSwapsAnon(t *testing.T) {
	k := bootKernel(t)
	z := newZone(t, 4*mib, Config{SwapSize: 2 * mib, SwapDir: t.TempDir()})
	if err := z.Start(k); err != nil {
		t.Fatal(err)
	}
	o := newOwner(z, Anon)
	wm := z.Watermarks()
	key := uint64(0)
	for z.FreePages() >= wm.Low {
		if !o.alloc(t, key) {
			t.Fatal("allocation failed above low")
		}
		key += pageSize
	}
	eventually(t, 10*time.Second, "free memory back at high", func() bool { return z.FreePages() >= wm.High })
	s := z.Snapshot()
	if s.Events[PswpOut] == 0 || s.Events[PgStealKswapd] == 0 || s.SwapFree == s.SwapTotal {
		t.Fatalf("pswpout %d pgsteal_kswapd %d swap %d/%d", s.Events[PswpOut], s.Events[PgStealKswapd], s.SwapFree, s.SwapTotal)
	}
}
