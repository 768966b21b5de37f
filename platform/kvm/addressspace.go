package kvm

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/runsc-lite/runsc-lite/sentry/memfile"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// addressSpace is a platform.AddressSpace: a tree of guest page tables.
type addressSpace struct {
	p *Platform

	// tlbGen is bumped after every page-table change that a TLB may have
	// cached (see the package comment).
	tlbGen atomic.Uint64

	released atomic.Bool

	// mu serialises edits of pt.
	mu sync.Mutex
	pt *pageTables
}

func newAddressSpace(p *Platform) (*addressSpace, error) {
	pt, err := newPageTables(p.mem, true)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	// The kernel half: the same PDPT in every tree.
	pt.setRootEntry(ptEntries-1, p.kernel.rootEntry(ptEntries-1))
	p.mu.Unlock()
	return &addressSpace{p: p, pt: pt}, nil
}

// checkRange checks MapFile's and Unmap's preconditions.
func checkRange(addr, length uintptr) error {
	end := addr + length
	if addr%pageSize != 0 || length%pageSize != 0 || length == 0 || end < addr || addr < pageSize || end > maxUserAddress {
		return fmt.Errorf("kvm: bad range [%#x, %#x)", addr, end)
	}
	return nil
}

// MapFile implements platform.AddressSpace.MapFile. It writes the page
// tables and, if it replaced mappings a TLB may hold, flushes them from
// every vCPU (kicking out those running in the address space, and waiting
// until they have left the guest).
func (as *addressSpace) MapFile(addr uintptr, fr memfile.FileRange, at hostarch.AccessType) error {
	if err := checkRange(addr, uintptr(fr.Length())); err != nil {
		return err
	}
	if !at.Any() {
		return fmt.Errorf("kvm: MapFile with no access")
	}
	if fr.Start%pageSize != 0 || fr.End%pageSize != 0 || fr.End > as.p.mf.Size() || fr.End <= fr.Start {
		return fmt.Errorf("kvm: bad file range %v", fr)
	}
	if as.released.Load() {
		return fmt.Errorf("kvm: MapFile into a released address space")
	}
	as.mu.Lock()
	flush, err := as.pt.mapRange(uint64(addr), fr.Start, fr.Pages(), at.Write, at.Execute, true)
	as.mu.Unlock()
	if flush {
		as.shootdown()
	}
	return err
}

// Unmap implements platform.AddressSpace.Unmap. Like MapFile it returns
// only once no vCPU can use the removed entries.
func (as *addressSpace) Unmap(addr, length uintptr) {
	if checkRange(addr, length) != nil || as.released.Load() {
		return
	}
	as.mu.Lock()
	flush := as.pt.unmapRange(uint64(addr), uint64(addr+length))
	as.mu.Unlock()
	if flush {
		as.shootdown()
	}
}

// shootdown makes every vCPU flush the address space's TLB entries before
// it runs in it again, and returns when no vCPU can still be running with
// stale ones.
//
// Order: the generation is bumped before the running vCPUs are looked at;
// a vCPU publishes that it runs in as before it reads the generation. So
// either the vCPU sees the new generation and flushes on entry, or this
// function sees it running and kicks it out.
func (as *addressSpace) shootdown() {
	as.tlbGen.Add(1)
	as.p.shootdowns.Add(1)
	vs := as.p.vcpus.Load()
	if vs == nil {
		return
	}
	for _, v := range *vs {
		if v.running.Load() != as {
			continue
		}
		before := v.exits.Load()
		if v.running.Load() != as {
			continue
		}
		v.kick()
		waitExit(v, as, before)
	}
}

// waitExit waits until v left KVM_RUN after exit count before, or no
// longer runs in as. It re-kicks now and then (a kick is never lost, but a
// thread can be descheduled for long on a busy host) and warns if it
// takes unreasonably long.
func waitExit(v *vcpu, as *addressSpace, before uint64) {
	start := time.Now()
	warned := false
	for i := 0; ; i++ {
		if v.exits.Load() != before || v.running.Load() != as {
			return
		}
		switch {
		case i < 64:
			runtime.Gosched()
		default:
			time.Sleep(20 * time.Microsecond)
			if i%256 == 0 {
				v.kick()
			}
			if !warned && time.Since(start) > time.Second {
				warned = true
				as.p.log.Warnf("kvm: vCPU %d has not left the guest %v after a TLB shootdown", v.id, time.Since(start))
			}
		}
	}
}

// Release implements platform.AddressSpace.Release. It frees the page
// tables: no context may switch into the address space afterwards, and
// none may be running in it.
func (as *addressSpace) Release() {
	if as.released.Swap(true) {
		return
	}
	as.mu.Lock()
	// Slot 511 is the platform's: forget it before freeing the tree's
	// own pages.
	as.pt.setRootEntry(ptEntries-1, 0)
	as.pt.release()
	as.mu.Unlock()
}
