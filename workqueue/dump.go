package workqueue

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
)

// Dump writes the state of every workqueue, pool, worker and pending item
// (Linux's show_all_workqueues) to w. It takes each pool's lock in turn
// and does not block otherwise.
func (sys *System) Dump(w io.Writer) {
	now := time.Now()
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	fmt.Fprintf(bw, "Showing workqueues and worker pools (%d CPUs):\n", sys.k.NumCPUs())
	for _, wq := range sys.Workqueues() {
		wq.dump(bw, now)
	}
	for _, p := range sys.pools() {
		p.dump(bw, now)
	}
}

// DumpAll logs Dump's lines at info level, one entry per line, beside the
// kernel's task dump (kernel.Kernel.DumpAll).
func (sys *System) DumpAll(log logrus.FieldLogger) {
	var b bytes.Buffer
	sys.Dump(&b)
	for _, line := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
		log.Info(line)
	}
}

func (wq *Workqueue) dump(w io.Writer, now time.Time) {
	wq.colorMu.Lock()
	inflight, flushers := wq.nrFlight, len(wq.flushers)
	wq.colorMu.Unlock()
	wq.delayedMu.Lock()
	armed := len(wq.delayed)
	wq.delayedMu.Unlock()
	rescuer := "-"
	if r := wq.rescuer.Load(); r != nil {
		rescuer = fmt.Sprintf("%s (tid %d)", r.name, r.task.TID())
	}
	state := ""
	if wq.dead.Load() {
		state = " destroyed"
	}
	fmt.Fprintf(w, "workqueue %s: flags=%v max_active=%d in_flight=%d delayed_armed=%d flushers=%d rescuer=%s%s\n",
		wq.name, wq.flags, wq.maxActive, inflight, armed, flushers, rescuer, state)
	for _, pwq := range wq.pwqs {
		p := pwq.pool
		p.mu.Lock()
		var running, pending []string
		for work, wk := range p.busy {
			if wk.currentPwq == pwq {
				running = append(running, fmt.Sprintf("%s on %s for %v", work.name(), wk.name, now.Sub(wk.currentStart).Round(time.Microsecond)))
			}
		}
		for x := p.worklist.front(); x != nil; x = x.next {
			if x.pwq == pwq {
				pending = append(pending, x.name())
			}
		}
		for wk := range p.workers {
			for x := wk.scheduled.front(); x != nil; x = x.next {
				if x.pwq == pwq {
					pending = append(pending, x.name()+" (scheduled on "+wk.name+")")
				}
			}
		}
		var inactive []string
		for x := pwq.inactive.front(); x != nil; x = x.next {
			inactive = append(inactive, x.name())
		}
		line := fmt.Sprintf("  pwq on pool %d: active=%d/%d inactive=%d executed=%d rescued=%d maydays=%d",
			p.id, pwq.nrActive, pwq.maxActive, pwq.inactive.n, pwq.executed, pwq.rescued, pwq.maydays)
		nrActive := pwq.nrActive
		p.mu.Unlock()
		if nrActive == 0 && len(inactive) == 0 && len(wq.pwqs) > 1 {
			continue // idle per-CPU pwqs are not worth a line each
		}
		fmt.Fprintln(w, line)
		sort.Strings(running)
		for _, s := range running {
			fmt.Fprintf(w, "    in-flight: %s\n", s)
		}
		dumpList(w, "pending", pending)
		dumpList(w, "inactive", inactive)
	}
}

func (p *workerPool) dump(w io.Writer, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	cpus := "unbound"
	if p.cpu >= 0 {
		cpus = fmt.Sprint(p.cpu)
	}
	manager := "-"
	if p.manager != nil {
		manager = p.manager.name
	}
	fmt.Fprintf(w, "pool %d: cpus=%s(%v) nice=%d workers=%d idle=%d running=%d/%d manager=%s pending=%d created=%d retired=%d create_failed=%d maydays=%d\n",
		p.id, cpus, p.cpus, p.nice, p.nrWorkers, p.nrIdle, p.nrRunning, p.concurrency, manager, p.worklist.n,
		p.created, p.retired, p.createFailed, p.maydays)
	wks := make([]*worker, 0, len(p.workers))
	for wk := range p.workers {
		wks = append(wks, wk)
	}
	sort.Slice(wks, func(i, j int) bool { return wks[i].id < wks[j].id })
	for _, wk := range wks {
		state := "busy"
		switch {
		case wk.flags&wfIdle != 0:
			state = fmt.Sprintf("idle for %v", now.Sub(wk.lastActive).Round(time.Millisecond))
		case wk.current != nil && wk.sleeping:
			state = "sleeping in " + wk.current.name()
		case wk.current != nil:
			state = "running " + wk.current.name()
		case wk == p.manager:
			state = "managing"
		}
		fmt.Fprintf(w, "  worker %s tid %d: %s, processed %d, cpu time %v\n",
			wk.name, wk.task.TID(), state, wk.processed, wk.task.Runtime().Round(time.Microsecond))
	}
	for work, wk := range p.busy {
		if wk.rescueWQ != nil {
			fmt.Fprintf(w, "  rescuer %s tid %d: running %s\n", wk.name, wk.task.TID(), work.name())
		}
	}
}

// dumpLimit is how many items of one list the dump names.
const dumpLimit = 16

func dumpList(w io.Writer, what string, items []string) {
	for i, s := range items {
		if i == dumpLimit {
			fmt.Fprintf(w, "    ... and %d more %s\n", len(items)-i, what)
			return
		}
		fmt.Fprintf(w, "    %s: %s\n", what, s)
	}
}
