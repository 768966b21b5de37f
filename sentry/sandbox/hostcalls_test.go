package sandbox

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/runsc-lite/runsc-lite/sentry/syscalls"
	"golang.org/x/sys/unix"
)

// The host calls of the runsc-lite binary, found by reading its machine
// code (go tool objdump), not its source: what the linker kept is what can
// run, and code that reaches the kernel does so through one of two doors:
//
//   - a SYSCALL instruction (the Go runtime's own assembly: futex, mmap,
//     clone, rt_sigaction, ...), whose number is the constant loaded into
//     AX just before it;
//   - a call to one of the syscall packages' forwarders (syscall.Syscall6,
//     golang.org/x/sys/unix.Syscall.abi0, internal/runtime/syscall/linux.
//     Syscall6, ...), whose number is the constant the caller passes as
//     the first argument: in AX for Go's register ABI, at 0(SP) for ABI0.
//
// A SYSCALL or a forwarder call whose number is not a constant, outside
// the forwarders themselves, is "unresolved": the test fails on it, so a
// new way into the kernel cannot slip past the allow-list unseen.

// forwarders are the functions that pass their first argument on as the
// syscall number, by where that argument is: "reg" (AX, Go's register
// ABI) or "stack" (0(SP) of the caller's frame, ABI0).
var forwarders = map[string]string{
	"internal/runtime/syscall/linux.Syscall6":      "reg",
	"syscall.RawSyscall":                           "reg",
	"syscall.RawSyscall6":                          "reg",
	"syscall.Syscall":                              "reg",
	"syscall.Syscall6":                             "reg",
	"syscall.RawSyscallNoError":                    "reg",
	"syscall.AllThreadsSyscall":                    "reg",
	"syscall.AllThreadsSyscall6":                   "reg",
	"syscall.rawSyscallNoError.abi0":               "stack",
	"syscall.rawVforkSyscall.abi0":                 "stack",
	"syscall.Syscall.abi0":                         "stack",
	"syscall.Syscall6.abi0":                        "stack",
	"syscall.RawSyscall.abi0":                      "stack",
	"syscall.RawSyscall6.abi0":                     "stack",
	"golang.org/x/sys/unix.Syscall.abi0":           "stack",
	"golang.org/x/sys/unix.Syscall6.abi0":          "stack",
	"golang.org/x/sys/unix.RawSyscall.abi0":        "stack",
	"golang.org/x/sys/unix.RawSyscall6.abi0":       "stack",
	"golang.org/x/sys/unix.SyscallNoError.abi0":    "stack",
	"golang.org/x/sys/unix.RawSyscallNoError.abi0": "stack",
	"golang.org/x/sys/unix.schedAffinity":          "reg",
	"syscall.runtime_doAllThreadsSyscall":          "reg",
}

// reviewedDynamic are the call sites whose syscall number is not a
// constant in the machine code, each with the numbers it can pass (nil:
// see why) and why.
var reviewedDynamic = map[string]struct {
	nos []uintptr
	why string
}{
	"golang.org/x/sys/unix.fcntl": {[]uintptr{unix.SYS_FCNTL}, "its number is the variable fcntl64Syscall, SYS_FCNTL on amd64"},
	"runtime.runPerThreadSyscall": {nil, "runs the calls of syscall.AllThreadsSyscall, whose callers pass constants (found above)"},
	"syscall.forkAndExecInChild1": {nil, "a forked child before its exec: the confined sentry never forks (the launcher does, and the ptrace platform once, for its zygote, before the filter)"},
}

// hostCalls is what the binary can ask of the kernel.
type hostCalls struct {
	// callers maps a syscall number to the functions that make it.
	callers map[uintptr][]string
	// unresolved maps the functions with SYSCALLs or forwarder calls
	// whose number is not a constant, outside the forwarders, to what
	// they do.
	unresolved map[string]string
	// calledBy is the binary's call graph, backwards: callee to callers.
	calledBy map[string]map[string]bool
}

var (
	objdumpRe = regexp.MustCompile(`^\s+\S+\s+0x[0-9a-f]+\s+[0-9a-f]+\s+(.*?)\s*$`)
	callRe    = regexp.MustCompile(`^(?:CALL|JMP) (\S+)\(SB\)$`)
	immRe     = regexp.MustCompile(`^MOV[LQ] \$(-?0x[0-9a-f]+|-?[0-9]+), (\S+)$`)
	movRegRe  = regexp.MustCompile(`^MOV[LQ] ([A-Z][A-Z0-9]*), ([A-Z][A-Z0-9]*)$`)
)

