package systrap

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/runsc-lite/runsc-lite/platform"
	"github.com/runsc-lite/runsc-lite/platform/ptrace"
	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// siginfo codes and offsets.
const (
	segvMapErr = 1
	segvAccErr = 2
	siKernel   = 0x80
	sysSeccomp = 1

	siSigno    = 0
	siCode     = 8
	siAddr     = 16 // si_addr; si_call_addr for SIGSYS
	siArch     = 28
	siginfoLen = 128
)

// struct ucontext / sigcontext_64 offsets.
const (
	ucStack    = 16
	ucMcontext = 40
	ucSigmask  = ucMcontext + 256
	ucLen      = ucSigmask + 8

	scR8      = 0
	scRdi     = 64
	scRsi     = 72
	scRbp     = 80
	scRbx     = 88
	scRdx     = 96
	scRax     = 104
	scRcx     = 112
	scRsp     = 120
	scRip     = 128
	scEflags  = 136
	scCS      = 144 // u16 cs, gs, fs, ss
	scErr     = 152
	scFPState = 184

	// Page-fault error code bits (sigcontext err).
	pfWrite = 1 << 1
	pfInstr = 1 << 4
)

// taskSizeMax is the host's TASK_SIZE_MAX (4-level paging): no fs or gs
// base at or above it can be set.
const taskSizeMax = 0x7ffffffff000

// FP state layout (the XSAVE area in the frame).
const (
	fxsaveSize     = 512
	fpMxcsr        = 24
	fpMxcsrMask    = 28
	fpSwBytes      = 464
	fpSwMagic1     = 0x46505853
	xsaveHeader    = 512
	xsaveHeaderLen = 64
	xfeaturesFPSSE = 0x3
)

// thread is a context's stub thread in one address space.
type thread struct {
	st *ptrace.StubThread
	as *addressSpace
	r  *region
	// state is the message page's state word.
	state *uint32
	// fsBase and gsBase are the thread's fs and gs bases; basesKnown
	// says they are known.
	fsBase, gsBase uint64
	basesKnown     bool
	// uc and info are the offsets in the region of the signal frame's
	// ucontext and siginfo while the thread is parked.
	uc, info int
	// fp and fpLen locate the frame's XSAVE area (0: none).
	fp, fpLen int
	// polls is the poll count the stub used at the event being served
	// (written with the previous resume).
	polls uint32
	// yields is the yield count it used there (the same), and
	// resumeTSC when that resume was stored, for the stub's
	// msgStubSeen.
	yields    uint32
	resumeTSC uint64

	// injector serves the context thread's mapping changes here once it
	// has made injectorAfter through the master (injector.go);
	// viaMaster counts those, noInjector says making one failed.
	injector   *ptrace.StubThread
	viaMaster  int
	noInjector bool
}

// context is a platform.Context.
type context struct {
	p *Platform

	// tid is the context's OS thread's host tid.
	tid int32

	// The following belong to the context's OS thread.
	lastAS     *addressSpace
	lastThread *thread
	threads    map[*addressSpace]*thread

	// spin decides how long Switch polls before it sleeps, and
	// stubSpin how long the stub polls for the answer before it sleeps.
	spin, stubSpin spinPolicy
	// prewakeSpin decides whether Prewake wakes a sleeping stub; its
	// verdict is published in prewakeOn for the granters that call
	// Prewake. placedAway says the stub threads are kept off the task's
	// host CPU (placeThreads): only then does a prewoken stub not land
	// beside the task thread woken with it, and Prewake act.
	prewakeSpin spinPolicy
	// yieldSpin turns the stub's yields after its poll off while the
	// stub sees its answer late in them (the host CPU it yields is
	// busy with other threads, which a futex wake would preempt).
	yieldSpin  spinPolicy
	prewakeOn  atomic.Bool
	placedAway atomic.Bool
	// parked is the thread the last Switch left parked in its handler
	// (nil: none), for Prewake; prewoken says Prewake woke it since.
	// prewakeMu serializes Prewake, which runs on a granter's thread,
	// with the owner's clearing of parked before a thread is dropped or
	// kept for another address space, so Prewake never touches a region
	// given back (and Prewake holds the thread's addressSpace.mu, which
	// Release takes to give regions back). Order: prewakeMu →
	// addressSpace.mu. (Switch does not take it: a Prewake that comes
	// after the resume finds the stub resumed and does nothing; one
	// that races with the resume can only give the stub's next poll
	// Prewake's budget and the prewake policy a sample that was the
	// stub poll's.)
	prewakeMu sync.Mutex
	parked    atomic.Pointer[thread]
	prewoken  atomic.Bool
	// hostCPU is the host CPU of the task's thread (-1: not told yet;
	// PinHostCPU). With Platform.pin, or while the sandbox's tasks hold
	// every host CPU (home), the stub threads are pinned to it;
	// otherwise, while the spin is on, they are kept off it and allowed
	// on every CPU of the sentry while it is off (placement, set by
	// placeThreads).
	hostCPU   int
	placement placement
	// home says the context runs its stubs beside the task's thread,
	// without spinning or letting the stub poll, because the sandbox's
	// other tasks hold the other host CPUs (crowded); crowd is the
	// hysteresis of that verdict. none is a policy that never spins.
	home  bool
	crowd int
	none  spinPolicy

	// pending is set by Interrupt and consumed by Switch.
	pending atomic.Bool
	// runningFD is the pidfd of the thread Switch runs, or -1, and
	// runningState its state word (set before runningFD).
	runningFD    atomic.Int32
	runningState atomic.Pointer[uint32]
	// mu serialises Interrupt's signal with the closing of pidfds.
	mu sync.Mutex
}

