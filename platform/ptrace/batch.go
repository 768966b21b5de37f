package ptrace

import (
	"errors"
	"fmt"

	"github.com/runsc-lite/runsc-lite/platform"
	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"github.com/runsc-lite/runsc-lite/sentry/memfile"
	"golang.org/x/sys/unix"
)

// Batched mapping requests (issue 16, item 4; platform.BatchMapper).
//
// Every MapFile and Unmap is an injected syscall: a ptrace round trip to
// the stub (set the registers, resume, wait for the trap, read the
// registers), two host context switches that on a loaded host each wait
// for a CPU. Where the sentry changes several mappings back to back (a
// fork's child set up from its parent's page table, the parent's
// write-protection, a fault-around window with several runs) MapBatch
// sends them as one request: the ops are written as syscall entries into
// the address space's batch page, and one injection runs the stub's batch
// loop (stubBatch) over them, which stops at the first error.
//
// The batch page is a page of the memory file mapped read-only in the
// stub at batchPageAddr, the first page above the application's range,
// made and mapped on the first batch of 2 or more ops. Application code
// can read it (its own mappings' requests) but not write it; the stub's
// filter allows only mmap(MAP_SHARED|MAP_FIXED) and munmap from the
// loop's syscall instruction (AddBatchRule), and the application cannot
// run the loop itself (under PTRACE_SYSEMU its syscalls stop first; on
// systrap the thread filter traps them).
//
// batchMu serialises the batch page's users; it is held across the
// injection (which may go through the master, which takes batchMu only
// in killStub, when no batch can be in flight) and taken before
// addressSpace.mu.
// Release takes the page, under batchMu, once no batch is in flight: a
// recycled stub keeps it mapped for its next address space (cleared by
// Release: the next program can read it), any other stub's is freed. A
// master never touches the memory file (the sentry may release it while
// a recycle runs in the background): a page of a stub killed while being
// recycled is freed by Platform.Release. A clean fork's munmap covers
// the page, so no stub shares another's.

const (
	// batchPageAddr is where the batch page is mapped in a stub.
	batchPageAddr = maxUserAddress
	// batchEntrySize is the size of an entry: sysno and six arguments,
	// padded to 64 bytes (the loop's stride).
	batchEntrySize = 64
	// maxBatchEntries is the entries of one batch page.
	maxBatchEntries = pageSize / batchEntrySize
)

// MapBatch implements platform.BatchMapper.
func (as *addressSpace) MapBatch(ops []platform.MapOp) (int, error) {
	if err := as.applyDeferred(); err != nil {
		return 0, err
	}
	return as.mapBatch(ops)
}

// MapBatchBeforeRun implements platform.DeferredBatchMapper: a fork's
// child is pre-mapped by its own first Switch (the Context's thread
// traces its stub thread and injects the batch itself) instead of by the
// forking thread through the master.
func (as *addressSpace) MapBatchBeforeRun(ops []platform.MapOp) {
	if len(ops) == 0 {
		return
	}
	as.deferMu.Lock()
	as.deferred = append(as.deferred, ops...)
	as.hasDeferred.Store(true)
	as.deferMu.Unlock()
}

// applyDeferred applies the deferred batch, if any, and returns the error
// of a deferred batch that failed (now or before).
func (as *addressSpace) applyDeferred() error {
	if !as.hasDeferred.Load() {
		return nil
	}
	as.deferMu.Lock()
	defer as.deferMu.Unlock()
	if unmaps, ops := as.deferredUnmap, as.deferred; len(unmaps) > 0 || len(ops) > 0 {
		as.deferred, as.deferredUnmap = nil, nil
		if err := as.runDeferred(unmaps, ops); err != nil && !errors.Is(err, errASReleased) {
			as.deferErr = fmt.Errorf("ptrace: a deferred batch: %w", err)
		}
	}
	if as.deferErr == nil {
		as.hasDeferred.Store(false)
	}
	return as.deferErr
}