// analyzeBinary disassembles bin and returns its host calls.
func analyzeBinary(bin string) (*hostCalls, error) {
	cmd := exec.Command("go", "tool", "objdump", bin)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	hc := parseObjdump(out)
	if err := cmd.Wait(); err != nil {
		return nil, fmt.Errorf("go tool objdump %s: %v\n%s", bin, err, stderr.String())
	}
	return hc, nil
}

func parseObjdump(r io.Reader) *hostCalls {
	hc := &hostCalls{callers: map[uintptr][]string{}, unresolved: map[string]string{}, calledBy: map[string]map[string]bool{}}
	seen := map[string]bool{}
	add := func(no uintptr, fn string) {
		k := strconv.Itoa(int(no)) + " " + fn
		if !seen[k] {
			seen[k] = true
			hc.callers[no] = append(hc.callers[no], fn)
		}
	}
	var fn string
	var insns []string
	flush := func() {
		// A forwarder's own calls pass its parameter on: the numbers
		// are its callers'.
		isForwarder := forwarders[fn] != ""
		for i, in := range insns {
			if in == "SYSCALL" {
				no, ok := valueBefore(insns[:i], "AX")
				switch {
				case isForwarder:
				case ok:
					add(no, fn)
				default:
					hc.unresolved[fn] = "SYSCALL with a number that is not a constant"
				}
				continue
			}
			m := callRe.FindStringSubmatch(in)
			if m == nil {
				continue
			}
			if hc.calledBy[m[1]] == nil {
				hc.calledBy[m[1]] = map[string]bool{}
			}
			hc.calledBy[m[1]][fn] = true
			abi, ok := forwarders[m[1]]
			if !ok {
				continue
			}
			where := "AX"
			if abi == "stack" {
				where = "0(SP)"
			}
			no, ok := valueBefore(insns[:i], where)
			switch {
			case isForwarder:
			case ok:
				add(no, fn)
			default:
				hc.unresolved[fn] = "calls " + m[1] + " with a number that is not a constant"
			}
		}
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if name, ok := strings.CutPrefix(l, "TEXT "); ok {
			flush()
			fn, _, _ = strings.Cut(name, "(SB)")
			insns = insns[:0]
			continue
		}
		if m := objdumpRe.FindStringSubmatch(l); m != nil {
			insns = append(insns, m[1])
		}
	}
	flush()
	for no := range hc.callers {
		sort.Strings(hc.callers[no])
	}
	return hc
}

// origins returns up to max first-party functions (this module's) that
// reach fn, nearest first: where a syscall made deep in a library comes
// from.
func (hc *hostCalls) origins(fn string, max int) []string {
	const module = "github.com/runsc-lite/runsc-lite/"
	seen := map[string]bool{fn: true}
	frontier := []string{fn}
	var out []string
	for depth := 0; depth < 12 && len(frontier) > 0 && len(out) < max; depth++ {
		var next []string
		for _, f := range frontier {
			if strings.HasPrefix(f, module) || strings.HasPrefix(f, "main.") {
				out = append(out, strings.TrimPrefix(f, module))
				if len(out) == max {
					break
				}
				continue
			}
			var cs []string
			for c := range hc.calledBy[f] {
				cs = append(cs, c)
			}
			sort.Strings(cs)
			for _, c := range cs {
				if !seen[c] {
					seen[c] = true
					next = append(next, c)
				}
			}
		}
		frontier = next
	}
	return out
}

// valueBefore returns the constant last stored to dst (a register, "AX",
// or a stack slot, "0(SP)") by the instructions before a call or SYSCALL,
// reading backwards and following register-to-register moves: false if
// the last write is not a constant, or a call came first (it clobbers
// registers).
func valueBefore(insns []string, dst string) (uintptr, bool) {
	for i := len(insns) - 1; i >= 0; i-- {
		in := insns[i]
		if strings.HasPrefix(in, "CALL ") {
			return 0, false
		}
		if m := immRe.FindStringSubmatch(in); m != nil && m[2] == dst {
			v, err := strconv.ParseInt(m[1], 0, 64)
			if err != nil {
				return 0, false
			}
			return uintptr(v), true
		}
		if in == "XORL "+dst+", "+dst || in == "XORQ "+dst+", "+dst {
			return 0, true
		}
		if m := movRegRe.FindStringSubmatch(in); m != nil && m[2] == dst {
			return valueBefore(insns[:i], m[1])
		}
		if strings.HasSuffix(in, ", "+dst) {
			return 0, false
		}
	}
	return 0, false
}