func newContext(p *Platform) *context {
	c := &context{p: p, tid: gettid(), threads: make(map[*addressSpace]*thread), spin: spinPolicy{max: p.spin}, hostCPU: -1}
	if p.spin > 0 {
		c.stubSpin.max = p.stubSpin
		c.prewakeSpin.max = p.prewakeSpin
		if p.stubYields > 0 && p.yieldLate > 0 {
			c.yieldSpin.max = 1 // on or off: the count is p.stubYields
		}
	}
	c.prewakeOn.Store(c.prewakeSpin.on())
	c.runningFD.Store(-1)
	return c
}

// threadFor returns the context's thread in as, made on first use.
func (c *context) threadFor(as *addressSpace) (*thread, error) {
	c.takeHandedOn()
	for oas, t := range c.threads {
		oas.mu.Lock()
		released := oas.released
		oas.mu.Unlock()
		if released {
			c.dropThread(t)
		}
	}
	t, ok := c.threads[as]
	if !ok {
		var err error
		if t, err = c.newThread(as); err != nil {
			return nil, err
		}
		c.threads[as] = t
		as.mu.Lock()
		if as.byTracer == nil {
			as.byTracer = make(map[int32]*thread)
		}
		as.byTracer[c.tid] = t
		as.mu.Unlock()
		if set, ok := c.stubCPUs(c.placement); ok {
			unix.SchedSetaffinity(int(t.st.Tid()), &set)
		}
	}
	c.lastAS, c.lastThread = as, t
	return t, nil
}

// newThread makes, sets up and parks a stub thread in as.
func (c *context) newThread(as *addressSpace) (*thread, error) {
	r, err := as.getRegion()
	if err != nil {
		return nil, err
	}
	st, err := ptrace.NewStubThread(as.AddressSpace)
	if err != nil {
		as.putRegion(r)
		return nil, err
	}
	t := &thread{st: st, as: as, r: r, state: (*uint32)(unsafe.Pointer(&r.mem[msgState]))}
	fail := func(err error) (*thread, error) {
		st.Kill()
		st.Close()
		as.putRegion(r)
		return nil, err
	}
	if err := c.setupThread(t); err != nil {
		return fail(err)
	}
	if err := t.wait(&c.spin, nil); err != nil {
		return fail(fmt.Errorf("systrap: new stub thread %d: %w", st.Tid(), err))
	}
	return t, nil
}

// setupThread maps t's region, sets its signal stack and its second
// filter, and starts it at the bootstrap.
func (c *context) setupThread(t *thread) error {
	r, st := t.r, t.st
	clear(r.mem[:pageSize])
	if !r.mapped {
		if _, err := st.Inject(unix.SYS_MMAP, r.addr(), regionSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_FIXED, ptrace.StubMemFD, uintptr(r.fr.Start)); err != nil {
			return fmt.Errorf("systrap: mapping a region: %w", err)
		}
		r.mapped = true
	}
	le := binary.LittleEndian
	setup := r.mem[msgSetup:]
	// stack_t { ss_sp, ss_flags, ss_size } at +0; struct sock_fprog at
	// +64 and its program at +80.
	le.PutUint64(setup[0:], uint64(r.addr()+pageSize))
	le.PutUint64(setup[16:], regionSize-pageSize)
	setupAddr := r.addr() + msgSetup
	if _, err := st.Inject(unix.SYS_SIGALTSTACK, setupAddr, 0); err != nil {
		return fmt.Errorf("systrap: sigaltstack: %w", err)
	}
	prog, err := threadFilter()
	if err != nil {
		return err
	}
	le.PutUint16(setup[64:], uint16(len(prog)))
	le.PutUint64(setup[72:], uint64(setupAddr+80))
	for i, ins := range prog {
		b := setup[80+8*i:]
		le.PutUint16(b[0:], ins.OpCode)
		b[2] = ins.JumpIfTrue
		b[3] = ins.JumpIfFalse
		le.PutUint32(b[4:], ins.K)
	}
	if _, err := st.Inject(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, setupAddr+64); err != nil {
		return fmt.Errorf("systrap: the thread's seccomp filter: %w", err)
	}
	clear(setup[:pageSize-msgSetup])
	var regs arch.Registers
	regs.Rip, regs.Rax = stubCodeBase+stubBootstrap, unix.SYS_GETPID
	if err := st.Detach(&regs); err != nil {
		return err
	}
	// The thread was made in group-stop (ptrace hands threads over
	// that way): untraced it stays stopped until a SIGCONT.
	if err := unix.PidfdSendSignal(st.Pidfd(), unix.SIGCONT, nil, 0); err != nil {
		return fmt.Errorf("systrap: SIGCONT: %w", err)
	}
	return nil
}

// interruptGrace is how long a stub thread may leave an interrupt
// unanswered before it is killed. A thread that runs with the host
// signals the sentry sets never does: only application code that loaded
// a signal mask of its own with a forged rt_sigreturn (through the stub's
// restorer) can, to keep its sandbox CPU; its process dies instead.
const interruptGrace = 5 * time.Second

