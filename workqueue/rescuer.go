package workqueue

import (
	"errors"

	"github.com/runsc-lite/runsc-lite/kernel"
)

// rescuerNice is the rescuer's nice value (RESCUER_NICE_LEVEL).
const rescuerNice = -20

// startRescuer creates wq's rescuer kthread, named after wq, in the
// background (so NewWorkqueue does not block) and closes wq.rescuerC when
// done. The rescuer is not started: it gets its host thread at its first
// kick (a mayday), which a sandbox whose pools make their workers never
// sends.
func (wq *Workqueue) startRescuer() {
	go func() {
		defer close(wq.rescuerC)
		r := &worker{id: -1, name: wq.name, rescueWQ: wq, flags: wfRescuer}
		kt, err := wq.sys.k.KthreadCreate(kernel.KthreadOptions{
			Name:  wq.name,
			CPU:   -1,
			Nice:  rescuerNice,
			Flags: kernel.PFWqWorker,
		}, r.rescue)
		if errors.Is(err, kernel.ErrNoKthreadd) {
			// kthreadd stopped first: the kernel is shutting
			// down (a short-lived sandbox can exit before this
			// goroutine runs), and no work will need rescue.
			wq.sys.log.WithField("workqueue", wq.name).Debug("workqueue: no rescuer: the kernel is shutting down")
			return
		}
		if err != nil {
			wq.sys.log.WithError(err).WithField("workqueue", wq.name).Warn("workqueue: cannot create rescuer")
			return
		}
		r.kt = kt
		r.task = kt.Task()
		wq.rescuer.Store(r)
	}()
}

// popMayday takes the first pwq asking for rescue.
func (wq *Workqueue) popMayday() *poolWorkqueue {
	wq.maydayMu.Lock()
	defer wq.maydayMu.Unlock()
	if len(wq.maydays) == 0 {
		return nil
	}
	pwq := wq.maydays[0]
	wq.maydays[0] = nil
	wq.maydays = wq.maydays[1:]
	pwq.onMayday = false
	return pwq
}

// rescue is a rescuer's kthread function (rescuer_thread): it serves the
// maydays of its workqueue until stopped, going through the pending ones
// before it exits.
func (r *worker) rescue(kt *kernel.Kthread) int {
	wq := r.rescueWQ
	t := kt.Task()
	for {
		var pwq *poolWorkqueue
		var stop bool
		r.waitq.Wait(t, func() bool {
			stop = kt.ShouldStop()
			pwq = wq.popMayday()
			return pwq != nil || stop
		}, kernel.WaitOpts{Timeout: kernel.Forever})
		if pwq == nil {
			if stop {
				return 0
			}
			continue
		}
		r.rescuePwq(pwq)
	}
}

// rescuePwq runs the items of pwq waiting in its pool, on the pool's CPU.
func (r *worker) rescuePwq(pwq *poolWorkqueue) {
	p := pwq.pool
	// Run where the pool's workers would have.
	r.task.MoveSelf(p.cpus)
	p.mu.Lock()
	for w := p.worklist.front(); w != nil; {
		next := w.next
		if w.pwq == pwq {
			p.assignWorkLocked(w, r)
		}
		w = next
	}
	if !r.scheduled.empty() {
		p.processScheduledLocked(r)
		pwq.rescued++
		// Stay on the mayday list while the pool still cannot cope.
		if pwq.nrActive > 0 && p.needToCreateWorker() {
			p.sendMaydayLocked(pwq)
		}
	}
	// Leave the pool running if it has work.
	if p.needMoreWorker() {
		p.wakeUpWorkerLocked()
	}
	p.mu.Unlock()
}
