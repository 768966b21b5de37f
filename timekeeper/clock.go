package timekeeper

import (
	"math"
	"math/bits"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
	_ "unsafe" // go:linkname

	"golang.org/x/sys/unix"
)

// Tuning of the calibration.
const (
	// Shift is the fixed-point shift of mult: mult is nanoseconds per
	// TSC cycle times 2^Shift.
	Shift = 32
	// UpdatePeriod is how often the parameters follow the host's clock
	// once calibrated (the first updates come sooner: firstPeriods).
	UpdatePeriod = time.Second
	// MaxSlew bounds how much faster or slower than the host's rate the
	// formula runs while it catches up with the host's clock (500 ppm, as
	// Linux's NTP slew limit).
	MaxSlew = 500e-6
	// StepLimit is how far behind the host's clock the formula may fall
	// before it is stepped forward instead of slewed (a host that was
	// suspended, a sentry that was stopped). It is never stepped back.
	StepLimit = 1 * time.Millisecond
	// offsetStep is how much the host's REALTIME-MONOTONIC or
	// BOOTTIME-MONOTONIC offset must change before the formula takes the
	// new offset: below it the difference is the noise of sampling two
	// clocks one after the other, not a step of the host's clock.
	offsetStep = 100 * time.Microsecond
	// switchMargin is added to the host's clock when the formula first
	// becomes valid, so that it starts ahead of every host-clock read
	// the sentry served before (the update after slews it back).
	switchMargin = time.Microsecond
	// TickNs is the sandbox's tick (HZ=250): the coarse clocks read the
	// clock rounded down to it, and report it as their resolution.
	TickNs = 4000000
)

// firstPeriods are the gaps before the first updates after the initial
// calibration (taken over calibrationGap): the rate measured over a short
// gap is refined over longer ones.
var firstPeriods = []time.Duration{10 * time.Millisecond, 100 * time.Millisecond}

const calibrationGap = 2 * time.Millisecond

// The clocks the formula serves (Linux's clockid_t numbers).
const (
	ClockRealtime        = unix.CLOCK_REALTIME
	ClockMonotonic       = unix.CLOCK_MONOTONIC
	ClockRealtimeCoarse  = unix.CLOCK_REALTIME_COARSE
	ClockMonotonicCoarse = unix.CLOCK_MONOTONIC_COARSE
	ClockBoottime        = unix.CLOCK_BOOTTIME
	ClockRealtimeAlarm   = unix.CLOCK_REALTIME_ALARM
	ClockBoottimeAlarm   = unix.CLOCK_BOOTTIME_ALARM
)

// Params is the layout of the parameter page's head, shared with the
// vDSO's C code (struct vdso_params in sentry/vdso/src/vdso.c): every field is
// read and written whole, the writer bumping Seq to odd before and to even
// after an update.
type Params struct {
	Seq atomic.Uint32
	// Valid is 1 when the formula may be used: for the sentry's copy,
	// once calibrated on a usable TSC; for the page, also when the
	// platform runs programs on the host's TSC (not KVM, whose guests
	// read an offset TSC).
	Valid    atomic.Uint32
	BaseTSC  atomic.Uint64
	BaseMono atomic.Int64
	Mult     atomic.Uint64
	Shift    atomic.Uint32
	_        uint32
	OffReal  atomic.Int64
	OffBoot  atomic.Int64
}

// ParamsSize is the size of Params in the page.
const ParamsSize = unsafe.Sizeof(Params{})

// Clock is one set of clock parameters and its calibration.
type Clock struct {
	// mu serialises writers (Attach and the updates).
	mu sync.Mutex
	// own is the sentry's copy; page, when attached, is the copy the
	// vDSO reads, written in the same critical section with the same
	// values (but Valid, which may be withheld from the page).
	own      Params
	page     *Params
	pageFast bool
	// usable says whether the TSC can be used at all; with probeHost
	// Start reads it from the host first.
	usable    bool
	probeHost bool
	// started is set by Start.
	started atomic.Bool
}

