package oci

// linux.seccomp: the config's profile compiled into a classic BPF program,
// as runc compiles it with libseccomp, which the sentry attaches to the
// container's processes (its init and the processes exec starts) before
// they run, as seccomp(2) inside the sandbox evaluates it (sentry/seccomp).
// The host never sees it: the sentry serves every system call itself.

import (
	"errors"
	"fmt"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/runsc-lite/runsc-lite/sentry/container"
	inside "github.com/runsc-lite/runsc-lite/sentry/seccomp"
	"github.com/runsc-lite/runsc-lite/sentry/syscalls"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/seccomp"
)

// logMarker is the return code a LOG action is built with (as TRACE, which
// gVisor's program builder knows) and rewritten from afterwards.
const logMarker = 0xfffe

// syscallNumbers maps the x86-64 syscall names the sandbox knows to their
// numbers.
var syscallNumbers = sync.OnceValue(func() map[string]uintptr {
	m := map[string]uintptr{}
	for no := uintptr(0); no < 1024; no++ {
		if sc := syscalls.Lookup(no); sc != nil {
			m[sc.Name] = no
		}
	}
	return m
})

// compileSeccomp compiles the config's linux.seccomp. Syscall names the
// sandbox does not know are skipped, as libseccomp skips the names it
// does not know for an architecture (they get the default action: the
// sandbox answers them ENOSYS anyway). Errors name the field.
func compileSeccomp(s *specs.LinuxSeccomp) (*container.Seccomp, error) {
	if s.ListenerPath != "" || s.ListenerMetadata != "" {
		return nil, errors.New("linux.seccomp.listenerPath: seccomp agents (SCMP_ACT_NOTIFY) are not supported")
	}
	def, err := seccompAction(s.DefaultAction, s.DefaultErrnoRet)
	if err != nil {
		return nil, fmt.Errorf("linux.seccomp.defaultAction: %w", err)
	}
	x8664 := len(s.Architectures) == 0
	for _, a := range s.Architectures {
		switch a {
		case specs.ArchX86_64:
			x8664 = true
		case specs.ArchX86, specs.ArchX32:
			// The sandbox runs no 32-bit code (int $0x80 and x32
			// numbers are refused before any filter).
		default:
			// Other architectures never match: their calls
			// cannot happen here.
		}
	}
	if !x8664 {
		return nil, errors.New("linux.seccomp.architectures: no SCMP_ARCH_X86_64, the only architecture the sandbox runs")
	}
	var flags uint32
	for _, f := range s.Flags {
		switch f {
		case specs.LinuxSeccompFlagLog:
			flags |= inside.FlagLog
		case specs.LinuxSeccompFlagSpecAllow:
			flags |= inside.FlagSpecAllow
		case specs.LinuxSeccompFlagWaitKillableRecv:
			// Only with a listener, which is refused above.
		default:
			return nil, fmt.Errorf("linux.seccomp.flags: unknown flag %q", f)
		}
	}
	// One rule set per action, in the order the config first names
	// each: the program returns the first that matches.
	var sets []seccomp.RuleSet
	index := map[seccomp.Action]int{}
	numbers := syscallNumbers()
	for i, sc := range s.Syscalls {
		act, err := seccompAction(sc.Action, sc.ErrnoRet)
		if err != nil {
			return nil, fmt.Errorf("linux.seccomp.syscalls[%d].action: %w", i, err)
		}
		rule, err := seccompArgs(sc.Args)
		if err != nil {
			return nil, fmt.Errorf("linux.seccomp.syscalls[%d].args: %w", i, err)
		}
		n, ok := index[act]
		if !ok {
			n = len(sets)
			index[act] = n
			sets = append(sets, seccomp.RuleSet{Rules: seccomp.NewSyscallRules(), Action: act})
		}
		for _, name := range sc.Names {
			if no, ok := numbers[name]; ok {
				sets[n].Rules.Add(no, rule)
			}
		}
	}
	p := &seccomp.Program{
		RuleSets: sets,
		Options: seccomp.ProgramOptions{
			DefaultAction: def,
			// libseccomp's default for an architecture the filter
			// does not name.
			BadArchAction: seccomp.KillThread,
		},
	}
	insns, _, err := p.Build()
	if err != nil {
		return nil, fmt.Errorf("linux.seccomp: %w", err)
	}
	out := &container.Seccomp{Flags: flags}
	for _, in := range insns {
		if in.OpCode == unix.BPF_RET|unix.BPF_K && in.K == uint32(linux.SECCOMP_RET_TRACE)|logMarker {
			in.K = inside.RetLog
		}
		out.Program = append(out.Program, linux.BPFInstruction(in))
	}
	return out, nil
}

// seccompAction is an OCI action as a program builder's (errno: the
// action's errnoRet, EPERM without one, as runc).
func seccompAction(a specs.LinuxSeccompAction, errnoRet *uint) (seccomp.Action, error) {
	switch a {
	case specs.ActAllow:
		return seccomp.Allow, nil
	case specs.ActErrno:
		code := uint(unix.EPERM)
		if errnoRet != nil {
			code = *errnoRet
		}
		if code > 0xffff {
			return "", fmt.Errorf("errnoRet %d is out of range", code)
		}
		return seccomp.ReturnError.Code(uint16(code)), nil
	case specs.ActKill, specs.ActKillThread:
		return seccomp.KillThread, nil
	case specs.ActKillProcess:
		return seccomp.KillProcess, nil
	case specs.ActTrap:
		return seccomp.Trap, nil
	case specs.ActTrace:
		code := uint(unix.EPERM)
		if errnoRet != nil {
			code = *errnoRet
		}
		return seccomp.Trace.Code(uint16(code)), nil
	case specs.ActLog:
		return seccomp.Trace.Code(logMarker), nil
	case specs.ActNotify:
		return "", errors.New("SCMP_ACT_NOTIFY needs a seccomp agent, which is not supported")
	case "":
		return "", errors.New("missing")
	}
	return "", fmt.Errorf("unknown action %q", a)
}

// seccompArgs is a syscall entry's argument conditions: all of them
// (libseccomp ANDs an entry's conditions), as one rule.
func seccompArgs(args []specs.LinuxSeccompArg) (seccomp.SyscallRule, error) {
	if len(args) == 0 {
		return seccomp.MatchAll{}, nil
	}
	var and seccomp.And
	for _, a := range args {
		if a.Index > 5 {
			return nil, fmt.Errorf("index %d: a syscall has 6 arguments", a.Index)
		}
		var m seccomp.ValueMatcher
		v := uintptr(a.Value)
		switch a.Op {
		case specs.OpEqualTo:
			m = seccomp.EqualTo(v)
		case specs.OpNotEqual:
			m = seccomp.NotEqual(v)
		case specs.OpLessThan:
			m = seccomp.LessThan(v)
		case specs.OpLessEqual:
			m = seccomp.LessThanOrEqual(v)
		case specs.OpGreaterThan:
			m = seccomp.GreaterThan(v)
		case specs.OpGreaterEqual:
			m = seccomp.GreaterThanOrEqual(v)
		case specs.OpMaskedEqual:
			m = seccomp.MaskedEqual(v, uintptr(a.ValueTwo))
		default:
			return nil, fmt.Errorf("unknown op %q", a.Op)
		}
		var per seccomp.PerArg
		for i := range per {
			per[i] = seccomp.AnyValue{}
		}
		per[a.Index] = m
		and = append(and, per)
	}
	if len(and) == 1 {
		return and[0], nil
	}
	return and, nil
}
