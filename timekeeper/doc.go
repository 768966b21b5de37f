// Package timekeeper is the sandbox's clocks: CLOCK_MONOTONIC,
// CLOCK_REALTIME and CLOCK_BOOTTIME (and their coarse and alarm forms) as
// one formula over the TSC,
//
//	ns = base + offset[clock] + (tsc - baseTSC) * mult >> shift
//
// whose parameters live in a page the vDSO (sentry/vdso) maps read-only
// into every process. The sentry's own clock reads (clock_gettime served
// after a trap, the timer bases of softirqd) evaluate the same formula on
// the same parameters, so a program that mixes vDSO reads and trapped
// reads sees one clock: it cannot go backwards between them, and a timer
// never fires before the clock it runs on reaches its deadline.
//
// The parameters are calibrated from the host's clocks and TSC: Start
// measures the TSC's rate against the host's CLOCK_MONOTONIC and then
// recalibrates once a second, continuing from where the formula is (never
// a step back) and slewing the rate so the formula meets the host's clock
// again by the next update (at most MaxSlew; an error beyond StepLimit
// ahead of the formula is stepped over). REALTIME and BOOTTIME are
// MONOTONIC plus the host's offsets, re-read at every update (a step of
// the host's wall clock shows up here within a second).
//
// Without a usable TSC (the host's clocksource is not "tsc", or the TSC is
// not constant and non-stop) the formula is never valid: the sentry reads
// the host's clocks directly and the vDSO falls back to the syscall.
//
// Locking: one writer at a time (Clock.mu) updates the parameters under a
// sequence count (odd while an update is in progress); readers — the
// sentry's and the vDSO's — take no lock and retry when the count moved.
package timekeeper