// Sandbox is the sandbox's clock: the one the sentry serves and maps.
// Whether the host's TSC is usable is read when it starts (at boot, while
// /proc and /sys are in view), not at package initialisation: every
// runsc-lite process links this package, and reading /proc/cpuinfo costs
// about a millisecond.
var Sandbox = &Clock{probeHost: true}

//go:linkname nanotime runtime.nanotime
func nanotime() int64

// rdtsc reads the TSC, ordered (tsc_amd64.s).
func rdtsc() uint64

// HostCPUInfo is the host's /proc/cpuinfo, read once (about a
// millisecond), at the first call: the sentry calls it at boot, while the
// host's /proc is in view, for the TSC's flags here and for the sandbox's
// own /proc/cpuinfo (procfs); nil if it could not be read.
var HostCPUInfo = sync.OnceValue(func() []byte {
	b, _ := os.ReadFile("/proc/cpuinfo")
	return b
})

// hostTSCUsable reports whether the host keeps its clocks with the TSC and
// the TSC runs at a constant rate through sleep states: then the TSC read
// by any thread on any CPU maps to the host's clock by one formula.
func hostTSCUsable() bool {
	cs, err := os.ReadFile("/sys/devices/system/clocksource/clocksource0/current_clocksource")
	if err != nil || strings.TrimSpace(string(cs)) != "tsc" {
		return false
	}
	info := HostCPUInfo()
	if info == nil {
		return false
	}
	for _, line := range strings.Split(string(info), "\n") {
		if strings.HasPrefix(line, "flags") {
			f := line + " "
			return strings.Contains(f, " constant_tsc ") && strings.Contains(f, " nonstop_tsc ")
		}
	}
	return false
}

// Usable reports whether the TSC can serve the clocks on this host (for
// Sandbox, known once it has started).
func (c *Clock) Usable() bool { return c.usable }

// Valid reports whether the formula serves the clocks now.
func (c *Clock) Valid() bool { return c.own.Valid.Load() == 1 }

// Attach makes page (at least ParamsSize bytes, 8-byte aligned, living
// as long as the clock) the copy of the parameters the vDSO reads. With
// fast false the page is never marked valid: every vDSO call falls back to
// the syscall.
func (c *Clock) Attach(page []byte, fast bool) {
	if uintptr(len(page)) < ParamsSize || uintptr(unsafe.Pointer(&page[0]))%8 != 0 {
		panic("timekeeper: bad parameter page")
	}
	p := (*Params)(unsafe.Pointer(&page[0]))
	c.mu.Lock()
	defer c.mu.Unlock()
	p.Seq.Store(1)
	copyParams(p, &c.own)
	c.page, c.pageFast = p, fast
	p.Valid.Store(c.pageValid(c.own.Valid.Load()))
	p.Seq.Store(2)
}

// Detach stops the clock writing the page Attach gave it: the memory
// behind it is about to go (the sandbox's memory file is unmapped when
// the sentry ends, while the clock's goroutine still runs).
func (c *Clock) Detach() {
	c.mu.Lock()
	c.page = nil
	c.mu.Unlock()
}

func (c *Clock) pageValid(v uint32) uint32 {
	if c.pageFast {
		return v
	}
	return 0
}

func copyParams(dst, src *Params) {
	dst.BaseTSC.Store(src.BaseTSC.Load())
	dst.BaseMono.Store(src.BaseMono.Load())
	dst.Mult.Store(src.Mult.Load())
	dst.Shift.Store(src.Shift.Load())
	dst.OffReal.Store(src.OffReal.Load())
	dst.OffBoot.Store(src.OffBoot.Load())
}

