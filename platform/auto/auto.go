// Package auto chooses the platform that --platform=auto runs, among
// candidate platforms, by measurement.
//
// A Candidate is a platform that may be chosen: a name, a constructor and
// (optionally) a probe. Choose starts the candidates in order:
//
//   - a Preferred candidate that starts is chosen at once, unmeasured (KVM:
//     its constructor runs the self-test, and where a standard hypervisor
//     answers, no platform that traps through the host kernel comes
//     close);
//   - otherwise every candidate that starts is available; one alone is
//     chosen unmeasured; among several, each is probed with a few hundred
//     syscall round trips in one context (RoundTrips), timed once the
//     platform has settled (ProbeWarmUp), in alternating rounds so that
//     a burst of host load hits all alike, and the fastest is chosen. The
//     others are released.
//
// The Choice says which platform and why, with the figures, for the log and
// for the launcher's per-boot memory of the choice (sentry/sandbox), so
// that only the first sandbox of a boot pays for the probe.
//
// Locking: none; Choose is called once, by the sentry's boot goroutine.
package auto

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/runsc-lite/runsc-lite/kernel/hostcpus"
	"github.com/runsc-lite/runsc-lite/platform"
	"github.com/runsc-lite/runsc-lite/sentry/memfile"
	"golang.org/x/sys/unix"
)

// Probe sizes: ProbeRounds rounds of ProbeRoundTrips round trips on each
// candidate, alternating, the best round's median kept, after ProbeWarmUp
// untimed ones. The 556 round trips cost about 7 ms on ptrace (12 µs each
// on an idle host).
const (
	ProbeRounds     = 3
	ProbeRoundTrips = 100
)

// Candidate is a platform Choose may choose.
type Candidate struct {
	// Name is the platform's --platform name.
	Name string
	// Preferred: chosen as soon as it starts, without measuring.
	Preferred bool
	// New starts the platform. An error means the platform is not
	// available on this host (it is logged in the Choice's reason).
	New func() (platform.Platform, error)
	// Probe measures a started platform: the time of one syscall round
	// trip over n of them. Nil means RoundTrips on Choose's memory file.
	Probe func(p platform.Platform, n int) (time.Duration, error)
}

// Figure is what Choose found out about one candidate.
type Figure struct {
	Name string `json:"name"`
	// RoundTrip is the best round's median time of one syscall round
	// trip (0: not measured).
	RoundTrip time.Duration `json:"round_trip_ns,omitempty"`
	// Err says why the candidate is not available, or why its probe
	// failed ("" if it is).
	Err string `json:"error,omitempty"`
}

// Choice is Choose's result.
type Choice struct {
	// Platform is the chosen platform, started.
	Platform platform.Platform
	// Name is its name.
	Name string
	// Measured: the choice was made by measurement (several candidates
	// were available).
	Measured bool
	// Why says what decided.
	Why string
	// Figures has one entry for each candidate tried, in order.
	Figures []Figure
}

// Reason says in one line why Name was chosen, with the figures.
func (c *Choice) Reason() string {
	var parts []string
	for _, f := range c.Figures {
		switch {
		case f.Err != "":
			parts = append(parts, fmt.Sprintf("%s: %s", f.Name, f.Err))
		case f.RoundTrip > 0:
			parts = append(parts, fmt.Sprintf("%s %v per round trip", f.Name, f.RoundTrip))
		default:
			parts = append(parts, fmt.Sprintf("%s available", f.Name))
		}
	}
	return fmt.Sprintf("%s: %s (%s)", c.Name, c.Why, strings.Join(parts, "; "))
}

