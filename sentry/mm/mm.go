// Package mm is the sentry's memory manager: one MemoryManager per
// application address space (a thread group). It owns the virtual memory
// areas (what the application mapped, with what permissions and what
// backs it), the page table (which page of the memory file backs each
// populated virtual page) and the platform AddressSpace that mirrors that
// page table into wherever application code runs.
//
// Pages are populated on demand: an mmap only records a VMA; the first
// access (an application fault reported by the platform, or a sentry
// CopyIn/CopyOut on behalf of a syscall) allocates memory-file frames,
// fills them (zeros for anonymous memory, the file's page cache for a file
// mapping, copy-on-write for a private one) and maps them.
// A fault populates a small aligned window around the faulting page
// (fault-around) so a sequential walk costs one platform mapping per
// window, not per page.
//
// Application memory is only ever read and written by the sentry through
// the memory file's mapping in the sentry (memfile.Slice); bad addresses
// give EFAULT, never a sentry fault.
//
// Page cache (pagecache.go): every file with an identity (device, inode)
// has one cache object per memory file holding the file's pages. Shared
// file mappings map its frames (dirty tracking, msync, writeback when the
// last shared mapping goes); private file mappings map the same frames
// copy-on-write, so every process mapping or reading a file shares them
// until it writes; read(2) copies from them (CachedRead). An object lives
// while it has pages or mappings: clean pages stay cached after munmap
// and are reclaimable. FileWritten, FileTruncated and FileFlush keep it
// coherent with write(2), truncate(2) and uncached reads.
//
// Reclaim (kswapd): every frame comes from the zone (kswapd.Zone.Allocate)
// labelled with its owner: private anonymous pages with the
// MemoryManager and their virtual address, page-cache pages with the
// cache object and their file offset, shared anonymous memory as
// unevictable. The zone asks owners to reclaim or deactivate pages with
// none of its locks held. There are no reverse mappings: the ptes holding
// a frame are found in the registry of live memory managers (same memory
// file) — at the same virtual address for an anonymous page shared by
// fork (fork keeps addresses), in the vmas of the file's object covering
// the offset for a page-cache page. Reclaim runs against the normal lock
// order (it starts from a page, not from an address space), so it takes
// memory manager locks only with TryLock and gives up (kswapd.Keep) when
// one is busy or when not every reference could be found; nothing
// waits, so reclaim can never deadlock with a fault or a syscall. A
// reclaimed anonymous page becomes a swap entry in every pte (pte.swapSlot,
// one slot reference each); the next fault or sentry access reads it
// back. A reclaimed page-cache page is unmapped everywhere, written back
// if dirty, and dropped; the next access reads the file again.
//
// Allocation failure: Allocate fails (kswapd.ErrNoMemory) instead of
// waiting below the min watermark. It is never served under m.mu: a fault
// returns ErrNoMemory after dropping its locks and the caller (process's
// fault handler) runs direct reclaim with its task and retries; sentry
// copies and futex accesses drop m.mu, reclaim, re-lock and retry a bounded
// number of times (then EFAULT); CachedRead falls back to reading the
// file directly.
//
// Locking, in order:
//
//	MemoryManager.mu   the VMAs, the page table, brk/stack bookkeeping
//	pageCache.mu       the index of cache objects (leaf below mm.mu)
//	cacheObject.mu     an object's pages, dirty state, map counts
//	memfile.MemoryFile.mu
//	the zone's LRU lock (leaf)
//
// (mm.mu → cache object mu → memfile.mu → zone LRU lock.) Reclaim and
// deactivation, which start from a page, hold a cache object's mu or one
// MemoryManager.mu and take other MemoryManager.mu only with TryLock.
// Platform AddressSpace calls are made with mm.mu held; platforms never
// call back into mm. File I/O (Mappable.ReadAt, WriteAt) happens under
// mm.mu and the object's mu.
package mm

import (
	"fmt"

	"github.com/runsc-lite/runsc-lite/sentry/memfile"

	"gvisor.dev/gvisor/pkg/hostarch"
)

// PageSize is the application page size.
const PageSize = hostarch.PageSize

// Mappable is the file side of a file-backed mapping (a regular file's
// open description).
type Mappable interface {
	// ReadAt reads file contents at off (io.ReaderAt semantics; a short
	// read at end of file is not an error for the caller).
	ReadAt(p []byte, off int64) (int, error)
	// WriteAt writes back data of a shared mapping.
	WriteAt(p []byte, off int64) (int, error)
	// MappingIdentity identifies the file for sharing pages between
	// shared mappings (device and inode numbers) and for /proc/PID/maps.
	MappingIdentity() (dev, ino uint64, path string)
}

