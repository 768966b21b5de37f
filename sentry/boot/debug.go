package boot

import (
	"os"
	"os/signal"
	"sync"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/workqueue"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// DebugSignal is the host signal that makes a running sentry dump every
// task and run queue of its kernel, and every workqueue, worker pool,
// worker and pending work item, to its log (`runsc-lite debug --pid
// SENTRYPID` sends it).
const DebugSignal = unix.SIGUSR2

// InstallDebugHandlerWithWorkqueues makes DebugSignal dump k's tasks and
// run queues (kernel.DumpAll, LK's dump_all_threads) and then the
// workqueues of wqs (workqueue.System.DumpAll, Linux's
// show_all_workqueues; wqs may be nil) to log, and returns the function
// that uninstalls it (call it before k shuts down). The dump is written at
// warning level, so it reaches the log whatever its level: it was asked
// for. It does not block; each dump runs on the handler's own goroutine,
// one at a time.
//
// early, if not nil, is a channel the caller subscribed to DebugSignal
// before the kernel existed (the sentry process does so first thing, so
// that a dump asked for during boot is made once boot is done rather than
// lost); when nil, the handler subscribes its own.
func InstallDebugHandlerWithWorkqueues(k *kernel.Kernel, wqs *workqueue.System, log *logrus.Logger, early <-chan os.Signal) (uninstall func()) {
	var own chan os.Signal
	ch := early
	if ch == nil {
		own = make(chan os.Signal, 1)
		signal.Notify(own, DebugSignal)
		ch = own
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			case <-ch:
				dumpKernel(k, log)
				if wqs != nil {
					dumpWorkqueues(wqs, log)
				}
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			if own != nil {
				signal.Stop(own)
			}
			close(done)
			wg.Wait()
		})
	}
}

// dumpKernel writes one dump: a header with the load, then DumpAll.
func dumpKernel(k *kernel.Kernel, log *logrus.Logger) {
	out := warnLogger{log.WithField("dump", "kernel")}
	out.Warnf("kernel dump (%s): %d CPUs, %d tasks, load %s, %d context switches, %d forks",
		DebugSignal, k.NumCPUs(), len(k.Tasks()), k.LoadAvgText(), k.ContextSwitches(), k.Forks())
	k.DumpAll(out)
	out.Warnf("end of kernel dump")
}

// dumpWorkqueues writes the workqueue dump between a header and a footer.
func dumpWorkqueues(wqs *workqueue.System, log *logrus.Logger) {
	out := warnLogger{log.WithField("dump", "workqueues")}
	out.Warnf("workqueue dump (%s)", DebugSignal)
	wqs.DumpAll(out)
	out.Warnf("end of workqueue dump")
}

// warnLogger writes DumpAll's Info lines at warning level.
type warnLogger struct{ logrus.FieldLogger }

func (w warnLogger) Info(args ...any)                 { w.FieldLogger.Warn(args...) }
func (w warnLogger) Infof(format string, args ...any) { w.FieldLogger.Warnf(format, args...) }
func (w warnLogger) Infoln(args ...any)               { w.FieldLogger.Warnln(args...) }
func (w warnLogger) Print(args ...any)                { w.FieldLogger.Warn(args...) }
func (w warnLogger) Printf(format string, args ...any) {
	w.FieldLogger.Warnf(format, args...)
}
func (w warnLogger) Println(args ...any) { w.FieldLogger.Warnln(args...) }
