package ptrace

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/runsc-lite/runsc-lite/platform"
	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// BenchmarkGetpidRoundTrip measures one application syscall round trip
// (Switch, then the "sentry" sets rax), and compares it with the C bare
// tracer (testdata/bare_tracer.c) doing the same four host calls per
// iteration, reporting the ratio as x-bare-C.
func BenchmarkGetpidRoundTrip(b *testing.B) {
	e := newEnv(b)
	regs := e.loadCode(getpidLoop)
	stop := e.switchTo(&regs)
	wantSyscall(b, stop, &regs, unix.SYS_GETPID)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		regs.SetReturn(uintptr(i))
		stop, err := e.ctx.Switch(e.as, &regs)
		if err != nil || stop.Kind != platform.StopSyscall {
			b.Fatalf("Switch: %+v %v", stop, err)
		}
	}
	b.StopTimer()
	goNs := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	if cNs, err := bareTracerNs(b, min(max(b.N, 1000), 20000), 1); err != nil {
		b.Logf("no C comparison: %v", err)
	} else {
		b.ReportMetric(cNs, "bare-C-ns/op")
		b.ReportMetric(goNs/cNs, "x-bare-C")
	}
}

// BenchmarkFaultRoundTrip measures a fault (Switch returning StopFault)
// followed by MapFile and Unmap from the task thread: one demand-paging
// cycle.
func BenchmarkFaultRoundTrip(b *testing.B) {
	e := newEnv(b)
	regs := e.loadCode(cat(loadRbx(dataAddr), insnGetpid, insnSyscall))
	fr := mustAlloc(b, e)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		regs.Rip = codeAddr
		if stop := e.switchTo(&regs); stop.Kind != platform.StopFault {
			b.Fatalf("stop = %+v", stop)
		}
		if err := e.as.MapFile(dataAddr, fr, hostarch.Read); err != nil {
			b.Fatal(err)
		}
		if stop := e.switchTo(&regs); stop.Kind != platform.StopSyscall {
			b.Fatalf("stop = %+v", stop)
		}
		e.as.Unmap(dataAddr, pageSize)
	}
}

// BenchmarkNewAddressSpace measures starting (and releasing) a stub.
func BenchmarkNewAddressSpace(b *testing.B) {
	e := newEnv(b)
	for i := 0; i < b.N; i++ {
		as, err := e.p.NewAddressSpace()
		if err != nil {
			b.Fatal(err)
		}
		as.Release()
	}
}

var bareTracer struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bareTracer.dir != "" {
		os.RemoveAll(bareTracer.dir)
	}
	os.Exit(code)
}

// buildBareTracer compiles testdata/bare_tracer.c with gcc, once.
func buildBareTracer(tb testing.TB) (string, error) {
	bareTracer.once.Do(func() {
		gcc, err := exec.LookPath("gcc")
		if err != nil {
			bareTracer.err = err
			return
		}
		dir, err := os.MkdirTemp("", "bare_tracer")
		bareTracer.dir = dir
		if err != nil {
			bareTracer.err = err
			return
		}
		bin := filepath.Join(dir, "bare_tracer")
		out, err := exec.Command(gcc, "-O2", "-o", bin, "testdata/bare_tracer.c").CombinedOutput()
		if err != nil {
			bareTracer.err = errorf("gcc: %v: %s", err, out)
			return
		}
		bareTracer.path = bin
	})
	return bareTracer.path, bareTracer.err
}

var bestRE = regexp.MustCompile(`(?m)^best: ([0-9.]+)$`)

// bareTracerNs runs the C bare tracer (rounds rounds of iters round trips)
// and returns its best ns per round trip.
func bareTracerNs(tb testing.TB, iters, rounds int) (float64, error) {
	bin, err := buildBareTracer(tb)
	if err != nil {
		return 0, err
	}
	out, err := exec.Command(bin, strconv.Itoa(iters), strconv.Itoa(rounds)).CombinedOutput()
	if err != nil {
		return 0, errorf("%s: %v: %s", bin, err, out)
	}
	m := bestRE.FindSubmatch(out)
	if m == nil {
		return 0, errorf("bare_tracer printed %q", out)
	}
	return strconv.ParseFloat(string(m[1]), 64)
}

