package ptrace

import (
	"testing"

	"github.com/runsc-lite/runsc-lite/platform"
	"github.com/runsc-lite/runsc-lite/platform/platformtest"
	"github.com/runsc-lite/runsc-lite/sentry/memfile"
)

func newPlatform(mf *memfile.MemoryFile) (platform.Platform, error) { return New(mf) }

// TestPlatform runs the platform contract suite (platform/platformtest).
func TestPlatform(t *testing.T) {
	platformtest.Run(t, newPlatform, platformtest.Options{
		// A SIGSEGV's siginfo does not say whether a fault on an
		// unmapped page was a read or a write.
		UnmappedAccessUnknown: true,
		BadMapAddrs:           []uintptr{stubBase, stubScratch},
	})
}
