package procfs

// This file renders what /proc shows of the scheduler's accounting (package
// kernel): the scheduling fields of /proc/PID/stat, /proc/PID/schedstat,
// the cpu lines and counters of /proc/stat, and /proc/loadavg.
//
// Every CPU time shown comes from kernel.Task.Runtime (time holding a
// sandbox CPU), split into user time (application code, between EnterApp
// and LeaveApp) and system time (sentry code) by kernel.Task.Times.

import (
	"fmt"
	"golang.org/x/sys/unix"
	"strings"
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/sentry/fs"
)

// stateOf returns the /proc state letter and name of t.
func stateOf(t *kernel.Task) (byte, string) {
	if th := thread(t); th != nil && t.State() != kernel.TaskDead {
		// A stopped user thread sleeps in the kernel's sense; Linux
		// shows why (TASK_TRACED, TASK_STOPPED).
		if th.PtraceStopped() {
			return 't', "tracing stop"
		}
		if th.GroupStopped() {
			return 'T', "stopped"
		}
	}
	switch t.State() {
	case kernel.TaskCreated:
		if t.IsKthread() {
			// Created, not yet woken (kernel.Kthread.Run): idle, as
			// the kthreads that ran and wait.
			return 'I', "idle"
		}
		return 'R', "running"
	case kernel.TaskRunning, kernel.TaskRunnable:
		return 'R', "running"
	case kernel.TaskBlocking, kernel.TaskSleeping:
		if t.IsKthread() {
			// Linux's kthreads wait in TASK_IDLE.
			return 'I', "idle"
		}
		if t.Uninterruptible() {
			return 'D', "disk sleep"
		}
		return 'S', "sleeping"
	case kernel.TaskDead:
		return 'Z', "zombie"
	}
	return 'S', "sleeping"
}

// statPriority returns /proc/PID/stat's priority, nice, rt_priority and
// policy fields: priority is 20+nice for the fair policies and
// -1-rt_priority for SCHED_FIFO and SCHED_RR (Linux's prio - MAX_RT_PRIO).
func statPriority(t *kernel.Task) (prio, nice, rtPrio, policy int) {
	p := t.SchedParams()
	switch p.Policy {
	case kernel.SchedFIFO, kernel.SchedRR:
		return -1 - p.RTPriority, p.Nice, p.RTPriority, p.Policy
	}
	return 20 + p.Nice, p.Nice, 0, p.Policy
}

// taskTimes returns the user and system time of t, or of its whole thread
// group when group is set.
func (p *procFS) taskTimes(t *kernel.Task, group bool) (user, system int64) {
	if th := thread(t); group && th != nil {
		// The process's time, its exited threads' included.
		u, s := th.TG.CPUTimes()
		return int64(u), int64(s)
	}
	tasks := []*kernel.Task{t}
	if group {
		tasks = p.threadsOf(t)
	}
	for _, x := range tasks {
		u, s := x.Times()
		user += int64(u)
		system += int64(s)
	}
	return user, system
}

// nsTicks converts nanoseconds to USER_HZ clock ticks.
func nsTicks(ns int64) int64 { return ns / (1e9 / clockTicks) }

