package systrap

import (
	"time"
	_ "unsafe" // go:linkname
)

// procyield executes one PAUSE: a polite spin-wait step.
func procyield()

// rdtsc reads the time-stamp counter.
func rdtsc() uint64

// nanotime is the runtime's monotonic clock.
//
//go:linkname nanotime runtime.nanotime
func nanotime() int64

// spinPolicy turns a context's spin off while it does not pay. Waits are
// counted in windows of spinWindow spins; when fewer than half of a
// window's spins saw the stub answer, spinning stops for the next
// spinOff waits (the host is loaded, or the application computes between
// syscalls), then is tried again. It belongs to the context's thread.
type spinPolicy struct {
	max   time.Duration
	off   int
	spins int
	hits  int
	// Counters for the curious (tests, measurements).
	totalSpins, totalHits uint64
}

const (
	spinWindow = 256
	spinOff    = 4096
)

// budget returns how long the next wait may poll.
func (s *spinPolicy) budget() time.Duration {
	if s.max == 0 {
		return 0
	}
	if s.off > 0 {
		s.off--
		return 0
	}
	return s.max
}

// on reports whether the next wait polls (without consuming an off
// wait).
func (s *spinPolicy) on() bool {
	return s.max > 0 && s.off == 0
}

// record counts a spin and whether the stub answered during it.
func (s *spinPolicy) record(hit bool) {
	s.spins++
	s.totalSpins++
	if hit {
		s.hits++
		s.totalHits++
	}
	if s.spins == spinWindow {
		if 2*s.hits < spinWindow {
			s.off = spinOff
		}
		s.spins, s.hits = 0, 0
	}
}
