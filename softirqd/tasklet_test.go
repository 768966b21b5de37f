package softirqd

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
)

// TestTaskletNeverRunsOnTwoCPUs schedules one tasklet from interrupt
// goroutines and from tasks on both CPUs, with ksoftirqd and irq-exit
// points both running tasklets: its function must never overlap itself.
func TestTaskletNeverRunsOnTwoCPUs(t *testing.T) {
	k, s := boot(t, 2, time.Millisecond)
	var inside, overlaps atomic.Int32
	var cpusSeen [2]atomic.Int64
	var tl *Tasklet
	tl = s.NewTasklet(func() {
		if inside.Add(1) != 1 {
			overlaps.Add(1)
		}
		spinFor(10 * time.Microsecond)
		inside.Add(-1)
	})
	// A second tasklet records which CPU runs it, through the runner.
	var probe *Tasklet
	probe = s.NewTasklet(func() {
		for cpu := 0; cpu < 2; cpu++ {
			if s.InSoftirq(cpu) {
				cpusSeen[cpu].Add(1)
			}
		}
	})
	stop := make(chan struct{})
	var users []*kernel.Task
	for cpu := 0; cpu < 2; cpu++ {
		cpu := cpu
		users = append(users, spawn(k, "user", cpu, func(tk *kernel.Task) {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				tl.Schedule(cpu)
				probe.HiSchedule(cpu)
				spinFor(15 * time.Microsecond)
				tk.PreemptPoint()
				tk.IRQExit()
				if i%20 == 0 {
					taskSleep(s, tk, 100*time.Microsecond)
				}
			}
		}))
	}
	var wg sync.WaitGroup
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				tl.Schedule(g)
				tl.Schedule(1 - g)
				time.Sleep(20 * time.Microsecond)
			}
		}(g)
	}
	// Stir for 400 ms and until the tasklet has run 100 times: a loaded
	// host may give the stirrers too little of its CPUs for 100 runs in
	// a fixed time, and the check is on overlaps, not on speed.
	time.Sleep(400 * time.Millisecond)
	for deadline := time.Now().Add(time.Minute); tl.Runs() < 100 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	close(stop)
	wg.Wait()
	for _, u := range users {
		join(t, u, 10*time.Second)
	}
	tl.Kill(nil)
	if overlaps.Load() != 0 {
		t.Fatalf("the tasklet ran on two CPUs at once %d times", overlaps.Load())
	}
	if tl.Runs() < 100 {
		t.Fatalf("the tasklet ran only %d times in a minute", tl.Runs())
	}
	t.Logf("tasklet runs %d; probe runs %d (cpu0 %d, cpu1 %d)", tl.Runs(), probe.Runs(), cpusSeen[0].Load(), cpusSeen[1].Load())
}

func TestTaskletScheduleCoalesces(t *testing.T) {
	_, s := boot(t, 2, 0)
	tl := s.NewTasklet(func() {})
	tl.Disable()
	for i := 0; i < 5; i++ {
		tl.Schedule(1)
	}
	time.Sleep(20 * time.Millisecond)
	if tl.Runs() != 0 {
		t.Fatalf("a disabled tasklet ran")
	}
	tl.Enable()
	eventually(t, 5*time.Second, "the enabled tasklet to run", func() bool { return tl.Runs() == 1 })
	time.Sleep(20 * time.Millisecond)
	if tl.Runs() != 1 {
		t.Fatalf("five schedules before a run ran it %d times, want 1", tl.Runs())
	}
	// Nested disables: only the last Enable lets it run.
	tl.Disable()
	tl.DisableNosync()
	tl.HiSchedule(0)
	tl.Enable()
	time.Sleep(20 * time.Millisecond)
	if tl.Runs() != 1 {
		t.Fatalf("ran while still disabled once")
	}
	tl.Enable()
	eventually(t, 5*time.Second, "the tasklet to run after the last enable", func() bool { return tl.Runs() == 2 })
}

func TestHiRunsBeforeTasklet(t *testing.T) {
	k, s := boot(t, 1, 0)
	var mu sync.Mutex
	var order []string
	lo := s.NewTasklet(func() { mu.Lock(); order = append(order, "lo"); mu.Unlock() })
	hi := s.NewTasklet(func() { mu.Lock(); order = append(order, "hi"); mu.Unlock() })
	task := spawn(k, "bh", 0, func(tk *kernel.Task) {
		s.LocalBHDisable(tk)
		lo.Schedule(0)
		hi.HiSchedule(0)
		s.LocalBHEnable(tk)
	})
	join(t, task, 10*time.Second)
	mu.Lock()
	defer mu.Unlock()
	if len(order) != 2 || order[0] != "hi" || order[1] != "lo" {
		t.Fatalf("run order %v, want [hi lo]", order)
	}
}

func TestTaskletKill(t *testing.T) {
	k, s := boot(t, 2, 0)

	// A disabled, scheduled tasklet: Kill drops the schedule.
	tl := s.NewTasklet(func() {})
	tl.Disable()
	tl.Schedule(0)
	time.Sleep(10 * time.Millisecond)
	tl.Kill(nil)
	tl.Enable()
	time.Sleep(20 * time.Millisecond)
	if tl.Runs() != 0 {
		t.Fatalf("a killed tasklet ran")
	}
	tl.Schedule(0)
	eventually(t, 5*time.Second, "a tasklet scheduled after Kill to run", func() bool { return tl.Runs() == 1 })

	// A running tasklet: Kill (from a task) waits for it to finish.
	var release, started, finished atomic.Bool
	slow := s.NewTasklet(func() {
		started.Store(true)
		for !release.Load() {
		}
		finished.Store(true)
	})
	slow.Schedule(1)
	eventually(t, 5*time.Second, "the slow tasklet to start", started.Load)
	var killedBeforeFinish atomic.Bool
	killer := spawn(k, "killer", 0, func(tk *kernel.Task) {
		slow.Kill(tk)
		killedBeforeFinish.Store(!finished.Load())
	})
	time.Sleep(30 * time.Millisecond)
	select {
	case <-killer.Exited():
		t.Fatalf("Kill returned while the tasklet was running")
	default:
	}
	release.Store(true)
	join(t, killer, 10*time.Second)
	if killedBeforeFinish.Load() {
		t.Fatalf("Kill returned before the tasklet finished")
	}

	// A scheduled tasklet: Kill lets it run first.
	var ran atomic.Bool
	pend := s.NewTasklet(func() { ran.Store(true) })
	k2 := spawn(k, "killer2", 1, func(tk *kernel.Task) {
		pend.Schedule(1)
		pend.Kill(tk)
	})
	join(t, k2, 10*time.Second)
	if !ran.Load() {
		t.Fatalf("Kill of a scheduled tasklet returned before it ran")
	}
}
