package epoll

import (
	"sync"
	"testing"
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/eventfd"
	"github.com/runsc-lite/runsc-lite/sentry/fs/pipe"
	"github.com/runsc-lite/runsc-lite/sentry/vfs"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

func init() { kernel.Debug = true }

// file is a Target for tests: an fs.File with a node type and a release
// hook, closed by close().
type file struct {
	f     fs.File
	typ   uint32
	mu    sync.Mutex
	next  int
	hooks map[int]func()
}

// plainFile is a file without readiness.
type plainFile struct{ fs.StreamFile }

func (plainFile) Read(*fs.Context, []byte, uint32) (int, error)  { return 0, nil }
func (plainFile) Write(*fs.Context, []byte, uint32) (int, error) { return 0, nil }
func (plainFile) Release()                                       {}

type node struct{ typ uint32 }

func (n node) Type() uint32                              { return n.typ }
func (n node) Stat(*fs.Context) (linux.Statx, error)     { return linux.Statx{}, nil }
func (n node) Open(*fs.Context, uint32) (fs.File, error) { return nil, unix.ENXIO }

func newFile(f fs.File) *file {
	return &file{f: f, typ: unix.S_IFIFO, hooks: map[int]func(){}}
}

func pipeFiles() (r, w *file) {
	_, pr, pw := pipe.NewPair(nil)
	return newFile(pr), newFile(pw)
}

func ev(events uint32, data uint64) Event { return Event{Events: events, Data: data} }

func (f *file) Waitable() fs.Waitable {
	w, _ := f.f.(fs.Waitable)
	return w
}

func (f *file) Node() fs.Node { return node{f.typ} }

func (f *file) write(s string) (int, error) {
	return f.f.Write(&fs.Context{}, []byte(s), unix.O_NONBLOCK)
}

func (f *file) read(n int) (int, error) {
	return f.f.Read(&fs.Context{}, make([]byte, n), unix.O_NONBLOCK)
}

// OnRelease is the release hook epoll looks for.
func (f *file) OnRelease(fn func()) func() { return f.onRelease(fn) }

func (f *file) onRelease(fn func()) func() {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := f.next
	f.next++
	f.hooks[id] = fn
	return func() {
		f.mu.Lock()
		delete(f.hooks, id)
		f.mu.Unlock()
	}
}

// close runs the release hooks and releases the file, as the last DecRef
// of a description would.
func (f *file) close() {
	f.mu.Lock()
	var fns []func()
	for _, fn := range f.hooks {
		fns = append(fns, fn)
	}
	f.hooks = map[int]func(){}
	f.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
	f.f.Release()
}

func mustAdd(t *testing.T, ep *Instance, f Target, fd int32, e Event) {
	t.Helper()
	if err := ep.Add(f, fd, e); err != nil {
		t.Fatalf("add fd %d: %v", fd, err)
	}
}

func expect(t *testing.T, what string, got []Event, want ...Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: got %v, want %v", what, got, want)
		}
	}
}

func TestLevelTriggered(t *testing.T) {
	ep := New()
	r, w := pipeFiles()
	mustAdd(t, ep, r, 3, ev(unix.EPOLLIN, 77))
	mustAdd(t, ep, w, 4, ev(unix.EPOLLOUT, 88))
	expect(t, "writable pipe", ep.Harvest(10), ev(unix.EPOLLOUT, 88))
	w.write("hello")
	expect(t, "after write", ep.Harvest(10), ev(unix.EPOLLOUT, 88), ev(unix.EPOLLIN, 77))
	expect(t, "level: again", ep.Harvest(1), ev(unix.EPOLLOUT, 88))
	expect(t, "round robin", ep.Harvest(1), ev(unix.EPOLLIN, 77))
	expect(t, "round robin again", ep.Harvest(1), ev(unix.EPOLLOUT, 88))
	r.read(100)
	expect(t, "drained", ep.Harvest(10), ev(unix.EPOLLOUT, 88))
	if err := ep.Delete(w, 4); err != nil {
		t.Fatal(err)
	}
	expect(t, "after delete", ep.Harvest(10))
}

func TestEdgeTriggered(t *testing.T) {
	ep := New()
	r, w := pipeFiles()
	mustAdd(t, ep, r, 3, ev(unix.EPOLLIN|EdgeTriggered, 1))
	expect(t, "empty", ep.Harvest(10))
	w.write("a")
	expect(t, "first edge", ep.Harvest(10), ev(unix.EPOLLIN, 1))
	expect(t, "no new edge", ep.Harvest(10))
	w.write("b")
	expect(t, "second edge", ep.Harvest(10), ev(unix.EPOLLIN, 1))
	r.read(1) // a read is not an input edge
	expect(t, "read is no edge", ep.Harvest(10))
	w.close()
	expect(t, "hang-up edge", ep.Harvest(10), ev(unix.EPOLLIN|unix.EPOLLHUP, 1))
}

