package loader

// cpuid executes the CPUID instruction.
func cpuid(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32)

// cpuidHWCap returns x86-64 Linux's AT_HWCAP: CPUID leaf 1 EDX.
func cpuidHWCap() uint64 {
	_, _, _, edx := cpuid(1, 0)
	return uint64(edx)
}