// scaled is the formula's monotonic part at tsc.
func scaled(baseMono int64, baseTSC, mult uint64, shift uint32, tsc uint64) int64 {
	var delta uint64
	if tsc > baseTSC {
		delta = tsc - baseTSC
	}
	hi, lo := bits.Mul64(delta, mult)
	// (hi:lo) >> shift, for 0 < shift < 64.
	return baseMono + int64(lo>>shift|hi<<(64-shift))
}

// Now returns clock's reading in nanoseconds by the formula, and false
// when the formula does not serve the clock (not calibrated, no usable
// TSC, or a clock it does not serve): the caller then reads the host's.
// It never blocks (it retries while an update is in progress, which takes
// nanoseconds).
func (c *Clock) Now(clock int32) (int64, bool) {
	p := &c.own
	for spins := 0; ; spins++ {
		s := p.Seq.Load()
		if s&1 != 0 {
			// An update takes nanoseconds, unless the writer's
			// thread was descheduled in the middle.
			if spins > 100 {
				runtime.Gosched()
			}
			continue
		}
		if p.Valid.Load() != 1 {
			return 0, false
		}
		baseTSC, baseMono, mult, shift := p.BaseTSC.Load(), p.BaseMono.Load(), p.Mult.Load(), p.Shift.Load()
		var off int64
		coarse := false
		switch clock {
		case ClockMonotonic:
		case ClockMonotonicCoarse:
			coarse = true
		case ClockRealtime, ClockRealtimeAlarm:
			off = p.OffReal.Load()
		case ClockRealtimeCoarse:
			off, coarse = p.OffReal.Load(), true
		case ClockBoottime, ClockBoottimeAlarm:
			off = p.OffBoot.Load()
		default:
			return 0, false
		}
		tsc := rdtsc()
		if p.Seq.Load() != s {
			continue
		}
		ns := scaled(baseMono, baseTSC, mult, shift, tsc) + off
		if coarse {
			ns -= ns % TickNs
		}
		return ns, true
	}
}

// Read returns clock's reading in nanoseconds: the formula's, or the
// host's clock where the formula does not serve it (MONOTONIC_RAW, TAI,
// or no usable TSC), as any kernel reads its clock source. It returns -1
// for a clock id the host does not know.
func (c *Clock) Read(clock int32) int64 {
	if ns, ok := c.Now(clock); ok {
		return ns
	}
	var ts unix.Timespec
	if err := unix.ClockGettime(clock, &ts); err != nil {
		return -1
	}
	return ts.Nano()
}

// sample is one reading of the host's clocks against the TSC.
type sample struct {
	tsc     uint64
	mono    int64 // host CLOCK_MONOTONIC at tsc
	offReal int64 // host CLOCK_REALTIME - CLOCK_MONOTONIC
	offBoot int64 // host CLOCK_BOOTTIME - CLOCK_MONOTONIC
}

// takeSample reads the TSC and the host's CLOCK_MONOTONIC back to back a
// few times and keeps the tightest pair (the clock read between two TSC
// reads, taken at their midpoint); then the offsets of the other clocks.
func takeSample() sample {
	var s sample
	best := uint64(math.MaxUint64)
	for range 5 {
		t0 := rdtsc()
		m := nanotime()
		t1 := rdtsc()
		if t1 > t0 && t1-t0 < best {
			best = t1 - t0
			s.tsc, s.mono = t0+(t1-t0)/2, m
		}
	}
	s.offReal = offsetOf(func() int64 { return time.Now().UnixNano() })
	s.offBoot = offsetOf(func() int64 {
		var ts unix.Timespec
		unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts)
		return ts.Nano()
	})
	return s
}

// offsetOf is read() - CLOCK_MONOTONIC, from the tightest of three reads
// between two of the monotonic clock.
func offsetOf(read func() int64) int64 {
	var off int64
	best := int64(math.MaxInt64)
	for range 3 {
		m0 := nanotime()
		v := read()
		m1 := nanotime()
		if m1-m0 < best {
			best, off = m1-m0, v-(m0+m1)/2
		}
	}
	return off
}

