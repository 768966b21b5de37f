package softirqd

import (
	"fmt"
	"strings"
	"time"
)

// Counts returns, for each CPU, how many times each vector's action has
// run there (Linux's kstat_softirqs_cpu), for /proc/softirqs and
// /proc/stat. It never blocks.
func (s *Softirqs) Counts() [][NrVectors]uint64 {
	out := make([][NrVectors]uint64, len(s.cpus))
	for i, cs := range s.cpus {
		for v := range out[i] {
			out[i][v] = cs.handled[v].Load()
		}
	}
	return out
}

// Time returns how long cpu has spent running softirqs: the softirq column
// of /proc/stat's cpu lines (softirq time is also part of the CPU time of
// the task whose irq-exit point ran it, as without IRQ_TIME_ACCOUNTING).
func (s *Softirqs) Time(cpu int) time.Duration {
	return time.Duration(s.cpus[cpu].timeNs.Load())
}

// ProcSoftirqs renders /proc/softirqs for the current counts.
func (s *Softirqs) ProcSoftirqs() string { return RenderProcSoftirqs(s.Counts()) }

// StatSoftirq renders /proc/stat's softirq line for the current counts.
func (s *Softirqs) StatSoftirq() string { return RenderStatSoftirq(s.Counts()) }

// RenderProcSoftirqs returns the text of /proc/softirqs for counts (one
// entry per CPU) exactly as Linux's fs/proc/softirqs.c prints it: a header
// of "CPU%-8d" columns after 20 spaces, then one "%12s:" row per vector
// with a " %10u" column per CPU (the counters are 32-bit there, and wrap).
func RenderProcSoftirqs(counts [][NrVectors]uint64) string {
	var b strings.Builder
	b.WriteString("                    ")
	for i := range counts {
		fmt.Fprintf(&b, "CPU%-8d", i)
	}
	b.WriteByte('\n')
	for v := Vector(0); v < NrVectors; v++ {
		fmt.Fprintf(&b, "%12s:", v.String())
		for i := range counts {
			fmt.Fprintf(&b, " %10d", uint32(counts[i][v]))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// RenderStatSoftirq returns /proc/stat's softirq line for counts, newline
// included: "softirq" then the total and the per-vector sums over CPUs, as
// Linux's fs/proc/stat.c prints them (per-CPU counters are 32-bit, the
// per-vector sums too; the total is 64-bit).
func RenderStatSoftirq(counts [][NrVectors]uint64) string {
	var sums [NrVectors]uint32
	var total uint64
	for i := range counts {
		for v := range counts[i] {
			c := uint32(counts[i][v])
			sums[v] += c
			total += uint64(c)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "softirq %d", total)
	for _, c := range sums {
		fmt.Fprintf(&b, " %d", c)
	}
	b.WriteByte('\n')
	return b.String()
}

// CPUStats are one CPU's softirq statistics, for debugging and dumps.
type CPUStats struct {
	// Handled counts runs of each vector's action.
	Handled [NrVectors]uint64
	// Time is the time spent running softirqs.
	Time time.Duration
	// Overflows counts irq-exit runs that left work to ksoftirqd.
	Overflows uint64
	// KsoftirqdWakeups counts wake-ups of ksoftirqd/N.
	KsoftirqdWakeups uint64
	// Kicks counts raises that kicked the CPU's task out of
	// application code.
	Kicks uint64
	// TimersPending is the number of timers queued on the CPU's base.
	TimersPending int
	// TimersFired counts timer callbacks run; TimerInterrupts counts
	// firings of the base's host timer.
	TimersFired, TimerInterrupts uint64
}

// Stats returns cpu's statistics. It never blocks for long.
func (s *Softirqs) Stats(cpu int) CPUStats {
	cs := s.cpus[cpu]
	st := CPUStats{
		Time:             time.Duration(cs.timeNs.Load()),
		Overflows:        cs.overflows.Load(),
		KsoftirqdWakeups: cs.wakeups.Load(),
		Kicks:            cs.kicks.Load(),
		TimersFired:      cs.timers.fired.Load(),
		TimerInterrupts:  cs.timers.interrupts.Load(),
	}
	for v := range st.Handled {
		st.Handled[v] = cs.handled[v].Load()
	}
	cs.timers.mu.Lock()
	st.TimersPending = len(cs.timers.heap)
	cs.timers.mu.Unlock()
	return st
}
