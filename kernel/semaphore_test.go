package kernel

import (
	"sync/atomic"
	"testing"
	"time"
)

// runTask runs fn as a task of k and waits for it to exit.
func runTask(k *Kernel, name string, fn func(t *Task)) {
	tk := k.NewTask(TaskOptions{Name: name, Entry: fn})
	tk.Start()
	<-tk.Exited()
}

// TestSemaphoreSignalBeforeSleep is Akaros's race made deterministic: the
// Up lands after the waiter registered and dropped the lock but before it
// gave up its CPU. The waiter must take the unit without sleeping (no
// voluntary context switch) and nothing may be lost.
func TestSemaphoreSignalBeforeSleep(t *testing.T) {
	k := New(Config{CPUs: 1})
	defer k.Shutdown()
	s := NewSemaphore(0)
	var raced atomic.Int32
	semBeforeSleep = func(sem *Semaphore, tk *Task) {
		if sem == s && raced.Add(1) == 1 {
			sem.Up() // the signal wins the race
		}
	}
	defer func() { semBeforeSleep = nil }()
	var vBefore, vAfter uint64
	runTask(k, "down", func(tk *Task) {
		vBefore, _ = tk.ContextSwitches()
		s.Down(tk)
		vAfter, _ = tk.ContextSwitches()
	})
	if raced.Load() != 1 {
		t.Fatalf("the race window was entered %d times, want 1", raced.Load())
	}
	if vAfter != vBefore {
		t.Fatalf("the waiter slept (%d voluntary switches) although the Up came before its sleep", vAfter-vBefore)
	}
	if s.Count() != 0 || s.Waiters() != 0 {
		t.Fatalf("count %d, waiters %d after a balanced Up/Down", s.Count(), s.Waiters())
	}
}

// TestSemaphoreCounts: units given before any Down are kept; Down blocks
// when there are none and the waiter releases its CPU (another task runs
// on the only CPU and does the Up).
func TestSemaphoreCounts(t *testing.T) {
	k := New(Config{CPUs: 1})
	defer k.Shutdown()
	s := NewSemaphore(2)
	var order []string
	var ok atomic.Bool
	runTask(k, "main", func(tk *Task) {
		s.Down(tk)
		s.Down(tk)
		if s.TryDown() {
			return
		}
		if err := s.DownTimeout(tk, NoWait, false); err != ErrTimedOut {
			return
		}
		upper := k.NewTask(TaskOptions{Name: "upper", Entry: func(u *Task) {
			order = append(order, "up")
			s.Up()
		}})
		upper.Start()
		s.Down(tk) // sleeps until upper, on the same CPU, runs
		order = append(order, "down")
		<-upper.Exited()
		ok.Store(true)
	})
	if !ok.Load() || len(order) != 2 || order[0] != "up" {
		t.Fatalf("ok=%v order=%v", ok.Load(), order)
	}
}

// TestSemaphoreTimeoutAndInterrupt: a timed wait ends with ErrTimedOut and
// leaves no waiter behind; an interruptible one ends with ErrInterrupted.
func TestSemaphoreTimeoutAndInterrupt(t *testing.T) {
	k := New(Config{CPUs: 2})
	defer k.Shutdown()
	s := NewSemaphore(0)
	var err1, err2 error
	runTask(k, "timeout", func(tk *Task) {
		start := time.Now()
		err1 = s.DownTimeout(tk, 20*time.Millisecond, false)
		if time.Since(start) < 20*time.Millisecond {
			err1 = nil
		}
	})
	if err1 != ErrTimedOut || s.Waiters() != 0 {
		t.Fatalf("timed Down: %v, %d waiters left", err1, s.Waiters())
	}
	waiter := k.NewTask(TaskOptions{Name: "intr", Entry: func(tk *Task) {
		err2 = s.DownTimeout(tk, Forever, true)
	}})
	waiter.Start()
	for s.Waiters() == 0 {
		time.Sleep(time.Millisecond)
	}
	waiter.Interrupt()
	<-waiter.Exited()
	if err2 != ErrInterrupted || s.Waiters() != 0 {
		t.Fatalf("interrupted Down: %v, %d waiters left", err2, s.Waiters())
	}
}

// TestSemaphoreStress: producers Up from tasks and from plain goroutines,
// consumers Down on two CPUs; every unit is consumed exactly once and no
// consumer is left asleep (a lost wake-up would hang the test).
func TestSemaphoreStress(t *testing.T) {
	k := New(Config{CPUs: 2, Tick: time.Millisecond})
	defer k.Shutdown()
	const consumers, perConsumer = 8, 500
	s := NewSemaphore(0)
	var got atomic.Int64
	var tasks []*Task
	for i := 0; i < consumers; i++ {
		tk := k.NewTask(TaskOptions{Name: "consumer", Entry: func(tk *Task) {
			for j := 0; j < perConsumer; j++ {
				if j%3 == 0 {
					for s.DownTimeout(tk, 50*time.Microsecond, false) != nil {
					}
				} else {
					s.Down(tk)
				}
				got.Add(1)
			}
		}})
		tasks = append(tasks, tk)
		tk.Start()
	}
	total := consumers * perConsumer
	done := make(chan struct{})
	go func() {
		for i := 0; i < total/2; i++ {
			s.Up()
		}
		close(done)
	}()
	runTask(k, "producer", func(tk *Task) {
		for i := 0; i < total-total/2; i++ {
			s.Up()
			if i%64 == 0 {
				tk.Yield()
			}
		}
	})
	<-done
	deadline := time.After(60 * time.Second)
	for _, tk := range tasks {
		select {
		case <-tk.Exited():
		case <-deadline:
			t.Fatalf("consumers stuck: %d of %d units taken, count %d, waiters %d", got.Load(), total, s.Count(), s.Waiters())
		}
	}
	if got.Load() != int64(total) || s.Count() != 0 || s.Waiters() != 0 {
		t.Fatalf("took %d of %d, count %d, waiters %d", got.Load(), total, s.Count(), s.Waiters())
	}
}
