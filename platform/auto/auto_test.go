package auto

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/runsc-lite/runsc-lite/platform"
	"github.com/runsc-lite/runsc-lite/platform/ptrace"
	"github.com/runsc-lite/runsc-lite/sentry/memfile"
)

// fakePlatform is a platform that only counts its releases.
type fakePlatform struct {
	name     string
	released int
}

func (f *fakePlatform) Name() string            { return f.name }
func (f *fakePlatform) MaxUserAddress() uintptr { return 1 << 47 }
func (f *fakePlatform) NewAddressSpace() (platform.AddressSpace, error) {
	return nil, errors.New("fake")
}
func (f *fakePlatform) NewContext() (platform.Context, error) { return nil, errors.New("fake") }
func (f *fakePlatform) Release()                              { f.released++ }

// fake is a candidate whose start fails with startErr (if not nil) and
// whose probe answers rt (or probeErr).
type fake struct {
	name      string
	preferred bool
	startErr  error
	rt        time.Duration
	probeErr  error

	p       *fakePlatform
	started int
	probes  int
}

func (f *fake) candidate() Candidate {
	return Candidate{
		Name:      f.name,
		Preferred: f.preferred,
		New: func() (platform.Platform, error) {
			f.started++
			if f.startErr != nil {
				return nil, f.startErr
			}
			f.p = &fakePlatform{name: f.name}
			return f.p, nil
		},
		Probe: func(p platform.Platform, n int) (time.Duration, error) {
			if p != f.p || n != ProbeRoundTrips {
				return 0, errors.New("probed the wrong platform or count")
			}
			f.probes++
			return f.rt, f.probeErr
		},
	}
}

func choose(t *testing.T, fakes ...*fake) (*Choice, error) {
	t.Helper()
	var cands []Candidate
	for _, f := range fakes {
		cands = append(cands, f.candidate())
	}
	c, err := Choose(cands, nil)
	if err == nil {
		t.Logf("chose %s", c.Reason())
	}
	return c, err
}

// TestPreferred: a preferred candidate that starts is chosen unmeasured
// and the ones after it are never started; one that does not start is
// passed over.
func TestPreferred(t *testing.T) {
	kvm, pt := &fake{name: "kvm", preferred: true}, &fake{name: "ptrace", rt: time.Microsecond}
	c, err := choose(t, kvm, pt)
	if err != nil || c.Name != "kvm" || c.Platform != kvm.p || c.Measured {
		t.Fatalf("chose %+v, %v; want kvm unmeasured", c, err)
	}
	if pt.started != 0 || kvm.probes != 0 || kvm.p.released != 0 {
		t.Errorf("ptrace started %d times, kvm probed %d times and released %d times", pt.started, kvm.probes, kvm.p.released)
	}

	kvm, pt = &fake{name: "kvm", preferred: true, startErr: errors.New("self-test:\nfailed")}, &fake{name: "ptrace"}
	c, err = choose(t, kvm, pt)
	if err != nil || c.Name != "ptrace" || c.Measured || pt.probes != 0 {
		t.Fatalf("chose %+v, %v (ptrace probed %d times); want ptrace unmeasured, the only one", c, err, pt.probes)
	}
	if r := c.Reason(); !strings.Contains(r, "kvm: self-test: failed") || !strings.Contains(r, "only candidate") || strings.Contains(r, "\n") {
		t.Errorf("reason %q does not say why, in one line", r)
	}
}

