package ptrace

import (
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/runsc-lite/runsc-lite/platform"
	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"github.com/runsc-lite/runsc-lite/sentry/memfile"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/hostarch"
)

const (
	// addrNoRandomize is personality(2)'s ADDR_NO_RANDOMIZE.
	addrNoRandomize = 0x0040000

	// stubThreadCloneFlags are the clone flags of a stub thread: a new
	// process (no CLONE_THREAD) sharing the stub's memory, files and
	// (default) signal handlers, whose real parent is the stub's parent
	// (the sentry) and which starts traced by the stub's tracer.
	stubThreadCloneFlags = unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES |
		unix.CLONE_SIGHAND | unix.CLONE_PARENT | unix.CLONE_PTRACE

	// stubPtraceOptions are the ptrace options of every traced stub.
	stubPtraceOptions = unix.PTRACE_O_EXITKILL | unix.PTRACE_O_TRACESYSGOOD

	// stubName is the comm of stub processes and threads.
	stubName = "runsc-lite-stub"

	// waitid si_code values.
	cldExited = 1
	cldKilled = 2
	cldDumped = 3
)

// stubThread is one host process running in an address space's memory: the
// stub thread of one Context in one AddressSpace.
type stubThread struct {
	tid   int32
	pidfd int
	// deaths watches pidfd until the sentry kills the thread itself.
	deaths *deathWatcher

	// refs counts the owners of pidfd: the address space (while the thread
	// is in its threads set) and the Context. The last one closes it.
	refs atomic.Int32
}

// kill sends SIGKILL to the thread. It is safe after the thread died or
// was reaped: the pidfd still names it and no other process.
func (t *stubThread) kill() {
	t.deaths.unwatch(t.pidfd)
	unix.PidfdSendSignal(t.pidfd, unix.SIGKILL, nil, 0)
}

// reap waits until the (killed) thread is dead and reaps it, unless
// someone already did. Any thread of the sentry may call it: the sentry is
// the thread's real parent (CLONE_PARENT) and its tracer.
func (t *stubThread) reap() {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PIDFD, t.pidfd, &info, unix.WEXITED|unix.WALL, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return // ECHILD: reaped already.
		}
		switch info.Code {
		case cldExited, cldKilled, cldDumped:
			return
		}
		// A ptrace stop reported on the way to death.
	}
}

func (t *stubThread) decRef() {
	if t.refs.Add(-1) == 0 {
		t.deaths.unwatch(t.pidfd)
		unix.Close(t.pidfd)
	}
}

// request is a job for an address space's master goroutine.
type request struct {
	op    int
	sysno uintptr
	args  [6]uintptr
	// clean (opFork) empties the child of the application's mappings.
	clean bool
	// run (opRun) is run with the stub process's pid.
	run   func(tid int32) (uintptr, error)
	reply chan reply
	// as is the address space the request is for (call): the master
	// refuses it once it serves another on the same stub (movedTo).
	as *addressSpace
}

const (
	opSyscall = iota
	opRun
	opNewThread
	opFork
	opShutdown
)

type reply struct {
	ret    uintptr
	thread *stubThread
	pid    int32
	err    error
}

// addressSpace is a platform.AddressSpace: a stub process, its master
// goroutine and its stub threads.
type addressSpace struct {
	p *Platform

	// pid is the stub process. It is traced by the master's OS thread.
	pid int32
	// pidfd is the stub process's pidfd, watched for its death (-1 for
	// the zygote, which no process uses).
	pidfd int
	// key names the stub process across the address spaces it serves
	// (recycle passes it on): ReuseKey. Immutable.
	key *stubKey

	// initRegs are the stub's registers right after exec: the base of
	// every injected syscall's registers. Immutable after setup.
	initRegs arch.Registers

	// requests and kick are the stub's, passed on to every address
	// space it serves (recycle, recycleHere).
	requests chan *request
	// kick asks the master for background work: a spare stub thread, or,
	// once released, the stub's recycling (pool.go). Buffered (1).
	kick chan struct{}
	// done is closed when the master stops serving this address space
	// (it exited, or moved on to the recycled stub's new address space).
	done chan struct{}
	// serving is held by the master while it works for this address
	// space (a request, a kick); recycleHere takes it to hand the stub on
	// with no work of the old address space's still under way.
	serving sync.Mutex

	mu       sync.RWMutex
	released bool
	// threads is the set of live stub threads of this address space.
	threads map[*stubThread]struct{}
	// tracers maps the host tid of a Context's OS thread to its stub
	// thread here.
	tracers map[int32]*stubThread
	// spare is a stub thread in group-stop that no Context has taken
	// yet (also in threads), or nil.
	spare *stubThread
	// taken counts the Contexts that took a stub thread here.
	taken int
	// dying are the stub threads Release killed, for the master to reap
	// while it recycles the stub.
	dying map[*stubThread]struct{}
	// dyingSpare is the untaken spare among dying.
	dyingSpare *stubThread
	// dyingBatch is the batch page Release left to the recycled stub.
	dyingBatch memfile.FileRange
	// recycling says Release left the stub to the master to recycle.
	recycling bool
	// wantSpare asks the master for a spare thread.
	wantSpare bool
	// dropped are stub threads their Contexts killed, for the master to
	// reap (reapLater).
	dropped []*stubThread
	// kept is the stub thread a Context keeps for the address space the
	// stub is recycled into (RecycleAfter), and keptTracer its tracer;
	// Release leaves it alive, in dyingKept, and recycle hands it on to
	// the successor, which it names.
	kept, dyingKept         *stubThread
	keptTracer, dyingTracer int32
	successor               *addressSpace
	// keptInj is a variant's injector (StubThread.ServeInjections) that
	// goes with kept, traced by host thread keptInjTracer: recycleHere
	// hands it on too, so the successor's mapping changes from that
	// host thread are injected into it directly. The master's recycle
	// kills it with the other threads.
	keptInj       *stubThread
	keptInjTracer int32
	// movedTo is the successor when Release recycled the stub itself
	// (recycleHere): the master, still waiting on the same channels,
	// serves it from then on.
	movedTo *addressSpace
	// keptRange and keptFR are what a variant's kept thread keeps
	// mapped above the application's range, which recycle does not
	// unmap: memory-file pages that go with the thread to the successor
	// (handedOnFR, TakeHandedOnRegion), or to the platform's orphans if
	// there is none.
	keptRange, dyingRange [2]uintptr
	keptFR, dyingFR       memfile.FileRange
	// handingOn is the kept thread Release left to the recycling.
	handingOn *stubThread
	// handedOnFR and handedOnAddr are the kept thread's pages in a
	// successor, until its variant takes them.
	handedOnFR   memfile.FileRange
	handedOnAddr uintptr

	// clones counts the stub threads cloned for this address space
	// (ThreadsCloned), not for its stub's earlier ones.
	clones atomic.Uint64

	// batchMu serialises the users of the batch page (batch.go) and
	// protects batchFR and batchMapped. It is taken before mu.
	batchMu sync.Mutex
	// batchFR is the batch page in the memory file (empty: none yet).
	batchFR memfile.FileRange
	// batchMapped says batchFR is mapped in the stub at batchPageAddr.
	batchMapped bool

	// deferMu protects deferred and deferErr and is held while they are
	// applied (batch.go); it is taken before batchMu. hasDeferred says
	// there is something to apply (or deferErr is set).
	deferMu     sync.Mutex
	deferred    []platform.MapOp
	deferErr    error
	hasDeferred atomic.Bool
	// deferredUnmap are unmaps (address, length; 0 length: none) a
	// recycling left to the address space's first use (recycleHere),
	// applied before deferred; the platform's own, some above the
	// application's range.
	deferredUnmap [][2]uintptr
}

