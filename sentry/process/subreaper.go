package process

// Child subreapers (prctl PR_SET_CHILD_SUBREAPER): a process marked as one
// takes the orphans among its descendants, instead of init, as Linux's
// find_new_reaper does. Container inits and service managers (tini,
// systemd, bazel's process wrapper) rely on it to reap what their
// children leave behind. The marks are protected by Sandbox.mu.

// SetChildSubreaper marks or unmarks tg as a child subreaper.
func (tg *ThreadGroup) SetChildSubreaper(on bool) {
	s := tg.s
	s.mu.Lock()
	defer s.mu.Unlock()
	tg.childSubreaper = on
	if !on {
		return
	}
	// Its descendants now have a subreaper above them (Linux marks
	// them when the flag is set, and fork passes the mark on).
	var mark func(p *ThreadGroup)
	mark = func(p *ThreadGroup) {
		for c := range p.children {
			if !c.hasChildSubreaper {
				c.hasChildSubreaper = true
				mark(c)
			}
		}
	}
	mark(tg)
}

// ChildSubreaper reports whether tg is a child subreaper.
func (tg *ThreadGroup) ChildSubreaper() bool {
	tg.s.mu.Lock()
	defer tg.s.mu.Unlock()
	return tg.childSubreaper
}

// newReaperLocked returns who takes the children of exiting tg: its
// nearest living ancestor that is a child subreaper, or init.
// Preconditions: s.mu is held.
func (s *Sandbox) newReaperLocked(tg *ThreadGroup) *ThreadGroup {
	// In a nested PID namespace, its init (pidns.go).
	init := pidNSReaperLocked(tg)
	if init == nil {
		init = s.init
	}
	if tg.hasChildSubreaper {
		for a := tg.parent; a != nil && a != init && a != s.init; a = a.parent {
			if !a.childSubreaper || a.zombie {
				continue
			}
			a.mu.Lock()
			exiting := a.exiting
			a.mu.Unlock()
			if !exiting {
				return a
			}
		}
	}
	return init
}
