package sandbox

import (
	"fmt"
	"slices"
	"sort"

	"github.com/runsc-lite/runsc-lite/platform/kvm"
	"github.com/runsc-lite/runsc-lite/sentry/boot"
	"github.com/runsc-lite/runsc-lite/sentry/fs/hostfd"
	"github.com/runsc-lite/runsc-lite/sentry/socket/hostinet"
	"github.com/runsc-lite/runsc-lite/sentry/syscalls"
	"github.com/runsc-lite/runsc-lite/sentry/tty"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/bpf"
	"gvisor.dev/gvisor/pkg/seccomp"
)

// The sentry's seccomp allow-list.
//
// It is written by hand, as data: every host syscall the sentry makes
// after start-up, with the argument values it uses where they matter, and
// why. It is checked against what the runsc-lite binary can call, found by
// reading its machine code (hostcalls_test.go): a syscall the binary makes
// must be either allowed here or listed in setupOnly with the reason it is
// never made once the sentry is confined, and a syscall allowed here must
// be one the binary makes (or say why it is not). Whoever adds a host
// syscall to the sentry (a socket for --network=host, a control socket)
// adds it here in the same change; the test fails until then. Argument
// rules cannot be read off the machine code: the test suite, which runs
// every sandbox confined, is their check.

// allowance is one syscall of the allow-list.
type allowance struct {
	no uintptr
	// rule restricts the arguments (nil: any).
	rule seccomp.SyscallRule
	why  string
}

// filterOptions are what the allow-list depends on.
type filterOptions struct {
	// pid is the sentry's own PID (as it sees it: 1 in its PID
	// namespace), the only process it signals with any signal.
	pid int
	// profiling (--profile-cpu) lets the Go profiler try to open the
	// binary and /proc/self/maps by name when it stops (the confined
	// sentry has neither in view: the opens fail with ENOENT).
	profiling bool
	// log makes the filter log, not kill (--seccomp-log).
	log bool
	// deny removes syscalls from the allow-list, by name (a test knob,
	// RUNSC_LITE_SECCOMP_DENY: it can only make the filter stricter).
	deny []string
	// hostUDS (--host-uds=open) lets AF_UNIX sockets reach host socket
	// files in volumes: the sentry connects to them and moves the bytes.
	hostUDS bool
	// control (an OCI sandbox) lets the sentry serve its control
	// socket (sentry/control): accept calls on the listening socket the
	// launcher passed, read requests and write answers with descriptors.
	control bool
	// network is the network mode (boot.Network*; "" is none):
	// --network=sandbox moves frames through its AF_PACKET sockets,
	// --network=host makes host sockets (networkAllowList).
	network string
}

// everything returns, for each network mode, the options with every other
// option that widens the allow-list on: together, the union of what any
// confined sentry may be allowed (the host-calls test checks it against
// the binary).
func (o filterOptions) everything() []filterOptions {
	o.hostUDS = true
	o.control = true
	var all []filterOptions
	for _, network := range []string{boot.NetworkNone, boot.NetworkSandbox, boot.NetworkHost} {
		o.network = network
		all = append(all, o)
	}
	return all
}

// atFDCWD is AT_FDCWD as a syscall argument register holds it.
var atFDCWD = uintptr(unix.AT_FDCWD & (1<<64 - 1))

// nonNegativeFD is a descriptor argument that may not be AT_FDCWD: the
// confined sentry reaches host files through the descriptors it holds
// only (its working directory is an empty root anyway).
var nonNegativeFD = seccomp.NonNegativeFD{}

// noExec is a prot argument without PROT_EXEC: the sentry never maps
// executable memory after start-up (the Go runtime's code is mapped by
// the kernel at exec), so shellcode cannot be made runnable.
var noExec = seccomp.MaskedEqual(unix.PROT_EXEC, 0)

// oneOf matches arg number i against each of values.
func oneOf(i int, values ...uintptr) seccomp.SyscallRule {
	var or seccomp.Or
	for _, v := range values {
		var pa seccomp.PerArg
		pa[i] = seccomp.EqualTo(v)
		or = append(or, pa)
	}
	return or
}

// goThreadCloneFlags are the Go runtime's clone flags for a new thread
// (runtime/os_linux.go), with and without CLONE_SETTLS.
const goThreadCloneFlags = unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_SYSVSEM | unix.CLONE_THREAD

