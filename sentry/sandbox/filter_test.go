package sandbox

import (
	"flag"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/runsc-lite/runsc-lite/sentry/boot"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/bpf"
	"gvisor.dev/gvisor/pkg/seccomp"
)

// run evaluates the filter of o on one syscall, as the kernel would.
func runFilter(t *testing.T, o filterOptions, arch uint32, no uintptr, args ...uintptr) uint32 {
	t.Helper()
	insns, err := o.program()
	if err != nil {
		t.Fatal(err)
	}
	prog, err := bpf.Compile(insns, false)
	if err != nil {
		t.Fatal(err)
	}
	d := linux.SeccompData{Nr: int32(no), Arch: arch}
	for i, a := range args {
		d.Args[i] = uint64(a)
	}
	buf := make([]byte, d.SizeBytes())
	ret, err := bpf.Exec[bpf.NativeEndian](prog, seccomp.DataAsBPFInput(&d, buf))
	if err != nil {
		t.Fatal(err)
	}
	return ret
}

// TestSeccompFilterRules evaluates the filter's program on calls it must
// allow and calls it must refuse. Escaped would be a refused call
// answered SECCOMP_RET_ALLOW: a compromised sentry opening host paths by
// name, mapping executable memory, signalling every process, forking,
// exec'ing, or reading a stub's memory with PTRACE_PEEKDATA.
func TestSeccompFilterRules(t *testing.T) {
	const pid = 1
	o := filterOptions{pid: pid}
	allow, kill := uint32(linux.SECCOMP_RET_ALLOW), uint32(linux.SECCOMP_RET_KILL_PROCESS)
	x86 := uint32(linux.AUDIT_ARCH_X86_64)
	for _, c := range []struct {
		what string
		want uint32
		no   uintptr
		args []uintptr
	}{
		{"read", allow, unix.SYS_READ, nil},
		{"futex wait private", allow, unix.SYS_FUTEX, []uintptr{0, linux.FUTEX_WAIT | linux.FUTEX_PRIVATE_FLAG}},
		{"futex requeue", kill, unix.SYS_FUTEX, []uintptr{0, linux.FUTEX_CMP_REQUEUE}},
		{"socket", kill, unix.SYS_SOCKET, []uintptr{unix.AF_INET, unix.SOCK_STREAM, 0}},
		{"execve", kill, unix.SYS_EXECVE, nil},
		{"openat a held descriptor", allow, unix.SYS_OPENAT, []uintptr{3, 0, unix.O_RDONLY}},
		{"openat AT_FDCWD", kill, unix.SYS_OPENAT, []uintptr{atFDCWD, 0, unix.O_RDONLY}},
		{"open", kill, unix.SYS_OPEN, nil},
		{"openat2 AT_FDCWD", kill, unix.SYS_OPENAT2, []uintptr{atFDCWD}},
		{"mmap anonymous rw", allow, unix.SYS_MMAP, []uintptr{0, 4096, unix.PROT_READ | unix.PROT_WRITE, unix.MAP_PRIVATE | unix.MAP_ANONYMOUS}},
		{"mmap rwx", kill, unix.SYS_MMAP, []uintptr{0, 4096, unix.PROT_READ | unix.PROT_WRITE | unix.PROT_EXEC, unix.MAP_PRIVATE | unix.MAP_ANONYMOUS}},
		{"mprotect exec", kill, unix.SYS_MPROTECT, []uintptr{0, 4096, unix.PROT_READ | unix.PROT_EXEC}},
		{"mmap vDSO getrandom states", allow, unix.SYS_MMAP, []uintptr{0, 4096, unix.PROT_READ | unix.PROT_WRITE, unix.MAP_DROPPABLE | unix.MAP_ANONYMOUS}},
		{"mmap droppable rwx", kill, unix.SYS_MMAP, []uintptr{0, 4096, unix.PROT_READ | unix.PROT_WRITE | unix.PROT_EXEC, unix.MAP_DROPPABLE | unix.MAP_ANONYMOUS}},
		{"clone a thread", allow, unix.SYS_CLONE, []uintptr{goThreadCloneFlags}},
		{"fork", kill, unix.SYS_CLONE, []uintptr{uintptr(unix.SIGCHLD)}},
		{"kill a stub", allow, unix.SYS_KILL, []uintptr{1234, uintptr(unix.SIGKILL)}},
		{"kill -1", kill, unix.SYS_KILL, []uintptr{^uintptr(0), uintptr(unix.SIGKILL)}},
		{"kill a process group", kill, unix.SYS_KILL, []uintptr{^uintptr(1233), uintptr(unix.SIGKILL)}},
		{"SIGTERM to a stub", kill, unix.SYS_KILL, []uintptr{1234, uintptr(unix.SIGTERM)}},
		{"the runtime raising at itself", allow, unix.SYS_KILL, []uintptr{pid, uintptr(unix.SIGABRT)}},
		{"tgkill own thread", allow, unix.SYS_TGKILL, []uintptr{pid, 7, uintptr(unix.SIGURG)}},
		{"tgkill another process", kill, unix.SYS_TGKILL, []uintptr{1234, 1234, uintptr(unix.SIGURG)}},
		{"ptrace SYSEMU", allow, unix.SYS_PTRACE, []uintptr{unix.PTRACE_SYSEMU, 1234}},
		{"ptrace PEEKDATA", kill, unix.SYS_PTRACE, []uintptr{unix.PTRACE_PEEKDATA, 1234}},
		{"ptrace ATTACH", kill, unix.SYS_PTRACE, []uintptr{unix.PTRACE_ATTACH, 1234}},
		{"ioctl KVM_RUN", allow, unix.SYS_IOCTL, []uintptr{5, 0xae80}},
		{"ioctl TIOCSTI", kill, unix.SYS_IOCTL, []uintptr{0, unix.TIOCSTI}},
		{"ioctl TCGETS", allow, unix.SYS_IOCTL, []uintptr{0, unix.TCGETS}},
		{"prctl PR_SET_VMA", allow, unix.SYS_PRCTL, []uintptr{unix.PR_SET_VMA, unix.PR_SET_VMA_ANON_NAME}},
		{"prctl PR_SET_DUMPABLE", kill, unix.SYS_PRCTL, []uintptr{unix.PR_SET_DUMPABLE, 1}},
		{"mount", kill, unix.SYS_MOUNT, nil},
		{"pidfd_send_signal SIGKILL", allow, unix.SYS_PIDFD_SEND_SIGNAL, []uintptr{9, uintptr(unix.SIGKILL)}},
		{"pidfd_send_signal SIGTERM", kill, unix.SYS_PIDFD_SEND_SIGNAL, []uintptr{9, uintptr(unix.SIGTERM)}},
	} {
		if got := runFilter(t, o, x86, c.no, c.args...); got != c.want {
			t.Errorf("%s: filter returns %#x, want %#x", c.what, got, c.want)
		}
	}
	// Another architecture's calling convention (int $0x80's i386
	// numbers): killed whatever the number.
	if got := runFilter(t, o, unix.AUDIT_ARCH_I386, unix.SYS_READ); got != kill {
		t.Errorf("an i386 read: filter returns %#x, want kill", got)
	}
	// Log-only mode logs what it would have killed, and still allows
	// the rest.
	lo := filterOptions{pid: pid, log: true}
	if got := runFilter(t, lo, x86, unix.SYS_SOCKET); got != unix.SECCOMP_RET_LOG {
		t.Errorf("socket in log mode: %#x, want SECCOMP_RET_LOG", got)
	}
	if got := runFilter(t, lo, x86, unix.SYS_READ); got != allow {
		t.Errorf("read in log mode: %#x, want allow", got)
	}
	// The deny knob takes a syscall out.
	do := filterOptions{pid: pid, deny: []string{"ptrace"}}
	if got := runFilter(t, do, x86, unix.SYS_PTRACE, unix.PTRACE_SYSEMU); got != kill {
		t.Errorf("ptrace with RUNSC_LITE_SECCOMP_DENY=ptrace: %#x, want kill", got)
	}
	if _, err := (filterOptions{deny: []string{"no-such-call"}}).program(); err == nil {
		t.Errorf("RUNSC_LITE_SECCOMP_DENY=no-such-call was accepted")
	}
}