// newAddressSpace starts an address space: the zygote when stubFD is the
// stub executable's descriptor, a fork of it when stubFD is -1.
func newAddressSpace(p *Platform, stubFD int) (*addressSpace, error) {
	as := &addressSpace{
		p:        p,
		pidfd:    -1,
		key:      &stubKey{},
		requests: make(chan *request),
		kick:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		threads:  make(map[*stubThread]struct{}),
		tracers:  make(map[int32]*stubThread),
	}
	ready := make(chan error, 1)
	go as.master(ready, stubFD)
	if err := <-ready; err != nil {
		<-as.done
		return nil, err
	}
	if stubFD < 0 {
		p.mu.Lock()
		p.spaces[as] = struct{}{}
		p.mu.Unlock()
	}
	return as, nil
}

// master is the address space's master goroutine. It is locked to its OS
// thread for good: when it returns the thread exits, and with it anything
// it still traces (PTRACE_O_EXITKILL) and every stub made since (the
// zygote's master: Pdeathsig, which the zygote's forks and every stub
// thread set too, binds them to the thread that is their real parent).
func (as *addressSpace) master(ready chan<- error, stubFD int) {
	runtime.LockOSThread()
	var err error
	if stubFD >= 0 {
		err = as.startStub(stubFD)
	} else {
		err = as.seizeForkedStub()
	}
	if err != nil {
		ready <- err
		close(as.done)
		return
	}
	ready <- nil
	for as != nil {
		as = as.serve()
	}
}

// serve runs as's requests and background work on the master goroutine
// until as shuts down (it returns nil) or its stub is recycled (it
// returns the address space the stub lives on as). An address space
// Release recycled itself (recycleHere) is followed to its successor
// without a return: the two share their channels.
func (as *addressSpace) serve() *addressSpace {
	for {
		select {
		case req := <-as.requests:
			as = as.current()
			if req.as != as {
				// For an address space the stub no longer serves.
				as.serving.Unlock()
				req.reply <- reply{err: errASReleased}
				continue
			}
			var rep reply
			switch req.op {
			case opSyscall:
				rep.ret, rep.err = injectSyscall(as.pid, &as.initRegs, req.sysno, req.args)
			case opRun:
				rep.ret, rep.err = req.run(as.pid)
			case opNewThread:
				rep.thread, rep.err = as.cloneThread(false)
			case opFork:
				rep.pid, rep.err = as.forkStub(req.clean)
			case opShutdown:
				as.killStub()
				as.serving.Unlock()
				close(as.done)
				req.reply <- rep
				return nil
			}
			as.serving.Unlock()
			req.reply <- rep
		case <-as.kick:
			as = as.current()
			as.reapDropped()
			as.mu.RLock()
			released, recycling, wantSpare := as.released, as.recycling, as.wantSpare
			as.mu.RUnlock()
			switch {
			case released && recycling:
				n := as.recycle()
				as.serving.Unlock()
				close(as.done)
				return n
			case !released && wantSpare:
				as.makeSpare()
			}
			as.serving.Unlock()
		}
	}
}

// current returns the address space the master serves: as, or the
// successor Release handed the stub to (recycleHere), followed, with its
// serving held.
// Preconditions: called on the master goroutine.
func (as *addressSpace) current() *addressSpace {
	for {
		as.serving.Lock()
		as.mu.RLock()
		n := as.movedTo
		as.mu.RUnlock()
		if n == nil {
			return as
		}
		as.serving.Unlock()
		as = n
	}
}

