package systrap

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runsc-lite/runsc-lite/platform/ptrace"
)

// TestStubCodeGenerated rebuilds stubcode.go from src/stub.S with
// src/gen.sh and compares.
func TestStubCodeGenerated(t *testing.T) {
	for _, tool := range []string{"as", "objcopy", "nm", "gofmt"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s: %v", tool, err)
		}
	}
	out := filepath.Join(t.TempDir(), "stubcode.go")
	if b, err := exec.Command("sh", "src/gen.sh", out).CombinedOutput(); err != nil {
		t.Fatalf("src/gen.sh: %v\n%s", err, b)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("stubcode.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("stubcode.go is not src/stub.S assembled: run go generate ./platform/systrap")
	}
}

// TestEscapeProgramOffsets checks that the escape suite's program
// (test/c/escape.c) calls the stub's instructions where they are.
func TestEscapeProgramOffsets(t *testing.T) {
	src, err := os.ReadFile("../../test/c/escape.c")
	if err != nil {
		t.Skipf("no escape program: %v", err)
	}
	for _, want := range []string{
		fmt.Sprintf("futex syscall\", %#x}", stubFutexReturn-2),
		fmt.Sprintf("arch_prctl syscall\", %#x}", stubArchPrctlReturn-2),
		fmt.Sprintf("rt_sigreturn syscall\", %#x}", stubSigreturnReturn-2),
		fmt.Sprintf("bootstrap syscall\", %#x}", stubBootstrap),
		fmt.Sprintf("sched_yield syscall\", %#x}", stubYieldReturn-2),
		fmt.Sprintf("others[] = {%#x, %#x}", stubHandler, stubRestorer),
		fmt.Sprintf("#define SYSTRAP_CODE (STUB_BASE + %#x)", ptrace.StubVariantCodeOffset),
		fmt.Sprintf("#define STUB_BATCH (STUB_BASE + %#x)", ptrace.StubBatchLoop-ptrace.StubBase),
		fmt.Sprintf("#define STUB_BATCH_SYSCALL (STUB_BASE + %#x)", ptrace.StubBatchReturn-2-ptrace.StubBase),
	} {
		want = strings.Replace(want, "{0x0,", "{0x0,", 1)
		if !strings.Contains(string(src), want) {
			t.Errorf("test/c/escape.c has no %q", want)
		}
	}
}

// TestSpinPolicy checks that spinning stops after a window in which it
// mostly failed, and comes back after spinOff waits.
func TestSpinPolicy(t *testing.T) {
	s := spinPolicy{max: 5}
	for i := 0; i < spinWindow; i++ {
		if s.budget() == 0 {
			t.Fatalf("wait %d: no spin before any window ended", i)
		}
		s.record(i%4 == 0) // a quarter pay
	}
	if s.on() {
		t.Fatal("on() after a failing window")
	}
	for i := 0; i < spinOff; i++ {
		if s.budget() != 0 {
			t.Fatalf("wait %d after a failing window: still spinning", i)
		}
	}
	if s.budget() == 0 {
		t.Fatal("no spin after spinOff waits")
	}
	for i := 0; i < spinWindow; i++ {
		s.record(true)
	}
	if s.budget() == 0 {
		t.Fatal("no spin after a window that paid")
	}
	if !s.on() {
		t.Fatal("not on() after a window that paid")
	}
	if (&spinPolicy{}).budget() != 0 || (&spinPolicy{}).on() {
		t.Fatal("a zero spin spins")
	}
}

// TestStubPolls checks the conversion of the stub's spin budget into
// polls: none for no budget, some for a millisecond, bounded for an hour.
func TestStubPolls(t *testing.T) {
	p := &Platform{pollNs: pollCost()}
	if p.pollNs < 1 {
		t.Fatalf("pollCost() = %v, want at least 1 ns", p.pollNs)
	}
	if n := p.polls(0); n != 0 {
		t.Fatalf("polls(0) = %d, want 0", n)
	}
	if n := p.polls(time.Millisecond); n == 0 || n > 1<<20 {
		t.Fatalf("polls(1ms) = %d, want 1..%d (a poll costs %.1f ns)", n, 1<<20, p.pollNs)
	}
	if n := p.polls(time.Hour); n != 1<<20 {
		t.Fatalf("polls(1h) = %d, want the bound %d", n, 1<<20)
	}
}
