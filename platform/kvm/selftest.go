package kvm

import (
	"errors"
	"fmt"
	"runtime"
	"time"
	"unsafe"

	"github.com/runsc-lite/runsc-lite/platform"
	"github.com/runsc-lite/runsc-lite/sentry/memfile"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// Self-test bounds. On standard KVM the whole test takes well under a
// millisecond of guest time; the bounds leave room for slow hosts (and for
// KVM under software emulation) while keeping a broken hypervisor from
// holding up start-up.
const (
	// selfTestRunTimeout bounds each Switch of the test guest: past it
	// the guest is interrupted.
	selfTestRunTimeout = 250 * time.Millisecond
	// selfTestTimeout bounds the whole test, VM creation included. A
	// host whose KVM_RUN ignores signals is given up on after it (the
	// stuck thread is left behind).
	selfTestTimeout = 3 * time.Second
)

// selfTestCode is the test guest's program:
//
//	mov $39,%eax; syscall; mov %rax,%rbx; mov $60,%eax; syscall; jmp .
var selfTestCode = []byte{
	0xb8, 0x27, 0x00, 0x00, 0x00, 0x0f, 0x05,
	0x48, 0x89, 0xc3,
	0xb8, 0x3c, 0x00, 0x00, 0x00, 0x0f, 0x05,
	0xeb, 0xfe,
}

const (
	selfTestCodeAddr  = 0x400000
	selfTestStackAddr = 0x7ff000
)

// SelfTest checks that /dev/kvm runs this platform's guest with standard
// x86-64 semantics: a tiny guest makes a ring-3 syscall, which must arrive
// at LSTAR in ring 0 and exit to the host, and is resumed in ring 3 with
// the value the host put in rax, then makes a second syscall. It returns
// nil if all of that happened, or a one-line error naming what failed
// (KVM missing, a capability or CPU feature missing, a wrong stop, a
// timeout). It blocks for at most a few seconds, however the host's KVM
// behaves.
func SelfTest() error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		err := selfTest()
		done <- err
		runtime.UnlockOSThread()
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(selfTestTimeout):
		return fmt.Errorf("kvm: self-test: KVM did not answer within %v", selfTestTimeout)
	}
}

// selfTest is SelfTest's body. Preconditions: the caller is locked to its
// OS thread.
func selfTest() (err error) {
	defer func() {
		if err != nil && !isSelfTestError(err) {
			err = fmt.Errorf("kvm: self-test: %w", err)
		}
	}()
	start := time.Now()
	mf, err := memfile.New(1 << 20)
	if err != nil {
		return err
	}
	defer mf.Release()
	p, err := New(mf)
	if err != nil {
		return selfTestError{err}
	}
	defer p.Release()
	pas, err := p.NewAddressSpace()
	if err != nil {
		return err
	}
	defer pas.Release()
	regs, release, err := platform.LoadProgram(mf, pas, selfTestCodeAddr, selfTestCode, selfTestStackAddr)
	if err != nil {
		return err
	}
	defer release()
	pc, err := p.NewContext()
	if err != nil {
		return err
	}
	defer pc.Release()
	c := pc.(*context)
	c.quiet = true

	run := func(step string, sysno uint64, rip uint64) error {
		t := time.AfterFunc(selfTestRunTimeout, c.Interrupt)
		start := time.Now()
		stop, err := c.Switch(pas, &regs)
		t.Stop()
		switch {
		case err != nil:
			return fmt.Errorf("%s: %v", step, err)
		case stop.Kind == platform.StopInterrupt:
			return fmt.Errorf("%s: the guest did not exit within %v (rip %#x)", step, time.Since(start).Round(time.Millisecond), regs.Rip)
		case stop.Kind != platform.StopSyscall:
			return fmt.Errorf("%s: the ring-3 syscall did not reach ring 0: got a %v stop, signal %d code %#x addr %#x, rip %#x", step, stop.Kind, stop.Signo, stop.Code, stop.Addr, regs.Rip)
		case regs.Orig_rax != sysno || regs.Rip != rip:
			return fmt.Errorf("%s: syscall stop with number %d at rip %#x, want %d at %#x", step, regs.Orig_rax, regs.Rip, sysno, rip)
		}
		return nil
	}
	setupDone := time.Now()
	if err := run("first syscall", unix.SYS_GETPID, selfTestCodeAddr+7); err != nil {
		return err
	}
	// The exit must have happened at the syscall stub in ring 0.
	var s kvmSregs
	if e := ioctlPtr(c.v.fd, ioctlGetSregs, unsafe.Pointer(&s)); e != 0 {
		return fmt.Errorf("KVM_GET_SREGS: %v", e)
	}
	if s.CS.Selector != kernelCS || s.CS.DPL != 0 || s.CS.L != 1 {
		return fmt.Errorf("the syscall exit is not in 64-bit ring 0: cs %#x dpl %d l %d", s.CS.Selector, s.CS.DPL, s.CS.L)
	}
	regs.SetReturn(0x5a5a)
	if err := run("second syscall", unix.SYS_EXIT, selfTestCodeAddr+17); err != nil {
		return err
	}
	if regs.Rbx != 0x5a5a {
		return fmt.Errorf("the return value did not reach ring 3: rbx %#x, want 0x5a5a", regs.Rbx)
	}
	logrus.Debugf("kvm: self-test passed: set-up %v, guest %v", setupDone.Sub(start), time.Since(setupDone))
	return nil
}

// selfTestError marks an error that already says "kvm: ...".
type selfTestError struct{ error }

func (e selfTestError) Unwrap() error { return e.error }

func isSelfTestError(err error) bool {
	var s selfTestError
	return errors.As(err, &s)
}
