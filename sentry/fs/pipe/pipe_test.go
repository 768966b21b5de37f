package pipe

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"golang.org/x/sys/unix"
)

func init() { kernel.Debug = true }

// run runs each fn in its own task of k and waits for all of them, failing
// after a timeout (a blocked task that kept its CPU would hang here).
func run(t *testing.T, k *kernel.Kernel, fns ...func(ctx *fs.Context)) {
	t.Helper()
	var tasks []*kernel.Task
	for _, fn := range fns {
		fn := fn
		tk := k.NewTask(kernel.TaskOptions{Name: "pipetest", Entry: func(task *kernel.Task) {
			fn(&fs.Context{Task: task})
		}})
		tasks = append(tasks, tk)
	}
	for _, tk := range tasks {
		tk.Start()
	}
	deadline := time.After(20 * time.Second)
	for _, tk := range tasks {
		select {
		case <-tk.Exited():
		case <-deadline:
			t.Fatalf("tasks did not finish")
		}
	}
}

// waitForWaiter sleeps task (giving its CPU away) until q has a waiter,
// failing after a minute: how another task is made to block first, on any
// host, instead of a fixed sleep that a loaded host may outlast (and which,
// as time.Sleep in a task, kept the only CPU from the task it waited for).
func waitForWaiter(t *testing.T, task *kernel.Task, q *kernel.WaitQueue) {
	t.Helper()
	var nap kernel.WaitQueue
	for deadline := time.Now().Add(time.Minute); q.Len() == 0; {
		if time.Now().After(deadline) {
			t.Errorf("nobody waited on the queue within a minute")
			return
		}
		nap.Wait(task, func() bool { return false }, kernel.WaitOpts{Timeout: time.Millisecond})
	}
}

func TestBlockingReadWakesAndEOF(t *testing.T) {
	k := kernel.New(kernel.Config{CPUs: 1})
	defer k.Shutdown()
	p, r, w := NewPair(nil)
	var got []byte
	var eofErr error
	var eofN int
	run(t, k, func(ctx *fs.Context) {
		buf := make([]byte, 100)
		n, err := r.Read(ctx, buf, 0)
		if err != nil {
			t.Errorf("read: %v", err)
		}
		got = append(got, buf[:n]...)
		eofN, eofErr = r.Read(ctx, buf, 0)
	}, func(ctx *fs.Context) {
		waitForWaiter(t, ctx.Task, &p.rq) // the reader blocks first
		if _, err := w.Write(ctx, []byte("hello"), 0); err != nil {
			t.Errorf("write: %v", err)
		}
		w.Release()
	})
	if string(got) != "hello" {
		t.Fatalf("read %q", got)
	}
	if eofN != 0 || eofErr != nil {
		t.Fatalf("EOF read: %d %v", eofN, eofErr)
	}
	r.Release()
}

func TestEPIPEAndCapacity(t *testing.T) {
	k := kernel.New(kernel.Config{CPUs: 1})
	defer k.Shutdown()
	_, r, w := NewPair(nil)
	run(t, k, func(ctx *fs.Context) {
		big := make([]byte, 100000)
		n, err := w.Write(ctx, big, unix.O_NONBLOCK)
		if n != DefaultSize || err != nil {
			t.Errorf("non-blocking fill: %d %v", n, err)
		}
		if n, err := w.Write(ctx, []byte("x"), unix.O_NONBLOCK); n != 0 || err != unix.EAGAIN {
			t.Errorf("write to a full pipe: %d %v", n, err)
		}
		buf := make([]byte, 10)
		if n, err := r.Read(ctx, buf, unix.O_NONBLOCK); n != 10 || err != nil {
			t.Errorf("read: %d %v", n, err)
		}
		// 10 bytes free: an atomic write of 11 must not go in part.
		if n, err := w.Write(ctx, make([]byte, 11), unix.O_NONBLOCK); n != 0 || err != unix.EAGAIN {
			t.Errorf("partial atomic write: %d %v", n, err)
		}
		r.Release()
		if _, err := w.Write(ctx, []byte("x"), 0); err != unix.EPIPE {
			t.Errorf("write without readers: %v", err)
		}
	})
	w.Release()
	_, r2, w2 := NewPair(nil)
	run(t, k, func(ctx *fs.Context) {
		if n, err := r2.Read(ctx, make([]byte, 1), unix.O_NONBLOCK); n != 0 || err != unix.EAGAIN {
			t.Errorf("empty non-blocking read: %d %v", n, err)
		}
	})
	r2.Release()
	w2.Release()
}

