package platform

import (
	"fmt"
	"sync/atomic"
)

// Counts are the host round trips the platforms make, for measurements
// that do not depend on the host's load (issue 16: per fork+exit+wait,
// per thread create+join; bench/roundtrips.sh). Every platform adds to
// them; they are never reset. Incrementing costs an uncontended atomic
// add per round trip, against the microseconds the round trip itself
// takes.
var Counts RoundTrips

// RoundTrips counts host round trips by kind.
type RoundTrips struct {
	// Stops are application stops: a return of Context.Switch with a
	// syscall, a fault or an interrupt (each a host hand-off to the
	// stub and back).
	Stops atomic.Uint64
	// Injections are ptrace injection sequences into a stub (set the
	// registers, resume, wait for the trap, read the registers): one
	// host hand-off each, whatever they run.
	Injections atomic.Uint64
	// InjectedSyscalls are the host syscalls those injections ran in the
	// stubs (more than Injections when requests are batched).
	InjectedSyscalls atomic.Uint64
	// MasterCalls are requests handed to an address space's master
	// goroutine (a Go channel hop each way, on top of the injection).
	MasterCalls atomic.Uint64
	// StubThreads are stub threads made (cloned in a stub and handed to
	// a Context's thread).
	StubThreads atomic.Uint64
	// Seizes are stub threads or stubs seized by a new tracer.
	Seizes atomic.Uint64
	// SentrySleeps are waits for a stub in which the task's thread
	// slept on the host (systrap: a futex wait after its poll missed),
	// and StubWakes are resumes that had to wake a sleeping stub (a
	// futex wake). With neither, a round trip is two hand-offs over
	// shared memory and no host context switch.
	SentrySleeps atomic.Uint64
	StubWakes    atomic.Uint64
	// StubPollMisses are the stub's polls for the answer that ran
	// their whole budget, and its yields after them, and slept after
	// all (systrap): CPU spent for nothing. An answer caught in the
	// yields is a StubYieldCatches, not a miss.
	StubPollMisses atomic.Uint64
	// StaleInterrupts are host stops for an interrupt signal whose
	// interrupt had already been reported (ptrace: the SIGSTOP of a
	// kick that came while the thread was already stopped): a round
	// trip for nothing.
	StaleInterrupts atomic.Uint64
	// StubPrewakes are sleeping stubs woken when their task was granted
	// a CPU, before the task resumed them (systrap's Prewake), and
	// PrewakeMisses those that slept again before the task did.
	StubPrewakes  atomic.Uint64
	PrewakeMisses atomic.Uint64
	// HomeTurns are the times a context turned to running its stubs
	// beside the task's thread without polling because the sandbox's
	// tasks held every host CPU (systrap's home).
	HomeTurns atomic.Uint64
	// StubYieldCatches are answers a stub saw during the sched_yields
	// after its poll, instead of sleeping (systrap), and StubYieldsLate
	// those it saw later than a wake-up would have made it (the host
	// CPU was busy with other threads): its policy's misses.
	StubYieldCatches atomic.Uint64
	StubYieldsLate   atomic.Uint64
}

// String formats the counts in one line of key=value pairs.
func (r *RoundTrips) String() string {
	return fmt.Sprintf("stops=%d injections=%d injected_syscalls=%d master_calls=%d stub_threads=%d seizes=%d sentry_sleeps=%d stub_wakes=%d stub_poll_misses=%d stale_interrupts=%d stub_prewakes=%d prewake_misses=%d home_turns=%d stub_yield_catches=%d stub_yields_late=%d",
		r.Stops.Load(), r.Injections.Load(), r.InjectedSyscalls.Load(), r.MasterCalls.Load(), r.StubThreads.Load(), r.Seizes.Load(),
		r.SentrySleeps.Load(), r.StubWakes.Load(), r.StubPollMisses.Load(), r.StaleInterrupts.Load(), r.StubPrewakes.Load(), r.PrewakeMisses.Load(), r.HomeTurns.Load(), r.StubYieldCatches.Load(), r.StubYieldsLate.Load())
}