// wait waits until the thread reports an event (the state word turns
// "event"), polling spin times first, then sleeping on the word with a
// timeout after which it checks that the thread lives. With pending (the
// context's interrupt flag) set for longer than interruptGrace the thread
// is killed. It records the frame's location.
func (t *thread) wait(sp *spinPolicy, pending *atomic.Bool) error {
	if d := sp.budget(); d > 0 {
		deadline := nanotime() + int64(d)
		for i := 0; ; i++ {
			if atomic.LoadUint32(t.state) == stateEvent {
				sp.record(true)
				return t.parked()
			}
			procyield()
			if i%16 == 15 && nanotime() > deadline {
				break
			}
		}
		sp.record(false)
	}
	// From here on the stub must wake us. Go's atomic store is an xchg,
	// a full barrier before the loads of the state word below (the stub
	// orders its store of the state and its load of this flag the same
	// way).
	waiting := (*uint32)(unsafe.Pointer(&t.r.mem[msgSentryWaiting]))
	atomic.StoreUint32(waiting, 1)
	slept := false
	defer atomic.StoreUint32(waiting, 0)
	ts := unix.Timespec{Nsec: 50 * 1000 * 1000}
	var interrupted time.Time
	for {
		v := atomic.LoadUint32(t.state)
		if v == stateEvent {
			return t.parked()
		}
		if !slept {
			slept = true
			platform.Counts.SentrySleeps.Add(1)
		}
		_, _, e := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(t.state)), linux.FUTEX_WAIT, uintptr(v), uintptr(unsafe.Pointer(&ts)), 0, 0)
		switch e {
		case 0, unix.EAGAIN, unix.EINTR:
		case unix.ETIMEDOUT:
			if atomic.LoadUint32(t.state) == stateEvent {
				continue
			}
			if t.st.Exited() {
				return platform.ErrContextDead
			}
			if pending == nil || !pending.Load() {
				interrupted = time.Time{}
				continue
			}
			if interrupted.IsZero() {
				interrupted = time.Now()
			} else if time.Since(interrupted) > interruptGrace {
				logrus.Warnf("systrap: stub thread %d left an interrupt unanswered for %v: killing it", t.st.Tid(), interruptGrace)
				unix.PidfdSendSignal(t.st.Pidfd(), unix.SIGKILL, nil, 0)
				return platform.ErrContextDead
			}
		default:
			return fmt.Errorf("systrap: futex wait: %v", e)
		}
	}
}

// regionOffset turns a stub address reported in the message page into
// an offset in the region, checking that [addr, addr+n) lies in its
// signal stack.
func (t *thread) regionOffset(addr uint64, n int) (int, bool) {
	base := uint64(t.r.addr())
	if addr < base+pageSize || addr >= base+regionSize || addr+uint64(n) > base+regionSize {
		return 0, false
	}
	return int(addr - base), true
}

// parked records where the frame of the event just reported is. The
// message page is the application's to write too: what it says is
// checked.
func (t *thread) parked() error {
	le := binary.LittleEndian
	m := t.r.mem
	uc, ok1 := t.regionOffset(le.Uint64(m[msgUcontext:]), ucLen)
	info, ok2 := t.regionOffset(le.Uint64(m[msgSiginfo:]), siginfoLen)
	if !ok1 || !ok2 {
		return fmt.Errorf("systrap: stub thread %d reported a frame outside its signal stack", t.st.Tid())
	}
	t.uc, t.info = uc, info
	t.fp, t.fpLen = 0, 0
	if fp, ok := t.regionOffset(le.Uint64(m[uc+ucMcontext+scFPState:]), fxsaveSize); ok {
		n := fxsaveSize
		if le.Uint32(m[fp+fpSwBytes:]) == fpSwMagic1 {
			n = int(le.Uint32(m[fp+fpSwBytes+16:])) // xstate_size
		}
		if _, ok := t.regionOffset(uint64(t.r.addr())+uint64(fp), n); ok && n >= fxsaveSize {
			t.fp, t.fpLen = fp, n
		}
	}
	return nil
}

// resume sets the state word to "resume" and wakes the stub if it may
// be asleep, telling it how many times to poll for the answer at its
// next event (sp's budget). Go's atomic store is an xchg: a full barrier
// between the store of the state and the load of msgStubWaiting (the
// stub orders them the other way), so either the stub sees "resume" or
// we see it waiting. A stub that was still polling counts as a hit of
// sp, one that slept after polling as a miss. The stub polls only while
// the sentry's own spin (sentry) is on: where that misses, the host is
// loaded and a polling stub would take a CPU that runnable threads need.
func (t *thread) resume(c *context, sp, sentry *spinPolicy) {
	var polls uint32
	if sentry.on() {
		polls = c.p.polls(sp.budget())
	}
	// The last resume, if the stub saw it during its yields: did they
	// pay? (Its store came before its event, which we have seen.)
	seenp := (*uint64)(unsafe.Pointer(&t.r.mem[msgStubSeen]))
	if seen := atomic.LoadUint64(seenp); seen != 0 {
		atomic.StoreUint64(seenp, 0)
		platform.Counts.StubYieldCatches.Add(1)
		late := seen-t.resumeTSC > c.p.yieldLate
		if late {
			platform.Counts.StubYieldsLate.Add(1)
		}
		c.yieldSpin.record(!late)
	}
	var yields uint32
	if polls > 0 && c.yieldSpin.budget() > 0 {
		yields = c.p.stubYields
	}
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&t.r.mem[msgStubPolls])), polls)
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&t.r.mem[msgStubYields])), yields)
	t.resumeTSC = rdtsc()
	atomic.StoreUint32(t.state, stateResume)
	woke := atomic.LoadUint32((*uint32)(unsafe.Pointer(&t.r.mem[msgStubWaiting]))) != 0
	// slept: the futex wake found the stub asleep (not merely on its way
	// out of a wake already made, which costs this call but no host
	// wake-up).
	slept := false
	if woke {
		platform.Counts.StubWakes.Add(1)
		n, _, _ := unix.RawSyscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(t.state)), linux.FUTEX_WAKE, 1, 0, 0, 0)
		slept = n != 0
		if t.yields > 0 && !c.prewoken.Load() {
			// Its yields ran out before the answer came (a long
			// block): a switch of the host CPU's other threads
			// each, for nothing.
			c.yieldSpin.record(false)
		}
	}
	switch {
	case c.prewoken.Load() && c.prewoken.Swap(false):
		// The stub polled on Prewake's budget, not on t.polls: its
		// outcome is the prewake's. A stub that had not slept again
		// since Prewake's wake is a hit: its wake-up overlapped the
		// task's.
		c.prewakeSpin.record(!slept)
		c.prewakeOn.Store(c.prewakeSpin.on())
		if slept {
			platform.Counts.PrewakeMisses.Add(1)
		}
	case t.polls > 0:
		sp.record(!woke)
		if woke {
			platform.Counts.StubPollMisses.Add(1)
		}
	}
	if woke && c.prewakeSpin.off > 0 {
		// A wake Prewake would have made: one of the waits its policy
		// sits out.
		c.prewakeSpin.budget()
		c.prewakeOn.Store(c.prewakeSpin.on())
	}
	t.polls, t.yields = polls, yields
}

