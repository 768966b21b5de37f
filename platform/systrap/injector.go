package systrap

import (
	"github.com/runsc-lite/runsc-lite/platform"
	"github.com/runsc-lite/runsc-lite/platform/ptrace"
	"github.com/runsc-lite/runsc-lite/sentry/memfile"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// Mapping changes from a task's own thread (issue 16 item 4).
//
// MapFile, Unmap and MapBatch are the ptrace platform's: syscalls
// injected into the stub process by a thread that traces one of its
// threads. systrap's stub threads run untraced, so every mapping change a
// task makes while serving its faults went through the address space's
// master goroutine: a Go channel hop each way and a wake-up of the
// master's locked host thread, on a loaded host each a wait for a CPU (a
// fork+exec+wait made 68 of them). A context's thread that has sent
// injectorAfter changes through the master in an address space gets an
// injector there: a stub thread of its own, seized by it and left stopped
// and traced (ptrace.StubThread.ServeInjections), into which its later
// changes are injected directly, as on ptrace. It costs one more stopped
// host process per such thread and address space, made through the
// master once; it is killed with the context's thread there, or goes
// with it when the thread is kept for the stub's next address space
// (RecycleAfter): a fork+exec loop's children make none of their own.
// A fork's child counts its pre-map (Switch), so that a fork+exit loop's
// short-lived children, which change nothing else, earn one too.

// injectorAfter is how many mapping changes a context's thread sends
// through the master in one address space before it gets an injector.
const injectorAfter = 2

// beforeMapping runs before each mapping change: it counts a change made
// from a context's thread that has no injector here, and makes one at
// injectorAfter, or at once for a batch left to the address space's
// first use (deferred: a fork's pre-map, an exec'd image's, a recycling's
// unmaps), which a thread that switches into an address space it did not
// make its stub thread in (one kept for it) finds, and
// which the injector then runs instead of the master; the later changes
// of such a new program or child are as likely.
func (as *addressSpace) beforeMapping(deferred bool) {
	tid := gettid()
	as.mu.Lock()
	t := as.byTracer[tid]
	released := as.released
	as.mu.Unlock()
	// t belongs to the calling thread's context: only this thread
	// touches its injector fields.
	if t == nil || released || t.injector != nil || t.noInjector {
		return
	}
	t.viaMaster++
	if t.viaMaster < injectorAfter && !deferred {
		return
	}
	st, err := ptrace.NewInjector(as.AddressSpace)
	if err != nil {
		t.noInjector = true
		return
	}
	t.injector = st
}

// MapFile implements platform.AddressSpace.MapFile.
func (as *addressSpace) MapFile(addr uintptr, fr memfile.FileRange, at hostarch.AccessType) error {
	as.beforeMapping(false)
	return as.AddressSpace.MapFile(addr, fr, at)
}

// Unmap implements platform.AddressSpace.Unmap.
func (as *addressSpace) Unmap(addr, length uintptr) {
	as.beforeMapping(false)
	as.AddressSpace.Unmap(addr, length)
}

// MapBatch implements platform.BatchMapper: the ptrace platform's batch
// loop, run in the stub process.
func (as *addressSpace) MapBatch(ops []platform.MapOp) (int, error) {
	as.beforeMapping(false)
	return as.AddressSpace.(platform.BatchMapper).MapBatch(ops)
}

// MapBatchBeforeRun implements platform.DeferredBatchMapper: a fork's
// child's pre-map waits for its first Switch (ptrace.ApplyDeferred), where
// it runs in the same injection as the unmaps a recycling of its stub left
// (one master hop for both).
func (as *addressSpace) MapBatchBeforeRun(ops []platform.MapOp) {
	as.AddressSpace.(platform.DeferredBatchMapper).MapBatchBeforeRun(ops)
}

func gettid() int32 {
	r, _, _ := unix.RawSyscall(unix.SYS_GETTID, 0, 0, 0)
	return int32(r)
}
