package timekeeper

import (
	"testing"
	"time"
)

// waitValid starts c and waits (bounded) for its first calibration.
func waitValid(t *testing.T, c *Clock) {
	t.Helper()
	if !c.Usable() {
		t.Skip("the host's TSC does not drive its clocks (clocksource not tsc, or no constant_tsc/nonstop_tsc): the formula is never used")
	}
	c.Start()
	deadline := time.Now().Add(30 * time.Second)
	for !c.Valid() {
		if time.Now().After(deadline) {
			t.Fatal("not calibrated after 30 s")
		}
		time.Sleep(time.Millisecond)
	}
}

// The formula follows the host's CLOCK_MONOTONIC and never goes back,
// across its updates (the first ones come within 110 ms).
func TestMonotonicAndNearHost(t *testing.T) {
	c := &Clock{usable: hostTSCUsable()}
	waitValid(t, c)
	var last int64
	end := time.Now().Add(300 * time.Millisecond)
	n := 0
	for time.Now().Before(end) {
		h0 := nanotime()
		ns, ok := c.Now(ClockMonotonic)
		h1 := nanotime()
		if !ok {
			t.Fatal("formula stopped serving CLOCK_MONOTONIC")
		}
		if ns < last {
			t.Fatalf("CLOCK_MONOTONIC went back: %d after %d", ns, last)
		}
		last = ns
		// Calibrated over milliseconds at least: within a millisecond
		// of the host's clock read around it (in practice within
		// microseconds).
		if ns < h0-int64(time.Millisecond) || ns > h1+int64(time.Millisecond) {
			t.Fatalf("formula %d is outside the host's [%d, %d] by more than 1ms", ns, h0, h1)
		}
		n++
	}
	t.Logf("%d reads", n)
	r0 := time.Now().UnixNano()
	real, _ := c.Now(ClockRealtime)
	r1 := time.Now().UnixNano()
	if real < r0-int64(time.Millisecond) || real > r1+int64(time.Millisecond) {
		t.Fatalf("CLOCK_REALTIME %d outside the host's [%d, %d] by more than 1ms", real, r0, r1)
	}
	coarse, _ := c.Now(ClockMonotonicCoarse)
	if coarse%TickNs != 0 {
		t.Fatalf("coarse clock %d is not on a tick", coarse)
	}
	if _, ok := c.Now(4 /* CLOCK_MONOTONIC_RAW */); ok {
		t.Fatal("the formula claims CLOCK_MONOTONIC_RAW")
	}
}

// An update continues from where the formula is, whatever the host's
// clock says: behind it, the rate slows (no step back); ahead of it by
// less than StepLimit, it speeds up; beyond, it steps forward.
func TestUpdateNeverStepsBack(t *testing.T) {
	c := &Clock{usable: true}
	s := sample{tsc: rdtsc(), mono: nanotime()}
	c.first(s, 1)
	for _, skew := range []time.Duration{-time.Second, -time.Millisecond, 0, 500 * time.Microsecond, time.Second} {
		before, _ := c.Now(ClockMonotonic)
		now := sample{tsc: rdtsc()}
		now.mono, _ = c.Now(ClockMonotonic)
		now.mono += int64(skew)
		c.update(now, 1, time.Second)
		after, _ := c.Now(ClockMonotonic)
		if after < before {
			t.Fatalf("skew %v: %d after %d", skew, after, before)
		}
		if skew >= time.Second && after < now.mono {
			t.Fatalf("skew %v: not stepped forward (%d < %d)", skew, after, now.mono)
		}
		if skew < 0 && after > before+int64(time.Millisecond) {
			t.Fatalf("skew %v: jumped forward by %v", skew, time.Duration(after-before))
		}
	}
}

// The page gets the same parameters, and is valid only on a fast
// platform.
func TestAttach(t *testing.T) {
	for _, fast := range []bool{true, false} {
		c := &Clock{usable: true}
		buf := make([]uint64, 512)
		page := unsafeBytes(buf)
		c.Attach(page, fast)
		c.first(sample{tsc: rdtsc(), mono: nanotime()}, 0.5)
		p := (*Params)(ptr(page))
		if p.Seq.Load()%2 != 0 || p.Mult.Load() != c.own.Mult.Load() || p.BaseTSC.Load() != c.own.BaseTSC.Load() {
			t.Fatalf("page %+v differs from the sentry's %+v", p, &c.own)
		}
		if want := map[bool]uint32{true: 1, false: 0}[fast]; p.Valid.Load() != want {
			t.Fatalf("fast %v: page valid %d", fast, p.Valid.Load())
		}
	}
}