// allowList returns the allow-list.
func (o filterOptions) allowList() []allowance {
	pid := uintptr(o.pid)
	ioctls := append(append(append([]uintptr(nil), kvm.HostIoctls...), hostfd.HostIoctls...), tty.HostIoctls...)
	if o.network == boot.NetworkHost {
		ioctls = append(ioctls, hostinet.HostIoctls()...)
	}
	sort.Slice(ioctls, func(i, j int) bool { return ioctls[i] < ioctls[j] })
	ioctls = slices.Compact(ioctls)
	var ioctlRule seccomp.Or
	for _, req := range ioctls {
		ioctlRule = append(ioctlRule, seccomp.PerArg{nonNegativeFD, seccomp.EqualTo(req)})
	}
	openatRule := seccomp.SyscallRule(seccomp.PerArg{nonNegativeFD})
	if o.profiling {
		openatRule = seccomp.Or{openatRule, seccomp.PerArg{seccomp.EqualTo(atFDCWD), seccomp.AnyValue{}, seccomp.EqualTo(unix.O_RDONLY | unix.O_CLOEXEC)}}
	}
	l := []allowance{
		// Descriptors: the memory file, swap, stdio, logs, and host
		// files opened through the root's and volumes' descriptors.
		{unix.SYS_READ, nil, "host files, stdio, pipes"},
		{unix.SYS_WRITE, nil, "host files, stdio, logs"},
		{unix.SYS_PREAD64, nil, "host files and swap"},
		{unix.SYS_PWRITE64, nil, "host files in volumes, swap"},
		{unix.SYS_PWRITEV, nil, "swap-out of a run of pages"},
		{unix.SYS_LSEEK, nil, "host stdio"},
		{unix.SYS_CLOSE, nil, "host files"},
		{unix.SYS_FSTAT, nil, "host files"},
		{unix.SYS_FSTATFS, seccomp.PerArg{nonNegativeFD}, "statfs of the root and volumes"},
		{unix.SYS_NEWFSTATAT, seccomp.PerArg{nonNegativeFD}, "stat relative to a held directory"},
		{unix.SYS_STATX, seccomp.PerArg{nonNegativeFD}, "attributes of host files (ls -l matches the host)"},
		{unix.SYS_GETDENTS64, nil, "host directories"},
		{unix.SYS_FSYNC, nil, "fsync of volume files"},
		{unix.SYS_SYNCFS, nil, "sync of volumes"},
		{unix.SYS_FTRUNCATE, nil, "truncation of volume files"},
		{unix.SYS_FALLOCATE, nil, "punching freed pages out of the memory file and swap; fallocate in volumes"},
		{unix.SYS_OPENAT, openatRule, "host files under the root's and volumes' descriptors (never AT_FDCWD)"},
		{unix.SYS_OPENAT2, seccomp.PerArg{nonNegativeFD}, "host files, RESOLVE_IN_ROOT of the root's and volumes' descriptors"},
		{unix.SYS_MKDIRAT, seccomp.PerArg{nonNegativeFD}, "mkdir in volumes"},
		{unix.SYS_MKNODAT, seccomp.PerArg{nonNegativeFD}, "FIFOs and sockets in volumes (device nodes fail: no CAP_MKNOD)"},
		{unix.SYS_FCHOWNAT, seccomp.PerArg{nonNegativeFD}, "chown in volumes"},
		{unix.SYS_UNLINKAT, seccomp.PerArg{nonNegativeFD}, "unlink and rmdir in volumes"},
		{unix.SYS_LINKAT, seccomp.PerArg{nonNegativeFD, seccomp.AnyValue{}, nonNegativeFD}, "link in volumes"},
		{unix.SYS_SYMLINKAT, seccomp.PerArg{seccomp.AnyValue{}, nonNegativeFD}, "symlink in volumes"},
		{unix.SYS_READLINKAT, seccomp.PerArg{nonNegativeFD}, "host symlinks, read by the sentry and resolved inside"},
		{unix.SYS_RENAMEAT2, seccomp.PerArg{nonNegativeFD, seccomp.AnyValue{}, nonNegativeFD}, "rename in volumes"},
		{unix.SYS_UTIMENSAT, seccomp.PerArg{nonNegativeFD}, "utimes in volumes"},
		{unix.SYS_FCHMODAT, seccomp.PerArg{nonNegativeFD}, "chmod in volumes"},
		{unix.SYS_FCHMODAT2, seccomp.PerArg{nonNegativeFD}, "chmod of an O_PATH descriptor (AT_EMPTY_PATH)"},
		{unix.SYS_FGETXATTR, seccomp.PerArg{nonNegativeFD}, "extended attributes of host files (volumes, the root's lower layer)"},
		{unix.SYS_FLISTXATTR, seccomp.PerArg{nonNegativeFD}, "extended attributes of host files (volumes, the root's lower layer)"},
		{unix.SYS_GETXATTRAT, seccomp.PerArg{nonNegativeFD}, "extended attributes of host files, by name in a held directory descriptor (hostfs/dirfds.go)"},
		{unix.SYS_LISTXATTRAT, seccomp.PerArg{nonNegativeFD}, "extended attributes of host files, by name in a held directory descriptor (hostfs/dirfds.go)"},
		{unix.SYS_FSETXATTR, seccomp.PerArg{nonNegativeFD}, "extended attributes of volume files"},
		{unix.SYS_FREMOVEXATTR, seccomp.PerArg{nonNegativeFD}, "extended attributes of volume files"},
		{unix.SYS_FCHMOD, nil, "mode of a file created in a volume"},
		{unix.SYS_FCNTL, oneOf(1, unix.F_GETFL, unix.F_SETFL, unix.F_GETFD, unix.F_SETFD, unix.F_DUPFD_CLOEXEC, unix.F_OFD_SETLK), "flags of host descriptors; private duplicates of host files; F_OFD_SETLK: the sandbox's record locks of volume files, held on the host too (hostfs/locks.go)"},
		{unix.SYS_FLOCK, seccomp.PerArg{nonNegativeFD, seccomp.MaskedEqual(^uintptr(unix.LOCK_SH|unix.LOCK_EX|unix.LOCK_UN|unix.LOCK_NB), 0)}, "the sandbox's flock locks of volume files, held on the host too (never waiting: LOCK_NB or LOCK_UN)"},
		{unix.SYS_IOCTL, ioctlRule, "the KVM platform's ioctls (kvm.HostIoctls), the host terminal's (hostfd.HostIoctls, tty.HostIoctls), --network=host's queue and interface queries (hostinet.HostIoctls)"},
		{unix.SYS_PPOLL, nil, "readiness of host stdio (hostfd's watcher); whether a pooled ptrace stub is alive (its pidfd)"},
		{unix.SYS_EPOLL_CTL, nil, "the Go runtime's poller; the ptrace platform's death watcher"},
		{unix.SYS_EPOLL_PWAIT, nil, "the Go runtime's poller; the ptrace platform's death watcher"},
		{unix.SYS_EPOLL_CREATE1, seccomp.PerArg{seccomp.EqualTo(unix.EPOLL_CLOEXEC)}, "the Go runtime's poller, made on first use"},
		{unix.SYS_EVENTFD2, nil, "the Go runtime's poller, made on first use"},
		// (The death watcher's own epoll and eventfd are made at
		// start-up; its stop is a write.)

		// Memory.
		{unix.SYS_MMAP, seccomp.Or{
			seccomp.PerArg{nil, nil, noExec, seccomp.EqualTo(unix.MAP_PRIVATE | unix.MAP_ANONYMOUS)},
			seccomp.PerArg{nil, nil, noExec, seccomp.EqualTo(unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_FIXED)},
			seccomp.PerArg{nil, nil, noExec, seccomp.EqualTo(unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_NORESERVE)},
			seccomp.PerArg{nil, nil, noExec, seccomp.EqualTo(unix.MAP_SHARED)},
			seccomp.PerArg{nil, nil, noExec, seccomp.EqualTo(unix.MAP_SHARED | unix.MAP_NORESERVE)},
			// The Go runtime's vDSO getrandom states, a page of them
			// at a time, with the flags the kernel's vDSO asks for:
			// made whenever more threads than the page holds have
			// called getrandom (crypto/rand: getrandom(2) and
			// /dev/urandom inside the sandbox).
			seccomp.PerArg{nil, nil, seccomp.EqualTo(unix.PROT_READ | unix.PROT_WRITE), seccomp.EqualTo(unix.MAP_DROPPABLE | unix.MAP_ANONYMOUS)},
		}, "the Go heap and vDSO getrandom states; a KVM vCPU's kvm_run (never PROT_EXEC)"},
		{unix.SYS_MPROTECT, seccomp.PerArg{nil, nil, noExec}, "the Go runtime (never PROT_EXEC)"},
		{unix.SYS_MUNMAP, nil, "the Go heap; a KVM vCPU's kvm_run"},
		{unix.SYS_MADVISE, nil, "the Go heap"},
		{unix.SYS_MINCORE, nil, "the Go runtime"},
		{unix.SYS_MEMBARRIER, seccomp.Or{seccomp.PerArg{seccomp.EqualTo(0), seccomp.EqualTo(0)}, seccomp.PerArg{seccomp.EqualTo(1), seccomp.EqualTo(0)}}, "membarrier(2) inside: MEMBARRIER_CMD_QUERY and MEMBARRIER_CMD_GLOBAL, a barrier on every host CPU running a sandbox thread"},

		// Threads, time and signals: the Go runtime.
		{unix.SYS_CLONE, oneOf(0, goThreadCloneFlags, goThreadCloneFlags|unix.CLONE_SETTLS), "Go threads only (no new process)"},
		{unix.SYS_EXIT, nil, "a Go thread's end"},
		{unix.SYS_EXIT_GROUP, nil, "the sentry's end"},
		{unix.SYS_ARCH_PRCTL, seccomp.PerArg{seccomp.EqualTo(linux.ARCH_SET_FS)}, "a new Go thread's TLS"},
		{unix.SYS_GETPID, nil, "the Go runtime"},
		{unix.SYS_GETTID, nil, "the Go runtime; the platforms' thread checks"},
		{unix.SYS_FUTEX, seccomp.PerArg{nil, seccomp.BitsAllowlist(linux.FUTEX_WAIT | linux.FUTEX_WAKE | linux.FUTEX_PRIVATE_FLAG)}, "the Go runtime's private futexes"},
		{unix.SYS_SCHED_YIELD, nil, "the Go runtime"},
		{unix.SYS_NANOSLEEP, nil, "the Go runtime"},
		{unix.SYS_SCHED_GETAFFINITY, nil, "the Go runtime"},
		{unix.SYS_SCHED_SETAFFINITY, nil, "sandbox CPU k runs on host CPU k mod H (the sentry's threads and the stubs)"},
		{unix.SYS_CLOCK_GETTIME, nil, "time, when the vDSO falls back to the syscall"},
		{unix.SYS_RT_SIGACTION, nil, "the Go runtime"},
		{unix.SYS_RT_SIGPROCMASK, nil, "the Go runtime"},
		{unix.SYS_RT_SIGRETURN, nil, "the Go runtime's signal handlers"},
		{unix.SYS_SIGALTSTACK, nil, "the Go runtime"},
		{unix.SYS_RESTART_SYSCALL, nil, "made by the kernel on the sentry's behalf after a signal"},
		{unix.SYS_TGKILL, seccomp.PerArg{seccomp.EqualTo(pid)}, "the sentry's own threads (Go preemption, KVM vCPU kicks)"},
		{unix.SYS_KILL, seccomp.Or{
			seccomp.PerArg{seccomp.EqualTo(pid)},
			seccomp.And{
				seccomp.PerArg{seccomp.GreaterThan(0), seccomp.EqualTo(unix.SIGKILL)},
				seccomp.PerArg{seccomp.LessThan(1 << 31)},
			},
		}, "SIGKILL to a stub (never to a process group or -1); the runtime raising a signal at itself"},
		{unix.SYS_SETITIMER, nil, "the Go CPU profiler"},
		{unix.SYS_TIMER_CREATE, nil, "the Go CPU profiler"},
		{unix.SYS_TIMER_SETTIME, nil, "the Go CPU profiler"},
		{unix.SYS_TIMER_DELETE, nil, "the Go CPU profiler"},
		{unix.SYS_GETRANDOM, nil, "random numbers (Go runtime, /proc/sys/kernel/random)"},
		{unix.SYS_PRCTL, seccomp.PerArg{seccomp.EqualTo(unix.PR_SET_VMA), seccomp.EqualTo(unix.PR_SET_VMA_ANON_NAME)}, "the Go runtime names its mappings"},
		{unix.SYS_PRLIMIT64, seccomp.PerArg{seccomp.EqualTo(0)}, "the sentry's own limits"},
		{unix.SYS_GETRLIMIT, nil, "the sentry's own limits"},
		{unix.SYS_SYSINFO, nil, "the host's memory size"},
		{unix.SYS_UNAME, nil, "the host kernel's version (Go's os package)"},
		{unix.SYS_GETUID, nil, "the sentry's own identity"},
		{unix.SYS_GETGID, nil, "the sentry's own identity"},
		{unix.SYS_GETGROUPS, nil, "the sentry's own identity"},

		// The ptrace platform.
		{unix.SYS_PTRACE, oneOf(0,
			unix.PTRACE_SYSEMU, unix.PTRACE_CONT, unix.PTRACE_GETREGS, unix.PTRACE_SETREGS,
			unix.PTRACE_GETSIGINFO, unix.PTRACE_SEIZE, unix.PTRACE_SETOPTIONS, unix.PTRACE_DETACH,
			unix.PTRACE_GETREGSET, unix.PTRACE_SETREGSET,
		), "driving the stubs (no PEEK/POKE, ATTACH or TRACEME)"},
		{unix.SYS_WAIT4, nil, "ptrace stops of the stubs"},
		{unix.SYS_WAITID, seccomp.PerArg{seccomp.EqualTo(unix.P_PIDFD)}, "reaping a stub thread through its pidfd"},
		{unix.SYS_PIDFD_OPEN, seccomp.PerArg{nil, seccomp.EqualTo(0)}, "a stub thread's pidfd"},
		{unix.SYS_PIDFD_SEND_SIGNAL, oneOf(1, uintptr(unix.SIGKILL), uintptr(unix.SIGSTOP), uintptr(unix.SIGURG), uintptr(unix.SIGCONT)), "killing a stub thread; interrupting one (SIGSTOP on ptrace, SIGURG on systrap); starting a systrap stub thread out of group-stop (SIGCONT)"},
	}
	var extra []allowance
	if o.hostUDS {
		extra = append(extra, o.hostUDSList()...)
	}
	if o.control {
		extra = append(extra, controlList...)
	}
	return widen(l, append(extra, o.networkAllowList()...))
}