// TestMeasured: among several available candidates the fastest probe
// wins, every one is probed ProbeRounds times, and the losers are
// released.
func TestMeasured(t *testing.T) {
	kvm := &fake{name: "kvm", preferred: true, startErr: errors.New("no /dev/kvm")}
	pt := &fake{name: "ptrace", rt: 12 * time.Microsecond}
	st := &fake{name: "systrap", rt: 6 * time.Microsecond}
	c, err := choose(t, kvm, pt, st)
	if err != nil || c.Name != "systrap" || c.Platform != st.p || !c.Measured {
		t.Fatalf("chose %+v, %v; want systrap measured", c, err)
	}
	if pt.probes != ProbeRounds || st.probes != ProbeRounds {
		t.Errorf("probes: ptrace %d, systrap %d, want %d each", pt.probes, st.probes, ProbeRounds)
	}
	if pt.p.released != 1 || st.p.released != 0 {
		t.Errorf("released: ptrace %d, systrap %d; want the loser once, the winner never", pt.p.released, st.p.released)
	}
	want := []Figure{{Name: "kvm", Err: "no /dev/kvm"}, {Name: "ptrace", RoundTrip: 12 * time.Microsecond}, {Name: "systrap", RoundTrip: 6 * time.Microsecond}}
	if len(c.Figures) != len(want) {
		t.Fatalf("figures %+v, want %+v", c.Figures, want)
	}
	for i := range want {
		if c.Figures[i] != want[i] {
			t.Errorf("figure %d = %+v, want %+v", i, c.Figures[i], want[i])
		}
	}
	if r := c.Reason(); !strings.Contains(r, "ptrace 12µs") || !strings.Contains(r, "systrap 6µs") {
		t.Errorf("reason %q lacks the figures", r)
	}

	// The other order, the other winner.
	pt, st = &fake{name: "ptrace", rt: 5 * time.Microsecond}, &fake{name: "systrap", rt: 70 * time.Microsecond}
	if c, err := choose(t, pt, st); err != nil || c.Name != "ptrace" || st.p.released != 1 {
		t.Errorf("chose %+v, %v; want ptrace and systrap released", c, err)
	}
}

// TestProbeFailures: a candidate whose probe fails is not chosen; when
// every probe fails the first available candidate is.
func TestProbeFailures(t *testing.T) {
	pt := &fake{name: "ptrace", rt: time.Microsecond, probeErr: errors.New("stub died")}
	st := &fake{name: "systrap", rt: 9 * time.Microsecond}
	c, err := choose(t, pt, st)
	if err != nil || c.Name != "systrap" || pt.p.released != 1 {
		t.Fatalf("chose %+v, %v; want systrap, ptrace released", c, err)
	}
	if pt.probes != 1 || !strings.Contains(c.Figures[0].Err, "stub died") {
		t.Errorf("ptrace probed %d times (want 1: not again after failing), figure %+v", pt.probes, c.Figures[0])
	}

	pt = &fake{name: "ptrace", probeErr: errors.New("a")}
	st = &fake{name: "systrap", rt: 0} // a zero measurement is a failure
	c, err = choose(t, pt, st)
	if err != nil || c.Name != "ptrace" || c.Measured || st.p.released != 1 || pt.p.released != 0 {
		t.Fatalf("chose %+v, %v; want the first available, unmeasured", c, err)
	}
}

// TestNoneStarts: the error names every candidate's failure.
func TestNoneStarts(t *testing.T) {
	_, err := choose(t, &fake{name: "kvm", preferred: true, startErr: errors.New("no kvm")}, &fake{name: "ptrace", startErr: errors.New("no ptrace")})
	if err == nil || !strings.Contains(err.Error(), "kvm: no kvm") || !strings.Contains(err.Error(), "ptrace: no ptrace") {
		t.Fatalf("Choose: %v", err)
	}
}

// TestRoundTripsPtrace runs the default probe on the ptrace platform,
// and Choose with it over two ptrace platforms.
func TestRoundTripsPtrace(t *testing.T) {
	mf, err := memfile.New(16 << 20)
	if err != nil {
		t.Fatal(err)
	}
	defer mf.Release()
	p, err := ptrace.New(mf)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Release()
	d, err := RoundTrips(p, mf, 200)
	if err != nil || d <= 0 {
		t.Fatalf("RoundTrips: %v, %v", d, err)
	}
	t.Logf("ptrace: %v per round trip", d)
	if _, err := RoundTrips(p, mf, 0); err == nil {
		t.Errorf("RoundTrips of 0 succeeded")
	}

	newPtrace := func() (platform.Platform, error) { return ptrace.New(mf) }
	c, err := Choose([]Candidate{{Name: "a", New: newPtrace}, {Name: "b", New: newPtrace}}, mf)
	if err != nil || !c.Measured || c.Figures[0].RoundTrip <= 0 || c.Figures[1].RoundTrip <= 0 {
		t.Fatalf("Choose: %+v, %v", c, err)
	}
	t.Logf("%s", c.Reason())
	c.Platform.Release()
}
