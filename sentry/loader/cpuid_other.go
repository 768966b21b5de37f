//go:build !amd64

package loader

// cpuidHWCap returns 0: AT_HWCAP is only computed on x86-64.
func cpuidHWCap() uint64 { return 0 }