// hostSocketFlags are the flags of every host socket the sentry makes or
// accepts at run time.
const hostSocketFlags = unix.SOCK_NONBLOCK | unix.SOCK_CLOEXEC

// networkAllowList is what the network mode adds to the allow-list.
// --network=none adds nothing (the sandbox's stack needs no host call).
// --network=sandbox's AF_PACKET sockets and NETLINK_ROUTE queries are made
// at start-up, before the filter: only the frames' batches remain.
// --network=host makes a host socket for each of the sandbox's INET
// sockets: TCP, UDP and ICMP-echo sockets of AF_INET and AF_INET6 only
// (not raw, packet, netlink or Unix ones), with the options and ioctls
// sentry/socket/hostinet passes on, and queries its NETLINK_ROUTE socket
// (made at start-up).
func (o filterOptions) networkAllowList() []allowance {
	switch o.network {
	case boot.NetworkSandbox:
		dontWait := seccomp.PerArg{nonNegativeFD, seccomp.AnyValue{}, seccomp.AnyValue{}, seccomp.EqualTo(unix.MSG_DONTWAIT)}
		return []allowance{
			{unix.SYS_RECVMMSG, dontWait, "--network=sandbox: frames from the AF_PACKET sockets, in batches"},
			{unix.SYS_SENDMMSG, dontWait, "--network=sandbox: frames to the AF_PACKET sockets, in batches"},
		}
	case boot.NetworkHost:
		var socketRule seccomp.Or
		for _, domain := range []uintptr{unix.AF_INET, unix.AF_INET6} {
			for _, stype := range []uintptr{unix.SOCK_STREAM, unix.SOCK_DGRAM} {
				socketRule = append(socketRule, seccomp.PerArg{seccomp.EqualTo(domain), seccomp.EqualTo(stype | hostSocketFlags)})
			}
		}
		var optRule seccomp.Or
		for _, lv := range hostinet.HostOptions() {
			optRule = append(optRule, seccomp.PerArg{nonNegativeFD, seccomp.EqualTo(uintptr(lv[0])), seccomp.EqualTo(uintptr(lv[1]))})
		}
		fd := seccomp.PerArg{nonNegativeFD}
		return []allowance{
			{unix.SYS_SOCKET, socketRule, "--network=host: the sandbox's TCP, UDP and ICMP-echo sockets (AF_INET, AF_INET6; non-blocking, close-on-exec)"},
			{unix.SYS_BIND, fd, "--network=host"},
			{unix.SYS_LISTEN, fd, "--network=host"},
			{unix.SYS_CONNECT, fd, "--network=host"},
			{unix.SYS_ACCEPT4, seccomp.PerArg{nonNegativeFD, seccomp.AnyValue{}, seccomp.AnyValue{}, seccomp.EqualTo(hostSocketFlags)}, "--network=host: accepted sockets, non-blocking and close-on-exec"},
			{unix.SYS_GETSOCKNAME, fd, "--network=host"},
			{unix.SYS_GETPEERNAME, fd, "--network=host"},
			{unix.SYS_SHUTDOWN, fd, "--network=host"},
			{unix.SYS_SENDMSG, fd, "--network=host: the sandbox's sends"},
			{unix.SYS_RECVMSG, fd, "--network=host: the sandbox's receives"},
			{unix.SYS_SENDTO, seccomp.PerArg{nonNegativeFD, seccomp.AnyValue{}, seccomp.AnyValue{}, seccomp.EqualTo(0)}, "--network=host: queries to the host's NETLINK_ROUTE"},
			{unix.SYS_RECVFROM, seccomp.Or{
				seccomp.PerArg{nonNegativeFD, seccomp.AnyValue{}, seccomp.AnyValue{}, seccomp.EqualTo(0)},
				seccomp.PerArg{nonNegativeFD, seccomp.AnyValue{}, seccomp.AnyValue{}, seccomp.EqualTo(unix.MSG_DONTWAIT)},
			}, "--network=host: the host NETLINK_ROUTE's replies"},
			{unix.SYS_SETSOCKOPT, optRule, "--network=host: the options sentry/socket/hostinet passes on (hostinet.HostOptions)"},
			{unix.SYS_GETSOCKOPT, optRule, "--network=host: the options sentry/socket/hostinet passes on (hostinet.HostOptions)"},
		}
	}
	return nil
}

