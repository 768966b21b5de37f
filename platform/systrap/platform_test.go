package systrap

import (
	"testing"

	"github.com/runsc-lite/runsc-lite/platform/platformtest"
)

// TestPlatformContract runs the shared platform conformance suite on
// systrap. Its faults carry the page-fault error code, so a store to an
// unmapped page reports Write; nothing can be mapped over the stub's
// regions and page, all above MaxUserAddress.
func TestPlatformContract(t *testing.T) {
	platformtest.Run(t, newPlatform, platformtest.Options{})
}