// runDeferred applies a recycling's unmaps (recycleHere), then ops, in as
// few injections as the batch page allows: one for a fork's child.
// Preconditions: deferMu is held.
func (as *addressSpace) runDeferred(unmaps [][2]uintptr, ops []platform.MapOp) error {
	entries := make([][7]uintptr, 0, len(unmaps)+len(ops))
	for _, r := range unmaps {
		if r[1] > 0 {
			entries = append(entries, [7]uintptr{unix.SYS_MUNMAP, r[0], r[1]})
		}
	}
	for i := range ops {
		e, err := as.batchEntry(&ops[i])
		if err != nil {
			return err
		}
		entries = append(entries, e)
	}
	for len(entries) > 0 {
		n := min(len(entries), maxBatchEntries)
		if n == 1 {
			e := entries[0]
			if _, err := as.syscall(e[0], e[1:]...); err != nil {
				return fmt.Errorf("ptrace: %s(%#x, %#x): %w", sysName(e[0]), e[1], e[2], err)
			}
		} else if _, err := as.runEntries(entries[:n]); err != nil {
			return err
		}
		entries = entries[n:]
	}
	return nil
}

// mapBatch is MapBatch without the deferred batch.
func (as *addressSpace) mapBatch(ops []platform.MapOp) (int, error) {
	done := 0
	for done < len(ops) {
		n := min(len(ops)-done, maxBatchEntries)
		k, err := as.runBatch(ops[done : done+n])
		done += k
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// batchEntry returns the syscall entry of op, after checking it as
// MapFile or Unmap would.
func (as *addressSpace) batchEntry(op *platform.MapOp) ([7]uintptr, error) {
	if !op.Access.Any() {
		if err := checkRange(op.Addr, op.Length); err != nil {
			return [7]uintptr{}, err
		}
		return [7]uintptr{unix.SYS_MUNMAP, op.Addr, op.Length}, nil
	}
	if err := as.checkMapFile(op.Addr, op.FR); err != nil {
		return [7]uintptr{}, err
	}
	return [7]uintptr{unix.SYS_MMAP, op.Addr, uintptr(op.FR.Length()), uintptr(op.Access.Prot()), unix.MAP_SHARED | unix.MAP_FIXED, stubMemFD, uintptr(op.FR.Start)}, nil
}

// runOne applies op alone, with one injected syscall.
func (as *addressSpace) runOne(op *platform.MapOp) error {
	e, err := as.batchEntry(op)
	if err != nil {
		return err
	}
	_, err = as.syscall(e[0], e[1:]...)
	if err != nil {
		return fmt.Errorf("ptrace: %s(%#x, %#x): %w", sysName(e[0]), e[1], e[2], err)
	}
	return nil
}

func sysName(sysno uintptr) string {
	if sysno == unix.SYS_MMAP {
		return "mmap"
	}
	return "munmap"
}

// runBatch applies ops (at most maxBatchEntries) with one injection of
// the batch loop.
func (as *addressSpace) runBatch(ops []platform.MapOp) (int, error) {
	if len(ops) == 1 {
		if err := as.runOne(&ops[0]); err != nil {
			return 0, err
		}
		return 1, nil
	}
	var entries [maxBatchEntries][7]uintptr
	for i := range ops {
		e, err := as.batchEntry(&ops[i])
		if err != nil {
			// Apply the valid ones before it, as one at a time would.
			n, berr := as.runBatch(ops[:i])
			if berr != nil {
				return n, berr
			}
			return i, err
		}
		entries[i] = e
	}
	return as.runEntries(entries[:len(ops)])
}

// runEntries runs entries (2 to maxBatchEntries syscall entries) with one
// injection of the batch loop. It returns how many succeeded and the
// error of the one that failed.
func (as *addressSpace) runEntries(entries [][7]uintptr) (int, error) {
	if len(entries) == 0 {
		return 0, nil
	}
	as.batchMu.Lock()
	defer as.batchMu.Unlock()
	if as.isReleased() {
		return 0, errASReleased
	}
	if as.batchFR.Length() == 0 {
		fr, err := as.p.mf.Allocate(1)
		if err != nil {
			return 0, fmt.Errorf("ptrace: a batch page: %w", err)
		}
		as.batchFR = fr
	}
	if !as.batchMapped {
		if _, err := as.syscall(unix.SYS_MMAP, batchPageAddr, pageSize, unix.PROT_READ, unix.MAP_SHARED|unix.MAP_FIXED, stubMemFD, uintptr(as.batchFR.Start)); err != nil {
			return 0, fmt.Errorf("ptrace: mapping the batch page: %w", err)
		}
		as.batchMapped = true
	}
	buf := as.p.mf.Slice(as.batchFR)
	for i, e := range entries {
		b := buf[i*batchEntrySize:]
		for j, v := range e {
			putUint64(b[8*j:], uint64(v))
		}
	}
	n, err := as.inject(func(tid int32) (uintptr, error) {
		n, err := injectBatch(tid, &as.initRegs, len(entries))
		return uintptr(n), err
	})
	if err != nil {
		e := entries[n]
		return int(n), fmt.Errorf("ptrace: %s(%#x, %#x) in a batch: %w", sysName(e[0]), e[1], e[2], err)
	}
	return int(n), nil
}

func putUint64(b []byte, v uint64) {
	_ = b[7]
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
	b[4], b[5], b[6], b[7] = byte(v>>32), byte(v>>40), byte(v>>48), byte(v>>56)
}

// injectBatch runs the batch loop over the first n entries of the batch
// page in the stub thread tid (traced by the calling OS thread, in a
// ptrace stop). It returns how many entries succeeded and, if one
// failed, its error.
func injectBatch(tid int32, base *arch.Registers, n int) (int, error) {
	platform.Counts.Injections.Add(1)
	regs := *base
	regs.Rip = stubBatch
	regs.Orig_rax = ^uint64(0)
	regs.R12 = batchPageAddr
	regs.R13 = uint64(n)
	if err := runInjected(tid, &regs, stubBatchTrapReturn); err != nil {
		return 0, err
	}
	left := int(regs.R13)
	if left < 0 || left > n {
		return 0, fmt.Errorf("ptrace: stub %d: batch loop ended with %d of %d entries left", tid, left, n)
	}
	done := n - left
	platform.Counts.InjectedSyscalls.Add(uint64(done))
	if left == 0 {
		return n, nil
	}
	platform.Counts.InjectedSyscalls.Add(1)
	if r := int64(regs.Rax); r < 0 && r > -4096 {
		return done, unix.Errno(-r)
	}
	return done, fmt.Errorf("ptrace: stub %d: batch loop stopped at entry %d with %#x", tid, done, regs.Rax)
}

// takeBatchPage takes as's batch page away from it once no batch is in
// flight, and returns it (empty if none; only a page that is mapped in
// the stub is kept).
// Preconditions: as is released (no new batch starts).
func (as *addressSpace) takeBatchPage() memfile.FileRange {
	as.batchMu.Lock()
	defer as.batchMu.Unlock()
	fr, mapped := as.batchFR, as.batchMapped
	as.batchFR, as.batchMapped = memfile.FileRange{}, false
	if fr.Length() > 0 && !mapped {
		as.p.mf.DecRef(fr)
		return memfile.FileRange{}
	}
	return fr
}

// freeBatchPage lets go of as's batch page once no batch is in flight.
// Preconditions: as is released (no new batch starts).
func (as *addressSpace) freeBatchPage() {
	if fr := as.takeBatchPage(); fr.Length() > 0 {
		as.p.mf.DecRef(fr)
	}
}

// orphanBatchPage keeps fr (if not empty), the batch page of a stub its
// master killed while recycling it, for Platform.Release to free: a
// master never touches the memory file, which the sentry may release
// while a recycle is still under way in the background.
func (p *Platform) orphanBatchPage(fr memfile.FileRange) {
	if fr.Length() == 0 {
		return
	}
	p.mu.Lock()
	p.orphans = append(p.orphans, fr)
	p.mu.Unlock()
}

// freeOrphans frees the pages orphanBatchPage kept (Platform.Release).
func (p *Platform) freeOrphans() {
	p.mu.Lock()
	orphans := p.orphans
	p.orphans = nil
	p.mu.Unlock()
	for _, fr := range orphans {
		p.mf.DecRef(fr)
	}
}