// recycle makes the stub of as, released, ready for another address space
// (see pool.go): it reaps the stub threads Release killed, empties the
// application range, clones a spare stub thread and offers the result to
// the pool. It returns the new address space, or nil if the stub was
// shut down instead.
// Preconditions: called on the master goroutine; as is released.
func (as *addressSpace) recycle() *addressSpace {
	as.mu.Lock()
	dying, dyingSpare, batch := as.dying, as.dyingSpare, as.dyingBatch
	as.dying, as.dyingSpare, as.dyingBatch = nil, nil, memfile.FileRange{}
	kept, keptTracer, keptRange, keptFR := as.dyingKept, as.dyingTracer, as.dyingRange, as.dyingFR
	as.dyingKept, as.dyingFR = nil, memfile.FileRange{}
	as.mu.Unlock()
	dropKept := func() {
		if kept != nil {
			kept.kill()
			kept.reap()
			kept.decRef()
			as.p.orphanBatchPage(keptFR)
		}
	}
	as.reapDropped()
	for t := range dying {
		t.reap()
		t.decRef()
		if t == dyingSpare {
			t.decRef() // no Context ever took it
		}
	}
	// The application range, and everything between the batch page
	// and the stub's scratch page: a variant's per-thread pages
	// (systrap's regions), whose memory-file pages its Release gave
	// back, so the next program must not reach them there. Plain
	// ptrace maps nothing there (the application cannot: it is above
	// maxUserAddress), and saves that injection.
	for _, r := range as.p.recycleUnmaps(kept != nil, keptRange) {
		if r[1] == 0 {
			continue
		}
		if _, err := as.masterSyscall(unix.SYS_MUNMAP, r[0], r[1]); err != nil {
			as.p.orphanBatchPage(batch)
			dropKept()
			as.killStub()
			return nil
		}
	}
	n := &addressSpace{
		p:        as.p,
		pid:      as.pid,
		pidfd:    as.pidfd,
		key:      as.key,
		initRegs: as.initRegs,
		requests: make(chan *request),
		kick:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		threads:  make(map[*stubThread]struct{}),
		tracers:  make(map[int32]*stubThread),
		// The batch page stays mapped in the stub for the next user
		// (Release emptied it).
		batchFR:     batch,
		batchMapped: batch.Length() > 0,
	}
	if kept != nil {
		// The Context that kept it switches into n with it, no spare
		// needed (RecycleAfter); it finds n through as.successor.
		n.threads[kept] = struct{}{}
		if keptTracer != 0 {
			n.tracers[keptTracer] = kept
		}
		n.handedOnAddr, n.handedOnFR = keptRange[0], keptFR
		as.p.deaths.rewatch(kept.pidfd, n)
		as.mu.Lock()
		as.successor = n
		as.mu.Unlock()
	} else if _, err := n.cloneThread(true); err != nil {
		n.killStub()
		return nil
	}
	if !as.p.offerPooled(n) {
		// Pool full or platform released: kill the threads and the
		// stub here (release would wait for this very goroutine).
		n.mu.Lock()
		n.released = true
		threads, spare := n.threads, n.spare
		n.threads, n.tracers, n.spare = nil, nil, nil
		n.mu.Unlock()
		for t := range threads {
			t.kill()
			t.reap()
			t.decRef()
			if t == spare {
				t.decRef() // no Context ever took it
			}
		}
		as.p.orphanBatchPage(n.handedOnFR)
		n.killStub()
		return nil
	}
	return n
}

// recycleUnmaps returns what recycling a stub unmaps (address, length; a
// length may be 0): the application range, and everything between the
// batch page and the stub's scratch page, a variant's per-thread pages
// (systrap's regions), whose memory-file pages its Release gave back, so
// the next program must not reach them there, but for keep (address,
// length), what a kept thread keeps, if kept. Plain ptrace maps nothing
// above the batch page (the application cannot: it is above
// maxUserAddress), and saves that unmap.
func (p *Platform) recycleUnmaps(kept bool, keep [2]uintptr) [][2]uintptr {
	ranges := [][2]uintptr{{0, maxUserAddress}, {batchPageAddr + pageSize, stubScratch - batchPageAddr - pageSize}}
	if p.variant.Code == nil {
		return ranges[:1]
	}
	if kept && keep[1] > 0 {
		// Around what the kept thread keeps.
		ranges = [][2]uintptr{{0, maxUserAddress}, {batchPageAddr + pageSize, keep[0] - batchPageAddr - pageSize}, {keep[0] + keep[1], stubScratch - keep[0] - keep[1]}}
	}
	return ranges
}

// stubKey names a stub process for platform.ReuseKey.
type stubKey struct{ _ byte }

// ReuseKey names the stub process of as, the same for every address space
// it serves: a task in one may run on the host thread whose Context kept
// its stub thread when the last task of an earlier one exited
// (RecycleAfter).
func (as *addressSpace) ReuseKey() any { return as.key }

// keepForSuccessor records that t, the stub thread of the Context of host
// thread tracer (0: a variant's untraced thread), stays alive for the
// address space the stub is recycled into, with keep (address, length)
// above the application's range left mapped and fr, the memory-file pages
// mapped there, going with it, if as will be recycled and keeps no other
// thread so. inj, if not nil, is a variant's injector traced by host
// thread injTracer, to be handed on with t where the stub is recycled at
// Release (recycleHere).
func (as *addressSpace) keepForSuccessor(t *stubThread, tracer int32, keep [2]uintptr, fr memfile.FileRange, inj *stubThread, injTracer int32) bool {
	if as.pidfd < 0 || !as.p.poolHasRoom() {
		return false
	}
	if keep[1] > 0 && (keep[0] <= batchPageAddr || keep[0]+keep[1] > stubScratch || keep[0]%pageSize != 0 || keep[1]%pageSize != 0) {
		return false
	}
	as.mu.Lock()
	defer as.mu.Unlock()
	if _, ok := as.threads[t]; as.released || as.kept != nil || !ok || (tracer != 0 && as.tracers[tracer] != t) {
		return false
	}
	as.kept, as.keptTracer, as.keptRange, as.keptFR = t, tracer, keep, fr
	as.keptInj, as.keptInjTracer = nil, 0
	if _, ok := as.threads[inj]; inj != nil && inj != t && ok && as.tracers[injTracer] == inj {
		as.keptInj, as.keptInjTracer = inj, injTracer
	}
	return true
}