// Choose starts the candidates and chooses one, as the package comment
// says. mf is the memory file the default probe maps its program from
// (two pages, freed afterwards). It fails only when no candidate starts.
func Choose(cands []Candidate, mf *memfile.MemoryFile) (*Choice, error) {
	c := &Choice{}
	type started struct {
		cand *Candidate
		p    platform.Platform
		fig  int
	}
	var avail []started
	for i := range cands {
		cand := &cands[i]
		p, err := cand.New()
		if err != nil {
			// "kvm: self-test: ..." reads "kvm: self-test: ...", not
			// "kvm: kvm: self-test: ...".
			why := strings.TrimPrefix(oneLine(err), cand.Name+": ")
			c.Figures = append(c.Figures, Figure{Name: cand.Name, Err: why})
			continue
		}
		c.Figures = append(c.Figures, Figure{Name: cand.Name})
		if cand.Preferred {
			for _, a := range avail {
				a.p.Release()
			}
			c.Platform, c.Name, c.Why = p, cand.Name, "preferred where it starts"
			return c, nil
		}
		avail = append(avail, started{cand, p, len(c.Figures) - 1})
	}
	switch len(avail) {
	case 0:
		var why []string
		for _, f := range c.Figures {
			why = append(why, f.Name+": "+f.Err)
		}
		return nil, fmt.Errorf("no platform could start: %s", strings.Join(why, "; "))
	case 1:
		c.Platform, c.Name, c.Why = avail[0].p, avail[0].cand.Name, "the only candidate available"
		return c, nil
	}

	c.Measured, c.Why = true, fmt.Sprintf("the fastest syscall round trip (best median of %d rounds of %d, after %d to settle)", ProbeRounds, ProbeRoundTrips, ProbeWarmUp)
	best := make([]time.Duration, len(avail))
	failed := make([]bool, len(avail))
	// The default probe keeps one prober per candidate for all rounds
	// (made at the first, closed before any platform is released).
	probers := make([]*prober, len(avail))
	defer func() {
		for _, pr := range probers {
			if pr != nil {
				pr.close()
			}
		}
	}()
	for round := 0; round < ProbeRounds; round++ {
		for i, a := range avail {
			if failed[i] {
				continue
			}
			probe := a.cand.Probe
			if probe == nil {
				probe = func(p platform.Platform, n int) (time.Duration, error) {
					if probers[i] == nil {
						pr, err := newProber(p, mf)
						if err != nil {
							return 0, err
						}
						probers[i] = pr
					}
					return probers[i].roundTrips(n)
				}
			}
			d, err := probe(a.p, ProbeRoundTrips)
			if err == nil && d <= 0 {
				err = fmt.Errorf("probe measured %v", d)
			}
			if err != nil {
				failed[i] = true
				c.Figures[a.fig].Err = "probe failed: " + oneLine(err)
				continue
			}
			if best[i] == 0 || d < best[i] {
				best[i] = d
			}
		}
	}
	win := -1
	for i := range avail {
		if failed[i] {
			continue
		}
		c.Figures[avail[i].fig].RoundTrip = best[i]
		if win < 0 || best[i] < best[win] {
			win = i
		}
	}
	for i, pr := range probers {
		if pr != nil {
			pr.close()
			probers[i] = nil
		}
	}
	if win < 0 {
		// Every probe failed: keep the first available candidate
		// (the probe, not the platform, may be what broke).
		win = 0
		c.Measured, c.Why = false, "every probe failed; the first candidate available"
	}
	for i, a := range avail {
		if i != win {
			a.p.Release()
		}
	}
	c.Platform, c.Name = avail[win].p, avail[win].cand.Name
	return c, nil
}

// oneLine returns err's text on one line.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// Probe program, at fixed addresses of a fresh address space:
//
//	loop: mov $39,%eax; syscall; jmp loop
var probeCode = []byte{0xb8, 0x27, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xeb, 0xf7}

const (
	probeCodeAddr  = 0x400000
	probeStackAddr = 0x7ff000
)

// RoundTrips measures p: it runs a getpid loop in a new address space and
// context of a new, locked OS thread, n syscall round trips (Switch, then
// the return value set, as the sentry does) after ProbeWarmUp untimed
// ones, and returns the median time of one. Everything it made is released
// before it returns.
func RoundTrips(p platform.Platform, mf *memfile.MemoryFile, n int) (time.Duration, error) {
	if n <= 0 {
		return 0, errors.New("no round trips asked for")
	}
	pr, err := newProber(p, mf)
	if err != nil {
		return 0, err
	}
	defer pr.close()
	return pr.roundTrips(n)
}

// ProbeWarmUp is how many round trips a prober makes before it times any:
// what a task meets at run time is the platform after it has adapted to
// where the host placed its threads (systrap's spin policy judges its
// spin over windows of 256 waits and turns it off where it does not pay;
// before that verdict a fresh context whose stub shares the waiting
// thread's host CPU pays the whole spin on every round trip, 4x its
// settled cost: ARCHITECTURE.md, "Choosing the platform").
const ProbeWarmUp = 256

// prober runs round trips on p in one address space and context, on its
// own locked and pinned OS thread, for as long as it is asked to: the
// probe's rounds all measure the same context, settled by the warm-up, as
// a task's syscalls all go through its own.
type prober struct {
	req  chan int
	res  chan proberResult
	done chan struct{}
}

