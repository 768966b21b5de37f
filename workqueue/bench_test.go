package workqueue

import (
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
)

// The benchmarks compare the workqueues with a plain Go worker pool (one
// goroutine per CPU reading closures from a channel) doing the same work
// in the same run:
//
//	go test -run '^$' -bench . -benchtime 200000x ./workqueue/
//
// Throughput: b.N items queued from one goroutine, round robin over the
// CPUs, in batches of benchBatch (each batch flushed before its items are
// reused). Latency: one item at a time, queue to start, while the pool is
// idle (an idle worker must be woken and given a CPU).

const benchBatch = 1 << 14

// benchWork is the items' work: a few hundred nanoseconds of arithmetic.
func benchWork(seed uint64) uint64 {
	x := seed | 1
	for i := 0; i < 64; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return x
}

var benchSink atomic.Uint64

func benchQueues(sys *System) map[string]*Workqueue {
	return map[string]*Workqueue{"system": sys.System, "unbound": sys.Unbound}
}

func BenchmarkThroughput(b *testing.B) {
	for _, name := range []string{"system", "unbound"} {
		for _, cpus := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/cpus=%d", name, cpus), func(b *testing.B) {
				_, sys := newSystem(b, cpus, Config{})
				wq := benchQueues(sys)[name]
				items := make([]Work, benchBatch)
				for i := range items {
					items[i].Func = func(*kernel.Task, *Work) { benchSink.Add(benchWork(uint64(i))) }
				}
				// Warm the pools up.
				for i := 0; i < 1000; i++ {
					wq.QueueOn(i%cpus, &items[i])
				}
				wq.FlushQueue(nil)

				b.ResetTimer()
				start := time.Now()
				for done := 0; done < b.N; {
					n := min(benchBatch, b.N-done)
					for i := 0; i < n; i++ {
						if !wq.QueueOn(i%cpus, &items[i]) {
							b.Fatalf("item %d still pending", i)
						}
					}
					wq.FlushQueue(nil)
					done += n
				}
				wqTime := time.Since(start)
				b.StopTimer()

				goTime := goPoolRun(cpus, b.N)
				wqRate := float64(b.N) / wqTime.Seconds()
				goRate := float64(b.N) / goTime.Seconds()
				b.ReportMetric(wqRate, "items/s")
				b.ReportMetric(goRate, "go-items/s")
				b.ReportMetric(wqRate/goRate, "wq/go")
			})
		}
	}
}

// goPoolRun runs n items through a pool of workers goroutines and a
// channel, in the same batches, and returns the time it took.
func goPoolRun(workers, n int) time.Duration {
	ch := make(chan func(), 1024)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		go func() {
			for f := range ch {
				f()
			}
		}()
	}
	fns := make([]func(), benchBatch)
	for i := range fns {
		fns[i] = func() {
			benchSink.Add(benchWork(uint64(i)))
			wg.Done()
		}
	}
	start := time.Now()
	for done := 0; done < n; {
		m := min(benchBatch, n-done)
		wg.Add(m)
		for i := 0; i < m; i++ {
			ch <- fns[i]
		}
		wg.Wait()
		done += m
	}
	d := time.Since(start)
	close(ch)
	return d
}

func BenchmarkLatency(b *testing.B) {
	for _, name := range []string{"system", "unbound"} {
		for _, cpus := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/cpus=%d", name, cpus), func(b *testing.B) {
				_, sys := newSystem(b, cpus, Config{})
				wq := benchQueues(sys)[name]
				started := make(chan time.Time, 1)
				w := NewWork(func(*kernel.Task, *Work) { started <- time.Now() })
				lat := make([]time.Duration, 0, b.N)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					t0 := time.Now()
					wq.QueueOn(i%cpus, w)
					lat = append(lat, (<-started).Sub(t0))
					w.Flush(nil)
				}
				b.StopTimer()
				goLat := goPoolLatency(cpus, b.N)
				p50, p99 := percentiles(lat)
				g50, g99 := percentiles(goLat)
				b.ReportMetric(float64(p50.Nanoseconds()), "p50-ns")
				b.ReportMetric(float64(p99.Nanoseconds()), "p99-ns")
				b.ReportMetric(float64(g50.Nanoseconds()), "go-p50-ns")
				b.ReportMetric(float64(g99.Nanoseconds()), "go-p99-ns")
				b.ReportMetric(float64(p50)/float64(max(g50, 1)), "p50-wq/go")
			})
		}
	}
}

func goPoolLatency(workers, n int) []time.Duration {
	ch := make(chan time.Time)
	started := make(chan time.Time, 1)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range ch {
				started <- time.Now()
			}
		}()
	}
	lat := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		t0 := time.Now()
		ch <- t0
		lat = append(lat, (<-started).Sub(t0))
	}
	close(ch)
	wg.Wait()
	return lat
}

func percentiles(d []time.Duration) (p50, p99 time.Duration) {
	if len(d) == 0 {
		return 0, 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2], s[min(len(s)-1, len(s)*99/100)]
}