// handedOn returns the address space that took over t, the stub thread of
// host thread tracer kept in as (released) for its successor, if it still
// has it. Lock order: as.mu (released) before the successor's.
func (as *addressSpace) handedOn(t *stubThread, tracer int32) *addressSpace {
	as.mu.RLock()
	n := as.successor
	as.mu.RUnlock()
	if n == nil {
		return nil
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	if _, ok := n.threads[t]; n.released || !ok || (tracer != 0 && n.tracers[tracer] != t) {
		return nil
	}
	return n
}

// makeSpare clones a spare stub thread for the next Context to switch
// into as, unless it has one.
// Preconditions: called on the master goroutine.
func (as *addressSpace) makeSpare() {
	as.mu.Lock()
	have := as.spare != nil
	as.wantSpare = false
	as.mu.Unlock()
	if !have {
		// On failure (released meanwhile, or the stub died) the next
		// Context asks for a thread itself and learns why.
		as.cloneThread(true)
	}
}

// takeSpare returns the spare stub thread of as for a Context, or nil,
// and asks the master for the next one when as has had more than one
// Context: a process that makes threads will likely make more.
func (as *addressSpace) takeSpare() *stubThread {
	as.mu.Lock()
	t := as.spare
	as.spare = nil
	as.taken++
	again := as.taken > 1 && !as.released
	if again {
		as.wantSpare = true
	}
	as.mu.Unlock()
	if again {
		as.kickMaster()
	}
	return t
}

// call runs req on the master goroutine.
func (as *addressSpace) call(req *request) reply {
	platform.Counts.MasterCalls.Add(1)
	req.as = as
	req.reply = make(chan reply, 1)
	select {
	case as.requests <- req:
	case <-as.done:
		return reply{err: errASReleased}
	}
	return <-req.reply
}

// startStub execs the stub (the zygote), traced by the calling (locked)
// thread, strips its address space, drops its capabilities and installs
// its seccomp filter.
func (as *addressSpace) startStub(stubFD int) error {
	// Have the stub's host stack at a fixed place (just below
	// hostTaskTop) rather than anywhere in the top 16GB, where it could
	// collide with stubBase. Personality is per thread and inherited by
	// fork; this thread is the master's alone.
	if old, _, e := unix.RawSyscall(unix.SYS_PERSONALITY, 0xffffffff, 0, 0); e == 0 {
		unix.RawSyscall(unix.SYS_PERSONALITY, old|addrNoRandomize, 0, 0)
	}
	attr := &syscall.ProcAttr{
		Env:   []string{},
		Files: []uintptr{uintptr(as.p.mf.FD())}, // stubMemFD
		Sys: &syscall.SysProcAttr{
			Ptrace:    true,
			Pdeathsig: syscall.SIGKILL,
			Setsid:    true,
		},
	}
	path := fmt.Sprintf("/proc/self/fd/%d", stubFD)
	pid, err := syscall.ForkExec(path, []string{stubName}, attr)
	if err != nil {
		return fmt.Errorf("ptrace: starting the stub: %w", err)
	}
	as.pid = int32(pid)
	if err := as.setupStub(); err != nil {
		as.killStub()
		return err
	}
	return nil
}

// seizeForkedStub takes a stub forked for this address space (forkStub)
// and becomes its tracer.
// Preconditions: called on the master goroutine.
func (as *addressSpace) seizeForkedStub() error {
	pid, regs, err := as.p.forkStub()
	if err != nil {
		return err
	}
	as.pid, as.initRegs = pid, *regs
	if e := ptraceSeize(pid, stubPtraceOptions); e != 0 {
		as.killStub()
		return stubError(pid, "PTRACE_SEIZE", e)
	}
	// The stub was in group-stop: the seize makes it report
	// PTRACE_EVENT_STOP.
	var status waitStatus
	for {
		if e := wait4(pid, &status, unix.WALL); e != 0 {
			as.killStub()
			return stubError(pid, "wait4 after PTRACE_SEIZE", e)
		}
		if !status.stopped() {
			return stubExited(pid, status)
		}
		if status.event() == unix.PTRACE_EVENT_STOP {
			break
		}
		// A signal got in first: suppress it.
		if e := ptraceResume(unix.PTRACE_CONT, pid); e != 0 {
			as.killStub()
			return stubError(pid, "PTRACE_CONT", e)
		}
	}
	fd, err := unix.PidfdOpen(int(pid), 0)
	if err != nil {
		as.killStub()
		return fmt.Errorf("ptrace: pidfd_open(%d): %w", pid, err)
	}
	as.pidfd = fd
	as.p.deaths.watch(as, fd)
	return nil
}

// forkStub forks the stub process (the zygote, or with clean any address
// space's stub, whose application mappings the child then drops) and
// leaves the child in group-stop, untraced, for a new master to seize. The
// child inherits the stub's stripped address space, its one descriptor,
// its seccomp filter, no_new_privs and empty capability sets; it dies with
// the zygote's master thread, its real parent.
// Preconditions: called on the master goroutine.
func (as *addressSpace) forkStub(clean bool) (int32, error) {
	r, err := as.masterSyscall(unix.SYS_CLONE, unix.CLONE_PARENT|unix.CLONE_PTRACE, 0, 0, 0, 0)
	if err != nil {
		return 0, fmt.Errorf("ptrace: stub %d: fork: %w", as.pid, err)
	}
	pid := int32(r)
	fail := func(err error) (int32, error) {
		unix.Kill(int(pid), unix.SIGKILL)
		var status waitStatus
		for wait4(pid, &status, unix.WALL) == 0 && status.stopped() {
		}
		return 0, err
	}
	if err := as.prepareChild(pid); err != nil {
		return fail(err)
	}
	if clean {
		// The application range, the batch page (batch.go) and a
		// variant's per-thread pages above it (systrap's regions, the
		// source stub's), up to the stub's scratch page: as recycle
		// empties them, so the new program reaches none of the
		// source's memory-file pages.
		if _, err := injectSyscall(pid, &as.initRegs, unix.SYS_MUNMAP, [6]uintptr{0, stubScratch}); err != nil {
			return fail(fmt.Errorf("ptrace: new stub %d: munmap: %w", pid, err))
		}
	}
	if err := as.stopChild(pid); err != nil {
		return fail(err)
	}
	return pid, nil
}

// prepareChild waits for the first stop of pid, a child the stub made with
// CLONE_PTRACE (so this thread traces it and it starts stopped), and has it die with its real parent thread: from the detach
// that hands it over until its new tracer seizes it, nothing traces it
// (PTRACE_O_EXITKILL does not cover it), and a sentry killed in that
// window must leave no stopped stub behind.
// Preconditions: called on the master goroutine.
func (as *addressSpace) prepareChild(pid int32) error {
	var status waitStatus
	if e := wait4(pid, &status, unix.WALL); e != 0 {
		return stubError(pid, "wait4 for the new stub", e)
	}
	if !status.stopped() {
		return stubExited(pid, status)
	}
	// The zygote is traced through PTRACE_TRACEME: its children start
	// with a SIGSTOP. Every other stub is seized: its children start in a
	// PTRACE_EVENT_STOP.
	if status.stopSignal() != int(unix.SIGSTOP) && status.event() != unix.PTRACE_EVENT_STOP {
		return fmt.Errorf("ptrace: new stub %d stopped by %v (event %d), want SIGSTOP or PTRACE_EVENT_STOP", pid, status, status.event())
	}
	if _, err := injectSyscall(pid, &as.initRegs, unix.SYS_PRCTL, [6]uintptr{unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL)}); err != nil {
		return fmt.Errorf("ptrace: new stub %d: PR_SET_PDEATHSIG: %w", pid, err)
	}
	return nil
}

