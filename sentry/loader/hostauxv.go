package loader

import (
	"encoding/binary"
	"os"
	"sync"

	"gvisor.dev/gvisor/pkg/abi/linux"
)

// hostAuxv returns the host kernel's AT_HWCAP and AT_MINSIGSTKSZ, read
// once, when the sentry loads its first program: the sandbox's init,
// loaded before the sentry confines itself and loses access to /proc.
// The kernel's AT_HWCAP is CPUID leaf 1 EDX less the bits it cleared
// (MTRR under some hypervisors, say), so programs see in the sandbox what
// they see on the host; CPUID itself is only the fall-back when the
// host's auxv cannot be read. (Not read at package initialisation: every
// runsc-lite process, the CLI's too, would pay for the /proc read and a
// CPUID, which traps to the hypervisor on a virtual machine.)
var hostAuxv = sync.OnceValues(readHostAuxv)

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