// widen adds to l what the options allow: a syscall both allow (the host
// Unix sockets' and --network=host's socket calls) becomes one allowance,
// with either's arguments and both reasons. (Duplicates within l are left
// for the host-calls test to find.)
func widen(l, extra []allowance) []allowance {
	at := map[uintptr]int{}
	for i, a := range l {
		if _, ok := at[a.no]; !ok {
			at[a.no] = i
		}
	}
	for _, a := range extra {
		i, ok := at[a.no]
		if !ok {
			at[a.no] = len(l)
			l = append(l, a)
			continue
		}
		m := &l[i]
		if m.rule == nil || a.rule == nil {
			m.rule = nil
		} else {
			m.rule = seccomp.Or{m.rule, a.rule}
		}
		m.why += "; " + a.why
	}
	return l
}

// controlList is what an OCI sandbox's control socket adds (the CLI makes,
// binds and listens on it, and passes it; sentry/control/socket.go):
// accepting a connection on it, and requests and answers with
// descriptors (SCM_RIGHTS: a process's stdio, a console, a joining
// container's directories). Never socket, bind, listen or connect: the
// sentry makes no socket for it.
var controlList = []allowance{
	{unix.SYS_ACCEPT4, seccomp.PerArg{nonNegativeFD, nil, nil, seccomp.EqualTo(unix.SOCK_NONBLOCK | unix.SOCK_CLOEXEC)}, "control socket: a call's connection"},
	{unix.SYS_RECVMSG, seccomp.PerArg{nonNegativeFD, nil, seccomp.EqualTo(unix.MSG_CMSG_CLOEXEC)}, "control socket: a request and its descriptors"},
	{unix.SYS_SENDMSG, seccomp.PerArg{nonNegativeFD, nil, seccomp.EqualTo(0)}, "control socket: an answer"},
}