// MappedFile is implemented by a Mappable whose file must outlive its
// names and descriptors while a vma maps it, as a vma's reference on its
// struct file keeps an unlinked file's data alive on Linux (a tmpfs file
// mapped, unlinked and closed before its pages are touched). Mapped is
// called for every vma that comes to map the file (mmap, a split, fork),
// Unmapped for every one that goes, after its dirty pages were written
// back. Unmapped may free the file's data; it must not take a memory
// manager's lock.
type MappedFile interface {
	Mapped()
	Unmapped()
}

// WriteMapCounter is implemented by a Mappable that counts its shared
// mappings that may write to it, now or after an mprotect (MaxPerms.Write):
// Linux's i_mmap_writable, which F_SEAL_WRITE must find zero. WriteMapped
// is called with 1 for every such vma that comes (mmap, a split, fork) and
// -1 for every one that goes. It must not take a memory manager's lock.
type WriteMapCounter interface {
	WriteMapped(delta int32)
}

// SharedWriteGate is implemented by a Mappable whose seals may forbid
// shared mappings that write (memfd's F_SEAL_WRITE, F_SEAL_FUTURE_WRITE).
// The mmap syscall calls HoldSharedWrite before it makes a shared mapping:
// EPERM if write (PROT_WRITE) is asked and forbidden; mayWrite false if
// the mapping must not become writable later (MaxPerms.Write cleared).
// While held (until release), the file counts as mapped writable, so a
// seal cannot slip in between the check and the mapping.
type SharedWriteGate interface {
	HoldSharedWrite(write bool) (mayWrite bool, release func(), err error)
}

// ProcessMappedFile is a MappedFile that is also told which process maps
// or unmaps it (System V shared memory records the last one, shm_lpid):
// the memory manager's owner (SetOwner), and for the copies fork makes,
// the parent, as Linux's vm_ops open and close see them. The same rules
// as MappedFile's hold; it is called instead of Mapped and Unmapped.
type ProcessMappedFile interface {
	MappedBy(pid int32)
	UnmappedBy(pid int32)
}

// MMapOpts describe a new mapping.
type MMapOpts struct {
	// Addr is the hint (or the exact address with Fixed).
	Addr uintptr
	// Length is the mapping's length in bytes (rounded up to pages).
	Length uintptr
	// Fixed maps exactly at Addr, replacing existing mappings
	// (MAP_FIXED); NoReplace fails with EEXIST instead of replacing.
	Fixed, NoReplace bool
	// Perms are the initial permissions; MaxPerms bound what mprotect
	// may grant (a read-only file opened O_RDONLY mapped shared cannot
	// become writable).
	Perms, MaxPerms hostarch.AccessType
	// Private mappings are copy-on-write; shared ones share pages with
	// every other shared mapping of the same file (or of the same
	// anonymous shared region after fork).
	Private bool
	// Mappable backs a file mapping; nil means anonymous memory.
	Mappable Mappable
	// Special, when set, maps these sentry-owned pages from Offset
	// (special.go): a private mapping that can never be written.
	Special *SpecialPages
	// Shared, when set, is the memory the mapping maps shared (a System
	// V shared memory segment, shmat); Mappable then only names it in
	// /proc/PID/maps and is told of attaches (ProcessMappedFile).
	Shared *SharedMemory
	// Offset is the file offset of Addr (page aligned).
	Offset uint64
	// GrowsDown marks a stack (MAP_GROWSDOWN).
	GrowsDown bool
	// Name labels an anonymous mapping in /proc/PID/maps ("[heap]",
	// "[stack]").
	Name string
	// Populate allocates every page now (MAP_POPULATE).
	Populate bool
	// NoReserve (MAP_NORESERVE) exempts a private writable mapping from
	// the overcommit check.
	NoReserve bool
	// Limits are the caller's RLIMIT_AS and RLIMIT_DATA (limits.go);
	// nil means none.
	Limits *VMLimits
	// Executable says Mappable is the file the image runs, whose
	// writes the caller denies for as long as the memory manager holds
	// it (HoldExecutable): the loader's mappings of the program's own
	// segments. A write fault on such a private mapping copies the
	// other pages of its window with it (fault.go, copyAroundLocked).
	Executable bool
	// File, if not nil, is what the file description the mapping is
	// made from holds beyond its descriptors (its write access), which
	// every vma of the mapping keeps a reference on until it goes, as
	// Linux's vma keeps its file open: a file mapped from a description
	// open for writing cannot be executed (ETXTBSY) until every vma
	// made from it, split, moved or inherited, is unmapped. MMap takes
	// its own reference.
	File FileRef
}

// FileRef is a reference-counted hold a vma keeps on its file
// (MMapOpts.File).
type FileRef interface {
	IncRef()
	DecRef()
}

// FaultError is a fault the memory manager could not resolve; the task
// gets Signo with Code and Addr in its siginfo.
type FaultError struct {
	Signo int
	Code  int32
	Addr  uintptr
}

func (e *FaultError) Error() string {
	return fmt.Sprintf("unresolved fault at %#x (signal %d code %d)", e.Addr, e.Signo, e.Code)
}

type memfileRange = memfile.FileRange