func TestOneShot(t *testing.T) {
	ep := New()
	r, w := pipeFiles()
	mustAdd(t, ep, r, 3, ev(unix.EPOLLIN|OneShot, 5))
	w.write("x")
	expect(t, "first", ep.Harvest(10), ev(unix.EPOLLIN, 5))
	expect(t, "disabled", ep.Harvest(10))
	w.write("y")
	expect(t, "disabled after write", ep.Harvest(10))
	if err := ep.Add(r, 3, ev(unix.EPOLLIN, 5)); err != unix.EEXIST {
		t.Fatalf("re-add of a disabled interest: %v", err)
	}
	if err := ep.Modify(r, 3, ev(unix.EPOLLIN|OneShot, 6)); err != nil {
		t.Fatal(err)
	}
	expect(t, "re-armed", ep.Harvest(10), ev(unix.EPOLLIN, 6))
	expect(t, "disabled again", ep.Harvest(10))
}

func TestHangupAndError(t *testing.T) {
	ep := New()
	r, w := pipeFiles()
	r2, w2 := pipeFiles()
	mustAdd(t, ep, r, 3, ev(0, 1))               // no events asked: HUP still comes
	mustAdd(t, ep, w2, 4, ev(0, 2))              // ERR still comes
	mustAdd(t, ep, w, 5, ev(unix.EPOLLRDHUP, 3)) // pipes never report RDHUP
	expect(t, "nothing yet", ep.Harvest(10))
	w.close()
	r2.close()
	got := ep.Harvest(10)
	expect(t, "hup and err", got, ev(unix.EPOLLHUP, 1), ev(unix.EPOLLERR, 2))
}

func TestCtlErrors(t *testing.T) {
	ep := New()
	r, _ := pipeFiles()
	reg := newFile(r.f)
	reg.typ = unix.S_IFREG
	if err := ep.Add(reg, 3, ev(unix.EPOLLIN, 0)); err != unix.EPERM {
		t.Fatalf("regular file: %v", err)
	}
	if CanPoll(&file{f: plainFile{}, typ: unix.S_IFIFO}) {
		t.Fatalf("a file without Waitable is pollable")
	}
	if err := ep.Modify(r, 3, ev(unix.EPOLLIN, 0)); err != unix.ENOENT {
		t.Fatalf("mod of nothing: %v", err)
	}
	if err := ep.Delete(r, 3); err != unix.ENOENT {
		t.Fatalf("del of nothing: %v", err)
	}
	mustAdd(t, ep, r, 3, ev(unix.EPOLLIN, 0))
	if err := ep.Add(r, 3, ev(unix.EPOLLIN, 0)); err != unix.EEXIST {
		t.Fatalf("double add: %v", err)
	}
	// The same file under another number is another interest.
	mustAdd(t, ep, r, 4, ev(unix.EPOLLIN, 0))
	if ep.Len() != 2 {
		t.Fatalf("len %d", ep.Len())
	}
	if err := ep.Modify(r, 3, ev(unix.EPOLLIN|Exclusive, 0)); err != unix.EINVAL {
		t.Fatalf("mod with EPOLLEXCLUSIVE: %v", err)
	}
	r3, _ := pipeFiles()
	if err := ep.Add(r3, 5, ev(unix.EPOLLIN|Exclusive|unix.EPOLLPRI, 0)); err != unix.EINVAL {
		t.Fatalf("exclusive with EPOLLPRI: %v", err)
	}
	mustAdd(t, ep, r3, 5, ev(unix.EPOLLIN|Exclusive, 0))
	if err := ep.Modify(r3, 5, ev(unix.EPOLLIN, 0)); err != unix.EINVAL {
		t.Fatalf("mod of an exclusive interest: %v", err)
	}
	self := newFile(ep)
	if err := ep.Add(self, 9, ev(unix.EPOLLIN, 0)); err != unix.EINVAL {
		t.Fatalf("self add: %v", err)
	}
}

