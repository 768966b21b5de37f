package softirqd

import (
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/timekeeper"
	"golang.org/x/sys/unix"
)

// ClockID is a clock a timer runs on, with Linux's clockid_t numbers.
type ClockID int32

// The clocks timers may use (timer_create and timerfd_create accept these;
// the CPU-time clocks are the sentry's to serve from its accounting, see
// Forward).
const (
	ClockRealtime      ClockID = unix.CLOCK_REALTIME
	ClockMonotonic     ClockID = unix.CLOCK_MONOTONIC
	ClockBoottime      ClockID = unix.CLOCK_BOOTTIME
	ClockRealtimeAlarm ClockID = unix.CLOCK_REALTIME_ALARM
	ClockBoottimeAlarm ClockID = unix.CLOCK_BOOTTIME_ALARM
	ClockTAI           ClockID = unix.CLOCK_TAI
)

// ErrBadClock is returned for a clock timers cannot run on (EINVAL at the
// syscall boundary).
var ErrBadClock = errors.New("softirqd: clock not supported for timers")

// Tuning of the timer bases.
const (
	// minPeriodicGap is the shortest gap between two firings of a
	// periodic timer (its phase and expiration counts stay exact).
	minPeriodicGap = 50 * time.Microsecond
	// maxExpireBatch bounds the callbacks one TIMER softirq run makes;
	// the rest re-raise TIMER, so the softirq budget applies.
	maxExpireBatch = 512
)

// The monotonic clock: the sandbox's (timekeeper.Sandbox, the formula the
// vDSO and clock_gettime serve, so that a timer never fires before the
// clock a program reads reaches its deadline); before it is calibrated or
// without a usable TSC, the host's CLOCK_MONOTONIC, read through Go's
// monotonic clock (the same clock, without a system call) plus the offset
// measured once.
var (
	monoRef   time.Time
	monoRefNs int64
)

func init() {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	monoRef = time.Now()
	monoRefNs = ts.Nano()
}

// monoNow returns CLOCK_MONOTONIC in nanoseconds.
func monoNow() int64 {
	if ns, ok := timekeeper.Sandbox.Now(timekeeper.ClockMonotonic); ok {
		return ns
	}
	return monoRefNs + int64(time.Since(monoRef))
}

// ClockNow returns the current reading of clock in nanoseconds: the
// sandbox's clocks (timekeeper), or the host's where the formula does not
// serve them, as the sentry's clock_gettime reads them. It never blocks.
func ClockNow(clock ClockID) (int64, error) {
	if ns, ok := timekeeper.Sandbox.Now(int32(clock)); ok {
		return ns, nil
	}
	switch clock {
	case ClockMonotonic:
		return monoNow(), nil
	case ClockRealtime, ClockRealtimeAlarm:
		return time.Now().UnixNano(), nil
	case ClockBoottime, ClockBoottimeAlarm, ClockTAI:
		var ts unix.Timespec
		if err := unix.ClockGettime(int32(clock), &ts); err != nil {
			return 0, ErrBadClock
		}
		return ts.Nano(), nil
	}
	return 0, ErrBadClock
}

func isRealtime(c ClockID) bool { return c == ClockRealtime || c == ClockRealtimeAlarm }

// addSat returns a+b, saturated at the int64 limits.
func addSat(a, b int64) int64 {
	s := a + b
	if b > 0 && s < a {
		return math.MaxInt64
	}
	if b < 0 && s > a {
		return math.MinInt64
	}
	return s
}

// TimerSpec is a timer's setting, as itimerspec: Value is the first expiry
// (0: disarmed), Interval the period after it (0: one-shot).
type TimerSpec struct {
	Value    time.Duration
	Interval time.Duration
}

// Expiry is what a timer callback is told about one firing.
type Expiry struct {
	// Count is how many expirations the firing stands for: 1, or more
	// when a periodic timer fired late and whole periods went by
	// (hrtimer_forward's overrun plus one). timerfd adds it to its
	// count; a POSIX timer adds it to its queued signal's overrun.
	Count uint64
	gen   uint64
}

// NewExpiry returns an Expiry of count expirations of arming generation
// gen, for timers whose firings are found elsewhere (the CPU-time clock
// timers of sentry/process, polled from a Timer's callback), so that their
// callbacks check staleness the same way.
func NewExpiry(count, gen uint64) Expiry { return Expiry{Count: count, gen: gen} }

