package timerfd

import (
	"encoding/binary"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/softirqd"
	"golang.org/x/sys/unix"
)

// boot starts a kernel with the softirq machinery.
func boot(t *testing.T) *softirqd.Softirqs {
	t.Helper()
	k := kernel.New(kernel.Config{CPUs: 2, Tick: 4 * time.Millisecond})
	k.ReserveTID()
	k.StartKthreadd()
	s, err := softirqd.Start(k)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Stop()
		k.Shutdown()
	})
	return s
}

func readNonblock(f *TimerFD) (uint64, error) {
	var b [8]byte
	_, err := f.Read(nil, b[:], unix.O_NONBLOCK)
	return binary.LittleEndian.Uint64(b[:]), err
}

func TestPeriodicCountAndReadiness(t *testing.T) {
	s := boot(t)
	f, err := New(s, softirqd.ClockMonotonic)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Release()
	if _, err := readNonblock(f); err != unix.EAGAIN {
		t.Fatalf("read of a disarmed timerfd: %v, want EAGAIN", err)
	}
	if ev := f.Readiness(unix.POLLIN); ev != 0 {
		t.Fatalf("readiness of a disarmed timerfd: %#x", ev)
	}
	var woken atomic.Int32
	cancel := f.Watch(unix.POLLIN, func(*kernel.Task) { woken.Add(1) })
	defer cancel()
	f.Set(0, softirqd.TimerSpec{Value: 2 * time.Millisecond, Interval: 2 * time.Millisecond}, false)
	// The expirations come from the TIMER softirq, which a loaded machine
	// may run late: wait for five of them (bounded), not a fixed time.
	waitFor(t, "five expirations", func() bool { return f.Count() >= 5 })
	if f.Readiness(unix.POLLIN)&unix.POLLIN == 0 {
		t.Fatalf("not readable after five expirations")
	}
	if woken.Load() == 0 {
		t.Errorf("watchers not notified")
	}
	n, err := readNonblock(f)
	if err != nil || n < 5 {
		t.Fatalf("read: %d, %v; want at least 5 expirations", n, err)
	}
	if spec := f.Get(); spec.Interval != 2*time.Millisecond || spec.Value <= 0 || spec.Value > 2*time.Millisecond {
		t.Errorf("Get: %+v", spec)
	}
	// settime discards what was not read and disarms with a zero value.
	time.Sleep(5 * time.Millisecond)
	old := f.Set(0, softirqd.TimerSpec{}, false)
	if old.Interval != 2*time.Millisecond {
		t.Errorf("old setting %+v", old)
	}
	if c := f.Count(); c != 0 {
		t.Errorf("count %d after disarming, want 0", c)
	}
	time.Sleep(10 * time.Millisecond)
	if _, err := readNonblock(f); err != unix.EAGAIN {
		t.Errorf("read after disarm: %v, want EAGAIN", err)
	}
}

func TestErrors(t *testing.T) {
	s := boot(t)
	if _, err := New(s, softirqd.ClockID(unix.CLOCK_PROCESS_CPUTIME_ID)); err == nil {
		t.Errorf("a CPU-time clock was accepted")
	}
	f, err := New(s, softirqd.ClockRealtime)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Release()
	var small [4]byte
	if _, err := f.Read(nil, small[:], unix.O_NONBLOCK); err != unix.EINVAL {
		t.Errorf("short read: %v, want EINVAL", err)
	}
	if _, err := f.Write(nil, make([]byte, 8), 0); err != unix.EINVAL {
		t.Errorf("write: %v, want EINVAL", err)
	}
	if _, err := f.Open(nil, 0); err != unix.ENXIO {
		t.Errorf("open: %v, want ENXIO", err)
	}
	var _ fs.Waitable = f
}

// waitFor polls cond until it holds, failing t after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 10 s", what)
		}
	}
}