func TestNested(t *testing.T) {
	outer, inner := New(), New()
	r, w := pipeFiles()
	mustAdd(t, inner, r, 3, ev(unix.EPOLLIN, 1))
	innerFile := newFile(inner)
	mustAdd(t, outer, innerFile, 4, ev(unix.EPOLLIN|EdgeTriggered, 2))
	expect(t, "nothing", outer.Harvest(10))
	w.write("x")
	expect(t, "outer sees inner", outer.Harvest(10), ev(unix.EPOLLIN, 2))
	expect(t, "inner events", inner.Harvest(10), ev(unix.EPOLLIN, 1))
	// A loop is refused.
	if err := inner.Add(newFile(outer), 5, ev(unix.EPOLLIN, 0)); err != unix.ELOOP {
		t.Fatalf("loop: %v", err)
	}
	// Removing the inner instance's interest ends the nesting.
	if err := outer.Delete(innerFile, 4); err != nil {
		t.Fatal(err)
	}
	if err := inner.Add(newFile(outer), 5, ev(unix.EPOLLIN, 0)); err != nil {
		t.Fatalf("add after the loop was broken: %v", err)
	}
}

func TestNestingDepth(t *testing.T) {
	// A chain e0 <- e1 <- ... : each instance watches the previous one.
	chain := []*Instance{New()}
	var err error
	for i := 1; i < 10 && err == nil; i++ {
		next := New()
		err = next.Add(newFile(chain[len(chain)-1]), int32(i), ev(unix.EPOLLIN, 0))
		if err == nil {
			chain = append(chain, next)
		}
	}
	if err != unix.ELOOP || len(chain) != MaxNests+1 {
		t.Fatalf("chain of %d instances, then %v", len(chain), err)
	}
	// Adding below the chain's bottom is as deep.
	if err := chain[0].Add(newFile(New()), 99, ev(unix.EPOLLIN, 0)); err != unix.ELOOP {
		t.Fatalf("add below a full chain: %v", err)
	}
}

func TestReleaseHookRemovesInterest(t *testing.T) {
	ep := New()
	r, w := pipeFiles()
	mustAdd(t, ep, r, 3, ev(unix.EPOLLIN, 1))
	mustAdd(t, ep, w, 4, ev(unix.EPOLLOUT, 2))
	w.write("x")
	if got := ep.Harvest(10); len(got) != 2 {
		t.Fatalf("before close: %v", got)
	}
	w.close()
	if ep.Len() != 1 {
		t.Fatalf("interests after the write end went: %d", ep.Len())
	}
	expect(t, "after close", ep.Harvest(10), ev(unix.EPOLLIN|unix.EPOLLHUP, 1))
	r.close()
	if ep.Len() != 0 {
		t.Fatalf("interests after both went: %d", ep.Len())
	}
	expect(t, "nothing left", ep.Harvest(10))
}

func TestInstanceReleaseDropsInterests(t *testing.T) {
	ep := New()
	r, w := pipeFiles()
	mustAdd(t, ep, r, 3, ev(unix.EPOLLIN, 1))
	ep.Release()
	if ep.Len() != 0 {
		t.Fatalf("interests after release: %d", ep.Len())
	}
	if len(r.hooks) != 0 {
		t.Fatalf("release hooks left: %d", len(r.hooks))
	}
	w.write("x")
	expect(t, "released", ep.Harvest(10))
	if err := ep.Add(w, 4, ev(unix.EPOLLOUT, 0)); err != unix.EBADF {
		t.Fatalf("add to a released instance: %v", err)
	}
}

func TestEventfdTarget(t *testing.T) {
	ep := New()
	e := newFile(eventfd.New(0, false))
	e.typ = 0
	mustAdd(t, ep, e, 3, ev(unix.EPOLLIN|EdgeTriggered, 9))
	expect(t, "zero", ep.Harvest(10))
	e.write("\x01\x00\x00\x00\x00\x00\x00\x00")
	expect(t, "edge", ep.Harvest(10), ev(unix.EPOLLIN, 9))
	e.write("\x01\x00\x00\x00\x00\x00\x00\x00")
	expect(t, "second edge", ep.Harvest(10), ev(unix.EPOLLIN, 9))
	e.read(8)
	expect(t, "read", ep.Harvest(10))
}

// TestRealDescriptions uses vfs descriptions as Targets (what the syscall
// layer passes).
func TestRealDescriptions(t *testing.T) {
	ep := New()
	r, w := vfs.NewPipe(&fs.Context{}, 0)
	defer r.DecRef()
	defer w.DecRef()
	mustAdd(t, ep, r, 3, ev(unix.EPOLLIN, 1))
	if err := ep.Add(w, 3, ev(unix.EPOLLIN, 1)); err != nil {
		t.Fatalf("other file, same number: %v", err)
	}
	w.Write(&fs.Context{}, []byte("x"))
	expect(t, "pipe", ep.Harvest(1), ev(unix.EPOLLIN, 1))
}