// Prewake implements kernel.Prewaker (kernel/handoff.go): the task is
// being granted a CPU, so its host thread is being woken, and the stub
// thread it will resume first (the one its last Switch left parked) may
// be asleep in the handler since the task blocked. Waking it now, with a
// poll budget of Platform.prewakeSpin, lets the stub's wake-up overlap the
// task thread's: when the task's Switch stores "resume" the stub is
// polling and needs no futex wake, which it would otherwise get only then,
// a second host wake-up on the task's path. (The handler polls again
// after every futex wake, whatever woke it: no stub code is involved.) It
// acts only while the stub threads are kept off the task's host CPU
// (placedAway: the spin is on), where the woken stub does not land beside
// the thread woken with it, and its own policy (prewakeSpin, as the
// stub's poll) turns it off while the stub's budget runs out before the
// task resumes it.
// Called by another thread than the context's, right after the task's
// thread was woken: the task may be running already (prewakeMu and the
// checks below make that harmless).
func (c *context) Prewake() {
	if !c.prewakeOn.Load() || !c.placedAway.Load() || c.parked.Load() == nil {
		return
	}
	c.prewakeMu.Lock()
	defer c.prewakeMu.Unlock()
	t := c.parked.Load()
	if t == nil {
		return
	}
	// A released address space gives its regions back (Release, after
	// it sets released under as.mu): held, as.mu keeps t's region.
	t.as.mu.Lock()
	defer t.as.mu.Unlock()
	if t.as.released || atomic.LoadUint32((*uint32)(unsafe.Pointer(&t.r.mem[msgStubWaiting]))) == 0 ||
		atomic.LoadUint32(t.state) != stateEvent {
		// Not asleep: still polling, or already resumed.
		return
	}
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&t.r.mem[msgStubPolls])), c.p.polls(c.p.prewakeSpin))
	// No yields after it: their policy is the context's own thread's.
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&t.r.mem[msgStubYields])), 0)
	c.prewoken.Store(true)
	platform.Counts.StubPrewakes.Add(1)
	unix.RawSyscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(t.state)), linux.FUTEX_WAKE, 1, 0, 0, 0)
}

// Switch implements platform.Context.Switch.
func (c *context) Switch(pas platform.AddressSpace, regs *arch.Registers) (platform.Stop, error) {
	as, ok := pas.(*addressSpace)
	if !ok {
		return platform.Stop{}, fmt.Errorf("systrap: Switch into a foreign address space %T", pas)
	}
	t := c.lastThread
	if as != c.lastAS || t == nil {
		var err error
		if t, err = c.threadFor(as); err != nil {
			return platform.Stop{}, err
		}
	}
	// What was left to the address space's first use: a fork's
	// pre-map, a recycling's unmaps (the old program's mappings).
	if ptrace.HasDeferred(as.AddressSpace) {
		// An injector for it (injector.go), which a fork+exit
		// loop's children then pass on (RecycleAfter).
		as.beforeMapping(true)
	}
	if err := ptrace.ApplyDeferred(as.AddressSpace); err != nil {
		logrus.WithError(err).Warn("systrap: Switch")
		return platform.Stop{}, platform.ErrContextDead
	}
	c.runningState.Store(t.state)
	c.runningFD.Store(int32(t.st.Pidfd()))
	if c.pending.Load() && c.pending.Swap(false) {
		c.runningFD.Store(-1)
		return platform.Stop{Kind: platform.StopInterrupt}, nil
	}
	stop, err := c.run(t, regs)
	c.runningFD.Store(-1)
	platform.Counts.Stops.Add(1)
	if err == nil {
		c.parked.Store(t)
	} else {
		c.parked.Store(nil)
	}
	return stop, err
}

// run is the body of Switch.
func (c *context) run(t *thread, regs *arch.Registers) (platform.Stop, error) {
	if regs.Fs_base >= taskSizeMax || regs.Gs_base >= taskSizeMax {
		// arch_prctl refuses such a base, as PTRACE_SETREGS does on
		// ptrace: what the application would get from a real kernel
		// is a SIGSEGV.
		return platform.Stop{Kind: platform.StopFault, Signo: int(unix.SIGSEGV), Code: siKernel}, nil
	}
	t.setRegs(regs)
	for {
		c.crowded()
		if c.hostCPU >= 0 && c.wantPlacement() != c.placement {
			c.placeThreads()
		}
		sentry := &c.spin
		if c.home {
			sentry = &c.none
		}
		t.resume(c, &c.stubSpin, sentry)
		if c.pending.Load() {
			// An Interrupt that found the stub parked left the
			// signal to the resume (Interrupt).
			c.signalRunning()
		}
		if err := t.wait(sentry, &c.pending); err != nil {
			return platform.Stop{}, err
		}
		m := t.r.mem
		le := binary.LittleEndian
		info := m[t.info:]
		signo := int32(le.Uint32(info[siSigno:]))
		code := int32(le.Uint32(info[siCode:]))
		switch unix.Signal(signo) {
		case interruptSignal:
			if c.pending.Swap(false) {
				t.getRegs(regs)
				return platform.Stop{Kind: platform.StopInterrupt}, nil
			}
			// An interrupt already reported (by an earlier event or
			// Switch's own look at pending): a round trip for
			// nothing.
			platform.Counts.StaleInterrupts.Add(1)
			continue
		case unix.SIGSYS:
			if code != sysSeccomp {
				continue
			}
			t.getRegs(regs)
			call := le.Uint64(info[siAddr:])
			if inStubPage(call - 2) {
				// The application jumped to a syscall
				// instruction of the stub.
				return stubPageFault(regs, call-2), nil
			}
			if call&^(pageSize-1) == ptrace.VsyscallBase {
				// A call into the vsyscall page, whose
				// emulation the filter trapped after it
				// emulated a ret: report the fetch fault a
				// kernel without the emulation would.
				if regs.Rip != call {
					regs.Rip = call
					regs.Rsp -= 8
				}
				return platform.Stop{Kind: platform.StopFault, Signo: int(unix.SIGSEGV), Code: segvMapErr, Addr: uintptr(call), Access: hostarch.Execute}, nil
			}
			// The trap rolled rax back to the syscall number, all
			// 64 bits of it (si_syscall has only the low 32).
			regs.Orig_rax = regs.Rax
			regs.Rax = ^uint64(unix.ENOSYS) + 1
			return platform.Stop{Kind: platform.StopSyscall, Syscall32: le.Uint32(info[siArch:]) != linux.AUDIT_ARCH_X86_64}, nil
		case unix.SIGSEGV, unix.SIGBUS, unix.SIGFPE, unix.SIGILL, unix.SIGTRAP:
			if code <= 0 {
				// Sent by a process, not raised by the
				// application.
				continue
			}
			t.getRegs(regs)
			if inStubPage(regs.Rip) || (signo == int32(unix.SIGTRAP) && inStubPage(regs.Rip-1)) {
				at := regs.Rip
				if signo == int32(unix.SIGTRAP) && inStubPage(at-1) {
					at--
				}
				return stubPageFault(regs, at), nil
			}
			return t.fault(regs, signo, code), nil
		}
		// Anything else is not the application's doing.
	}
}

