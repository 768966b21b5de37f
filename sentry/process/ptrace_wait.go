package process

// wait4/waitid for tracers: the ptrace-stops and exits of the threads a
// process's threads trace, children or not, reported by TID (Linux's
// do_wait over ->ptraced). See ptrace.go for the locking rules.

// matchesTracee reports whether the wait's pid selects tracee te.
func (o WaitOptions) matchesTracee(tg *ThreadGroup, te *Thread) bool {
	switch {
	case o.PID > 0:
		return te.TID() == o.PID
	case o.PID == -1:
		return true
	case o.PID == 0:
		return te.TG.pgid == tg.pgid
	default:
		return te.TG.pgid == -o.PID
	}
}

// ptraceWaitLocked finds a tracee of tg's threads that o selects with a
// stop or an exit to report, and reports it (consuming it unless
// o.NoReap). It sets *any when some tracee matches. A tracer reaps an
// exited tracee; if it is also the process's parent, the process is
// reaped with it.
// *post receives what to do once s.mu is released
// (ptraceReleaseZombieLocked).
// Preconditions: s.mu is held.
func (tg *ThreadGroup) ptraceWaitLocked(o WaitOptions, any *bool, post *func()) (WaitResult, bool) {
	tg.mu.Lock()
	threads := append([]*Thread(nil), tg.threads...)
	tg.mu.Unlock()
	for _, tr := range threads {
		for te := range tr.ptracer.tracees {
			if !o.matchesTracee(tg, te) {
				continue
			}
			*any = true
			p := &te.ptrace
			if p.zombie {
				ztg := te.TG
				leader := te == ztg.leader
				if leader && !ztg.zombie {
					// Linux's delay_group_leader: the
					// leader is reported with its group.
					continue
				}
				if !o.Exited {
					continue
				}
				res := WaitResult{PID: tg.ownNSPID(te.TID()), UID: te.Credentials().RealUID, Status: p.exitStatus}
				if leader {
					res.UTime, res.STime, _, _ = ztg.zombieTotals()
				}
				if o.NoReap {
					return res, true
				}
				te.detachLocked(0)
				if leader && ztg.parent == tg {
					tg.noteChildReaped(ztg)
					tg.s.reapLocked(tg, ztg)
					p.deferParent = false
				} else {
					*post = te.ptraceReleaseZombieLocked()
				}
				return res, true
			}
			if p.report != 0 && p.stopped {
				res := WaitResult{
					PID:     tg.ownNSPID(te.TID()),
					UID:     te.Credentials().RealUID,
					Status:  WaitStatus(uint32(p.report)<<8 | 0x7f),
					Trapped: true,
				}
				if !o.NoReap {
					p.report = 0
				}
				return res, true
			}
		}
	}
	return WaitResult{}, false
}

// ptraceHeldLocked reports whether the child c is not for its parent tg
// to report now: its traced leader is reported to a tracer in tg, or its
// exit waits for its tracer elsewhere to reap it.
// Preconditions: s.mu is held.
func (c *ThreadGroup) ptraceHeldLocked(tg *ThreadGroup) bool {
	l := c.leader
	if l == nil || l.ptrace.tracer == nil {
		return false
	}
	return l.ptrace.tracer.TG == tg || c.zombie
}