// taskStat renders /proc/PID/stat (group: the thread group's CPU times)
// or /proc/PID/task/TID/stat.
func (p *procFS) taskStat(ctx *fs.Context, t *kernel.Task, group bool) string {
	st, _ := stateOf(t)
	th := thread(t)
	var pgrp, session int32
	var ttyNr uint32
	tpgid := int32(-1)
	var vsize, rss uint64
	numThreads := 1
	if th != nil {
		pgrp, session = p.id(th.TG.ProcessGroup()), p.id(th.TG.Session())
		ttyNr, tpgid = th.TG.TerminalInfo()
		if tpgid > 0 {
			tpgid = p.id(tpgid)
		}
		if m := memOf(th); m != nil {
			vsize = m.VirtualSize()
			rss = m.ResidentPages()
		}
		numThreads = len(th.TG.Threads())
	}
	cpu := 0
	if c := t.CPU(); c != nil {
		cpu = c.ID()
	}
	// The start time in the reader's time namespace, as Linux's
	// timens_add_boottime_ns.
	start := ticks(t.StartTime().Sub(p.s.Kernel.BootTime()) + time.Duration(readerClockOffset(ctx, unix.CLOCK_BOOTTIME)))
	user, system := p.taskTimes(t, group)
	var cuser, csystem time.Duration
	if th != nil && group {
		cuser, csystem = th.TG.ChildrenCPUTimes()
	}
	prio, nice, rtPrio, policy := statPriority(t)
	// Fields 1-52 of proc(5); zeros are counters the sandbox does not
	// keep (faults, addresses it does not disclose).
	return fmt.Sprintf("%d (%s) %c %d %d %d %d %d %d 0 0 0 0 %d %d %d %d %d %d %d 0 %d %d %d 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 %d %d %d 0 0 0 0 0 0 0 0 0 0 0\n",
		p.id(t.TID()), t.Name(), st, p.ppidOf(t), pgrp, session, ttyNr, tpgid, uint32(t.Flags()),
		nsTicks(user), nsTicks(system), nsTicks(int64(cuser)), nsTicks(int64(csystem)), prio, nice, numThreads, start, vsize, rss,
		cpu, rtPrio, policy)
}

// taskSchedstat renders /proc/PID/schedstat: nanoseconds on a CPU,
// nanoseconds waiting on a run queue, and the number of turns on a CPU.
func taskSchedstat(t *kernel.Task) string {
	run, wait, slices := t.SchedStat()
	return fmt.Sprintf("%d %d %d\n", run.Nanoseconds(), wait.Nanoseconds(), slices)
}

// stat renders /proc/stat: per-CPU user/system/idle time, context switches
// (CPU hand-offs), tasks created, runnable and uninterruptibly asleep.
func (p *procFS) stat(*fs.Context) string {
	k := p.s.Kernel
	n := k.NumCPUs()
	var b strings.Builder
	per := make([][3]int64, n)
	var tot [3]int64
	for i := 0; i < n; i++ {
		u, s, idle := k.CPU(i).CPUTimes()
		per[i] = [3]int64{nsTicks(int64(u)), nsTicks(int64(s)), nsTicks(int64(idle))}
		for j := range tot {
			tot[j] += per[i][j]
		}
	}
	// user nice system idle iowait irq softirq steal guest guest_nice
	fmt.Fprintf(&b, "cpu  %d 0 %d %d 0 0 0 0 0 0\n", tot[0], tot[1], tot[2])
	for i, c := range per {
		fmt.Fprintf(&b, "cpu%d %d 0 %d %d 0 0 0 0 0 0\n", i, c[0], c[1], c[2])
	}
	fmt.Fprintf(&b, "intr 0\nctxt %d\nbtime %d\nprocesses %d\nprocs_running %d\nprocs_blocked %d\nsoftirq 0 0 0 0 0 0 0 0 0 0 0\n",
		k.ContextSwitches(), k.BootTime().Unix(), k.Forks(), max(k.NrRunning(), 1), k.NrUninterruptible())
	return b.String()
}

// loadavg renders /proc/loadavg: the kernel's 1, 5 and 15 minute load
// averages (decayed every 5 s from its run queues and uninterruptible
// sleepers), runnable/total tasks, and the highest PID in use.
func (p *procFS) loadavg(*fs.Context) string {
	k := p.s.Kernel
	tasks := k.Tasks()
	var last int32
	for _, t := range tasks {
		last = max(last, t.TID())
	}
	return fmt.Sprintf("%s %d/%d %d\n", k.LoadAvgText(), max(k.NrRunning(), 1), len(tasks), last)
}

// ppidOf returns the PID of t's parent (0 for init and kthreadd, and
// for a parent outside the instance's PID namespace).
func (p *procFS) ppidOf(t *kernel.Task) int32 {
	if pt := t.Parent(); pt != nil {
		return p.id(pt.TGID())
	}
	return 0
}

// ticks converts a duration to USER_HZ clock ticks.
func ticks(d time.Duration) int64 { return int64(d / (time.Second / clockTicks)) }