// hostUDSList is what --host-uds=open adds: connected AF_UNIX sockets to
// host socket files, opened by the sentry (hostfs.ConnectSocket) and
// served by socket/unix's hostConn. Never listening or accepting.
func (o filterOptions) hostUDSList() []allowance {
	var types seccomp.Or
	for _, t := range []uintptr{unix.SOCK_STREAM, unix.SOCK_DGRAM, unix.SOCK_SEQPACKET} {
		types = append(types, seccomp.PerArg{seccomp.EqualTo(unix.AF_UNIX), seccomp.EqualTo(t | unix.SOCK_CLOEXEC | unix.SOCK_NONBLOCK), seccomp.EqualTo(0)})
	}
	return []allowance{
		{unix.SYS_SOCKET, types, "--host-uds=open: a socket to connect to a host socket file"},
		{unix.SYS_CONNECT, seccomp.PerArg{nonNegativeFD}, "--host-uds=open: connecting to the host socket file"},
		{unix.SYS_FCHDIR, seccomp.PerArg{nonNegativeFD}, "--host-uds=open: connecting by the socket's /proc/self/fd name, from the host /proc/self/fd kept at start-up"},
		{unix.SYS_SENDMSG, seccomp.PerArg{nonNegativeFD, nil, seccomp.EqualTo(unix.MSG_NOSIGNAL | unix.MSG_DONTWAIT)}, "--host-uds=open: bytes to the host peer"},
		{unix.SYS_RECVMSG, seccomp.PerArg{nonNegativeFD, nil, seccomp.MaskedEqual(^uintptr(unix.MSG_PEEK|unix.MSG_TRUNC|unix.MSG_WAITALL|unix.MSG_DONTWAIT|unix.MSG_CMSG_CLOEXEC), 0)}, "--host-uds=open: bytes from the host peer"},
		{unix.SYS_SHUTDOWN, seccomp.PerArg{nonNegativeFD}, "--host-uds=open: shutdown of the host connection"},
		{unix.SYS_GETSOCKOPT, seccomp.PerArg{nonNegativeFD, seccomp.EqualTo(unix.SOL_SOCKET), seccomp.EqualTo(unix.SO_TYPE)}, "--host-uds=open: x/sys's Sendmsg/Recvmsg ask the socket type when there is control data"},
	}
}