// Start calibrates the formula in the background and keeps it following
// the host's clock for the life of the process. Until the first
// calibration is done (a few milliseconds) Now reports false. It does
// nothing without a usable TSC, and the second time.
func (c *Clock) Start() {
	if c.started.Swap(true) {
		return
	}
	if c.probeHost {
		c.usable = hostTSCUsable()
	}
	if c.usable {
		go c.run()
	}
}

func (c *Clock) run() {
	prev := takeSample()
	time.Sleep(calibrationGap)
	s := takeSample()
	c.first(s, hostRate(prev, s))
	prev = s
	for i := 0; ; i++ {
		period := UpdatePeriod
		if i < len(firstPeriods) {
			period = firstPeriods[i]
		}
		time.Sleep(period)
		s := takeSample()
		c.update(s, hostRate(prev, s), period)
		prev = s
	}
}

// hostRate is the host clock's nanoseconds per TSC cycle between a and b.
func hostRate(a, b sample) float64 {
	if b.tsc <= a.tsc || b.mono <= a.mono {
		return 0
	}
	return float64(b.mono-a.mono) / float64(b.tsc-a.tsc)
}

func multOf(rate float64) uint64 { return uint64(rate*(1<<Shift) + 0.5) }

// first makes the formula valid: it continues from the host's clock as
// read now (after every host-clock read served before), plus
// switchMargin.
func (c *Clock) first(s sample, rate float64) {
	if rate <= 0 {
		return
	}
	c.write(func(p *Params) {
		tu := rdtsc()
		m := nanotime()
		p.BaseTSC.Store(tu)
		p.BaseMono.Store(m + int64(switchMargin))
		p.Mult.Store(multOf(rate))
		p.Shift.Store(Shift)
		p.OffReal.Store(s.offReal)
		p.OffBoot.Store(s.offBoot)
		p.Valid.Store(1)
	})
}

// update moves the formula's base to now (where the formula is now: no
// step) and sets its rate to the host's, corrected so that it meets the
// host's clock one period later (within MaxSlew). A formula behind the
// host's clock by more than StepLimit is stepped forward.
func (c *Clock) update(s sample, rate float64, period time.Duration) {
	if rate <= 0 {
		return
	}
	c.write(func(p *Params) {
		tu := rdtsc()
		cur := scaled(p.BaseMono.Load(), p.BaseTSC.Load(), p.Mult.Load(), p.Shift.Load(), tu)
		host := s.mono + int64(float64(tu-s.tsc)*rate)
		e := host - cur
		base := cur
		if e > int64(StepLimit) {
			base = host
		} else {
			slew := max(-MaxSlew, min(MaxSlew, float64(e)/float64(period)))
			rate *= 1 + slew
		}
		p.BaseTSC.Store(tu)
		p.BaseMono.Store(base)
		p.Mult.Store(multOf(rate))
		if d := s.offReal - p.OffReal.Load(); d > int64(offsetStep) || d < -int64(offsetStep) {
			p.OffReal.Store(s.offReal)
		}
		if d := s.offBoot - p.OffBoot.Load(); d > int64(offsetStep) || d < -int64(offsetStep) {
			p.OffBoot.Store(s.offBoot)
		}
	})
}

// write runs fn on the sentry's copy under the sequence count, then
// copies the result to the page under its own count. Both counts are odd
// before fn reads the TSC, so no reader finishes with the old parameters
// after a TSC value newer than the update's.
func (c *Clock) write(fn func(p *Params)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	own, page := &c.own, c.page
	own.Seq.Add(1)
	if page != nil {
		page.Seq.Add(1)
	}
	fn(own)
	if page != nil {
		copyParams(page, own)
		page.Valid.Store(c.pageValid(own.Valid.Load()))
		page.Seq.Add(1)
	}
	own.Seq.Add(1)
}
