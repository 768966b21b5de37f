package softirqd

import (
	"fmt"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
)

// Run with:
//
//	go test -run '^$' -bench . -benchtime 1000x ./softirqd/
//
// (BenchmarkTimerArmStop wants more iterations: -bench TimerArmStop
// -benchtime 200000x.)
//
// Latencies are reported as median and p99 metrics; the timer benchmarks
// run a plain Go timer beside the softirq timer in the same run.

func reportLatency(b *testing.B, lat []time.Duration, unit string) {
	if len(lat) == 0 {
		return
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	med := lat[len(lat)/2]
	p99 := lat[min(len(lat)-1, len(lat)*99/100)]
	b.ReportMetric(float64(med.Nanoseconds())/1e3, unit+"-median")
	b.ReportMetric(float64(p99.Nanoseconds())/1e3, unit+"-p99")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkRaiseToHandler measures the time from RaiseOn (an interrupt's
// top half, on a non-task goroutine) to the start of the handler on the
// target CPU: on an idle CPU (ksoftirqd is woken) and on a CPU whose task
// spins through irq-exit points in sentry code.
func BenchmarkRaiseToHandler(b *testing.B) {
	for _, busy := range []bool{false, true} {
		name := "idle-cpu"
		if busy {
			name = "busy-cpu"
		}
		b.Run(name, func(b *testing.B) {
			k, s := boot(b, 2, 0)
			var raisedAt atomic.Int64
			ch := make(chan time.Duration, 1)
			s.Register(NET_RX, func(int) { ch <- time.Duration(monoNow() - raisedAt.Load()) })
			stop := make(chan struct{})
			var spinner *kernel.Task
			if busy {
				spinner = spawn(k, "spinner", 1, func(tk *kernel.Task) {
					for {
						select {
						case <-stop:
							return
						default:
						}
						spinFor(2 * time.Microsecond)
						tk.PreemptPoint()
						tk.IRQExit()
					}
				})
				time.Sleep(10 * time.Millisecond)
			}
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				raisedAt.Store(monoNow())
				s.RaiseOn(1, NET_RX)
				lat = append(lat, <-ch)
			}
			b.StopTimer()
			close(stop)
			if spinner != nil {
				<-spinner.Exited()
			}
			reportLatency(b, lat, "µs")
		})
	}
}

// BenchmarkSoftirqThroughput measures softirqs handled per second per CPU:
// on every CPU a handler re-raises itself, run by ksoftirqd in budgeted
// rounds; each iteration is 1000 softirqs on each CPU.
func BenchmarkSoftirqThroughput(b *testing.B) {
	k, s := boot(b, 2, 0)
	n := k.NumCPUs()
	target := int64(b.N) * 1000
	counts := make([]atomic.Int64, n)
	done := make(chan struct{}, n)
	s.Register(NET_RX, func(cpu int) {
		if c := counts[cpu].Add(1); c < target {
			s.RaiseOn(cpu, NET_RX)
		} else if c == target {
			done <- struct{}{}
		}
	})
	b.ResetTimer()
	start := time.Now()
	for cpu := 0; cpu < n; cpu++ {
		s.RaiseOn(cpu, NET_RX)
	}
	for cpu := 0; cpu < n; cpu++ {
		<-done
	}
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(target)/el.Seconds(), "softirqs/s/cpu")
	b.ReportMetric(float64(el.Nanoseconds())/float64(target), "ns/softirq")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkTimerJitter measures how late timers fire, alternating in one
// loop (so both see the same host and Go runtime conditions, with the
// sandbox kernel's ticks running) a softirq timer and a plain Go timer:
// "callback" compares AfterFunc on an idle CPU's base (its TIMER softirq
// run by ksoftirqd) with time.AfterFunc; "task-sleep" compares a task
// woken by a softirq timer (Softirqs.Sleep: the callback wakes it, then it
// runs) with a goroutine in time.Sleep.
func BenchmarkTimerJitter(b *testing.B) {
	for _, d := range []time.Duration{time.Millisecond, 10 * time.Millisecond} {
		b.Run(d.String()+"/callback", func(b *testing.B) {
			_, s := boot(b, 2, 0)
			ch := make(chan int64, 1)
			var sirq, gotm []time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				due := monoNow() + int64(d)
				s.AfterFunc(1, d, func() { ch <- monoNow() })
				sirq = append(sirq, time.Duration(<-ch-due))
				due = monoNow() + int64(d)
				time.AfterFunc(d, func() { ch <- monoNow() })
				gotm = append(gotm, time.Duration(<-ch-due))
			}
			reportLatency(b, sirq, "softirq-µs-late")
			reportLatency(b, gotm, "go-µs-late")
		})
		b.Run(d.String()+"/task-sleep", func(b *testing.B) {
			k, s := boot(b, 2, 0)
			var sirq, gotm []time.Duration
			slept := make(chan time.Duration, 1)
			var goDone kernel.Completion
			n := b.N
			b.ResetTimer()
			task := spawn(k, "sleeper", 1, func(tk *kernel.Task) {
				for i := 0; i < n; i++ {
					start := monoNow()
					s.Sleep(tk, ClockMonotonic, d, false)
					slept <- time.Duration(monoNow()-start) - d
					// The Go sleep runs meanwhile, on the
					// benchmark's goroutine.
					goDone.Wait(tk)
				}
			})
			for i := 0; i < n; i++ {
				sirq = append(sirq, <-slept)
				start := monoNow()
				time.Sleep(d)
				gotm = append(gotm, time.Duration(monoNow()-start)-d)
				goDone.Complete()
			}
			<-task.Exited()
			reportLatency(b, sirq, "softirq-µs-late")
			reportLatency(b, gotm, "go-µs-late")
		})
	}
}

// BenchmarkTimerArmStop measures arming a timer and stopping it again on a
// base that already holds 1k or 100k pending timers (far in the future),
// beside the same pair of operations on Go's runtime timers with as many
// pending: ns/op is one arm plus one stop. The base is a heap, O(log n)
// per operation: from 1k to 100k pending its cost may grow as much as Go's
// own timers' does (a deeper heap misses the cache more), not 100-fold.
func BenchmarkTimerArmStop(b *testing.B) {
	for _, pending := range []int{1000, 100000} {
		far := func(i int) time.Duration { return time.Hour + time.Duration(i)*time.Microsecond }
		b.Run(fmt.Sprintf("softirq/pending=%d", pending), func(b *testing.B) {
			_, s := boot(b, 2, 0)
			bg := make([]kernel.Timer, pending)
			for i := range bg {
				bg[i] = s.AfterFunc(0, far(i), func() {})
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				s.AfterFunc(0, far(i%pending), func() {}).Stop()
			}
			b.StopTimer()
			for _, tm := range bg {
				tm.Stop()
			}
		})
		b.Run(fmt.Sprintf("go/pending=%d", pending), func(b *testing.B) {
			bg := make([]*time.Timer, pending)
			for i := range bg {
				bg[i] = time.AfterFunc(far(i), func() {})
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				time.AfterFunc(far(i%pending), func() {}).Stop()
			}
			b.StopTimer()
			for _, tm := range bg {
				tm.Stop()
			}
		})
	}
}