var updatePrecompiled = flag.Bool("update", false, "rewrite filter_precompiled.go")

// TestPrecompiledFilter: the precompiled programs of the usual cases are
// what building them gives now (a change to the allow-list, or to the
// ioctl lists it includes, must be followed by `go test ./sentry/sandbox
// -run TestPrecompiledFilter -args -update`), and every usual case has
// one. Failed would be a sentry running an old allow-list, or building
// its program at start-up.
func TestPrecompiledFilter(t *testing.T) {
	fresh := map[precompiledKey][]bpf.Instruction{}
	var keys []precompiledKey
	for _, o := range precompiledVariants() {
		k, ok := o.precompiledKey()
		if !ok {
			t.Fatalf("%+v is not a usual case", o)
		}
		p, err := o.build()
		if err != nil {
			t.Fatal(err)
		}
		fresh[k] = p
		keys = append(keys, k)
	}
	if *updatePrecompiled {
		var b strings.Builder
		b.WriteString(`// Code generated by go test ./sentry/sandbox -run TestPrecompiledFilter -args -update; DO NOT EDIT.

package sandbox

import "gvisor.dev/gvisor/pkg/bpf"

// precompiledFilters are the programs of precompiledVariants, built at
// development time (see filterOptions.precompiledKey).
// TestPrecompiledFilter checks them against fresh builds.
var precompiledFilters = map[precompiledKey][]bpf.Instruction{
`)
		for _, k := range keys {
			fmt.Fprintf(&b, "\t{control: %v, network: %q}: {\n", k.control, k.network)
			for _, in := range fresh[k] {
				fmt.Fprintf(&b, "\t\t{OpCode: %#04x, JumpIfTrue: %d, JumpIfFalse: %d, K: %#x},\n", in.OpCode, in.JumpIfTrue, in.JumpIfFalse, in.K)
			}
			b.WriteString("\t},\n")
		}
		b.WriteString("}\n")
		if err := os.WriteFile("filter_precompiled.go", []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	for _, k := range keys {
		if !reflect.DeepEqual(fresh[k], precompiledFilters[k]) {
			t.Errorf("filter_precompiled.go is stale for %+v (%d instructions, a fresh build has %d): run go test ./sentry/sandbox -run TestPrecompiledFilter -args -update", k, len(precompiledFilters[k]), len(fresh[k]))
		}
	}
	if len(precompiledFilters) != len(keys) {
		t.Errorf("filter_precompiled.go has %d programs, precompiledVariants %d: run go test ./sentry/sandbox -run TestPrecompiledFilter -args -update", len(precompiledFilters), len(keys))
	}
	// An OCI sandbox in the default network mode is a usual case.
	if _, ok := (filterOptions{pid: 1, control: true}).precompiledKey(); !ok {
		t.Error("an OCI sandbox's filter is not precompiled")
	}
}

// TestSeccompFilterNetworkModes: what each network mode adds to the
// filter, and no more. --network=none makes no host socket call;
// --network=sandbox only moves frames in batches on descriptors it holds;
// --network=host makes TCP, UDP and ICMP-echo host sockets and nothing
// else (no raw, packet, netlink or Unix socket, no other options).
// Escaped would be a sentry of one mode allowed another mode's calls, or
// a host-mode sentry able to make a raw or packet socket, or to set an
// option sentry/socket/hostinet never passes on (SO_MARK, SO_BINDTODEVICE).
func TestSeccompFilterNetworkModes(t *testing.T) {
	allow, kill := uint32(linux.SECCOMP_RET_ALLOW), uint32(linux.SECCOMP_RET_KILL_PROCESS)
	x86 := uint32(linux.AUDIT_ARCH_X86_64)
	nbc := uintptr(unix.SOCK_NONBLOCK | unix.SOCK_CLOEXEC)
	for _, c := range []struct {
		network string
		what    string
		want    uint32
		no      uintptr
		args    []uintptr
	}{
		{boot.NetworkNone, "recvmmsg", kill, unix.SYS_RECVMMSG, []uintptr{3, 0, 8, unix.MSG_DONTWAIT}},
		{boot.NetworkNone, "tcp socket", kill, unix.SYS_SOCKET, []uintptr{unix.AF_INET, unix.SOCK_STREAM | nbc, 0}},
		{boot.NetworkSandbox, "recvmmsg, non-blocking", allow, unix.SYS_RECVMMSG, []uintptr{3, 0, 8, unix.MSG_DONTWAIT}},
		{boot.NetworkSandbox, "sendmmsg, non-blocking", allow, unix.SYS_SENDMMSG, []uintptr{3, 0, 8, unix.MSG_DONTWAIT}},
		{boot.NetworkSandbox, "recvmmsg, blocking", kill, unix.SYS_RECVMMSG, []uintptr{3, 0, 8, 0}},
		{boot.NetworkSandbox, "packet socket", kill, unix.SYS_SOCKET, []uintptr{unix.AF_PACKET, unix.SOCK_RAW | nbc, 0}},
		{boot.NetworkSandbox, "tcp socket", kill, unix.SYS_SOCKET, []uintptr{unix.AF_INET, unix.SOCK_STREAM | nbc, 0}},
		{boot.NetworkHost, "tcp socket", allow, unix.SYS_SOCKET, []uintptr{unix.AF_INET, unix.SOCK_STREAM | nbc, 0}},
		{boot.NetworkHost, "udp6 socket", allow, unix.SYS_SOCKET, []uintptr{unix.AF_INET6, unix.SOCK_DGRAM | nbc, 0}},
		{boot.NetworkHost, "blocking tcp socket", kill, unix.SYS_SOCKET, []uintptr{unix.AF_INET, unix.SOCK_STREAM, 0}},
		{boot.NetworkHost, "raw socket", kill, unix.SYS_SOCKET, []uintptr{unix.AF_INET, unix.SOCK_RAW | nbc, unix.IPPROTO_ICMP}},
		{boot.NetworkHost, "packet socket", kill, unix.SYS_SOCKET, []uintptr{unix.AF_PACKET, unix.SOCK_RAW | nbc, 0}},
		{boot.NetworkHost, "netlink socket", kill, unix.SYS_SOCKET, []uintptr{unix.AF_NETLINK, unix.SOCK_RAW | unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE}},
		{boot.NetworkHost, "unix socket", kill, unix.SYS_SOCKET, []uintptr{unix.AF_UNIX, unix.SOCK_STREAM | nbc, 0}},
		{boot.NetworkHost, "accept4", allow, unix.SYS_ACCEPT4, []uintptr{3, 0, 0, nbc}},
		{boot.NetworkHost, "accept4, blocking", kill, unix.SYS_ACCEPT4, []uintptr{3, 0, 0, 0}},
		{boot.NetworkHost, "SO_REUSEADDR", allow, unix.SYS_SETSOCKOPT, []uintptr{3, unix.SOL_SOCKET, unix.SO_REUSEADDR}},
		{boot.NetworkHost, "TCP_NODELAY", allow, unix.SYS_SETSOCKOPT, []uintptr{3, unix.IPPROTO_TCP, unix.TCP_NODELAY}},
		{boot.NetworkHost, "SO_MARK", kill, unix.SYS_SETSOCKOPT, []uintptr{3, unix.SOL_SOCKET, unix.SO_MARK}},
		{boot.NetworkHost, "SO_BINDTODEVICE", kill, unix.SYS_SETSOCKOPT, []uintptr{3, unix.SOL_SOCKET, unix.SO_BINDTODEVICE}},
		{boot.NetworkHost, "SO_ATTACH_FILTER", kill, unix.SYS_SETSOCKOPT, []uintptr{3, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER}},
		{boot.NetworkHost, "SO_PROTOCOL", allow, unix.SYS_GETSOCKOPT, []uintptr{3, unix.SOL_SOCKET, unix.SO_PROTOCOL}},
		{boot.NetworkHost, "SIOCINQ", allow, unix.SYS_IOCTL, []uintptr{3, unix.SIOCINQ}},
		{boot.NetworkHost, "SIOCGIFCONF", allow, unix.SYS_IOCTL, []uintptr{3, unix.SIOCGIFCONF}},
		{boot.NetworkHost, "SIOCSIFFLAGS", kill, unix.SYS_IOCTL, []uintptr{3, unix.SIOCSIFFLAGS}},
		{boot.NetworkHost, "recvmmsg", kill, unix.SYS_RECVMMSG, []uintptr{3, 0, 8, unix.MSG_DONTWAIT}},
		{boot.NetworkNone, "SIOCGIFCONF", kill, unix.SYS_IOCTL, []uintptr{3, unix.SIOCGIFCONF}},
	} {
		if got := runFilter(t, filterOptions{pid: 1, network: c.network}, x86, c.no, c.args...); got != c.want {
			t.Errorf("--network=%s: %s: filter returns %#x, want %#x", c.network, c.what, got, c.want)
		}
	}
}
