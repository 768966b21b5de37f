// Package syscalls is the sentry's Linux syscall surface: the table that
// maps each x86-64 syscall number to its name, handler, support level and
// note (linux64.go), the dispatcher the run loop calls, strace-style
// logging driven by the same table, and the handlers themselves
// (sys_*.go).
//
// Handlers receive the calling thread and its six raw arguments and return
// the result or an error. Errors are Linux errnos (unix.Errno); any other
// error is a sentry bug and is logged and reported to the program as EIO.
// A handler that ends the thread (exit, a fatal signal) marks it exiting
// through package process; the dispatcher writes no result then.
//
// Locking: the table is immutable after init; handlers take the locks of
// the objects they touch.
package syscalls

//go:generate go run gen_names.go

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"golang.org/x/sys/unix"
)

// Handler serves one syscall.
type Handler func(t *process.Thread, a arch.SyscallArguments) (uintptr, error)

// Support says how completely the sentry implements a syscall.
type Support int

const (
	// Unimplemented: ENOSYS, logged once.
	Unimplemented Support = iota
	// Partial: works for the common cases; the note says what is missing.
	Partial
	// Full: implemented as Linux does.
	Full
)

func (s Support) String() string {
	switch s {
	case Full:
		return "full"
	case Partial:
		return "partial"
	}
	return "unimplemented"
}

// Syscall is one row of the table.
type Syscall struct {
	Name    string
	Fn      Handler
	Support Support
	Note    string
	// Args says how strace prints each argument; Ret how it prints the
	// result.
	Args []ArgKind
	Ret  ArgKind
}

// ErrNoReturn is returned by handlers that replaced the thread's registers
// wholesale (execve, rt_sigreturn): the dispatcher must not write rax.
var ErrNoReturn = errors.New("syscall replaced the registers")

// maxSyscall bounds the table (x86-64 numbers are below 512).
const maxSyscall = 512

// Table is the dispatch table, indexed by syscall number.
type Table [maxSyscall]*Syscall

var table Table

func init() {
	for no, name := range syscallNames {
		if _, ok := linux64[no]; !ok {
			linux64[no] = Syscall{Name: name, Support: Unimplemented}
		}
	}
	for no, sc := range linux64 {
		sc := sc
		if sc.Support != Unimplemented && sc.Fn == nil {
			panic(fmt.Sprintf("syscall %s (%d) has no handler but claims %v support", sc.Name, no, sc.Support))
		}
		table[no] = &sc
	}
}

// Lookup returns the row for sysno, or nil.
func Lookup(sysno uintptr) *Syscall {
	if sysno >= maxSyscall {
		return nil
	}
	return table[sysno]
}

// Dispatcher serves syscalls from the table. It implements
// process.SyscallDispatcher.
type Dispatcher struct{}

// Dispatch implements process.SyscallDispatcher.
func (Dispatcher) Dispatch(t *process.Thread) {
	// seccomp runs first, on the registers the program made the call
	// with; a thread without a mode pays one atomic load.
	if t.SeccompActive() && !t.SeccompCheck() {
		if t.S.Strace {
			t.S.Log.Infof("[%4d] %s = %#x (seccomp)", t.TID(), nameOf(t.Regs.SyscallNo(), Lookup(t.Regs.SyscallNo())), t.Regs.Rax)
		}
		return
	}
	sysno := t.Regs.SyscallNo()
	args := t.Regs.SyscallArgs()
	sc := Lookup(sysno)
	if sysno != unix.SYS_RESTART_SYSCALL {
		// A restart block is good for the syscall right after its
		// interrupted one only (Linux's do_no_restart_syscall).
		t.SetRestartBlock(nil)
	}
	t.ClearNoRestart()
	strace := t.S.Strace
	var start time.Time
	var enter string
	if strace {
		start = time.Now()
		enter = formatCall(t, sysno, sc, args)
	}
	var ret uintptr
	var err error
	if sc == nil || sc.Fn == nil {
		name := fmt.Sprintf("syscall_%d", sysno)
		if sc != nil {
			name = sc.Name
		}
		t.S.LogUnknownOnce(name, sysno)
		err = unix.ENOSYS
	} else {
		ret, err = sc.Fn(t, args)
	}
	if err == ErrNoReturn {
		if strace {
			t.S.Log.Infof("[%4d] %s = ? (%v)", t.TID(), enter, time.Since(start))
		}
		return
	}
	rv := ret
	if err != nil {
		var errno unix.Errno
		if !errors.As(err, &errno) {
			t.Log().Errorf("syscall %s: sentry error %v; returning EIO", nameOf(sysno, sc), err)
			errno = unix.EIO
		}
		rv = uintptr(-int64(errno))
	}
	if !t.Exiting() {
		t.Regs.SetReturn(rv)
	}
	if strace {
		t.S.Log.Infof("[%4d] %s = %s (%v)", t.TID(), enter, formatResult(t, sc, args, ret, err), time.Since(start).Round(time.Microsecond))
	}
}

func nameOf(sysno uintptr, sc *Syscall) string {
	if sc != nil {
		return sc.Name
	}
	return fmt.Sprintf("syscall_%d", sysno)
}

// WriteTable prints the table (number, name, support, note) as the
// `runsc-lite syscalls` command and the generated docs show it.
func WriteTable(w io.Writer, markdown bool) {
	var nos []int
	for no := range linux64 {
		nos = append(nos, int(no))
	}
	sort.Ints(nos)
	if markdown {
		fmt.Fprintln(w, "| no | name | support | note |")
		fmt.Fprintln(w, "|---:|---|---|---|")
	}
	for _, no := range nos {
		sc := linux64[uintptr(no)]
		note := strings.ReplaceAll(sc.Note, "|", "\\|")
		if markdown {
			fmt.Fprintf(w, "| %d | %s | %s | %s |\n", no, sc.Name, sc.Support, note)
		} else {
			fmt.Fprintf(w, "%3d  %-24s %-13s %s\n", no, sc.Name, sc.Support, sc.Note)
		}
	}
}
