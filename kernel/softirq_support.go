package kernel

// This file holds the one primitive the softirq machinery (package
// softirqd) needs that the rest of the core does not offer: the sentry's
// inter-processor interrupt. A softirq raised for a CPU whose task runs
// application code must run soon on that CPU; a hardware interrupt would
// stop the program and run it at irq_exit. Here the program is kicked back
// into the sentry, whose run loop then passes an irq-exit point
// (Task.IRQExit).

// KickApp forces the task holding c, if it is running application code,
// back into the sentry (through the kick it gave EnterApp, as preemption
// does). It reports whether such a task was kicked; it returns false when
// c is idle or its task runs sentry code. It never blocks and may be called
// from any goroutine.
func (c *CPU) KickApp() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	// Holding c.mu keeps c.curr on the CPU while it is kicked, so the
	// task kicked is the one that will pass the irq-exit point on c.
	t := c.curr
	if t == nil || !t.appRunning.Load() {
		return false
	}
	f := t.appKick.Load()
	if f == nil {
		return false
	}
	(*f)()
	return true
}