func TestBlockingWriterAndAtomicity(t *testing.T) {
	for _, ncpu := range []int{1, 2} {
		k := kernel.New(kernel.Config{CPUs: ncpu})
		_, r, w := NewPair(nil)
		const writers, msgs = 4, 40
		var mu sync.Mutex
		left := writers
		var stream bytes.Buffer
		fns := []func(ctx *fs.Context){func(ctx *fs.Context) {
			buf := make([]byte, 3000)
			for {
				n, err := r.Read(ctx, buf, 0)
				if err != nil {
					t.Errorf("read: %v", err)
					return
				}
				if n == 0 {
					return
				}
				stream.Write(buf[:n])
			}
		}}
		for i := 0; i < writers; i++ {
			id := byte('a' + i)
			fns = append(fns, func(ctx *fs.Context) {
				msg := bytes.Repeat([]byte{id}, Buf)
				for j := 0; j < msgs; j++ {
					if n, err := w.Write(ctx, msg, 0); n != Buf || err != nil {
						t.Errorf("write: %d %v", n, err)
					}
				}
				mu.Lock()
				left--
				last := left == 0
				mu.Unlock()
				if last {
					w.Release()
				}
			})
		}
		run(t, k, fns...)
		r.Release()
		k.Shutdown()
		b := stream.Bytes()
		if len(b) != writers*msgs*Buf {
			t.Fatalf("cpus=%d: got %d bytes", ncpu, len(b))
		}
		for off := 0; off < len(b); off += Buf {
			blk := b[off : off+Buf]
			if bytes.Count(blk, blk[:1]) != Buf {
				t.Fatalf("cpus=%d: interleaved write at %d", ncpu, off)
			}
		}
	}
}

func TestLargeBlockingWrite(t *testing.T) {
	k := kernel.New(kernel.Config{CPUs: 1})
	defer k.Shutdown()
	_, r, w := NewPair(nil)
	const size = 1 << 20
	var total int
	run(t, k, func(ctx *fs.Context) {
		n, err := w.Write(ctx, make([]byte, size), 0)
		if n != size || err != nil {
			t.Errorf("big write: %d %v", n, err)
		}
		w.Release()
	}, func(ctx *fs.Context) {
		buf := make([]byte, 7000)
		for {
			n, _ := r.Read(ctx, buf, 0)
			if n == 0 {
				return
			}
			total += n
		}
	})
	if total != size {
		t.Fatalf("read %d", total)
	}
	r.Release()
}

func TestInterruptedRead(t *testing.T) {
	k := kernel.New(kernel.Config{CPUs: 1})
	defer k.Shutdown()
	p, r, w := NewPair(nil)
	var readErr error
	var reader *kernel.Task
	reader = k.NewTask(kernel.TaskOptions{Name: "reader", Entry: func(task *kernel.Task) {
		_, readErr = r.Read(&fs.Context{Task: task}, make([]byte, 1), 0)
	}})
	reader.Start()
	// Interrupt the read once it is asleep in it.
	for deadline := time.Now().Add(time.Minute); p.rq.Len() == 0 || reader.State() != kernel.TaskSleeping; {
		if time.Now().After(deadline) {
			t.Fatal("the reader did not block within a minute")
		}
		time.Sleep(time.Millisecond)
	}
	reader.Interrupt()
	select {
	case <-reader.Exited():
	case <-time.After(10 * time.Second):
		t.Fatal("interrupted reader did not return")
	}
	if readErr != unix.EINTR {
		t.Fatalf("read: %v", readErr)
	}
	r.Release()
	w.Release()
}

func TestFIFOOpen(t *testing.T) {
	k := kernel.New(kernel.Config{CPUs: 1})
	defer k.Shutdown()
	p := New(nil)
	if _, err := p.Open(&fs.Context{}, unix.O_WRONLY|unix.O_NONBLOCK); err != unix.ENXIO {
		t.Fatalf("non-blocking write open without reader: %v", err)
	}
	var got string
	run(t, k, func(ctx *fs.Context) {
		rf, err := p.Open(ctx, unix.O_RDONLY) // waits for the writer
		if err != nil {
			t.Errorf("open r: %v", err)
			return
		}
		buf := make([]byte, 10)
		n, _ := rf.Read(ctx, buf, 0)
		got = string(buf[:n])
		rf.Release()
	}, func(ctx *fs.Context) {
		waitForWaiter(t, ctx.Task, &p.oq) // the reader's open waits first
		wf, err := p.Open(ctx, unix.O_WRONLY)
		if err != nil {
			t.Errorf("open w: %v", err)
			return
		}
		wf.Write(ctx, []byte("fifo"), 0)
		wf.Release()
	})
	if got != "fifo" {
		t.Fatalf("fifo read %q", got)
	}
}