// stopChild detaches from pid, a child prepared by prepareChild, leaving
// it in group-stop.
// Preconditions: called on the master goroutine.
func (as *addressSpace) stopChild(pid int32) error {
	// Detach, delivering a SIGSTOP: the child enters group-stop.
	if e := ptraceDetach(pid, unix.SIGSTOP); e != 0 {
		return stubError(pid, "PTRACE_DETACH", e)
	}
	// As a thread of its real parent's process, see it stopped, so that
	// the seize that follows finds it in group-stop rather than on its
	// way there.
	var status waitStatus
	if e := wait4(pid, &status, unix.WALL|unix.WUNTRACED); e != 0 {
		return stubError(pid, "wait4 for group-stop", e)
	}
	if !status.stopped() {
		return stubExited(pid, status)
	}
	return nil
}

func (as *addressSpace) setupStub() error {
	var status waitStatus
	if e := wait4(as.pid, &status, unix.WALL); e != 0 {
		return stubError(as.pid, "wait4 for exec", e)
	}
	if !status.stopped() {
		return stubExited(as.pid, status)
	}
	if status.stopSignal() != int(unix.SIGTRAP) {
		return fmt.Errorf("ptrace: stub %d: stopped by signal %d after exec, want SIGTRAP", as.pid, status.stopSignal())
	}
	if e := ptraceSetOptions(as.pid, stubPtraceOptions); e != 0 {
		return stubError(as.pid, "PTRACE_SETOPTIONS", e)
	}
	if e := ptraceGetRegs(as.pid, &as.initRegs); e != 0 {
		return stubError(as.pid, "PTRACE_GETREGS", e)
	}
	if as.initRegs.Rip != stubEntry {
		return fmt.Errorf("ptrace: stub %d: rip %#x after exec, want %#x", as.pid, as.initRegs.Rip, uint64(stubEntry))
	}

	// Close every fd but the memory file's: the stub inherits whatever
	// the sentry leaves open without O_CLOEXEC.
	if _, err := as.masterSyscall(unix.SYS_CLOSE_RANGE, stubMemFD+1, ^uintptr(0)>>32, 0); err != nil {
		if err != unix.ENOSYS {
			return fmt.Errorf("ptrace: stub %d: close_range: %w", as.pid, err)
		}
		if err := as.closeFDsSlowly(); err != nil {
			return err
		}
	}

	// Strip the stub down to its code page.
	for _, r := range [][2]uintptr{
		{0, stubBase},
		{stubBase + pageSize, hostTaskTop - stubBase - pageSize},
	} {
		if _, err := as.masterSyscall(unix.SYS_MUNMAP, r[0], r[1]); err != nil {
			return fmt.Errorf("ptrace: stub %d: munmap(%#x, %#x): %w", as.pid, r[0], r[1], err)
		}
	}
	return as.installFilter()
}

// closeFDsSlowly closes the stub's fds but stubMemFD one by one, for hosts
// without close_range.
// Preconditions: called on the master goroutine.
func (as *addressSpace) closeFDsSlowly() error {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", as.pid))
	if err != nil {
		return fmt.Errorf("ptrace: listing the stub's fds: %w", err)
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd == stubMemFD {
			continue
		}
		if _, err := as.masterSyscall(unix.SYS_CLOSE, uintptr(fd)); err != nil {
			return fmt.Errorf("ptrace: stub %d: close(%d): %w", as.pid, fd, err)
		}
	}
	return nil
}

// masterSyscall injects a syscall into the stub process.
// Preconditions: called on the master goroutine.
func (as *addressSpace) masterSyscall(sysno uintptr, args ...uintptr) (uintptr, error) {
	var a [6]uintptr
	copy(a[:], args)
	return injectSyscall(as.pid, &as.initRegs, sysno, a)
}

// installFilter names the stub stubName, takes every capability from it,
// and installs the stub's seccomp filter (see stubFilter) with
// no_new_privs. Forks of the stub inherit all of it.
// Preconditions: called on the master goroutine.
func (as *addressSpace) installFilter() error {
	filter := as.p.filter
	// The scratch page holds, in order: struct sock_fprog and the
	// program, the capability header and data for capset, and the name.
	const (
		progOff    = 16 // after struct sock_fprog
		capHdrOff  = pageSize - 64
		capDataOff = capHdrOff + 8
		nameOff    = pageSize - 16
	)
	if progOff+8*len(filter) > capHdrOff {
		return fmt.Errorf("ptrace: seccomp program of %d instructions does not fit a page", len(filter))
	}
	mf := as.p.mf
	fr, err := mf.Allocate(1)
	if err != nil {
		return fmt.Errorf("ptrace: a page for the seccomp program: %w", err)
	}
	defer mf.DecRef(fr)
	buf := mf.Slice(fr)
	le := binary.LittleEndian
	// struct sock_fprog { unsigned short len; struct sock_filter *filter; }
	le.PutUint16(buf[0:], uint16(len(filter)))
	le.PutUint64(buf[8:], stubScratch+progOff)
	copy(buf[nameOff:], stubName+"\x00")
	for i, ins := range filter {
		b := buf[progOff+8*i:]
		le.PutUint16(b[0:], ins.OpCode)
		b[2] = ins.JumpIfTrue
		b[3] = ins.JumpIfFalse
		le.PutUint32(b[4:], ins.K)
	}
	// struct __user_cap_header_struct { u32 version; int pid; } and two
	// struct __user_cap_data_struct of zeroes (the page is zeroed).
	le.PutUint32(buf[capHdrOff:], unix.LINUX_CAPABILITY_VERSION_3)

	if _, err := as.masterSyscall(unix.SYS_MMAP, stubScratch, pageSize, unix.PROT_READ, unix.MAP_SHARED|unix.MAP_FIXED, stubMemFD, uintptr(fr.Start)); err != nil {
		return fmt.Errorf("ptrace: stub %d: mapping the seccomp program: %w", as.pid, err)
	}
	// Name the stub (its comm would otherwise be the fd number it was
	// exec'd through); stub threads inherit the name.
	if _, err := as.masterSyscall(unix.SYS_PRCTL, unix.PR_SET_NAME, stubScratch+nameOff, 0, 0, 0); err != nil {
		return fmt.Errorf("ptrace: stub %d: PR_SET_NAME: %w", as.pid, err)
	}
	if err := as.dropCapabilities(stubScratch+capHdrOff, stubScratch+capDataOff); err != nil {
		return err
	}
	if setup := as.p.variant.Setup; setup != nil {
		if err := setup(as.masterSyscall); err != nil {
			return fmt.Errorf("ptrace: stub %d: variant setup: %w", as.pid, err)
		}
	}
	if _, err := as.masterSyscall(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("ptrace: stub %d: PR_SET_NO_NEW_PRIVS: %w", as.pid, err)
	}
	if _, err := as.masterSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, stubScratch); err != nil {
		return fmt.Errorf("ptrace: stub %d: seccomp: %w", as.pid, err)
	}
	if _, err := as.masterSyscall(unix.SYS_MUNMAP, stubScratch, pageSize); err != nil {
		return fmt.Errorf("ptrace: stub %d: unmapping the seccomp program: %w", as.pid, err)
	}
	return nil
}

