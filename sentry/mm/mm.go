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
// fills them (zeros for anonymous memory, file contents for a private file
// mapping, the shared page cache for a shared file mapping) and maps them.
// A fault populates a small aligned window around the faulting page
// (fault-around) so a sequential walk costs one platform mapping per
// window, not per page.
//
// Application memory is only ever read and written by the sentry through
// the memory file's mapping in the sentry (memfile.Slice); bad addresses
// give EFAULT, never a sentry fault.
//
// Locking: MemoryManager.mu protects the VMAs, the page table and the
// brk/stack bookkeeping. It is taken before memfile.MemoryFile.mu and
// before the shared page cache's lock (sharedCache.mu). Platform
// AddressSpace calls are made with mm.mu held; platforms never call back
// into mm.
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
	// Offset is the file offset of Addr (page aligned).
	Offset uint64
	// GrowsDown marks a stack (MAP_GROWSDOWN).
	GrowsDown bool
	// Name labels an anonymous mapping in /proc/PID/maps ("[heap]",
	// "[stack]").
	Name string
	// Populate allocates every page now (MAP_POPULATE).
	Populate bool
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
