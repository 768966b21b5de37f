package hostfs

import (
	"sync"
	"sync/atomic"

	"github.com/runsc-lite/runsc-lite/kswapd"
	"golang.org/x/sys/unix"
)

// Reads of host regular files through the sandbox's page cache.
//
// With a page cache (SetPageCache, at boot), read and pread of a host
// regular file (not O_DIRECT) are served from page-cache pages in the
// memory file, keyed by the host file's device and inode (mm.CachedRead):
// a miss reads the host file through the File's descriptor (the page
// cache counts it in pgpgin), a hit makes no host syscall at all. The device and inode come
// from the lookup that found the node (one fstat it made anyway), so an
// open+read+close of a cached file costs no more host syscalls than
// before. What changes a host file through the sandbox keeps the cache
// coherent: write-behind data is flushed before a read (syncForRead),
// every write updates the cached pages (mm.FileWritten, from the one
// place all write paths reach: hostData.WriteAt), truncation drops the pages
// past the new end (mm.FileTruncated), and fsync/fdatasync write back the
// dirty pages of shared mappings first (mm.FileFlush). Changes made on the
// host by others are not seen while pages stay cached (as for gVisor's
// cached host files).
//
// Locking: File.fdMu guards the File's descriptor against Release while
// the page cache reads through it (it is a leaf, held across one host
// pread); pageCache is an atomic.

// pageCache is the zone page-cache reads use; nil reads the host directly.
// It is process-wide: one sentry runs one sandbox.
var pageCache atomic.Pointer[kswapd.Zone]

// SetPageCache makes reads of host regular files go through the page cache
// of zone z (nil turns it off). Call it at boot, before the sandbox runs.
func SetPageCache(z *kswapd.Zone) { pageCache.Store(z) }

// KeepsPageCacheCoherent implements fs.PageCacheCoherent: with the page
// cache on, reads of a file not opened O_DIRECT are served from the cached
// pages shared mappings use, and every write updates them (hostData).
func (f *File) KeepsPageCacheCoherent() bool { return pageCache.Load() != nil && !f.direct }

// identity returns the host device and inode of f's file: the node's,
// recorded at lookup, or (for a node made another way) an fstat of the
// open descriptor, once.
func (f *File) identity() (dev, ino uint64, ok bool) {
	if f.node.ino != 0 {
		return f.node.dev, f.node.ino, true
	}
	f.idOnce.Do(func() {
		var st unix.Stat_t
		if err := retry(func() error { return unix.Fstat(f.fd, &st) }); err == nil {
			f.dev, f.ino = st.Dev, st.Ino
		}
	})
	return f.dev, f.ino, f.ino != 0
}

// readMappable is an open File as the page cache's source: ReadAt reads
// the host file through the File's descriptor while it is open, and fails
// with EBADF once the File is released (the cache never keeps a closed
// descriptor's number, which the host may reuse).
type readMappable struct {
	f        *File
	dev, ino uint64
}

// ReadAt implements mm.Mappable.
func (r *readMappable) ReadAt(p []byte, off int64) (int, error) {
	r.f.fdMu.RLock()
	defer r.f.fdMu.RUnlock()
	if r.f.closed {
		return 0, unix.EBADF
	}
	// The page cache counts what it reads in (pgpgin).
	return preadFull(r.f.fd, p, off)
}

// WriteAt implements mm.Mappable: page-cache pages of a read are never
// written back through it (shared mappings have their own Mappable).
func (r *readMappable) WriteAt(p []byte, off int64) (int, error) { return 0, unix.EBADF }

// MappingIdentity implements mm.Mappable.
func (r *readMappable) MappingIdentity() (uint64, uint64, string) { return r.dev, r.ino, "" }

// cacheSource returns the File's page-cache source, or nil when the File
// does not read through the cache (O_DIRECT, or its inode is unknown).
func (f *File) cacheSource() *readMappable {
	if f.direct {
		return nil
	}
	if rm := f.rm.Load(); rm != nil {
		return rm
	}
	dev, ino, ok := f.identity()
	if !ok {
		return nil
	}
	rm := &readMappable{f: f, dev: dev, ino: ino}
	if !f.rm.CompareAndSwap(nil, rm) {
		return f.rm.Load()
	}
	return rm
}

// fileCacheState is the page-cache part of a File.
type fileCacheState struct {
	direct bool
	rm     atomic.Pointer[readMappable]

	idOnce   sync.Once
	dev, ino uint64

	fdMu   sync.RWMutex
	closed bool // protected by fdMu
}