// stubSecurebits lock the stub out of ever regaining capabilities as root
// (an execve would grant a root process its bounding set; the filter
// already refuses any syscall the sentry did not inject).
const stubSecurebits = 1<<0 | 1<<1 | // SECBIT_NOROOT, _LOCKED
	1<<2 | 1<<3 | // SECBIT_NO_SETUID_FIXUP, _LOCKED
	1<<5 | // SECBIT_KEEP_CAPS_LOCKED
	1<<6 | 1<<7 // SECBIT_NO_CAP_AMBIENT_RAISE, _LOCKED

// dropCapabilities empties every capability set of the stub: the
// securebits first and the bounding set (while it still has
// CAP_SETPCAP; a stub started without it has no capability to drop
// there), then the effective, permitted and inheritable sets with capset
// (hdr and data are the stub's addresses of the header and of two zeroed
// data structs); the ambient set empties with the permitted one.
//
// Only the capabilities still in the bounding set are dropped: the stub
// was exec'd from this (the master's) thread, whose bounding set it
// inherited, so the master reads it here, one cheap local prctl each,
// instead of injecting a drop for every capability the host knows — a
// confined sentry's bounding set holds five of them when the zygote
// starts, and each injection is a ptrace round trip (41 of them were
// ~1.8 ms of a `do -- /bin/true` start-up).
// Preconditions: called on the master goroutine; the stub was exec'd
// from this thread.
func (as *addressSpace) dropCapabilities(hdr, data uintptr) error {
	if _, err := as.masterSyscall(unix.SYS_PRCTL, unix.PR_SET_SECUREBITS, stubSecurebits, 0, 0, 0); err != nil && err != unix.EPERM {
		return fmt.Errorf("ptrace: stub %d: PR_SET_SECUREBITS: %w", as.pid, err)
	}
	for c := uintptr(0); ; c++ {
		in, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, c, 0, 0, 0)
		if err == unix.EINVAL {
			break // past the last capability
		}
		if err == nil && in == 0 {
			continue // not in the stub's bounding set either
		}
		_, err = as.masterSyscall(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, c, 0, 0, 0)
		if err == unix.EINVAL {
			break // past the last capability
		}
		if err == unix.EPERM {
			break // no CAP_SETPCAP: nothing to drop here
		}
		if err != nil {
			return fmt.Errorf("ptrace: stub %d: PR_CAPBSET_DROP(%d): %w", as.pid, c, err)
		}
	}
	if _, err := as.masterSyscall(unix.SYS_CAPSET, hdr, data); err != nil {
		return fmt.Errorf("ptrace: stub %d: capset: %w", as.pid, err)
	}
	return nil
}

// killStub kills the stub process and reaps it, and hands a batch page it
// still holds (a recycled stub's) to Platform.Release.
// Preconditions: called on the master goroutine; no batch is in flight.
func (as *addressSpace) killStub() {
	as.batchMu.Lock()
	fr := as.batchFR
	as.batchFR, as.batchMapped = memfile.FileRange{}, false
	as.batchMu.Unlock()
	as.p.orphanBatchPage(fr)
	if as.pidfd >= 0 {
		as.p.deaths.unwatch(as.pidfd)
	}
	unix.Kill(int(as.pid), unix.SIGKILL)
	var status waitStatus
	for {
		if e := wait4(as.pid, &status, unix.WALL); e != 0 || !status.stopped() {
			break
		}
	}
	if as.pidfd >= 0 {
		unix.Close(as.pidfd)
		as.pidfd = -1
	}
}

// cloneThread creates a stub thread and leaves it in group-stop, untraced,
// for a Context's OS thread to seize; with spare, as as's spare thread.
// Preconditions: called on the master goroutine.
func (as *addressSpace) cloneThread(spare bool) (*stubThread, error) {
	r, err := as.masterSyscall(unix.SYS_CLONE, stubThreadCloneFlags, 0, 0, 0, 0)
	if err != nil {
		return nil, fmt.Errorf("ptrace: stub %d: clone: %w", as.pid, err)
	}
	tid := int32(r)
	platform.Counts.StubThreads.Add(1)
	as.clones.Add(1)
	pidfd, err := unix.PidfdOpen(int(tid), 0)
	if err != nil {
		unix.Kill(int(tid), unix.SIGKILL)
		var status waitStatus
		wait4(tid, &status, unix.WALL)
		return nil, fmt.Errorf("ptrace: pidfd_open(%d): %w", tid, err)
	}
	t := &stubThread{tid: tid, pidfd: pidfd, deaths: as.p.deaths}
	fail := func(err error) (*stubThread, error) {
		t.kill()
		t.reap()
		unix.Close(t.pidfd)
		return nil, err
	}
	if err := as.prepareChild(tid); err != nil {
		return fail(err)
	}
	if err := as.stopChild(tid); err != nil {
		return fail(err)
	}

	t.refs.Store(2) // the address space's and the Context's
	as.mu.Lock()
	if as.released {
		as.mu.Unlock()
		return fail(errASReleased)
	}
	as.threads[t] = struct{}{}
	if spare {
		as.spare = t
	}
	as.mu.Unlock()
	as.p.deaths.watch(as, pidfd)
	return t, nil
}