// Generation returns the arming generation e was taken in.
func (e Expiry) Generation() uint64 { return e.gen }

// Timer is a timer on a CPU's timer base: a one-shot or periodic hrtimer
// on one clock. Its callback runs from the TIMER softirq of the CPU it was
// last armed on. The zero value is not usable; see NewTimer and
// Softirqs.AfterFunc.
type Timer struct {
	clock ClockID
	fn    func(Expiry)
	fn0   func() // AfterFunc's callback

	// mu serialises Set, Stop and Get, and protects base.
	mu   sync.Mutex
	base *timerBase

	// Protected by base.mu (and changed only with mu held too, except by
	// the base's expiry, which holds base.mu).
	armed    bool
	when     int64 // next expiry, CLOCK_MONOTONIC ns
	fireAt   int64 // heap key: when, or later for a too-fast periodic
	interval int64
	realAbs  int64 // CLOCK_REALTIME deadline of an absolute real-time timer not yet fired
	seq      uint64
	idx      int // position in base.heap, -1 when not queued

	// gen counts Set and Stop calls; an Expiry taken before the latest
	// one is stale.
	gen atomic.Uint64
}

// NewTimer returns a disarmed timer on clock whose expiries call fn, in
// softirq context on the CPU the timer was armed on: fn must not block;
// it may wake tasks, raise softirqs and Set timers. With fn nil the timer
// is never queued (SIGEV_NONE): Get still reports its progress. It
// returns ErrBadClock for a clock timers cannot use.
func (s *Softirqs) NewTimer(clock ClockID, fn func(Expiry)) (*Timer, error) {
	if _, err := ClockNow(clock); err != nil {
		return nil, err
	}
	return &Timer{clock: clock, fn: fn, idx: -1, base: &s.cpus[0].timers}, nil
}

// AfterFunc arms a one-shot CLOCK_MONOTONIC timer on cpu's base that calls
// f after d, from cpu's TIMER softirq: the kernel's TimerService. It may be
// called from any goroutine and never blocks.
func (s *Softirqs) AfterFunc(cpu int, d time.Duration, f func()) kernel.Timer {
	if cpu < 0 || cpu >= len(s.cpus) {
		cpu = 0
	}
	b := &s.cpus[cpu].timers
	tm := &Timer{clock: ClockMonotonic, fn0: f, idx: -1, base: b}
	now := monoNow()
	b.mu.Lock()
	tm.armed = true
	tm.when = addSat(now, int64(max(d, 0)))
	b.pushLocked(tm, tm.when)
	b.mu.Unlock()
	return tm
}

// Clock returns the timer's clock.
func (tm *Timer) Clock() ClockID { return tm.clock }

// Set arms the timer on cpu's base with spec (timer_settime,
// timerfd_settime, setitimer): spec.Value is the first expiry, relative to
// now or, with abs, an absolute reading of the timer's clock (a time
// already past expires at once); spec.Interval is the period. A zero
// spec.Value disarms it. It returns the previous setting with the time
// that was left. Expiries taken before the call become stale (see Stale).
// It may be called from any goroutine, including the timer's callback,
// and never blocks.
func (tm *Timer) Set(cpu int, spec TimerSpec, abs bool) TimerSpec {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	now := monoNow()
	old := tm.detach(now)
	if spec.Value == 0 {
		return old
	}
	when := addSat(now, int64(spec.Value))
	var realAbs int64
	if abs {
		switch {
		case tm.clock == ClockMonotonic:
			when = int64(spec.Value)
		default:
			cnow, _ := ClockNow(tm.clock)
			when = addSat(now, int64(spec.Value)-cnow)
			if isRealtime(tm.clock) {
				realAbs = int64(spec.Value)
			}
		}
	}
	b := tm.base.s.baseOf(cpu)
	b.mu.Lock()
	tm.base = b
	tm.armed = true
	tm.when = when
	tm.interval = int64(max(spec.Interval, 0))
	tm.realAbs = realAbs
	if tm.fn != nil || tm.fn0 != nil {
		b.pushLocked(tm, when)
	}
	b.mu.Unlock()
	return old
}