// setupOnly are the syscalls the binary can make that the confined sentry
// never makes, each with why: the launcher's, the start-up's, or linked
// but unused. The filter refuses them.
var setupOnly = map[uintptr]string{
	unix.SYS_EXECVE:          "the launcher re-executes itself, and the ptrace platform execs its zygote stub, before the filter; every later stub is a fork of the zygote",
	unix.SYS_CLONE3:          "os/exec in the launcher",
	unix.SYS_CHDIR:           "the confinement's pivot_root; os/exec's child",
	unix.SYS_CHROOT:          "the confinement, on an initial ramfs (pivot_root cannot work there)",
	unix.SYS_MOUNT:           "the confinement: private mounts, the empty root",
	unix.SYS_UMOUNT2:         "the confinement: detaching the host's root",
	unix.SYS_PIVOT_ROOT:      "the confinement",
	unix.SYS_SETNS:           "joining a network namespace at start-up",
	unix.SYS_CAPSET:          "the confinement's capability drop",
	unix.SYS_SECCOMP:         "installing this filter",
	unix.SYS_PERSONALITY:     "the ptrace zygote's exec (ADDR_NO_RANDOMIZE)",
	unix.SYS_MEMFD_CREATE:    "the memory file and the stub executable, made at start-up",
	unix.SYS_CLOSE_RANGE:     "the launcher's and the sentry's start-up descriptor hygiene",
	unix.SYS_DUP:             "the swap file, opened at start-up",
	unix.SYS_DUP3:            "os/exec's child",
	unix.SYS_PIPE2:           "the launcher's boot and status pipes",
	unix.SYS_GETCWD:          "the launcher's default --cwd",
	unix.SYS_GETEUID:         "root or not: the launcher and the confinement's start",
	unix.SYS_GETPGID:         "whether runsc-lite is in its terminal's foreground: the launcher, and the terminal's attach at start-up",
	unix.SYS_SETSID:          "os/exec's child",
	unix.SYS_SETPGID:         "os/exec's child",
	unix.SYS_SETUID:          "os/exec's child (unused)",
	unix.SYS_SETGID:          "os/exec's child (unused)",
	unix.SYS_SETGROUPS:       "os/exec's child (unused)",
	unix.SYS_GETPPID:         "os/exec's child (Pdeathsig)",
	unix.SYS_CAPGET:          "os/exec's child (ambient capabilities, unused)",
	unix.SYS_UNSHARE:         "os/exec's child (unused)",
	unix.SYS_SENDFILE:        "Go's os.File copy paths (the launcher)",
	unix.SYS_SPLICE:          "Go's os.File copy paths (the launcher)",
	unix.SYS_COPY_FILE_RANGE: "Go's os.File copy paths (the launcher)",
	unix.SYS_MREMAP:          "linked by golang.org/x/sys/unix, unused",

	// The OCI verbs (runsc-lite/oci), run by the CLI, never by the
	// sentry: the sentry serves a socket it was given (controlList).
	// (The CLI's bind and listen of the control socket and flock of the
	// state directory are calls other modes allow: --network=host's
	// sockets, volume files' flock locks.)
	unix.SYS_RENAMEAT:   "the OCI CLI: state.json and --pid-file written atomically",
	unix.SYS_GETEGID:    "the OCI CLI: rootless checks (faccessat's AT_EACCESS)",
	unix.SYS_FACCESSAT:  "the OCI CLI: os/exec.LookPath of hooks; rootless checks",
	unix.SYS_FACCESSAT2: "the OCI CLI: os/exec.LookPath of hooks; rootless checks",

	// A prestarted sentry's boot socket (sandbox.Prestart), made by the
	// launcher; the sentry reads it before it is confined.
	unix.SYS_SOCKETPAIR: "the launcher's boot socket of a prestarted sentry",
}

