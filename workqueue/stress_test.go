package workqueue

import (
	"fmt"
	"math/rand"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
)

// Issue item 6: 100,000 items across four workqueues and all CPUs each
// run exactly once (and per-CPU items on their CPU).
func TestStress100kItemsRunExactlyOnce(t *testing.T) {
	k, sys := newSystem(t, 2, Config{})
	custom, err := sys.NewWorkqueue("stress_reclaim", MemReclaim, 16)
	if err != nil {
		t.Fatal(err)
	}
	wqs := []*Workqueue{sys.System, sys.HighPri, sys.Unbound, custom}
	const n = 100000
	const queuers = 4
	runs := make([]atomic.Int32, n)
	var wrongCPU atomic.Int32
	items := make([]Work, n)
	for i := range items {
		items[i].Func = func(tk *kernel.Task, _ *Work) {
			runs[i].Add(1)
			if wq := wqs[i%len(wqs)]; wq.flags&Unbound == 0 && tk.CPU().ID() != i%2 {
				wrongCPU.Add(1)
			}
			if i%997 == 0 {
				sleepTask(tk, time.Millisecond)
			}
		}
	}
	queue := func(q int) {
		for i := q; i < n; i += queuers {
			if !wqs[i%len(wqs)].QueueOn(i%2, &items[i]) {
				panic(fmt.Sprintf("item %d was pending before it was queued", i))
			}
		}
	}
	var wg sync.WaitGroup
	for q := 0; q < queuers-1; q++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			queue(q)
		}()
	}
	// The last quarter is queued by a task, as the sentry's syscalls do.
	inTask(k, func(*kernel.Task) { queue(queuers - 1) })
	wg.Wait()
	for _, wq := range wqs {
		wq.FlushQueue(nil)
	}
	for i := range runs {
		if r := runs[i].Load(); r != 1 {
			t.Fatalf("item %d ran %d times", i, r)
		}
	}
	if w := wrongCPU.Load(); w != 0 {
		t.Fatalf("%d per-CPU items ran on another CPU", w)
	}
}

