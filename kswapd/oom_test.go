package kswapd

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
)

func TestOOMScore(t *testing.T) {
	const total = 1000000
	for _, tc := range []struct {
		c    OOMCandidate
		want int
	}{
		// (1000 + 0) * 2/3: what `cat /proc/self/oom_score` shows for a
		// small process on Linux.
		{OOMCandidate{}, 666},
		{OOMCandidate{OOMScoreAdj: -1000, AnonRSS: 5000}, 0},
		// badness = 1000 * (total/1000) = total: (1000+1000)*2/3.
		{OOMCandidate{OOMScoreAdj: 1000}, 1333},
		// All of memory and adj 1000: the maximum.
		{OOMCandidate{OOMScoreAdj: 1000, AnonRSS: total - 1954}, 1999},
		// Half of memory resident: 1000 + 500 (+ pgtables rounding).
		{OOMCandidate{AnonRSS: 250000, FileRSS: 250000}, 1000},
		// adj -999 cannot go below 0.
		{OOMCandidate{OOMScoreAdj: -999}, 0},
	} {
		if got := OOMScore(tc.c, total); got != tc.want {
			t.Errorf("OOMScore(%+v) = %d, want %d", tc.c, got, tc.want)
		}
	}
	z := newZone(t, 4*mib, Config{})
	if got := z.OOMScore(OOMCandidate{}); got != 666 {
		t.Errorf("zone OOMScore = %d", got)
	}
}

// oomSetup fills a 4 MiB zone with the anonymous pages of owners (no swap),
// sizes[i] pages for owner i, the rest with unkillable pages.
func oomSetup(t *testing.T, sizes []uint64) (*Zone, []*fakeOwner, *logtest.Hook) {
	log, hook := logtest.NewNullLogger()
	z := newZone(t, 4*mib, Config{Log: log})
	var owners []*fakeOwner
	next := uint64(0)
	for _, n := range sizes {
		o := newOwner(z, Anon)
		for i := uint64(0); i < n; i++ {
			if !o.alloc(t, next*pageSize) {
				t.Fatalf("setup: out of memory")
			}
			next++
		}
		owners = append(owners, o)
	}
	filler := newOwner(z, Anon)
	filler.fill(t, next)
	return z, owners, hook
}

func TestOOMKillsHighestBadness(t *testing.T) {
	oomWait = 2 * time.Second
	for _, tc := range []struct {
		name  string
		sizes []uint64
		adj   []int
		want  int32
	}{
		// The biggest (500) is unkillable; 300 beats 100 and 50.
		{"rss", []uint64{100, 300, 500, 50}, []int{0, 0, -1000, 0}, 11},
		// 50 + 1000*(1024/1000) = 1050 beats 300 + 1 (pgtables).
		{"adj", []uint64{100, 300, 500, 50}, []int{0, 0, -1000, 1000}, 13},
		// 300 - 500*1 = -200 loses to 100 + 1.
		{"negative adj", []uint64{100, 300}, []int{0, -500}, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			z, owners, hook := oomSetup(t, tc.sizes)
			var killed []int32
			z.SetOOMCandidates(func() []OOMCandidate {
				var cs []OOMCandidate
				for i, o := range owners {
					o := o
					pid := int32(10 + i)
					cs = append(cs, OOMCandidate{PID: pid, Name: "p" + string(rune('a'+i)), UID: 1000,
						TotalVMPages: 2000, AnonRSS: uint64(o.resident()), OOMScoreAdj: tc.adj[i],
						Kill: func() { killed = append(killed, pid); o.release() }})
				}
				return cs
			})
			if err := z.Reclaim(nil, 1); err != nil {
				t.Fatalf("Reclaim = %v", err)
			}
			if len(killed) != 1 || killed[0] != tc.want {
				t.Fatalf("killed %v, want [%d]", killed, tc.want)
			}
			e := hook.LastEntry()
			if e == nil || e.Level != logrus.WarnLevel {
				t.Fatalf("log entry %+v", e)
			}
			if s := z.Snapshot(); s.Events[OOMKill] != 1 {
				t.Fatalf("oom_kill %d", s.Events[OOMKill])
			}
		})
	}
}