// runTasks runs each fn in its own task of k and waits for all of them.
func runTasks(t *testing.T, k *kernel.Kernel, fns ...func(task *kernel.Task, ctx *fs.Context)) {
	t.Helper()
	var tasks []*kernel.Task
	for _, fn := range fns {
		fn := fn
		tasks = append(tasks, k.NewTask(kernel.TaskOptions{Name: "eptest", Entry: func(task *kernel.Task) {
			fn(task, &fs.Context{Task: task})
		}}))
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

// TestWaitReleasesCPU: on one CPU, a task blocked in Wait must let the
// writer run, and wake when it writes.
func TestWaitReleasesCPU(t *testing.T) {
	k := kernel.New(kernel.Config{CPUs: 1})
	defer k.Shutdown()
	ep := New()
	r, w := pipeFiles()
	mustAdd(t, ep, r, 3, ev(unix.EPOLLIN|EdgeTriggered, 7))
	var got []Event
	var werr error
	runTasks(t, k, func(task *kernel.Task, ctx *fs.Context) {
		got, werr = ep.Wait(ctx, 8, kernel.Forever)
	}, func(task *kernel.Task, ctx *fs.Context) {
		for ep.wq.Len() == 0 {
			task.Yield()
		}
		w.write("x")
	})
	if werr != nil {
		t.Fatal(werr)
	}
	expect(t, "woken", got, ev(unix.EPOLLIN, 7))
}

func TestNestedWaitWakes(t *testing.T) {
	k := kernel.New(kernel.Config{CPUs: 1})
	defer k.Shutdown()
	outer, inner := New(), New()
	r, w := pipeFiles()
	mustAdd(t, inner, r, 3, ev(unix.EPOLLIN, 1))
	mustAdd(t, outer, newFile(inner), 4, ev(unix.EPOLLIN, 2))
	var got []Event
	runTasks(t, k, func(task *kernel.Task, ctx *fs.Context) {
		got, _ = outer.Wait(ctx, 8, kernel.Forever)
	}, func(task *kernel.Task, ctx *fs.Context) {
		for outer.wq.Len() == 0 {
			task.Yield()
		}
		w.write("x")
	})
	expect(t, "outer woken", got, ev(unix.EPOLLIN, 2))
}

func TestWaitTimeoutAndInterrupt(t *testing.T) {
	k := kernel.New(kernel.Config{CPUs: 2})
	defer k.Shutdown()
	ep := New()
	r, _ := pipeFiles()
	mustAdd(t, ep, r, 3, ev(unix.EPOLLIN, 1))
	var got []Event
	var err0, err1 error
	var took time.Duration
	runTasks(t, k, func(task *kernel.Task, ctx *fs.Context) {
		_, err0 = ep.Wait(ctx, 8, 0)
		start := time.Now()
		got, err1 = ep.Wait(ctx, 8, 50*time.Millisecond)
		took = time.Since(start)
	})
	if err0 != nil || err1 != nil || len(got) != 0 || took < 50*time.Millisecond {
		t.Fatalf("timeouts: %v %v %v after %v", err0, err1, got, took)
	}

	var ierr error
	waiter := k.NewTask(kernel.TaskOptions{Name: "waiter", Entry: func(task *kernel.Task) {
		_, ierr = ep.Wait(&fs.Context{Task: task}, 8, kernel.Forever)
	}})
	waiter.Start()
	for ep.wq.Len() == 0 {
		time.Sleep(time.Millisecond)
	}
	waiter.Interrupt()
	select {
	case <-waiter.Exited():
	case <-time.After(10 * time.Second):
		t.Fatal("interrupted waiter did not return")
	}
	if ierr != unix.EINTR {
		t.Fatalf("interrupted wait: %v", ierr)
	}
}

// TestConcurrentCtlAndEvents stirs adds, deletes, writes and harvests from
// several goroutines (for the race detector).
func TestConcurrentCtlAndEvents(t *testing.T) {
	ep := New()
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				r, w := pipeFiles()
				fd := int32(g*1000 + i)
				if err := ep.Add(r, fd, ev(unix.EPOLLIN|EdgeTriggered, uint64(fd))); err != nil {
					t.Errorf("add: %v", err)
					return
				}
				w.write("x")
				ep.Harvest(4)
				if i%2 == 0 {
					ep.Delete(r, fd)
				} else {
					r.close()
				}
				w.close()
			}
		}(g)
	}
	wg.Wait()
	if ep.Len() != 0 {
		t.Fatalf("interests left: %d", ep.Len())
	}
}