// forget removes t (seized by host thread tracer) from the address space.
// It returns true if t was still there: the caller then holds the address
// space's reference on t.
func (as *addressSpace) forget(t *stubThread, tracer int32) bool {
	as.mu.Lock()
	defer as.mu.Unlock()
	if as.tracers[tracer] == t {
		delete(as.tracers, tracer)
	}
	if _, ok := as.threads[t]; !ok {
		return false
	}
	delete(as.threads, t)
	return true
}

// register records that host thread tracer traces t.
func (as *addressSpace) register(t *stubThread, tracer int32) error {
	as.mu.Lock()
	defer as.mu.Unlock()
	if as.released {
		return errASReleased
	}
	as.tracers[tracer] = t
	return nil
}

func (as *addressSpace) isReleased() bool {
	as.mu.RLock()
	defer as.mu.RUnlock()
	return as.released
}

// syscall runs a syscall in the address space: in the calling OS thread's
// own stub thread if it has one here, through the master otherwise.
func (as *addressSpace) syscall(sysno uintptr, args ...uintptr) (uintptr, error) {
	var a [6]uintptr
	copy(a[:], args)
	return as.inject(func(tid int32) (uintptr, error) {
		return injectSyscall(tid, &as.initRegs, sysno, a)
	})
}

// inject runs an injection (run, given the host tid of a stopped stub
// thread or process traced by the calling OS thread) in the address
// space: in the calling OS thread's own stub thread if it has one here,
// through the master otherwise.
func (as *addressSpace) inject(run func(tid int32) (uintptr, error)) (uintptr, error) {
	tid := gettid()
	as.mu.RLock()
	released := as.released
	t := as.tracers[tid]
	as.mu.RUnlock()
	if released {
		return 0, errASReleased
	}
	if t != nil {
		// The calling thread is t's tracer, and t is stopped: the
		// calling thread's Context is not in Switch (it is calling
		// us).
		r, err := run(t.tid)
		if err == nil || !isDead(err) {
			return r, err
		}
		// The stub thread died; the Context will find out in Switch.
		// The address space lives on: go through the master.
	}
	rep := as.call(&request{op: opRun, run: run})
	return rep.ret, rep.err
}

// checkRange validates [addr, addr+length) as a range the application may
// map.
func checkRange(addr, length uintptr) error {
	end := addr + length
	if addr%pageSize != 0 || length%pageSize != 0 || length == 0 || end < addr || addr < pageSize || end > maxUserAddress {
		return fmt.Errorf("ptrace: bad application range [%#x, %#x)", addr, end)
	}
	return nil
}

// checkMapFile validates a MapFile of fr at addr.
func (as *addressSpace) checkMapFile(addr uintptr, fr memfile.FileRange) error {
	if err := checkRange(addr, uintptr(fr.Length())); err != nil {
		return err
	}
	if fr.Start%pageSize != 0 || fr.End > as.p.mf.Size() || fr.End < fr.Start {
		return fmt.Errorf("ptrace: bad memory file range %v", fr)
	}
	return nil
}

// MapFile implements platform.AddressSpace.MapFile.
func (as *addressSpace) MapFile(addr uintptr, fr memfile.FileRange, at hostarch.AccessType) error {
	if err := as.checkMapFile(addr, fr); err != nil {
		return err
	}
	if err := as.applyDeferred(); err != nil {
		return err
	}
	if !at.Any() {
		return fmt.Errorf("ptrace: MapFile with no access")
	}
	_, err := as.syscall(unix.SYS_MMAP, addr, uintptr(fr.Length()), uintptr(at.Prot()), unix.MAP_SHARED|unix.MAP_FIXED, stubMemFD, uintptr(fr.Start))
	if err != nil {
		return fmt.Errorf("ptrace: mmap(%#x, %#x, %v, file %v): %w", addr, fr.Length(), at, fr, err)
	}
	return nil
}

// Unmap implements platform.AddressSpace.Unmap.
func (as *addressSpace) Unmap(addr, length uintptr) {
	if err := checkRange(addr, length); err != nil {
		logrus.WithError(err).Warn("ptrace: Unmap")
		return
	}
	if err := as.applyDeferred(); err != nil {
		logrus.WithError(err).Warnf("ptrace: munmap(%#x, %#x)", addr, length)
		return
	}
	if _, err := as.syscall(unix.SYS_MUNMAP, addr, length); err != nil && err != errASReleased {
		logrus.WithError(err).Warnf("ptrace: munmap(%#x, %#x)", addr, length)
	}
}

// HostPID returns the host PID of the address space's stub process: the
// host process that runs the sandbox process (the OCI runtime's ps --format
// json reports it), as the sentry's PID namespace numbers it.
func (as *addressSpace) HostPID() int { return int(as.pid) }

// ThreadsCloned returns how many stub threads were cloned for pas, an
// address space of this platform (a variant's embeds one), not for its
// stub's earlier address spaces; platform.Counts' figure is every address
// space's, moved by others meanwhile (tests).
func ThreadsCloned(pas platform.AddressSpace) uint64 {
	if as, ok := pas.(*addressSpace); ok {
		return as.clones.Load()
	}
	return 0
}

// Release implements platform.AddressSpace.Release: it kills every stub
// thread, and either hands the stub process to its master for recycling
// (pool.go), which then reaps the threads, or reaps them and kills the
// stub process and its master.
func (as *addressSpace) Release() {
	as.release(as.pidfd >= 0 && as.p.poolHasRoom())
}

// reapLater hands t, a stub thread of as killed by its Context, to the
// master, which reaps it and drops the address space's reference, so the
// Context's thread does not wait for the host to finish the kill. It
// returns false if as is released: the caller reaps t itself.
func (as *addressSpace) reapLater(t *stubThread) bool {
	as.mu.Lock()
	if as.released {
		as.mu.Unlock()
		return false
	}
	as.dropped = append(as.dropped, t)
	as.mu.Unlock()
	as.kickMaster()
	return true
}