func TestOOMLogLine(t *testing.T) {
	oomWait = 2 * time.Second
	z, owners, hook := oomSetup(t, []uint64{300})
	var kills atomic.Int32
	z.SetOOMCandidates(func() []OOMCandidate {
		return []OOMCandidate{{PID: 7, Name: "hog", UID: 1000, TotalVMPages: 2000, AnonRSS: 300,
			Kill: func() { kills.Add(1); owners[0].release() }}}
	})
	if err := z.Reclaim(nil, 1); err != nil {
		t.Fatalf("Reclaim = %v", err)
	}
	want := "Out of memory: Killed process 7 (hog) total-vm:8000kB, anon-rss:1200kB, file-rss:0kB, shmem-rss:0kB, UID:1000 pgtables:4kB oom_score_adj:0"
	e := hook.LastEntry()
	if kills.Load() != 1 || e == nil || e.Message != want || e.Level != logrus.WarnLevel {
		t.Fatalf("kills %d, entry %+v, want %q", kills.Load(), e, want)
	}
	if s := z.Snapshot(); s.Events[OOMKill] != 1 || s.Events[AllocStall] != 1 {
		t.Fatalf("oom_kill %d allocstall %d", s.Events[OOMKill], s.Events[AllocStall])
	}
}

func TestOOMNeverKillsUnkillable(t *testing.T) {
	oomWait = 100 * time.Millisecond
	z, _, _ := oomSetup(t, []uint64{300})
	z.SetOOMCandidates(func() []OOMCandidate {
		return []OOMCandidate{{PID: 7, Name: "init", OOMScoreAdj: -1000, AnonRSS: 300,
			Kill: func() { t.Error("killed an oom_score_adj -1000 process") }}}
	})
	if err := z.Reclaim(nil, 1); err != ErrOOM {
		t.Fatalf("Reclaim = %v, want ErrOOM", err)
	}
}

func TestOOMWaitsForDying(t *testing.T) {
	oomWait = 5 * time.Second
	z, owners, _ := oomSetup(t, []uint64{300, 100})
	z.SetOOMCandidates(func() []OOMCandidate {
		return []OOMCandidate{
			{PID: 7, Name: "dying", AnonRSS: 100, Dying: true, Kill: func() { t.Error("killed the dying one again") }},
			{PID: 8, Name: "big", AnonRSS: 300, Kill: func() { t.Error("killed another while one was dying") }},
		}
	})
	// The dying process exits a little later.
	died := make(chan struct{})
	go func() {
		defer close(died)
		time.Sleep(20 * time.Millisecond)
		owners[1].release()
	}()
	err := z.Reclaim(nil, 1)
	<-died
	if err != nil {
		t.Fatalf("Reclaim = %v", err)
	}
	if s := z.Snapshot(); s.Events[OOMKill] != 0 {
		t.Fatalf("oom_kill %d", s.Events[OOMKill])
	}
}

func TestOOMAsTask(t *testing.T) {
	oomWait = 5 * time.Second
	k := bootKernel(t)
	z, owners, _ := oomSetup(t, []uint64{300})
	died := make(chan struct{})
	z.SetOOMCandidates(func() []OOMCandidate {
		return []OOMCandidate{{PID: 9, Name: "hog", AnonRSS: 300, Kill: func() {
			// The victim dies asynchronously, as a real one.
			go func() {
				defer close(died)
				time.Sleep(10 * time.Millisecond)
				owners[0].release()
			}()
		}}}
	})
	var err error
	runTask(k, "allocator", func(tk *kernel.Task) { err = z.Reclaim(tk, 1) })
	<-died
	if err != nil {
		t.Fatalf("Reclaim = %v", err)
	}
	// The caller's own process chosen: give up.
	z2, _, _ := oomSetup(t, []uint64{300})
	runTask(k, "self", func(tk *kernel.Task) {
		z2.SetOOMCandidates(func() []OOMCandidate {
			return []OOMCandidate{{PID: tk.TGID(), Name: "self", AnonRSS: 300, Kill: func() {}}}
		})
		err = z2.Reclaim(tk, 1)
	})
	if err != ErrOOM {
		t.Fatalf("Reclaim choosing the caller = %v, want ErrOOM", err)
	}
}