// goRoundTripNs measures iters getpid round trips through Switch and
// returns ns per round trip.
func goRoundTripNs(tb testing.TB, e *env, iters int) float64 {
	regs := e.loadCode(getpidLoop)
	wantSyscall(tb, e.switchTo(&regs), &regs, unix.SYS_GETPID)
	start := time.Now()
	for i := 0; i < iters; i++ {
		regs.SetReturn(uintptr(i))
		stop, err := e.ctx.Switch(e.as, &regs)
		if err != nil || stop.Kind != platform.StopSyscall {
			tb.Fatalf("Switch: %+v %v", stop, err)
		}
	}
	return float64(time.Since(start).Nanoseconds()) / float64(iters)
}

// TestGetpidRatio compares the Go round trip with the C bare tracer,
// interleaving the two and keeping the best of each. It logs the numbers;
// with RUNSC_PTRACE_RATIO=1 in the environment it also fails if Go is more
// than 1.4 times slower.
func TestGetpidRatio(t *testing.T) {
	if testing.Short() {
		t.Skip("benchmark-like test")
	}
	if _, err := buildBareTracer(t); err != nil {
		t.Skipf("cannot build the C bare tracer: %v", err)
	}
	e := newEnv(t)
	const iters = 10000
	var bestGo, bestC float64
	for r := 0; r < 3; r++ {
		c, err := bareTracerNs(t, iters, 1)
		if err != nil {
			t.Fatal(err)
		}
		g := goRoundTripNs(t, e, iters)
		t.Logf("round %d: Go %.0f ns, C %.0f ns", r, g, c)
		if r == 0 || g < bestGo {
			bestGo = g
		}
		if r == 0 || c < bestC {
			bestC = c
		}
	}
	ratio := bestGo / bestC
	t.Logf("getpid round trip: Go %.0f ns, C bare tracer %.0f ns, ratio %.2f", bestGo, bestC, ratio)
	if os.Getenv("RUNSC_PTRACE_RATIO") == "1" && ratio > 1.4 {
		t.Errorf("Go round trip is %.2f times the C bare tracer's, want <= 1.4", ratio)
	}
}

// BenchmarkProcessCreation measures what a fork costs the platform: a new
// address space, its first Switch from a new context on a new locked
// thread (the child task's), then the release of both (the child's exit).
func BenchmarkProcessCreation(b *testing.B) {
	e := newEnv(b)
	regs0 := e.loadCode(getpidLoop)
	for i := 0; i < b.N; i++ {
		as, err := e.p.NewAddressSpace()
		if err != nil {
			b.Fatal(err)
		}
		mapBytesIn(b, e.mf, as, codeAddr, getpidLoop, hostarch.ReadExecute)
		if err := runOnNewThread(e.p, as, regs0); err != nil {
			b.Fatal(err)
		}
		as.Release()
	}
}

// BenchmarkThreadCreation measures what a clone(CLONE_VM) costs the
// platform: a new context on a new locked thread and its first Switch in
// an existing address space, then its release (the thread's exit).
func BenchmarkThreadCreation(b *testing.B) {
	e := newEnv(b)
	regs0 := e.loadCode(getpidLoop)
	for i := 0; i < b.N; i++ {
		if err := runOnNewThread(e.p, e.as, regs0); err != nil {
			b.Fatal(err)
		}
	}
}

// runOnNewThread runs a new context's first Switch into as on a new
// locked thread, as a new task does, and releases the context.
func runOnNewThread(p *Platform, as platform.AddressSpace, regs arch.Registers) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // the thread dies with the goroutine
		pc, err := p.NewContext()
		if err != nil {
			errc <- err
			return
		}
		defer pc.Release()
		stop, err := pc.Switch(as, &regs)
		if err == nil && stop.Kind != platform.StopSyscall {
			err = fmt.Errorf("stop = %+v, want a syscall", stop)
		}
		errc <- err
	}()
	return <-errc
}