// inStubPage reports whether addr is in the stub page.
func inStubPage(addr uint64) bool {
	return addr >= ptrace.StubBase && addr < ptrace.StubBase+pageSize
}

// stubPageFault reports the application's arrival at address at in the
// stub page, where its address space has nothing mapped, as an
// instruction fetch fault there (as the ptrace platform does).
func stubPageFault(regs *arch.Registers, at uint64) platform.Stop {
	regs.Rip = at
	regs.Orig_rax = ^uint64(0)
	return platform.Stop{Kind: platform.StopFault, Signo: int(unix.SIGSEGV), Code: segvMapErr, Addr: uintptr(at), Access: hostarch.Execute}
}

// fault decodes a fault of the application from the frame.
func (t *thread) fault(regs *arch.Registers, signo, code int32) platform.Stop {
	m := t.r.mem
	le := binary.LittleEndian
	stop := platform.Stop{
		Kind:  platform.StopFault,
		Signo: int(signo),
		Code:  code,
		Addr:  uintptr(le.Uint64(m[t.info+siAddr:])),
	}
	switch unix.Signal(signo) {
	case unix.SIGSEGV:
		// The frame carries the page-fault error code.
		errCode := le.Uint64(m[t.uc+ucMcontext+scErr:])
		switch {
		case code != segvMapErr && code != segvAccErr:
			stop.Access = hostarch.Read
		case errCode&pfInstr != 0:
			stop.Access = hostarch.Execute
		case errCode&pfWrite != 0:
			stop.Access = hostarch.Write
		default:
			stop.Access = hostarch.Read
		}
	case unix.SIGBUS:
		stop.Access = hostarch.Read
	}
	return stop
}

// setRegs writes regs into the parked thread's frame.
func (t *thread) setRegs(regs *arch.Registers) {
	m := t.r.mem
	le := binary.LittleEndian
	sc := m[t.uc+ucMcontext:]
	gp := [...]uint64{
		regs.R8, regs.R9, regs.R10, regs.R11, regs.R12, regs.R13, regs.R14, regs.R15,
		regs.Rdi, regs.Rsi, regs.Rbp, regs.Rbx, regs.Rdx, regs.Rax, regs.Rcx, regs.Rsp, regs.Rip, regs.Eflags,
	}
	for i, v := range gp {
		le.PutUint64(sc[8*i:], v)
	}
	// cs, gs, fs, ss
	le.PutUint16(sc[scCS:], arch.UserCS)
	le.PutUint16(sc[scCS+2:], 0)
	le.PutUint16(sc[scCS+4:], 0)
	le.PutUint16(sc[scCS+6:], arch.UserSS)
	// The host signal mask the application runs with: none.
	le.PutUint64(m[t.uc+ucSigmask:], 0)
	var set uint32
	if !t.basesKnown || t.fsBase != regs.Fs_base {
		le.PutUint64(m[msgFSBase:], regs.Fs_base)
		set |= 1
	}
	if !t.basesKnown || t.gsBase != regs.Gs_base {
		le.PutUint64(m[msgGSBase:], regs.Gs_base)
		set |= 2
	}
	if set != 0 {
		le.PutUint32(m[msgSetBase:], set)
		t.fsBase, t.gsBase, t.basesKnown = regs.Fs_base, regs.Gs_base, true
	}
}

// getRegs reads the registers from the parked thread's frame.
func (t *thread) getRegs(regs *arch.Registers) {
	m := t.r.mem
	le := binary.LittleEndian
	sc := m[t.uc+ucMcontext:]
	gp := [...]*uint64{
		&regs.R8, &regs.R9, &regs.R10, &regs.R11, &regs.R12, &regs.R13, &regs.R14, &regs.R15,
		&regs.Rdi, &regs.Rsi, &regs.Rbp, &regs.Rbx, &regs.Rdx, &regs.Rax, &regs.Rcx, &regs.Rsp, &regs.Rip, &regs.Eflags,
	}
	for i, p := range gp {
		*p = le.Uint64(sc[8*i:])
	}
	regs.Cs, regs.Ss = arch.UserCS, arch.UserSS
	regs.Ds, regs.Es, regs.Fs, regs.Gs = 0, 0, 0, 0
	regs.Orig_rax = ^uint64(0)
	regs.Fs_base, regs.Gs_base = t.fsBase, t.gsBase
}

