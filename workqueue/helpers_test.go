package workqueue

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/sirupsen/logrus"
)

func init() { kernel.Debug = true }

func quietLog() logrus.FieldLogger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}

// newSystem boots a kernel with cpus CPUs, kthreadd and the workqueues;
// both are shut down when the test ends.
func newSystem(tb testing.TB, cpus int, cfg Config) (*kernel.Kernel, *System) {
	tb.Helper()
	k := kernel.New(kernel.Config{CPUs: cpus})
	k.ReserveTID() // the sandbox's init
	k.StartKthreadd()
	if cfg.Log == nil {
		cfg.Log = quietLog()
	}
	sys, err := Init(k, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		sys.Shutdown()
		k.Shutdown()
	})
	return k, sys
}

// inTask runs fn as a (non-kthread) task and waits for it to return.
func inTask(k *kernel.Kernel, fn func(t *kernel.Task)) {
	tk := k.NewTask(kernel.TaskOptions{Name: "test", Entry: fn})
	tk.Start()
	<-tk.Exited()
}

// sleepTask puts t to sleep for d through a kernel wait queue (so its CPU
// is released and, for a worker, its pool told).
func sleepTask(t *kernel.Task, d time.Duration) {
	var q kernel.WaitQueue
	q.Wait(t, func() bool { return false }, kernel.WaitOpts{Timeout: d})
}

// waitFor polls cond for up to d.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(time.Millisecond)
	}
	return cond()
}

// poolWorkers returns the number of workers of a pool.
func poolWorkers(p *workerPool) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.nrWorkers
}

// dumpLogger collects a logger's Info lines into a builder.
type dumpLogger struct{ b *strings.Builder }

func (d dumpLogger) WithField(string, any) *logrus.Entry    { return logrus.NewEntry(logrus.New()) }
func (d dumpLogger) WithFields(logrus.Fields) *logrus.Entry { return logrus.NewEntry(logrus.New()) }
func (d dumpLogger) WithError(error) *logrus.Entry          { return logrus.NewEntry(logrus.New()) }
func (d dumpLogger) Debugf(string, ...any)                  {}
func (d dumpLogger) Infof(f string, a ...any)               { fmt.Fprintf(d.b, f+"\n", a...) }
func (d dumpLogger) Printf(f string, a ...any)              { fmt.Fprintf(d.b, f+"\n", a...) }
func (d dumpLogger) Warnf(string, ...any)                   {}
func (d dumpLogger) Warningf(string, ...any)                {}
func (d dumpLogger) Errorf(string, ...any)                  {}
func (d dumpLogger) Fatalf(string, ...any)                  {}
func (d dumpLogger) Panicf(string, ...any)                  {}
func (d dumpLogger) Debug(...any)                           {}
func (d dumpLogger) Info(a ...any)                          { fmt.Fprintln(d.b, a...) }
func (d dumpLogger) Print(a ...any)                         { fmt.Fprintln(d.b, a...) }
func (d dumpLogger) Warn(...any)                            {}
func (d dumpLogger) Warning(...any)                         {}
func (d dumpLogger) Error(...any)                           {}
func (d dumpLogger) Fatal(...any)                           {}
func (d dumpLogger) Panic(...any)                           {}
func (d dumpLogger) Debugln(...any)                         {}
func (d dumpLogger) Infoln(a ...any)                        { fmt.Fprintln(d.b, a...) }
func (d dumpLogger) Println(a ...any)                       { fmt.Fprintln(d.b, a...) }
func (d dumpLogger) Warnln(...any)                          {}
func (d dumpLogger) Warningln(...any)                       {}
func (d dumpLogger) Errorln(...any)                         {}
func (d dumpLogger) Fatalln(...any)                         {}
func (d dumpLogger) Panicln(...any)                         {}
