// Package arch holds the x86-64 machine state of an application thread as
// the sentry sees it: general registers (the layout of Linux's
// user_regs_struct, which is what ptrace and KVM's sync regs both reduce to)
// and the syscall calling convention.
//
// It owns no locks; a Registers value belongs to the task that runs it.
package arch

import "golang.org/x/sys/unix"

// Registers is the general-purpose register file of an application thread.
// Field names follow user_regs_struct (Rax, Orig_rax, Rip, Fs_base, ...).
type Registers struct {
	unix.PtraceRegs
}

// SyscallNo returns the number of the syscall the thread stopped on.
func (r *Registers) SyscallNo() uintptr { return uintptr(r.Orig_rax) }

// SyscallArgs returns the six syscall arguments in ABI order
// (rdi, rsi, rdx, r10, r8, r9).
func (r *Registers) SyscallArgs() SyscallArguments {
	return SyscallArguments{
		uintptr(r.Rdi), uintptr(r.Rsi), uintptr(r.Rdx),
		uintptr(r.R10), uintptr(r.R8), uintptr(r.R9),
	}
}

// SetReturn sets the syscall return value (rax).
func (r *Registers) SetReturn(v uintptr) { r.Rax = uint64(v) }

// IP returns the instruction pointer.
func (r *Registers) IP() uintptr { return uintptr(r.Rip) }

// Stack returns the stack pointer.
func (r *Registers) Stack() uintptr { return uintptr(r.Rsp) }

// SyscallArguments are the six raw arguments of a syscall.
type SyscallArguments [6]uintptr

// Int returns argument i as a signed 32-bit value, as the kernel reads "int".
func (a *SyscallArguments) Int(i int) int32 { return int32(a[i]) }

// Uint returns argument i as an unsigned 32-bit value.
func (a *SyscallArguments) Uint(i int) uint32 { return uint32(a[i]) }

// Int64 returns argument i as a signed 64-bit value.
func (a *SyscallArguments) Int64(i int) int64 { return int64(a[i]) }

// Ptr returns argument i as an application address.
func (a *SyscallArguments) Ptr(i int) uintptr { return a[i] }

// Initial register values for a fresh thread (as Linux's start_thread sets
// them): user code and stack segments, interrupts enabled.
const (
	UserCS    = 0x33
	UserSS    = 0x2b
	UserFlags = 0x202
)

// NewInitialRegisters returns the registers of a thread that starts at entry
// with stack pointer sp, as execve leaves them.
func NewInitialRegisters(entry, sp uintptr) Registers {
	var r Registers
	r.Rip = uint64(entry)
	r.Rsp = uint64(sp)
	r.Cs = UserCS
	r.Ss = UserSS
	r.Eflags = UserFlags
	return r
}