// Interrupt implements platform.Context.Interrupt. A running thread
// parked in its handler (its state word says "event": it reported an
// event the Switch has not answered yet) gets no signal: the Switch
// returns that event and the task's next Switch sees pending before it
// runs anything, while a signal would wait, blocked in the handler, for
// the resume and cost a round trip of its own (a stale interrupt; a
// softirq's kick often lands while the stub is parked during a stream).
// The store of pending and the load of the state word are ordered as in
// a Dekker pair with Switch's store of "resume" and its load of pending
// after it (both sequentially consistent): either this sees "resume" and
// signals, or the Switch sees pending and signals (signalRunning).
func (c *context) Interrupt() {
	c.pending.Store(true)
	if c.runningFD.Load() < 0 {
		return
	}
	c.mu.Lock()
	if fd := c.runningFD.Load(); fd >= 0 {
		if st := c.runningState.Load(); st == nil || atomic.LoadUint32(st) != stateEvent {
			unix.PidfdSendSignal(int(fd), interruptSignal, nil, 0)
		}
	}
	c.mu.Unlock()
}

// signalRunning sends the interrupt signal to the running thread.
// Preconditions: called by the context's owning thread in Switch.
func (c *context) signalRunning() {
	c.mu.Lock()
	if fd := c.runningFD.Load(); fd >= 0 {
		unix.PidfdSendSignal(int(fd), interruptSignal, nil, 0)
	}
	c.mu.Unlock()
}

// dropThread kills t and lets go of it.
func (c *context) dropThread(t *thread) {
	c.unpark()
	t.as.mu.Lock()
	if t.as.byTracer[c.tid] == t {
		delete(t.as.byTracer, c.tid)
	}
	t.as.mu.Unlock()
	if t.injector != nil {
		t.injector.Kill()
		t.injector.Close()
		t.injector = nil
	}
	t.st.Kill()
	c.mu.Lock()
	t.st.Close()
	c.mu.Unlock()
	t.as.putRegion(t.r)
	delete(c.threads, t.as)
	if c.lastThread == t {
		c.lastAS, c.lastThread = nil, nil
	}
}

var _ platform.RecyclableContext = (*context)(nil)

// Recycle implements platform.RecyclableContext.Recycle: the context
// keeps its stub threads, parked in the handler, for the next task of the
// same address space started on this OS thread (kernel/hostthread.go),
// whose first Switch then makes no stub thread (a master request, a
// clone, a seize, the set-up injections and a detach on ptrace's side)
// and whose exit kills none. The new task's Switch writes every register
// into the parked frame; its FP state is set through SetFPState before.
// An interrupt meant for the old task is forgotten; a SIGURG of it still
// in flight is reported by the handler with pending clear and ignored.
func (c *context) Recycle() bool {
	c.pending.Store(false)
	// The parked thread stays Prewake's: the next task of this address
	// space resumes it, and Prewake checks the address space is alive.
	return true
}

// unpark clears what Prewake may wake, waiting for a Prewake under way.
// Preconditions: called by the context's owning thread.
func (c *context) unpark() {
	if c.parked.Load() == nil {
		return
	}
	c.prewakeMu.Lock()
	c.parked.Store(nil)
	c.prewakeMu.Unlock()
}

var _ platform.HandOnContext = (*context)(nil)

// RecycleAfter implements platform.HandOnContext.RecycleAfter: the
// context's parked stub thread in as, with its region (index 0: a
// process's first), stays alive when as is released and its stub recycled
// (ptrace.StubThread.KeepForSuccessor), and serves the address space the
// stub serves next (NewAddressSpace adopts the region): a fork's child in
// a fork+exit+wait loop then makes no stub thread (a master request, a
// clone, a seize, three set-up injections and a detach) and kills none.
// Its injector, traced by this OS thread, goes with it where the stub is
// recycled at once (ptrace's recycleHere; takeHandedOn finds out), so
// that the child's first mapping changes (the recycling's unmaps with its
// pre-map, an execve's) are injected from this thread, as on ptrace,
// instead of going through the master twice and then making an injector
// (a master request, a clone and a seize) per process.
func (c *context) RecycleAfter(pas platform.AddressSpace) bool {
	as, ok := pas.(*addressSpace)
	if !ok {
		return false
	}
	// Nothing is parked for Prewake until the next task's first Switch:
	// the kept thread's region goes to the stub's next address space.
	c.unpark()
	t := c.threads[as]
	if t == nil || t.r.index != 0 || !t.r.mapped || t.uc < pageSize+8 {
		// (No parked frame to keep: scrub needs one.)
		return false
	}
	as.mu.Lock()
	if as.released || as.kept != nil {
		as.mu.Unlock()
		return false
	}
	as.kept = t
	as.mu.Unlock()
	if !t.st.KeepForSuccessor(t.r.addr(), regionSize, t.r.fr, t.injector) {
		as.mu.Lock()
		as.kept = nil
		as.mu.Unlock()
		return false
	}
	t.scrub()
	// viaMaster stays: the thread stays in the same stub process, and
	// its successor's changes go through the master as its own did.
	t.noInjector = false
	as.mu.Lock()
	if as.byTracer[c.tid] == t {
		delete(as.byTracer, c.tid)
	}
	as.mu.Unlock()
	c.pending.Store(false)
	return true
}