// kickMaster asks the master to look at as's background work (kick); a
// pending kick covers any number of requests, as the master reads the
// state under as.mu.
func (as *addressSpace) kickMaster() {
	select {
	case as.kick <- struct{}{}:
	default:
	}
}

// reapDropped reaps the threads handed over by reapLater and drops the
// address space's reference on them.
func (as *addressSpace) reapDropped() {
	as.mu.Lock()
	dropped := as.dropped
	as.dropped = nil
	as.mu.Unlock()
	for _, t := range dropped {
		t.reap()
		t.decRef()
	}
}

// recycleHere recycles the stub of as, just released, on the calling
// goroutine, for kept, the stub thread of host thread tracer (0: a
// variant's untraced thread) that is its only thread, keeping keep mapped
// and fr, the pages there (keepForSuccessor), to serve the next address
// space (RecycleAfter): what the master's recycle does in that case,
// without waking the master. The recycling's host calls, its unmaps,
// become the successor's first deferred ops (batch.go), which its first
// Switch, map or unmap applies before anything else: a fork's child runs
// them in the same injection as its pre-map. Until then the stub, stopped
// (and a variant's kept thread parked), keeps the old program's mappings,
// which no code runs to reach. The successor takes the stub's channels, so
// the master, waiting on them, serves it from its next request on
// (movedTo).
func (as *addressSpace) recycleHere(kept *stubThread, tracer int32, keep [2]uintptr, fr memfile.FileRange, inj *stubThread, injTracer int32) {
	// The next program can read the batch page.
	batch := as.takeBatchPage()
	if batch.Length() > 0 {
		clear(as.p.mf.Slice(batch))
	}
	as.p.mu.Lock()
	delete(as.p.spaces, as)
	as.p.mu.Unlock()
	as.p.deaths.forget(as)
	as.p.deaths.unwatch(as.pidfd)
	n := &addressSpace{
		p:             as.p,
		pid:           as.pid,
		pidfd:         as.pidfd,
		key:           as.key,
		initRegs:      as.initRegs,
		requests:      as.requests,
		kick:          as.kick,
		done:          make(chan struct{}),
		threads:       map[*stubThread]struct{}{kept: {}},
		tracers:       make(map[int32]*stubThread),
		batchFR:       batch,
		batchMapped:   batch.Length() > 0,
		deferredUnmap: as.p.recycleUnmaps(true, keep),
		handedOnAddr:  keep[0],
		handedOnFR:    fr,
	}
	n.hasDeferred.Store(true)
	if tracer != 0 {
		n.tracers[tracer] = kept
	}
	as.p.deaths.rewatch(kept.pidfd, n)
	if inj != nil {
		// Stopped and traced by its host thread, whose first mapping
		// change in n (the deferred unmaps, a fork's pre-map) it runs.
		n.threads[inj] = struct{}{}
		n.tracers[injTracer] = inj
		as.p.deaths.rewatch(inj.pidfd, n)
	}
	// Wait for the master to finish any work for as; it refuses what
	// comes for as later.
	as.serving.Lock()
	as.mu.Lock()
	as.successor, as.movedTo = n, n
	as.mu.Unlock()
	as.serving.Unlock()
	close(as.done)
	if !as.p.offerPooled(n) {
		// Pool full or platform released meanwhile.
		n.release(false)
	}
}

// release is Release; recycle says whether to recycle the stub.
func (as *addressSpace) release(recycle bool) {
	as.mu.Lock()
	if as.released {
		as.mu.Unlock()
		return
	}
	as.released = true
	threads, spare := as.threads, as.spare
	as.threads, as.tracers, as.spare = nil, nil, nil
	inj, injTracer := as.keptInj, as.keptInjTracer
	as.keptInj, as.keptInjTracer = nil, 0
	if _, ok := threads[inj]; !ok {
		inj = nil
	}
	only := 1
	if inj != nil {
		only = 2
	}
	if t := as.kept; recycle && t != nil && len(threads) == only && len(as.dropped) == 0 && as.handedOnFR.Length() == 0 {
		if _, ok := threads[t]; ok {
			tracer, keep, fr := as.keptTracer, as.keptRange, as.keptFR
			as.kept = nil
			as.handingOn = t
			as.mu.Unlock()
			as.recycleHere(t, tracer, keep, fr, inj, injTracer)
			return
		}
	}
	if recycle {
		if t := as.kept; t != nil {
			if _, ok := threads[t]; ok {
				// Alive for the successor (recycle).
				delete(threads, t)
				as.dyingKept, as.dyingTracer = t, as.keptTracer
				as.dyingRange, as.dyingFR = as.keptRange, as.keptFR
				as.handingOn = t
			}
		}
		as.dying, as.dyingSpare = threads, spare
		as.recycling = true
	}
	as.kept = nil
	// Pages handed on to as that its variant never took.
	as.p.orphanBatchPage(as.handedOnFR)
	as.handedOnFR = memfile.FileRange{}
	dropped := as.dropped
	if !recycle {
		as.dropped = nil
	}
	as.mu.Unlock()
	// No batch starts now; wait for one in flight. A recycled stub
	// keeps its batch page (recycle).
	if recycle {
		fr := as.takeBatchPage()
		if fr.Length() > 0 {
			// The next program can read it.
			clear(as.p.mf.Slice(fr))
		}
		as.mu.Lock()
		as.dyingBatch = fr
		as.mu.Unlock()
	} else {
		as.freeBatchPage()
	}

	for t := range threads {
		t.kill()
	}
	as.p.mu.Lock()
	delete(as.p.spaces, as)
	as.p.mu.Unlock()
	as.p.deaths.forget(as)
	if recycle {
		as.p.deaths.unwatch(as.pidfd)
		as.kickMaster()
		return
	}
	for t := range threads {
		t.reap()
		t.decRef()
		if t == spare {
			t.decRef() // no Context ever took it
		}
	}
	for _, t := range dropped {
		t.reap()
		t.decRef()
	}
	as.call(&request{op: opShutdown})
	<-as.done
}
