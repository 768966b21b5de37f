package syscalls

// PID translation for the syscalls that take or return process IDs: a
// caller in a nested PID namespace (sentry/process/pidns.go) names and sees
// tasks by their IDs in its namespace; the process table is keyed by kernel
// TIDs.

import (
	"math"

	"github.com/runsc-lite/runsc-lite/sentry/process"
)

// noSuchPID is a kernel TID no task has: what an ID that names nobody in
// the caller's namespace translates to, so that lookups fail with ESRCH
// (ECHILD for wait) rather than meaning "self" or "any".
const noSuchPID = math.MaxInt32

// kernelPID returns the kernel TID of the task t names id (> 0) in its PID
// namespace, noSuchPID if none; id <= 0 is returned as is.
func kernelPID(t *process.Thread, id int32) int32 {
	if id <= 0 {
		return id
	}
	if k := t.KernelPID(id); k != 0 {
		return k
	}
	return noSuchPID
}