// scrub clears what t's region holds of the task that ran last in it:
// its registers, fault details and signal mask in the parked frame, the
// siginfo, the FP and vector registers, its fs and gs bases in the
// message page, and every other byte of the signal stack. A kept thread's
// region stays mapped, readable and writable, in whichever address space
// takes the recycled stub next (RecycleAfter), which may be any process
// of the sandbox. What stays is the frame's shape the host's sigreturn
// needs (the restorer word, uc_flags and uc_stack, the fpstate pointer,
// the XSAVE area's software-reserved bytes and xcomp_bv); the next Switch
// writes a whole register set (setRegs, and the bases because basesKnown
// is false) and its FP state before the frame is returned through. The
// handler itself keeps nothing on the stack (src/stub.S).
func (t *thread) scrub() {
	m := t.r.mem
	le := binary.LittleEndian
	type span struct{ lo, hi int }
	keep := []span{{t.uc - 8, t.uc + ucLen}, {t.info, t.info + siginfoLen}}
	if t.fpLen > 0 {
		keep = append(keep, span{t.fp, t.fp + t.fpLen})
	}
	saved := make([][]byte, len(keep))
	for i, k := range keep {
		saved[i] = append([]byte(nil), m[k.lo:k.hi]...)
	}
	clear(m[pageSize:regionSize])
	for i, k := range keep {
		copy(m[k.lo:k.hi], saved[i])
	}
	// The registers through cr2 (sigcontext up to its fpstate pointer),
	// and the signal mask.
	clear(m[t.uc+ucMcontext : t.uc+ucMcontext+scFPState])
	le.PutUint64(m[t.uc+ucSigmask:], 0)
	clear(m[t.info : t.info+siginfoLen])
	if t.fpLen > 0 {
		fp := m[t.fp : t.fp+t.fpLen]
		// x87 and SSE at their initial values (FCW 0x37f, MXCSR 0x1f80;
		// MXCSR_MASK describes the CPU), every XSAVE component in its
		// initial state (XSTATE_BV 0).
		mxcsrMask := le.Uint32(fp[fpMxcsrMask:])
		clear(fp[:fpSwBytes])
		le.PutUint16(fp[0:], 0x37f)
		le.PutUint32(fp[fpMxcsr:], 0x1f80)
		le.PutUint32(fp[fpMxcsrMask:], mxcsrMask)
		if t.fpLen > fxsaveSize {
			le.PutUint64(fp[xsaveHeader:], 0)
			clear(fp[xsaveHeader+16:])
		}
	}
	le.PutUint64(m[msgFSBase:], 0)
	le.PutUint64(m[msgGSBase:], 0)
	le.PutUint32(m[msgSetBase:], 0)
	le.PutUint32(m[msgSigno:], 0)
	t.fsBase, t.gsBase, t.basesKnown = 0, 0, false
}

// takeHandedOn moves the context's threads kept in released address
// spaces (RecycleAfter) to the address spaces their stubs now serve.
func (c *context) takeHandedOn() {
	for oas, t := range c.threads {
		oas.mu.Lock()
		kept := oas.released && oas.kept == t
		oas.mu.Unlock()
		if !kept || t.st.Exited() {
			// Killed from outside meanwhile: dropped and
			// replaced as any other would be.
			continue
		}
		inner := t.st.TakeHandedOn()
		if inner == nil {
			continue
		}
		// The injector follows at once, whatever comes next: one left
		// behind would stay registered in the successor (its threads and
		// tracers) after a later Kill, forgotten only in the old space.
		if t.injector != nil && (t.injector.TakeHandedOn() != inner || t.injector.Exited()) {
			// Not handed on (the master recycled the stub, and
			// killed it) or killed meanwhile: the next changes
			// count towards a new one.
			t.injector.Kill()
			t.injector.Close()
			t.injector = nil
		}
		c.p.mu.Lock()
		nas := c.p.spaces[inner]
		c.p.mu.Unlock()
		if nas == nil {
			continue
		}
		nas.mu.Lock()
		var r *region
		if len(nas.regions) > 0 && nas.regions[0].fr == t.r.fr {
			r = nas.regions[0]
			// Its mapping changes count towards an injector as a
			// new thread's do (injector.go).
			if nas.byTracer == nil {
				nas.byTracer = make(map[int32]*thread)
			}
			nas.byTracer[c.tid] = t
		}
		nas.mu.Unlock()
		if r == nil {
			continue
		}
		delete(c.threads, oas)
		t.as, t.r = nas, r
		t.state = (*uint32)(unsafe.Pointer(&r.mem[msgState]))
		c.threads[nas] = t
		if c.lastThread == t {
			c.lastAS = nas
		}
		// placeThreads skipped it while its address space was
		// released: it may still sit where an earlier placement or
		// task's CPU put it. Under nas.mu, unless released (its
		// threads reaped, their tids free for reuse).
		if set, ok := c.stubCPUs(c.placement); ok {
			nas.mu.Lock()
			if !nas.released {
				unix.SchedSetaffinity(int(t.st.Tid()), &set)
			}
			nas.mu.Unlock()
		}
	}
}

// Release implements platform.Context.Release.
func (c *context) Release() {
	c.takeHandedOn()
	for _, t := range c.threads {
		c.dropThread(t)
	}
	c.lastAS, c.lastThread = nil, nil
}

// fpThread returns the context's parked thread in pas.
func (c *context) fpThread(pas platform.AddressSpace) (*thread, error) {
	return ptrace.FPThread("systrap", pas, c.lastAS, c.lastThread, c.threadFor)
}

// FPState implements platform.FPStateContext.FPState: the XSAVE area of
// the parked thread's signal frame.
func (c *context) FPState(pas platform.AddressSpace) ([]byte, error) {
	t, err := c.fpThread(pas)
	if err != nil {
		return nil, err
	}
	if t.fpLen == 0 {
		return nil, fmt.Errorf("systrap: stub thread %d: no FP state in its frame", t.st.Tid())
	}
	return append([]byte(nil), t.r.mem[t.fp:t.fp+t.fpLen]...), nil
}

