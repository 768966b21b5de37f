package workqueue_test

import (
	"fmt"
	"strings"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/workqueue"
	"golang.org/x/sys/unix"
)

// boot starts a kernel with kthreadd and its workqueues, as the sentry
// does at boot (from its main goroutine, not from a task).
func boot() (*kernel.Kernel, *workqueue.System) {
	k := kernel.New(kernel.Config{CPUs: 2})
	k.ReserveTID() // the sandbox's init is PID 1
	k.StartKthreadd()
	sys, err := workqueue.Init(k, workqueue.Config{})
	if err != nil {
		panic(err)
	}
	return k, sys
}

func ExampleWorkqueue_QueueOn() {
	k, sys := boot()
	defer k.Shutdown()
	defer sys.Shutdown()

	var ranOn string
	w := workqueue.NewWork(func(t *kernel.Task, w *workqueue.Work) {
		ranOn = fmt.Sprintf("%s on cpu %d", strings.SplitN(t.Name(), ":", 2)[0], t.CPU().ID())
	})
	fmt.Println("queued:", sys.System.QueueOn(1, w))
	sys.System.FlushQueue(nil)
	fmt.Println("ran:", ranOn)
	// Output:
	// queued: true
	// ran: kworker/1 on cpu 1
}

// The VFS releases a host file's descriptor through a HostFDCloser: the
// close(2) of the sandboxed program returns at once and a kworker closes
// the host descriptor.
func ExampleHostFDCloser() {
	k, sys := boot()
	defer k.Shutdown()
	defer sys.Shutdown()

	closer := workqueue.NewHostFDCloser(sys.Unbound, nil)

	// In hostfs: func (f *File) Release() { f.once.Do(func() { closer.Close(f.fd) }) }
	fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		panic(err)
	}
	closer.Close(fd)

	closer.Flush(nil) // only tests and shutdown need to wait
	closed, failed := closer.Stats()
	fmt.Println("closed:", closed, "failed:", failed)
	// Output: closed: 1 failed: 0
}