// denied returns the syscalls of names.
func denied(names []string) (map[uintptr]bool, error) {
	d := map[uintptr]bool{}
	for _, name := range names {
		found := false
		for no := uintptr(0); no < 1024; no++ {
			if sc := syscalls.Lookup(no); sc != nil && sc.Name == name {
				d[no] = true
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("RUNSC_LITE_SECCOMP_DENY: no syscall %q", name)
		}
	}
	return d, nil
}

// rules returns the allow-list as seccomp rules.
func (o filterOptions) rules() (seccomp.SyscallRules, error) {
	d, err := denied(o.deny)
	if err != nil {
		return seccomp.SyscallRules{}, err
	}
	r := seccomp.NewSyscallRules()
	for _, a := range o.allowList() {
		if d[a.no] {
			continue
		}
		rule := a.rule
		if rule == nil {
			rule = seccomp.MatchAll{}
		}
		r.Add(a.no, rule)
	}
	return r, nil
}

func (o filterOptions) size() int {
	r, err := o.rules()
	if err != nil {
		return 0
	}
	return r.Size()
}

// hotSyscalls are checked first: the ptrace platform's round trip and the
// Go runtime's most frequent calls.
var hotSyscalls = []uintptr{unix.SYS_PTRACE, unix.SYS_WAIT4, unix.SYS_FUTEX, unix.SYS_IOCTL, unix.SYS_NANOSLEEP, unix.SYS_READ, unix.SYS_WRITE, unix.SYS_PREAD64}

// precompiledKey names a precompiled program (filter_precompiled.go): what
// varies between the usual sentries, `do`'s and an OCI sandbox's (which
// serves its control socket), in each network mode.
type precompiledKey struct {
	control bool
	network string
}

// precompiledKey returns the key of o's precompiled program, and whether o
// is a usual case that has one: PID 1 of its PID namespace, no
// profiling, killing, no knob, no host Unix sockets. Building the program
// costs ~15 ms of CPU, a third of a sandbox's start-up (of an OCI create).
func (o filterOptions) precompiledKey() (precompiledKey, bool) {
	network := o.network
	if network == "" {
		network = boot.NetworkNone
	}
	k := precompiledKey{control: o.control, network: network}
	return k, o.pid == 1 && !o.profiling && !o.log && len(o.deny) == 0 && !o.hostUDS
}

// precompiledVariants are the usual cases whose programs are precompiled:
// with and without the control socket, in each network mode.
func precompiledVariants() []filterOptions {
	var out []filterOptions
	for _, control := range []bool{false, true} {
		for _, network := range []string{boot.NetworkNone, boot.NetworkSandbox, boot.NetworkHost} {
			out = append(out, filterOptions{pid: 1, control: control, network: network})
		}
	}
	return out
}

// program returns the BPF program: the allow-list, and
// SECCOMP_RET_KILL_PROCESS for everything else (SECCOMP_RET_LOG with
// o.log).
func (o filterOptions) program() ([]bpf.Instruction, error) {
	if k, ok := o.precompiledKey(); ok {
		if p, ok := precompiledFilters[k]; ok {
			return append([]bpf.Instruction(nil), p...), nil
		}
	}
	return o.build()
}

// build builds the program with gvisor.dev/gvisor/pkg/seccomp.
func (o filterOptions) build() ([]bpf.Instruction, error) {
	rules, err := o.rules()
	if err != nil {
		return nil, err
	}
	p := &seccomp.Program{
		RuleSets: []seccomp.RuleSet{{Rules: rules, Action: seccomp.Allow}},
		Options: seccomp.ProgramOptions{
			DefaultAction: seccomp.KillProcess,
			BadArchAction: seccomp.KillProcess,
			HotSyscalls:   hotSyscalls,
		},
	}
	insns, _, err := p.Build()
	if err != nil {
		return nil, fmt.Errorf("building the seccomp filter: %w", err)
	}
	if o.log {
		for i, in := range insns {
			if in.OpCode == bpf.Ret|bpf.K && in.K == uint32(linux.SECCOMP_RET_KILL_PROCESS) {
				insns[i].K = unix.SECCOMP_RET_LOG
			}
		}
	}
	return insns, nil
}

// allowedNumbers returns the syscall numbers of the allow-list, sorted.
func (o filterOptions) allowedNumbers() []uintptr {
	var nos []uintptr
	for _, a := range o.allowList() {
		nos = append(nos, a.no)
	}
	sort.Slice(nos, func(i, j int) bool { return nos[i] < nos[j] })
	return nos
}
