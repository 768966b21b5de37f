package systrap

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/runsc-lite/runsc-lite/kernel/hostcpus"
	"github.com/runsc-lite/runsc-lite/platform"
	"github.com/runsc-lite/runsc-lite/platform/ptrace"
	"github.com/runsc-lite/runsc-lite/sentry/memfile"
)

// addressSpace is a platform.AddressSpace: the ptrace platform's (its
// stub process; MapFile and Unmap are its) and the regions of the stub
// threads that run in it.
type addressSpace struct {
	platform.AddressSpace
	p *Platform

	mu       sync.Mutex
	released bool
	// regions are the regions made so far, by index; a region is mapped
	// in the stub for good once made and reused by later threads.
	regions []*region
	// free are the indexes of regions no thread uses.
	free []int
	// byTracer maps the host tid of a context's OS thread to its thread
	// here (injector.go).
	byTracer map[int32]*thread
	// kept is the thread a context keeps for the address space the stub
	// serves next (RecycleAfter); Release leaves its region to it.
	kept *thread
}

// ReuseKey names the stub process under as (platform.ReuseKey), the same
// for every address space it serves: a context kept for the next one
// (RecycleAfter) is found by it.
func (as *addressSpace) ReuseKey() any { return platform.ReuseKey(as.AddressSpace) }

// adoptHandedOn takes the region of the thread a context kept in the
// stub's previous address space (RecycleAfter), still mapped there, as
// the new address space's region 0.
func (as *addressSpace) adoptHandedOn() {
	addr, fr, ok := ptrace.TakeHandedOnRegion(as.AddressSpace)
	if !ok {
		return
	}
	r := &region{index: 0, fr: fr, mem: as.p.mf.Slice(fr), mapped: true}
	if addr != r.addr() || fr.Length() != regionSize {
		// Not a region of ours: give the pages back.
		as.p.mf.DecRef(fr)
		return
	}
	as.mu.Lock()
	as.regions = []*region{r}
	as.mu.Unlock()
}

// region is one stub thread's message page and signal stack.
type region struct {
	index int
	fr    memfile.FileRange
	// mem is the sentry's view of the region.
	mem []byte
	// mapped says the region is mapped in the stub.
	mapped bool
}

// addr is the region's address in the stub.
func (r *region) addr() uintptr { return regionsBase + uintptr(r.index)*regionSize }

// getRegion returns a free region, new or reused.
func (as *addressSpace) getRegion() (*region, error) {
	as.mu.Lock()
	defer as.mu.Unlock()
	if as.released {
		return nil, fmt.Errorf("systrap: address space released")
	}
	if n := len(as.free); n > 0 {
		r := as.regions[as.free[n-1]]
		as.free = as.free[:n-1]
		return r, nil
	}
	if len(as.regions) >= maxRegions {
		return nil, fmt.Errorf("systrap: more than %d stub threads in one address space", maxRegions)
	}
	fr, err := as.p.mf.Allocate(regionSize / pageSize)
	if err != nil {
		return nil, fmt.Errorf("systrap: a stub thread's region: %w", err)
	}
	r := &region{index: len(as.regions), fr: fr, mem: as.p.mf.Slice(fr)}
	as.regions = append(as.regions, r)
	return r, nil
}

// putRegion gives r back once its thread is dead.
func (as *addressSpace) putRegion(r *region) {
	as.mu.Lock()
	defer as.mu.Unlock()
	if as.released {
		return
	}
	as.free = append(as.free, r.index)
}

// HostPID returns the stub process's host PID (see ptrace).
func (as *addressSpace) HostPID() int {
	if h, ok := as.AddressSpace.(interface{ HostPID() int }); ok {
		return h.HostPID()
	}
	return 0
}

