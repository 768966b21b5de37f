package loader

import (
	"encoding/binary"
	"os"

	"gvisor.dev/gvisor/pkg/abi/linux"
)

// hostHWCap and hostMinSigStackSize are the host kernel's AT_HWCAP and
// AT_MINSIGSTKSZ, read once when the sentry starts (before it may lose
// access to /proc). The kernel's AT_HWCAP is CPUID leaf 1 EDX less the
// bits it cleared (MTRR under some hypervisors, say), so programs see in
// the sandbox what they see on the host; CPUID itself is only the
// fall-back when the host's auxv cannot be read.
var hostHWCap, hostMinSigStackSize = readHostAuxv()

func readHostAuxv() (hwcap, minSigStk uint64) {
	hwcap, minSigStk = cpuidHWCap(), defaultMinSigStackSize
	b, err := os.ReadFile("/proc/self/auxv")
	if err != nil {
		return hwcap, minSigStk
	}
	for i := 0; i+16 <= len(b); i += 16 {
		k, v := binary.LittleEndian.Uint64(b[i:]), binary.LittleEndian.Uint64(b[i+8:])
		switch k {
		case linux.AT_HWCAP:
			if v != 0 {
				hwcap = v
			}
		case atMinSigStkSz:
			if v != 0 {
				minSigStk = v
			}
		case linux.AT_NULL:
			return hwcap, minSigStk
		}
	}
	return hwcap, minSigStk
}