// runscBinary builds runsc-lite once for the tests that read it.
var runscBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "runsc-lite-hostcalls-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "runsc-lite")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/runsc-lite/runsc-lite/runsc-lite")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// notInBinary are syscalls of the allow-list that the binary's machine
// code does not show, and why they are needed anyway.
var notInBinary = map[uintptr]string{
	unix.SYS_RESTART_SYSCALL: "the kernel makes it on the sentry's behalf when a signal interrupts a sleep",
}

// TestSeccompAllowListCoversHostCalls: every syscall the runsc-lite binary
// can make is in the sentry's seccomp allow-list or in setupOnly (with
// why the confined sentry never makes it); every syscall of the allow-list
// is one the binary makes (or notInBinary says why not); no call site
// escapes the analysis. Failed, in production, would be the sentry killed
// by its filter the first time it makes a host call nobody reviewed.
func TestSeccompAllowListCoversHostCalls(t *testing.T) {
	bin, err := runscBinary()
	if err != nil {
		t.Fatal(err)
	}
	hc, err := analyzeBinary(bin)
	if err != nil {
		t.Fatal(err)
	}
	if len(hc.callers) < 50 || len(hc.callers[unix.SYS_FUTEX]) == 0 || len(hc.callers[unix.SYS_PTRACE]) == 0 {
		t.Fatalf("the analysis found %d syscalls (futex by %v, ptrace by %v): it no longer understands the machine code", len(hc.callers), hc.callers[unix.SYS_FUTEX], hc.callers[unix.SYS_PTRACE])
	}
	// allowed is the allow-lists of every network mode (with every other
	// widening option) together: a syscall one of them allows is covered
	// (what each mode allows is TestSeccompFilterNetworkModes').
	allowed := map[uintptr]string{}
	for _, o := range (filterOptions{pid: 1}).everything() {
		mine := map[uintptr]bool{}
		for _, a := range o.allowList() {
			if mine[a.no] {
				t.Errorf("syscall %s is in the allow-list of --network=%s twice", sysName(a.no), o.network)
			}
			mine[a.no] = true
			if allowed[a.no] == "" {
				allowed[a.no] = a.why
			}
			if _, ok := setupOnly[a.no]; ok {
				t.Errorf("syscall %s is both allowed and set-up only", sysName(a.no))
			}
		}
	}
	for fn, what := range hc.unresolved {
		if _, ok := reviewedDynamic[fn]; !ok {
			t.Errorf("%s %s (reached from %v): make the number a constant, or review the call site in reviewedDynamic", fn, what, hc.origins(fn, 3))
		}
	}
	for fn, d := range reviewedDynamic {
		if _, ok := hc.unresolved[fn]; !ok {
			t.Errorf("reviewedDynamic lists %s, which the analysis no longer needs: remove it", fn)
		}
		for _, no := range d.nos {
			if allowed[no] == "" && setupOnly[no] == "" {
				t.Errorf("%s makes syscall %s, which is neither allowed nor set-up only", fn, sysName(no))
			}
		}
	}
	var nos []int
	for no := range hc.callers {
		nos = append(nos, int(no))
	}
	sort.Ints(nos)
	for _, n := range nos {
		no := uintptr(n)
		callers := hc.callers[no]
		var from []string
		for _, c := range callers {
			from = append(from, hc.origins(c, 2)...)
		}
		switch {
		case allowed[no] != "":
			t.Logf("allowed    %-20s %s (made by %v)", sysName(no), allowed[no], callers)
		case setupOnly[no] != "":
			t.Logf("set-up     %-20s %s (made by %v)", sysName(no), setupOnly[no], callers)
		default:
			t.Errorf("syscall %s is made by %v (reached from %v) but is neither in the sentry's seccomp allow-list nor in setupOnly (sentry/sandbox/filter.go): the confined sentry would be killed by it", sysName(no), callers, from)
		}
	}
	for no := range notInBinary {
		if len(hc.callers[no]) != 0 {
			t.Errorf("notInBinary lists %s, which the binary makes (by %v): remove it", sysName(no), hc.callers[no])
		}
	}
	for no, why := range allowed {
		if len(hc.callers[no]) == 0 && notInBinary[no] == "" {
			t.Errorf("the allow-list has %s (%s), which the binary never makes: remove it, or say in notInBinary why it is needed", sysName(no), why)
		}
	}
	for no := range setupOnly {
		if len(hc.callers[no]) == 0 {
			t.Logf("setupOnly lists %s, which the binary does not make (harmless: it is refused anyway)", sysName(no))
		}
	}
}

func sysName(no uintptr) string {
	name := "unknown"
	if sc := syscalls.Lookup(no); sc != nil {
		name = sc.Name
	}
	return fmt.Sprintf("%s(%d)", name, no)
}