// detach takes the timer off its base and returns its setting.
// Preconditions: tm.mu is held.
func (tm *Timer) detach(now int64) TimerSpec {
	b := tm.base
	b.mu.Lock()
	old := tm.specLocked(now)
	if tm.idx >= 0 {
		b.removeLocked(tm)
	}
	tm.armed = false
	tm.gen.Add(1)
	b.mu.Unlock()
	return old
}

// specLocked returns the timer's setting at now.
// Preconditions: tm.base.mu is held.
func (tm *Timer) specLocked(now int64) TimerSpec {
	if !tm.armed {
		return TimerSpec{}
	}
	sp := TimerSpec{Interval: time.Duration(tm.interval)}
	left := tm.when - now
	if tm.fn == nil && tm.fn0 == nil && left <= 0 {
		// Never queued: work out where it is now.
		if tm.interval <= 0 {
			return TimerSpec{}
		}
		_, next := Forward(tm.when, tm.interval, now)
		left = next - now
	}
	// Due but not yet run: still armed, so not 0.
	sp.Value = time.Duration(max(left, 1))
	return sp
}

// Get returns the timer's setting with the time left to its next expiry
// (timer_gettime, timerfd_gettime, getitimer); zero when disarmed. It
// never blocks.
func (tm *Timer) Get() TimerSpec {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	b := tm.base
	b.mu.Lock()
	defer b.mu.Unlock()
	return tm.specLocked(monoNow())
}

// Stop disarms the timer. It reports whether the timer was queued (for a
// one-shot: whether this call kept its callback from running). A callback
// already taken off the base may still run; its Expiry is then stale. It
// may be called from any goroutine, including the callback, and never
// blocks.
func (tm *Timer) Stop() bool {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	b := tm.base
	b.mu.Lock()
	defer b.mu.Unlock()
	was := tm.idx >= 0
	if was {
		b.removeLocked(tm)
	}
	tm.armed = false
	tm.gen.Add(1)
	return was
}

// Stale reports whether Set or Stop was called after e was taken from the
// base. A callback that checks it under the same lock its owner holds
// around Set and Stop never acts on an expiry of a setting that was
// replaced (what hrtimer_cancel's wait gives Linux).
func (tm *Timer) Stale(e Expiry) bool { return tm.gen.Load() != e.gen }

// ClockWasSet re-evaluates every armed absolute CLOCK_REALTIME timer
// against the real-time clock (clock_was_set), for after the clock was
// stepped. It never blocks.
func (s *Softirqs) ClockWasSet() {
	for _, cs := range s.cpus {
		b := &cs.timers
		now := monoNow()
		real := time.Now().UnixNano()
		b.mu.Lock()
		var rt []*Timer
		for _, tm := range b.heap {
			if tm.realAbs != 0 {
				rt = append(rt, tm)
			}
		}
		for _, tm := range rt {
			tm.when = addSat(now, tm.realAbs-real)
			b.fixLocked(tm, tm.when)
		}
		b.armLocked(true)
		b.mu.Unlock()
	}
}

// Forward advances a periodic deadline past now (hrtimer_forward): it
// returns how many deadlines were at or before now and the first one after
// now. A one-shot (interval <= 0) returns 1 and the deadline if it passed,
// else 0. It is pure arithmetic, for timers the sentry checks itself (the
// CPU-time clocks of ITIMER_VIRTUAL, ITIMER_PROF and CPU-clock POSIX
// timers).
func Forward(deadline, interval, now int64) (count uint64, next int64) {
	if now < deadline {
		return 0, deadline
	}
	if interval <= 0 {
		return 1, deadline
	}
	n := (now-deadline)/interval + 1
	return uint64(n), deadline + n*interval
}

// DelayTimerMax is the largest overrun POSIX reports (DELAYTIMER_MAX).
const DelayTimerMax = math.MaxInt32

// Sleep blocks t until clock reaches value (abs) or for value (relative),
// releasing its CPU while it waits (nanosleep, clock_nanosleep). It
// returns nil when the time is reached, or kernel.ErrInterrupted when t was
// interrupted first, with the time that was left (0 for absolute sleeps,
// which restart with the same deadline). A relative value <= 0 or an
// absolute time already past returns at once. It blocks.
//
// Preconditions: t is the calling task and holds a CPU.
func (s *Softirqs) Sleep(t *kernel.Task, clock ClockID, value time.Duration, abs bool) (time.Duration, error) {
	var q kernel.WaitQueue
	left, err := s.WaitDeadline(t, &q, func() bool { return false }, clock, value, abs, true)
	if err == kernel.ErrTimedOut {
		return 0, nil
	}
	if abs {
		left = 0
	}
	return left, err
}