// Release implements platform.AddressSpace.Release: the ptrace platform
// kills the stub threads and the stub; the regions go back to the memory
// file.
func (as *addressSpace) Release() {
	as.mu.Lock()
	if as.released {
		as.mu.Unlock()
		return
	}
	as.released = true
	regions := as.regions
	as.regions, as.free = nil, nil
	kept := as.kept
	as.mu.Unlock()
	as.AddressSpace.Release()
	for _, r := range regions {
		if kept != nil && r == kept.r && kept.st.HandingOn() {
			// The recycled stub's next address space's now.
			continue
		}
		as.p.mf.DecRef(r.fr)
	}
	as.p.mu.Lock()
	delete(as.p.spaces, as.AddressSpace)
	as.p.mu.Unlock()
}

// spinFromEnv returns a spin budget: def on a host with two CPUs or
// more, none on a one-CPU host (the other end cannot answer while one
// polls), or the microseconds in the environment variable name when set
// (a measurement knob; 0 disables the spin). Each context turns its
// spins off while they fail to pay (spinPolicy).
func spinFromEnv(name string, def time.Duration) time.Duration {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v >= 0 {
		return time.Duration(v) * time.Microsecond
	}
	if len(hostcpus.Allowed()) < 2 {
		return 0
	}
	return def
}

// countFromEnv returns def, or the count in the environment variable
// name when set (a measurement knob).
func countFromEnv(name string, def uint32) uint32 {
	if v, err := strconv.ParseUint(os.Getenv(name), 10, 32); err == nil {
		return uint32(v)
	}
	return def
}

// Default spins (ARCHITECTURE.md, "systrap", for the measurements): the
// task thread polls for about what an idle host takes to deliver a trap
// and run the handler; the stub polls for a little more than the sentry
// takes to serve a short syscall.
const (
	defaultSpin     = 20 * time.Microsecond
	defaultStubSpin = 10 * time.Microsecond
	// defaultPrewakeSpin covers a sleeping task thread's wake-up and
	// the rest of its syscall before it resumes the stub Prewake woke.
	defaultPrewakeSpin = 20 * time.Microsecond
	// defaultStubYields is how many sched_yields a polling stub makes
	// once its poll ran out, before it sleeps.
	defaultStubYields = 8
	// yieldLateness is how late a stub in its yields may see its
	// answer and still have done better than sleeping: about what the
	// futex wake of a sleeping stub costs on an idle host (ARCHITECTURE.md,
	// "Where a round trip's time goes").
	yieldLateness = 10 * time.Microsecond
)

// pollCost measures what one poll of the stub's loop costs on this host
// (a PAUSE dominates it, whose latency differs between CPUs by ten
// times): the fastest of a few short runs of the same loop here.
func pollCost() float64 {
	const n = 256
	best := int64(1 << 62)
	for range 5 {
		t0 := nanotime()
		for range n {
			procyield()
		}
		if d := nanotime() - t0; d < best {
			best = d
		}
	}
	return max(float64(best)/n, 1)
}

// tscPerUs measures the TSC's ticks per microsecond against the
// runtime's clock over about 100 µs (each end read back to back, so a
// preemption between the ends does not skew it); 0 if the TSC does not
// advance.
func tscPerUs() uint64 {
	t0, c0 := nanotime(), rdtsc()
	t1, c1 := t0, c0
	for t1-t0 < 100_000 {
		procyield()
		t1, c1 = nanotime(), rdtsc()
	}
	if c1 <= c0 {
		return 0
	}
	return (c1 - c0) * 1000 / uint64(t1-t0)
}

// polls turns a stub spin budget into a count of polls.
func (p *Platform) polls(d time.Duration) uint32 {
	if d <= 0 {
		return 0
	}
	return uint32(min(float64(d)/p.pollNs, 1<<20))
}

// selfTest starts a stub thread (its bootstrap trap is a SIGSYS from the
// filter, handled by the stub's handler and reported over the message
// page) and releases it.
func (p *Platform) selfTest() error {
	as, err := p.NewAddressSpace()
	if err != nil {
		return err
	}
	defer as.Release()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		c := newContext(p)
		defer c.Release()
		_, err := c.threadFor(as.(*addressSpace))
		errc <- err
	}()
	select {
	case err := <-errc:
		return err
	case <-time.After(30 * time.Second):
		return fmt.Errorf("no trap from a new stub thread within 30s")
	}
}
