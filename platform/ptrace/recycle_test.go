package ptrace

import (
	"testing"

	"github.com/runsc-lite/runsc-lite/platform"
)

// A recycled context serves the next task on its thread in the same stub
// thread: no new one is taken from the address space, and an interrupt
// meant for the old task does not stop the new one.
func TestRecycledContextKeepsItsStubThread(t *testing.T) {
	e := newEnv(t)
	regs0 := e.loadCode(getpidLoop)
	<-onThread(func() {
		pc, err := e.p.NewContext()
		if err != nil {
			t.Error(err)
			return
		}
		c := pc.(*context)
		defer c.Release()
		regs := regs0
		stop, err := c.Switch(e.as, &regs)
		if err != nil || stop.Kind != platform.StopSyscall {
			t.Errorf("first Switch = %+v, %v; want a syscall stop", stop, err)
			return
		}
		first := c.threads[e.as]
		e.as.mu.RLock()
		taken := e.as.taken
		e.as.mu.RUnlock()

		c.Interrupt() // meant for the old task
		if !c.Recycle() {
			t.Error("Recycle on the owning thread = false")
			return
		}
		regs = regs0
		stop, err = c.Switch(e.as, &regs)
		if err != nil || stop.Kind != platform.StopSyscall {
			t.Errorf("Switch after Recycle = %+v, %v; want a syscall stop", stop, err)
		}
		if got := c.threads[e.as]; got != first {
			t.Errorf("stub thread after Recycle = %v, want the same %v", got, first)
		}
		e.as.mu.RLock()
		if e.as.taken != taken {
			t.Errorf("the recycled context took %d more stub threads", e.as.taken-taken)
		}
		e.as.mu.RUnlock()
	})
	// Another thread cannot take the context over.
	<-onThread(func() {
		if e.ctx.Recycle() {
			t.Error("Recycle from a thread other than the owner's = true")
		}
	})
}