// WaitDeadline is kernel.WaitQueue.Wait with a deadline on any clock, for
// the timeouts the kernel's relative Timeout cannot express (futex's
// absolute CLOCK_REALTIME deadlines, ppoll and select reporting the time
// left, clock_nanosleep): it blocks t on q until cond holds (nil), the
// deadline passes (kernel.ErrTimedOut), t is interrupted
// (kernel.ErrInterrupted, only if interruptible) or q is destroyed (its
// error). The deadline is value on clock: relative to now, or an absolute
// clock reading with abs; a relative value <= 0 or an absolute time already
// past is checked once, without sleeping (kernel.NoWait). cond is
// evaluated as Wait evaluates it (it may consume what it tests). It
// returns the time that was left (0 once the deadline passed). It blocks.
//
// Preconditions: t is the calling task and holds a CPU.
func (s *Softirqs) WaitDeadline(t *kernel.Task, q *kernel.WaitQueue, cond func() bool, clock ClockID, value time.Duration, abs, interruptible bool) (time.Duration, error) {
	now, err := ClockNow(clock)
	if err != nil {
		return 0, err
	}
	if (abs && int64(value) <= now) || (!abs && value <= 0) {
		return 0, q.Wait(t, cond, kernel.WaitOpts{Timeout: kernel.NoWait})
	}
	var expired atomic.Bool
	tm, err := s.NewTimer(clock, func(Expiry) {
		expired.Store(true)
		s.k.Wake(t)
	})
	if err != nil {
		return 0, err
	}
	tm.Set(t.CPU().ID(), TimerSpec{Value: value}, abs)
	var met bool
	err = q.Wait(t, func() bool {
		if cond() {
			met = true
			return true
		}
		return expired.Load()
	}, kernel.WaitOpts{Timeout: kernel.Forever, Interruptible: interruptible})
	left := tm.Get().Value
	tm.Stop()
	switch {
	case met:
		return left, nil
	case err != nil && !expired.Load():
		return left, err
	}
	return 0, kernel.ErrTimedOut
}

// baseOf returns cpu's timer base (CPU 0's for a CPU out of range).
func (s *Softirqs) baseOf(cpu int) *timerBase {
	if cpu < 0 || cpu >= len(s.cpus) {
		cpu = 0
	}
	return &s.cpus[cpu].timers
}

// timerBase is one CPU's pending timers: a 4-ary min-heap on (fireAt, seq)
// and the host timer armed for its minimum (see the package comment).
type timerBase struct {
	s   *Softirqs
	cpu int

	mu   sync.Mutex
	heap []*Timer
	seq  uint64
	hw   *time.Timer
	hwAt int64 // fireAt the host timer is armed for; 0 when it is not
	// stopped: teardown, the host timer is never armed again.
	stopped bool

	// batch is the expiry's scratch list; only the CPU's TIMER softirq
	// uses it, and a CPU's softirqs never run concurrently.
	batch []firing

	fired      atomic.Uint64 // callbacks run
	interrupts atomic.Uint64 // host timer firings
}

type firing struct {
	tm *Timer
	e  Expiry
}

func (b *timerBase) init(s *Softirqs, cpu int) {
	b.s, b.cpu = s, cpu
	b.hw = time.AfterFunc(time.Hour, b.interrupt)
	b.hw.Stop()
}

// interrupt is the host timer's top half: it only raises TIMER.
func (b *timerBase) interrupt() {
	b.interrupts.Add(1)
	b.s.RaiseOn(b.cpu, TIMER)
}

func (b *timerBase) stop() {
	b.mu.Lock()
	b.stopped = true
	b.hw.Stop()
	b.hwAt = 0
	b.mu.Unlock()
}

// armLocked arms the host timer for the earliest fireAt. Unless force, it
// is left alone when already armed at or before that time (it then fires
// early, and the expiry re-arms it).
// Preconditions: b.mu is held.
func (b *timerBase) armLocked(force bool) {
	if b.stopped {
		return
	}
	if len(b.heap) == 0 {
		if b.hwAt != 0 {
			b.hw.Stop()
			b.hwAt = 0
		}
		return
	}
	at := b.heap[0].fireAt
	if !force && b.hwAt != 0 && b.hwAt <= at {
		return
	}
	b.hwAt = at
	b.hw.Reset(time.Duration(at - monoNow()))
}

