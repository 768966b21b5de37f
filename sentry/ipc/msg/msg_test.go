package msg

import (
	"fmt"
	"sync"
	"testing"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/sentry/ipc"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

func newKernel(tb testing.TB, cpus int) *kernel.Kernel {
	tb.Helper()
	k := kernel.New(kernel.Config{CPUs: cpus})
	k.ReserveTID()
	tb.Cleanup(k.Shutdown)
	return k
}

func spawn(k *kernel.Kernel, name string, fn func(t *kernel.Task)) <-chan struct{} {
	tk := k.NewTask(kernel.TaskOptions{Name: name, Entry: fn})
	tk.Start()
	return tk.Exited()
}

// TestProducersConsumers: producers and consumers of two message types
// on a queue that holds only a few messages, so both sides block in the
// kernel's wait queues; every message arrives once, at a consumer of its
// type, in order per producer.
func TestProducersConsumers(t *testing.T) {
	k := newKernel(t, 2)
	r := NewRegistry(ipc.NewBudget(1 << 20))
	id, err := r.Get(Caller{}, linux.IPC_PRIVATE, 0600)
	if err != nil {
		t.Fatal(err)
	}
	ds, _, _ := r.Stat(Caller{}, id, false, false)
	ds.MsgQbytes = 64 // a few 16-byte messages
	if err := r.Set(Caller{}, id, &ds); err != nil {
		t.Fatal(err)
	}
	const perProducer = 300
	var mu sync.Mutex
	seen := map[string]bool{}
	last := map[int64]map[int]int{1: {}, 2: {}}
	var errs []error
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	var exits []<-chan struct{}
	for p := 0; p < 4; p++ {
		typ := int64(p%2 + 1)
		exits = append(exits, spawn(k, "producer", func(tk *kernel.Task) {
			for i := 0; i < perProducer; i++ {
				text := []byte(fmt.Sprintf("p%d-%010d", p, i))
				if err := r.Send(Caller{PID: int32(p)}, tk, id, &Message{Type: typ, Text: text}, false); err != nil {
					fail(err)
					return
				}
			}
		}))
	}
	for c := 0; c < 2; c++ {
		typ := int64(c + 1)
		exits = append(exits, spawn(k, "consumer", func(tk *kernel.Task) {
			for i := 0; i < 2*perProducer; i++ {
				m, err := r.Receive(Caller{}, tk, id, ReceiveOpts{Type: typ, MaxSize: 100})
				if err != nil {
					fail(err)
					return
				}
				var p, n int
				fmt.Sscanf(string(m.Text), "p%d-%d", &p, &n)
				mu.Lock()
				if m.Type != typ || seen[string(m.Text)] || (n > 0 && last[typ][p] != n-1) {
					errs = append(errs, fmt.Errorf("consumer %d got %q type %d out of order or twice", typ, m.Text, m.Type))
				}
				seen[string(m.Text)] = true
				last[typ][p] = n
				mu.Unlock()
			}
		}))
	}
	for _, e := range exits {
		<-e
	}
	if len(errs) > 0 {
		t.Fatal(errs[0])
	}
	if len(seen) != 4*perProducer {
		t.Fatalf("%d messages received, want %d", len(seen), 4*perProducer)
	}
	if ds, _, _ := r.Stat(Caller{}, id, false, false); ds.MsgQnum != 0 || ds.MsgCbytes != 0 {
		t.Fatalf("queue not empty at the end: %d messages, %d bytes", ds.MsgQnum, ds.MsgCbytes)
	}
	if r.budget.Used() != 0 {
		t.Fatalf("budget still charged %d bytes", r.budget.Used())
	}
}
