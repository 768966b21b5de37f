package loader

import (
	"encoding/binary"
	"os"

	"gvisor.dev/gvisor/pkg/abi/linux"
)

// hostHWCap and hostMinSigStackSize are the host kernel's AT_HWCAP and
// AT_MINSIGSTKSZ, read once when the sentry starts (before it may lose
// access to /proc). AT_HWCAP falls back to CPUID leaf 1 EDX, which is what
// Linux reports on x86-64.
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
