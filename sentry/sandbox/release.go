package sandbox

// Start-up memory an idle sentry gives back. Booting touches much of the
// runsc-lite binary (package initialisation, the platform's and the
// filesystems' set-up, the boot message's decoding) that a sandbox then
// never runs again, and leaves garbage on the Go heap: an idle `sleep`
// container's sentry had 10.2 MB of the binary's pages mapped and 3.7 MB
// of heap and stacks. Once its program has run for releaseDelay, the
// sentry collects its heap and returns the free part to the host
// (debug.FreeOSMemory), and drops its mappings of the binary's read-only
// pages (code and read-only data; MADV_DONTNEED): they stay in the host's
// page cache, shared with every other runsc-lite process, and what the
// sentry still runs faults back in from there (a minor fault a page; the
// executable cannot change under a running process, ETXTBSY). Writable
// data is never touched.
//
// Until then the Go heap is not collected below bootGCPercent: with the
// default GOGC a sentry collected once while it booted (a heap of 5 MB
// against the runtime's 4 MB minimum goal), ~3% of a `true` container's
// CPU, for garbage the collection after releaseDelay frees anyway.

import (
	"bufio"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// releaseDelay is how long after its program starts the sentry releases
// its start-up memory.
const releaseDelay = time.Second

// bootGCPercent is the sentry's GOGC until releaseStartupMemory.
const bootGCPercent = 400

// relaxBootGC raises the GC goal for booting, and returns the GOGC to
// go back to.
func relaxBootGC() int {
	return debug.SetGCPercent(bootGCPercent)
}

// imageRange is a read-only mapping of the sentry's executable.
type imageRange struct{ start, end uintptr }

// readOnlyImage returns the mappings of this process's executable that
// are not writable, from /proc/self/maps (read before confinement hides
// /proc).
func readOnlyImage() []imageRange {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return nil
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return nil
	}
	defer f.Close()
	var rs []imageRange
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// start-end perms offset dev inode path
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[5] != exe || strings.Contains(fields[1], "w") {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		rs = append(rs, imageRange{uintptr(start), uintptr(end)})
	}
	return rs
}

// releaseStartupMemory returns the sentry's free heap to the host and
// drops its mappings of image's pages;
// GOGC is set back to gcPercent.
func releaseStartupMemory(image []imageRange, gcPercent int) {
	debug.SetGCPercent(gcPercent)
	debug.FreeOSMemory()
	for _, r := range image {
		unix.Syscall(unix.SYS_MADVISE, r.start, r.end-r.start, unix.MADV_DONTNEED)
	}
}

// ReleaseStartupMemory gives back, in a waiting runsc-lite process (an
// OCI stand-in or waiter), what its start-up touched: its free heap, and
// its mappings of the binary's read-only pages (what it still runs faults
// back in from the page cache).
func ReleaseStartupMemory() {
	releaseStartupMemory(readOnlyImage(), debug.SetGCPercent(-1))
}