// SetFPState implements platform.FPStateContext.SetFPState.
func (c *context) SetFPState(pas platform.AddressSpace, state []byte) error {
	t, err := c.fpThread(pas)
	if err != nil {
		return err
	}
	if t.fpLen == 0 {
		return fmt.Errorf("systrap: stub thread %d: no FP state in its frame", t.st.Tid())
	}
	le := binary.LittleEndian
	if len(state) != fxsaveSize && len(state) != t.fpLen {
		return platform.ErrInvalidFPState
	}
	mask := le.Uint32(state[fpMxcsrMask:])
	if mask == 0 {
		mask = 0xffbf
	}
	if le.Uint32(state[fpMxcsr:])&^mask != 0 {
		return platform.ErrInvalidFPState
	}
	dst := t.r.mem[t.fp : t.fp+t.fpLen]
	xsave := t.fpLen > fxsaveSize
	if xsave && len(state) > fxsaveSize {
		features := le.Uint64(dst[fpSwBytes+8:])
		hdr := state[xsaveHeader : xsaveHeader+xsaveHeaderLen]
		if le.Uint64(hdr[0:])&^features != 0 || le.Uint64(hdr[8:]) != 0 {
			return platform.ErrInvalidFPState
		}
		for _, b := range hdr[16:] {
			if b != 0 {
				return platform.ErrInvalidFPState
			}
		}
	}
	// The software-reserved bytes describe the frame to the host's
	// sigreturn: they stay the host's.
	copy(dst[:fpSwBytes], state[:fpSwBytes])
	if len(state) > fxsaveSize {
		copy(dst[fxsaveSize:], state[fxsaveSize:])
	} else if xsave {
		// A legacy area: x87 and SSE from it, every other component
		// in its initial state.
		hdr := dst[xsaveHeader : xsaveHeader+xsaveHeaderLen]
		clear(hdr)
		le.PutUint64(hdr, xfeaturesFPSSE)
	}
	return nil
}

// PinHostCPU implements platform.HostCPUPinner: cpu is the host CPU the
// task's thread runs on. The context's stub threads, and any it makes
// later, are placed by it (stubCPUs): with Platform.pin
// (RUNSC_LITE_SYSTRAP_PIN=1, for measurements) on cpu itself, and the
// context never spins (the stub could not run meanwhile): a round trip is
// two futex hand-offs on one CPU. Otherwise, while the context spins, on
// every other CPU of the sentry's: a stub that the host scheduler put on
// the waiting thread's CPU cannot answer during the spin, which then costs
// its whole budget and the stub's poll on every round trip
// (ARCHITECTURE.md, "The systrap platform", Spin); once the spin is off
// (the other CPUs are busy), anywhere, as before.
// Preconditions: called by the context's owning thread.
func (c *context) PinHostCPU(cpu int) error {
	if cpu == c.hostCPU {
		return nil
	}
	c.hostCPU = cpu
	if c.p.pin {
		c.spin.max, c.stubSpin.max, c.prewakeSpin.max = 0, 0, 0
		c.prewakeOn.Store(false)
	}
	return c.placeThreads()
}

// placement is where a context's stub threads may run.
type placement int

const (
	// placeAny: every host CPU of the sentry's (the spin is off).
	placeAny placement = iota
	// placeAway: every one but the task's (the spin is on).
	placeAway
	// placeHome: the task's only (Platform.pin, or home).
	placeHome
)

// crowdMax is how far the crowd score goes: a context turns home after
// that many more crowded than uncrowded samples, and back after as many
// the other way.
const crowdMax = 16

// crowded samples whether the sandbox's tasks hold every host CPU
// (Platform.hostCPUsBusy), at each resume, and turns home on or off
// with hysteresis. Home, the stub threads are pinned to the task's host
// CPU and neither side polls: a round trip is two futex hand-offs on one
// CPU, as on ptrace, and takes no time from the task that holds the
// other CPU. Spinning there, the sentry thread polls on its CPU while
// the stub runs on the other's, so each polls on a CPU that another task
// of the sandbox needs: with two tasks busy on two CPUs (a TCP stream,
// make -j2) each spin takes its CPU from the other task's thread or stub
// (ARCHITECTURE.md, "The systrap platform", Home).
func (c *context) crowded() {
	f := c.p.hostCPUsBusy.Load()
	if f == nil || c.hostCPU < 0 || c.p.pin || c.p.spin == 0 {
		return
	}
	if (*f)() {
		if c.crowd < crowdMax {
			c.crowd++
		}
		if c.crowd == crowdMax && !c.home {
			c.home = true
			platform.Counts.HomeTurns.Add(1)
		}
	} else {
		if c.crowd > 0 {
			c.crowd--
		}
		if c.crowd == 0 {
			c.home = false
		}
	}
}

// wantPlacement returns where the stub threads belong now.
func (c *context) wantPlacement() placement {
	switch {
	case c.p.pin || c.home:
		return placeHome
	case c.spin.on():
		return placeAway
	}
	return placeAny
}

// stubCPUs returns the host CPUs the context's stub threads may run on
// for placement pl, and false where they are not placed (before
// PinHostCPU, or when the sentry has one CPU).
func (c *context) stubCPUs(pl placement) (unix.CPUSet, bool) {
	var set unix.CPUSet
	if c.hostCPU < 0 {
		return set, false
	}
	if c.p.pin {
		set.Set(c.hostCPU)
		return set, true
	}
	set = c.p.cpus
	if set.Count() < 2 {
		return set, false
	}
	switch pl {
	case placeAway:
		set.Clear(c.hostCPU)
	case placeHome:
		set.Zero()
		set.Set(c.hostCPU)
	}
	return set, set.Count() > 0
}

// placeThreads sets the affinity of every stub thread of the context to
// stubCPUs and records whether they are kept off the task's CPU.
func (c *context) placeThreads() error {
	c.placement = c.wantPlacement()
	set, ok := c.stubCPUs(c.placement)
	c.placedAway.Store(ok && c.placement == placeAway)
	if !ok {
		return nil
	}
	var firstErr error
	for as, t := range c.threads {
		// A released address space's thread may be reaped already and
		// its tid another thread's: threadFor drops it later.
		as.mu.Lock()
		released := as.released
		as.mu.Unlock()
		if released {
			continue
		}
		if err := unix.SchedSetaffinity(int(t.st.Tid()), &set); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}
