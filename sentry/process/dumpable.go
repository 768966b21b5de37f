package process

// Dumpability (Linux's mm->flags MMF_DUMPABLE): whether a process may be
// traced (and /proc/PID/mem opened) by a same-user process without
// CAP_SYS_PTRACE. A process stops being dumpable when its effective or
// filesystem IDs change or its capabilities grow (a set*id call, a
// set-user-ID execve: Linux's commit_creds with suid_dumpable 0) and
// becomes dumpable again at an execve that grants nothing; prctl
// PR_SET_DUMPABLE sets it. It is kept per thread group (Linux: per
// address space) and inherited across fork. Lock-free (atomic).

import "github.com/runsc-lite/runsc-lite/sentry/auth"

// Dumpable values (prctl PR_GET_DUMPABLE).
const (
	DumpableNo   = 0
	DumpableUser = 1
)

// Dumpable returns the group's dumpability.
func (tg *ThreadGroup) Dumpable() int { return int(tg.dumpable.Load()) }

// SetDumpable sets the group's dumpability (PR_SET_DUMPABLE, execve).
func (tg *ThreadGroup) SetDumpable(d int) { tg.dumpable.Store(int32(d)) }

// credsLoseDumpable reports whether a change of credentials from old to
// n makes the process non-dumpable.
func credsLoseDumpable(old, n *auth.Credentials) bool {
	return old.EffectiveUID != n.EffectiveUID || old.EffectiveGID != n.EffectiveGID ||
		old.FSUID != n.FSUID || old.FSGID != n.FSGID || n.Permitted&^old.Permitted != 0
}

// ExecDumpable sets the dumpability an execve leaves: dumpable unless the
// new credentials differ between real and effective IDs (a set-user-ID
// or set-group-ID program).
func (t *Thread) ExecDumpable() {
	c := t.Credentials()
	// The new address space belongs to the exec'ing credentials' user
	// namespace.
	t.TG.mmUserNS.Store(c.UserNS)
	if c.RealUID == c.EffectiveUID && c.RealGID == c.EffectiveGID {
		t.TG.SetDumpable(DumpableUser)
	} else {
		t.TG.SetDumpable(DumpableNo)
	}
}
