// Package hostcpus records the host CPUs the sentry was started with: the
// affinity it inherited (taskset, a container's cpuset), read once, at the
// first use, which comes before any of its threads is pinned to one CPU
// (the sentry's boot: the platform's construction or the kernel's) and
// after the OCI runtime has placed the sentry in its cgroup (which
// narrows every thread's affinity to the cgroup's cpuset), so not at
// process start.
//
// Everything that pins a thread to a host CPU (the kernel's sandbox CPUs,
// the platforms' stub placement, auto's probe) takes its CPU numbers from
// here, so that no pin leaves that set: sched_setaffinity to a CPU outside
// a cpuset fails, and outside a mere affinity mask it succeeds and escapes
// the restriction the sentry was started under. A thread's own affinity
// read later says nothing of the whole (it may be one pinned CPU), and
// runtime.NumCPU is a count, not CPU numbers.
package hostcpus

import (
	"runtime"
	"sync"

	"golang.org/x/sys/unix"
)

var start = sync.OnceValue(read)

// read returns the calling thread's affinity.
func read() []int {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err == nil {
		if cpus := List(set); len(cpus) > 0 {
			return cpus
		}
	}
	cpus := make([]int, runtime.NumCPU())
	for i := range cpus {
		cpus[i] = i
	}
	return cpus
}

// Allowed returns the host CPUs the sentry was started with, ascending.
// The caller must not modify the slice.
func Allowed() []int { return start() }

// Set returns Allowed as a CPU set.
func Set() unix.CPUSet {
	var set unix.CPUSet
	for _, cpu := range start() {
		set.Set(cpu)
	}
	return set
}

// List returns the CPUs in set, ascending.
func List(set unix.CPUSet) []int {
	var cpus []int
	for cpu := 0; cpu < len(set)*64; cpu++ {
		if set.IsSet(cpu) {
			cpus = append(cpus, cpu)
		}
	}
	return cpus
}