// Issue item 6: FlushQueue while other goroutines queue returns, and every
// item queued before it has run.
func TestFlushWhileOthersQueue(t *testing.T) {
	k, sys := newSystem(t, 2, Config{})
	type item struct {
		w    Work
		done atomic.Bool
	}
	var mu sync.Mutex
	var queued []*item
	var outstanding atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < 3; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wq := []*Workqueue{sys.System, sys.Unbound, sys.System}[g]
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				// Keep the backlog bounded, as real producers are: the
				// flush must wait for everything queued before it.
				for outstanding.Load() > 2000 {
					time.Sleep(100 * time.Microsecond)
				}
				outstanding.Add(1)
				it := &item{}
				it.w.Func = func(tk *kernel.Task, _ *Work) {
					if i%100 == 0 {
						sleepTask(tk, 100*time.Microsecond)
					}
					it.done.Store(true)
					outstanding.Add(-1)
				}
				wq.QueueOn(i%2, &it.w)
				mu.Lock()
				queued = append(queued, it)
				mu.Unlock()
				if i%64 == 0 {
					time.Sleep(50 * time.Microsecond)
				}
			}
		}()
	}
	for round := 0; round < 30; round++ {
		time.Sleep(2 * time.Millisecond)
		mu.Lock()
		before := append([]*item(nil), queued...)
		mu.Unlock()
		flushed := make(chan struct{})
		go func() {
			defer close(flushed)
			if round%2 == 0 {
				sys.System.FlushQueue(nil)
				sys.Unbound.FlushQueue(nil)
			} else {
				inTask(k, func(tk *kernel.Task) {
					sys.System.FlushQueue(tk)
					sys.Unbound.FlushQueue(tk)
				})
			}
		}()
		select {
		case <-flushed:
		case <-time.After(30 * time.Second):
			close(stop)
			var b strings.Builder
			sys.Dump(&b)
			for _, c := range []int{0, 1} {
				_ = c
			}
			k.DumpAll(dumpLogger{&b})
			t.Fatalf("round %d: FlushQueue did not return while others queued\n%s", round, b.String())
		}
		for i, it := range before {
			if !it.done.Load() {
				t.Fatalf("round %d: item %d of %d queued before the flush has not run", round, i, len(before))
			}
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("%d items queued during the flushes", len(queued))
}

// Issue item 6: Destroy with items pending loses none (queued, inactive
// over max_active, armed delayed ones and self-requeueing chains).
func TestDestroyWithPendingItemsLosesNone(t *testing.T) {
	_, sys := newSystem(t, 2, Config{})
	wq, err := sys.NewWorkqueue("doomed", MemReclaim, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !waitFor(5*time.Second, func() bool { return wq.rescuer.Load() != nil }) {
		t.Fatal("no rescuer")
	}
	rescuerTask := wq.rescuer.Load().task
	const plain, delayed, chains, chainLen = 2000, 20, 10, 10
	var plainRuns [plain]atomic.Int32
	var delayedRuns [delayed]atomic.Int32
	var chainRuns [chains]atomic.Int32
	for i := 0; i < plain; i++ {
		wq.QueueOn(i%2, NewWork(func(tk *kernel.Task, _ *Work) {
			if i%200 == 0 {
				sleepTask(tk, time.Millisecond)
			}
			plainRuns[i].Add(1)
		}))
	}
	for i := 0; i < delayed; i++ {
		wq.QueueDelayed(NewDelayedWork(func(*kernel.Task, *Work) { delayedRuns[i].Add(1) }), time.Hour)
	}
	for i := 0; i < chains; i++ {
		wq.Queue(NewWork(func(tk *kernel.Task, w *Work) {
			if chainRuns[i].Add(1) < chainLen {
				wq.Queue(w)
			}
		}))
	}
	wq.Destroy(nil)
	for i := range plainRuns {
		if r := plainRuns[i].Load(); r != 1 {
			t.Fatalf("plain item %d ran %d times", i, r)
		}
	}
	for i := range delayedRuns {
		if r := delayedRuns[i].Load(); r != 1 {
			t.Fatalf("delayed item %d ran %d times", i, r)
		}
	}
	for i := range chainRuns {
		if r := chainRuns[i].Load(); r != chainLen {
			t.Fatalf("chain %d ran %d times, want %d", i, r, chainLen)
		}
	}
	if wq.Queue(NewWork(func(*kernel.Task, *Work) {})) {
		t.Fatal("Queue on a destroyed workqueue returned true")
	}
	for _, x := range sys.Workqueues() {
		if x == wq {
			t.Fatal("destroyed workqueue still listed")
		}
	}
	select {
	case <-rescuerTask.Exited():
	case <-time.After(5 * time.Second):
		t.Fatal("rescuer did not exit")
	}
}

// Issue item 6: CancelSync racing with the item's own re-queue ends with
// the item idle, from goroutines and from tasks, for plain and delayed
// items.
func TestCancelSyncRacingSelfRequeue(t *testing.T) {
	k, sys := newSystem(t, 2, Config{})
	const rounds = 200
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	errs := make(chan error, rounds)
	for r := 0; r < rounds; r++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			rng := rand.New(rand.NewSource(int64(r)))
			wq := []*Workqueue{sys.System, sys.Unbound, sys.HighPri}[r%3]
			var runs atomic.Int64
			var cancel func(t *kernel.Task) bool
			var idle func() bool
			sleepy := r%4 == 0
			if r%2 == 0 {
				w := NewWork(nil)
				w.Func = func(tk *kernel.Task, w *Work) {
					runs.Add(1)
					if sleepy {
						sleepTask(tk, 100*time.Microsecond)
					}
					wq.QueueOn(int(runs.Load()%2), w)
				}
				wq.Queue(w)
				cancel, idle = w.CancelSync, func() bool { return !w.Busy() }
			} else {
				dw := NewDelayedWork(nil)
				dw.Func = func(tk *kernel.Task, _ *Work) {
					runs.Add(1)
					if sleepy {
						sleepTask(tk, 100*time.Microsecond)
					}
					wq.QueueDelayed(dw, time.Duration(runs.Load()%3)*100*time.Microsecond)
				}
				wq.QueueDelayed(dw, 0)
				cancel, idle = dw.CancelSync, func() bool { return !dw.Busy() }
			}
			time.Sleep(time.Duration(rng.Intn(2000)) * time.Microsecond)
			if r%3 == 0 {
				inTask(k, func(tk *kernel.Task) { cancel(tk) })
			} else {
				cancel(nil)
			}
			if !idle() {
				errs <- fmt.Errorf("round %d: item busy after CancelSync", r)
				return
			}
			before := runs.Load()
			time.Sleep(3 * time.Millisecond)
			if after := runs.Load(); after != before {
				errs <- fmt.Errorf("round %d: item ran %d more times after CancelSync", r, after-before)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
