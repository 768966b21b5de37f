package eventfd

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"golang.org/x/sys/unix"
)

func init() { kernel.Debug = true }

func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.LittleEndian.PutUint64(b, v)
	return b
}

// run runs each fn in its own task of k and waits for all of them.
func run(t *testing.T, k *kernel.Kernel, fns ...func(task *kernel.Task, ctx *fs.Context)) {
	t.Helper()
	var tasks []*kernel.Task
	for _, fn := range fns {
		fn := fn
		tk := k.NewTask(kernel.TaskOptions{Name: "efdtest", Entry: func(task *kernel.Task) {
			fn(task, &fs.Context{Task: task})
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

func TestCounter(t *testing.T) {
	e := New(3, false)
	ctx := &fs.Context{}
	buf := make([]byte, 8)
	if n, err := e.Read(ctx, buf[:7], unix.O_NONBLOCK); err != unix.EINVAL || n != 0 {
		t.Fatalf("short read: %d %v", n, err)
	}
	if _, err := e.Write(ctx, u64(4), 0); err != nil {
		t.Fatal(err)
	}
	if n, err := e.Read(ctx, buf, unix.O_NONBLOCK); n != 8 || err != nil || binary.LittleEndian.Uint64(buf) != 7 {
		t.Fatalf("read: %d %v %d", n, err, binary.LittleEndian.Uint64(buf))
	}
	if _, err := e.Read(ctx, buf, unix.O_NONBLOCK); err != unix.EAGAIN {
		t.Fatalf("empty read: %v", err)
	}
	// Without a task a blocking read cannot wait.
	if _, err := e.Read(ctx, buf, 0); err != unix.EAGAIN {
		t.Fatalf("taskless blocking read: %v", err)
	}
	if _, err := e.Write(ctx, u64(^uint64(0)), 0); err != unix.EINVAL {
		t.Fatalf("write of ULLONG_MAX: %v", err)
	}
	if _, err := e.Write(ctx, []byte{1, 2, 3}, 0); err != unix.EINVAL {
		t.Fatalf("short write: %v", err)
	}
	if _, err := e.Write(ctx, append(u64(0), 9, 9), 0); err != unix.EINVAL {
		t.Fatalf("write of 10 bytes: %v", err)
	}
	if n, err := e.Write(ctx, u64(0), 0); n != 8 || err != nil {
		t.Fatalf("write of 0: %d %v", n, err)
	}
}

func TestSemaphore(t *testing.T) {
	e := New(2, true)
	ctx := &fs.Context{}
	buf := make([]byte, 8)
	for i := 0; i < 2; i++ {
		if n, err := e.Read(ctx, buf, unix.O_NONBLOCK); n != 8 || err != nil || binary.LittleEndian.Uint64(buf) != 1 {
			t.Fatalf("read %d: %d %v %d", i, n, err, binary.LittleEndian.Uint64(buf))
		}
	}
	if _, err := e.Read(ctx, buf, unix.O_NONBLOCK); err != unix.EAGAIN {
		t.Fatalf("third read: %v", err)
	}
}

func TestOverflowAndReadiness(t *testing.T) {
	e := New(0, false)
	ctx := &fs.Context{}
	all := uint32(unix.POLLIN | unix.POLLOUT)
	if r := e.Readiness(all); r != unix.POLLOUT {
		t.Fatalf("empty readiness %#x", r)
	}
	if _, err := e.Write(ctx, u64(Max), unix.O_NONBLOCK); err != nil {
		t.Fatal(err)
	}
	if r := e.Readiness(all); r != unix.POLLIN {
		t.Fatalf("full readiness %#x", r)
	}
	if _, err := e.Write(ctx, u64(1), unix.O_NONBLOCK); err != unix.EAGAIN {
		t.Fatalf("overflowing write: %v", err)
	}
	if _, err := e.Write(ctx, u64(0), unix.O_NONBLOCK); err != nil {
		t.Fatalf("write of 0 to a full counter: %v", err)
	}
}

func TestWatchNotifies(t *testing.T) {
	e := New(0, false)
	ctx := &fs.Context{}
	in, out := 0, 0
	c1 := e.Watch(unix.POLLIN, func(*kernel.Task) { in++ })
	c2 := e.Watch(unix.POLLOUT, func(*kernel.Task) { out++ })
	e.Write(ctx, u64(1), 0)
	e.Read(ctx, make([]byte, 8), unix.O_NONBLOCK)
	c1()
	c2()
	e.Write(ctx, u64(1), 0)
	if in != 1 || out != 1 {
		t.Fatalf("notifications: in %d out %d", in, out)
	}
}

// TestBlockingReadReleasesCPU: on one CPU, a reader blocked on an empty
// eventfd must let the writer run.
func TestBlockingReadReleasesCPU(t *testing.T) {
	k := kernel.New(kernel.Config{CPUs: 1})
	defer k.Shutdown()
	e := New(0, false)
	var got uint64
	var rerr error
	run(t, k, func(task *kernel.Task, ctx *fs.Context) {
		buf := make([]byte, 8)
		_, rerr = e.Read(ctx, buf, 0)
		got = binary.LittleEndian.Uint64(buf)
	}, func(task *kernel.Task, ctx *fs.Context) {
		for e.rq.Len() == 0 {
			task.Yield()
		}
		e.Write(ctx, u64(42), 0)
	})
	if rerr != nil || got != 42 {
		t.Fatalf("read %d %v", got, rerr)
	}
}

func TestBlockingWriteWaitsForRoom(t *testing.T) {
	k := kernel.New(kernel.Config{CPUs: 1})
	defer k.Shutdown()
	e := New(Max, false)
	var werr error
	run(t, k, func(task *kernel.Task, ctx *fs.Context) {
		_, werr = e.Write(ctx, u64(5), 0)
	}, func(task *kernel.Task, ctx *fs.Context) {
		for e.wq.Len() == 0 {
			task.Yield()
		}
		e.Read(ctx, make([]byte, 8), 0)
	})
	if werr != nil || e.Value() != 5 {
		t.Fatalf("write %v, value %d", werr, e.Value())
	}
}

func TestInterruptedRead(t *testing.T) {
	k := kernel.New(kernel.Config{CPUs: 1})
	defer k.Shutdown()
	e := New(0, false)
	var rerr error
	reader := k.NewTask(kernel.TaskOptions{Name: "reader", Entry: func(task *kernel.Task) {
		_, rerr = e.Read(&fs.Context{Task: task}, make([]byte, 8), 0)
	}})
	reader.Start()
	for e.rq.Len() == 0 {
		time.Sleep(time.Millisecond)
	}
	reader.Interrupt()
	select {
	case <-reader.Exited():
	case <-time.After(10 * time.Second):
		t.Fatal("interrupted reader did not return")
	}
	if rerr != unix.EINTR {
		t.Fatalf("read: %v", rerr)
	}
}

func TestStat(t *testing.T) {
	e := New(0, false)
	st, err := e.Stat(nil)
	if err != nil || st.Mode != 0600 || e.Type() != 0 {
		t.Fatalf("stat %+v %v", st, err)
	}
	if _, err := e.Open(nil, unix.O_RDONLY); err != unix.ENXIO {
		t.Fatalf("reopen: %v", err)
	}
}