// expire is the TIMER softirq for this base: it takes every due timer off
// the heap (re-queueing periodic ones), re-arms the host timer, then runs
// the callbacks with no lock held.
func (b *timerBase) expire() {
	now := monoNow()
	var real int64
	b.mu.Lock()
	batch := b.batch[:0]
	for len(b.heap) > 0 && b.heap[0].fireAt <= now && len(batch) < maxExpireBatch {
		tm := b.heap[0]
		if tm.realAbs != 0 {
			if real == 0 {
				real = time.Now().UnixNano()
			}
			if real < tm.realAbs {
				// The real-time clock was stepped back.
				tm.when = addSat(now, tm.realAbs-real)
				b.fixLocked(tm, tm.when)
				continue
			}
			tm.realAbs = 0
		}
		var count uint64
		if tm.interval > 0 {
			count, tm.when = Forward(tm.when, tm.interval, now)
			b.fixLocked(tm, max(tm.when, now+int64(minPeriodicGap)))
		} else {
			count = 1
			b.removeLocked(tm)
			tm.armed = false
		}
		batch = append(batch, firing{tm, Expiry{Count: count, gen: tm.gen.Load()}})
	}
	more := len(b.heap) > 0 && b.heap[0].fireAt <= now
	if !more {
		b.armLocked(true)
	}
	b.mu.Unlock()
	for i := range batch {
		f := batch[i]
		batch[i] = firing{}
		if f.tm.fn0 != nil {
			f.tm.fn0()
		} else {
			f.tm.fn(f.e)
		}
	}
	b.fired.Add(uint64(len(batch)))
	b.batch = batch[:0]
	if more {
		b.s.RaiseOn(b.cpu, TIMER)
	}
}

// The heap. Every function below requires b.mu.

func (b *timerBase) less(i, j int) bool {
	x, y := b.heap[i], b.heap[j]
	return x.fireAt < y.fireAt || (x.fireAt == y.fireAt && x.seq < y.seq)
}

func (b *timerBase) swap(i, j int) {
	b.heap[i], b.heap[j] = b.heap[j], b.heap[i]
	b.heap[i].idx = i
	b.heap[j].idx = j
}

func (b *timerBase) up(i int) bool {
	moved := false
	for i > 0 {
		p := (i - 1) / 4
		if !b.less(i, p) {
			break
		}
		b.swap(i, p)
		i = p
		moved = true
	}
	return moved
}

func (b *timerBase) down(i int) {
	n := len(b.heap)
	for {
		first := 4*i + 1
		if first >= n {
			return
		}
		m := first
		for c := first + 1; c < first+4 && c < n; c++ {
			if b.less(c, m) {
				m = c
			}
		}
		if !b.less(m, i) {
			return
		}
		b.swap(i, m)
		i = m
	}
}

// pushLocked queues tm to fire at fireAt and arms the host timer if it is
// the new earliest.
func (b *timerBase) pushLocked(tm *Timer, fireAt int64) {
	b.seq++
	tm.seq = b.seq
	tm.fireAt = fireAt
	tm.idx = len(b.heap)
	b.heap = append(b.heap, tm)
	b.up(tm.idx)
	if tm.idx == 0 {
		b.armLocked(false)
	}
}

// fixLocked moves queued tm to its new fireAt (after timers already due
// then).
func (b *timerBase) fixLocked(tm *Timer, fireAt int64) {
	b.seq++
	tm.seq = b.seq
	tm.fireAt = fireAt
	if !b.up(tm.idx) {
		b.down(tm.idx)
	}
}

// removeLocked takes queued tm off the heap. The host timer stays armed;
// if it fires for nothing, the expiry re-arms it.
func (b *timerBase) removeLocked(tm *Timer) {
	i := tm.idx
	last := len(b.heap) - 1
	if i != last {
		b.swap(i, last)
	}
	b.heap[last] = nil
	b.heap = b.heap[:last]
	tm.idx = -1
	if i < last && !b.up(i) {
		b.down(i)
	}
}