type proberResult struct {
	d   time.Duration
	err error
}

// newProber starts a prober on p and makes its warm-up round trips.
func newProber(p platform.Platform, mf *memfile.MemoryFile) (*prober, error) {
	pr := &prober{req: make(chan int), res: make(chan proberResult), done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		defer close(pr.done)
		// The thread ends with the goroutine (no UnlockOSThread): a
		// platform may have tied host state to it, and it is pinned.
		runtime.LockOSThread()
		// Pinned to one host CPU, as the sentry pins the thread of a
		// task on a sandbox CPU (kernel/): where the host scheduler
		// places the platform's other end relative to the waiting
		// thread decides what a round trip costs (systrap's spin pays
		// only when its stub runs on another CPU), so the probe
		// measures it as tasks run.
		pinProbeThread()
		sw, release, err := probeContext(p, mf)
		if err == nil {
			for i := 0; i < ProbeWarmUp && err == nil; i++ {
				err = sw()
			}
			if err != nil {
				release()
			}
		}
		started <- err
		if err != nil {
			return
		}
		defer release()
		var trips []time.Duration
		for n := range pr.req {
			trips = trips[:0]
			var err error
			for i := 0; i < n && err == nil; i++ {
				start := time.Now()
				err = sw()
				trips = append(trips, time.Since(start))
			}
			slices.Sort(trips)
			pr.res <- proberResult{trips[len(trips)/2], err}
		}
	}()
	if err := <-started; err != nil {
		<-pr.done
		return nil, err
	}
	return pr, nil
}

// roundTrips times n round trips and returns the median. The median, not
// the mean: a host under load takes the CPU from a waiting thread now and
// then for a scheduler slice (milliseconds), which a mean of a few hundred
// round trips reports as the platform's cost; that happens to any
// platform, but in the rounds it happens to hit, and the probe compares
// what a round trip typically costs.
func (pr *prober) roundTrips(n int) (time.Duration, error) {
	pr.req <- n
	r := <-pr.res
	return r.d, r.err
}

// close releases what the prober made, on its thread, and waits for it.
func (pr *prober) close() {
	close(pr.req)
	<-pr.done
}

// probeCPU is the host CPU the probe runs on: the first the sentry was
// started with (sandbox CPU 0's, kernel.CPU.HostCPU).
func probeCPU() (int, bool) {
	cpus := hostcpus.Allowed()
	if len(cpus) == 0 {
		return 0, false
	}
	return cpus[0], true
}

// pinProbeThread pins the calling (locked) thread to probeCPU.
func pinProbeThread() {
	if cpu, ok := probeCPU(); ok {
		var set unix.CPUSet
		set.Set(cpu)
		unix.SchedSetaffinity(0, &set)
	}
}

// probeContext makes, on the calling (locked) thread, an address space
// with the probe program and a context, and returns the round trip (Switch
// into the program, check that it stopped at getpid, set the return value
// as the sentry does) and what releases them. The first round trip is made.
func probeContext(p platform.Platform, mf *memfile.MemoryFile) (sw func() error, release func(), err error) {
	var undo []func()
	release = func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}
	defer func() {
		if err != nil {
			release()
		}
	}()
	as, err := p.NewAddressSpace()
	if err != nil {
		return nil, nil, err
	}
	undo = append(undo, as.Release)
	regs, freeProgram, err := platform.LoadProgram(mf, as, probeCodeAddr, probeCode, probeStackAddr)
	if err != nil {
		return nil, nil, err
	}
	undo = append(undo, freeProgram)
	c, err := p.NewContext()
	if err != nil {
		return nil, nil, err
	}
	undo = append(undo, c.Release)
	if pinner, ok := c.(platform.HostCPUPinner); ok {
		if cpu, ok := probeCPU(); ok {
			pinner.PinHostCPU(cpu)
		}
	}
	sw = func() error {
		stop, err := c.Switch(as, &regs)
		if err != nil {
			return err
		}
		if stop.Kind != platform.StopSyscall || regs.Orig_rax != 39 {
			return fmt.Errorf("probe stopped with %+v (rip %#x, orig_rax %d), want getpid", stop, regs.Rip, regs.Orig_rax)
		}
		regs.SetReturn(1)
		return nil
	}
	if err := sw(); err != nil {
		return nil, nil, err
	}
	return sw, release, nil
}
