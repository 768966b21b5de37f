// Package process is the sentry's model of Linux processes: the Sandbox
// (everything one sandbox shares), thread groups, threads and their run
// loop. Each Thread is carried by a kernel.Task; the run loop switches into
// application code through the platform and serves what comes back
// (syscalls through the syscall table, faults through the memory manager).
//
// Locking: ThreadGroup.mu protects the group's membership, exit state and
// signal actions; Thread fields without a lock comment are touched only by
// the thread's own task. Lock order: ThreadGroup.mu before mm's and vfs's
// locks; never hold ThreadGroup.mu across a blocking wait.
package process

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/kswapd"
	"github.com/runsc-lite/runsc-lite/platform"
	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"github.com/runsc-lite/runsc-lite/sentry/auth"
	"github.com/runsc-lite/runsc-lite/sentry/ipc/sem"
	"github.com/runsc-lite/runsc-lite/sentry/memfile"
	"github.com/runsc-lite/runsc-lite/sentry/mm"
	"github.com/runsc-lite/runsc-lite/sentry/socket"
	"github.com/runsc-lite/runsc-lite/sentry/tty"
	"github.com/runsc-lite/runsc-lite/sentry/vdso"
	"github.com/runsc-lite/runsc-lite/sentry/vfs"
	"github.com/runsc-lite/runsc-lite/softirqd"
	"github.com/sirupsen/logrus"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// SyscallDispatcher serves the syscall a thread stopped on: it reads the
// number and arguments from t.Regs and leaves the result in t.Regs.Rax.
type SyscallDispatcher interface {
	Dispatch(t *Thread)
}

// Sandbox is what every process of one sandbox shares: its kernel core,
// physical memory, platform, filesystem and identity.
type Sandbox struct {
	Kernel   *kernel.Kernel
	Softirqs *softirqd.Softirqs
	MF       *memfile.MemoryFile
	Zone     *kswapd.Zone
	Platform platform.Platform
	// VDSO is mapped into every process at exec (nil: none, --vdso=false).
	VDSO     *vdso.VDSO
	VFS      *vfs.VirtualFilesystem
	Syscalls SyscallDispatcher
	Log      *logrus.Logger

	// Strace logs every syscall with decoded arguments.
	Strace bool

	// Hostname and Domainname are what uname reports.
	Hostname   string
	Domainname string

	// UIDMap and GIDMap are the sandbox's user namespace's ID maps as
	// /proc/PID/uid_map and gid_map show them (an OCI config's
	// linux.uidMappings); nil is the initial namespace's identity map.
	UIDMap, GIDMap []IDMapEntry

	// unknownLogged remembers which unimplemented syscalls were logged.
	unknownLogged sync.Map

	// mu protects the process table and tree (the tasklist lock), and
	// the task counters and limit (tasklimits.go).
	mu      sync.Mutex
	tgs     map[int32]*ThreadGroup // by TGID
	init    *ThreadGroup
	initEnd chan struct{}
	counts  taskCounts
	// pidsLimit bounds counts.total (0: no limit); pidsRefused counts
	// the clones it refused.
	pidsLimit   int
	pidsRefused uint64

	// Futexes are the sandbox's futex wait queues.
	Futexes Futexes

	// IPC is the sandbox's IPC namespace (ipc.go).
	IPC *IPCNamespace

	// namespaces are the sandbox's one namespace of each kind other
	// than mount (namespaces.go).
	namespaces sandboxNamespaces

	// Sockets are the sandbox's socket families (AF_UNIX, and the
	// network families when there is a stack).
	Sockets *socket.Registry
	// NewNetStack builds the socket families of a new network
	// namespace (netns.go); nil: CLONE_NEWNET is EPERM. Boot sets it.
	NewNetStack NetStackFactory
	// netNamespaces holds the first network namespace (netns.go).
	netNamespaces netNamespaces
}

// NewSandbox returns a sandbox with no processes yet.
func NewSandbox() *Sandbox {
	return &Sandbox{
		tgs:        make(map[int32]*ThreadGroup),
		initEnd:    make(chan struct{}),
		Hostname:   "runsc-lite",
		Domainname: "(none)",
	}
}

// LogUnknownOnce logs an unimplemented syscall the first time it is seen
// and reports whether it did.
func (s *Sandbox) LogUnknownOnce(name string, sysno uintptr) bool {
	if _, loaded := s.unknownLogged.LoadOrStore(sysno, true); loaded {
		return false
	}
	s.Log.Infof("unsupported syscall %s (%d): returning ENOSYS", name, sysno)
	return true
}

// InitExited is closed when the sandbox's init (PID 1) has exited.
func (s *Sandbox) InitExited() <-chan struct{} { return s.initEnd }

// Init returns the sandbox's init thread group.
func (s *Sandbox) Init() *ThreadGroup { return s.init }

// ThreadGroupByID returns the live thread group with that TGID.
func (s *Sandbox) ThreadGroupByID(tgid int32) *ThreadGroup {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tgs[tgid]
}

// IDMapEntry is one line of a uid_map or gid_map (auth's, which user
// namespaces made inside use too).
type IDMapEntry = auth.IDMapEntry

// HostCredentials returns the credentials `runsc-lite do` gives the
// sandbox's first process: the host user's own IDs and groups, so that the
// program sees the same identity inside as outside, with auth.NewUser's
// capability rule (uid 0 holds every capability, as root of a fresh Linux
// and as under runsc's `do`; anybody else none). They are the sandbox's
// identities, not the host's: they govern only what happens inside.
func HostCredentials() *auth.Credentials {
	groups, _ := os.Getgroups()
	gs := make([]uint32, len(groups))
	for i, g := range groups {
		gs[i] = uint32(g)
	}
	return auth.NewUser(uint32(os.Getuid()), uint32(os.Getgid()), gs)
}

// SignalAction is one entry of a thread group's signal handler table.
type SignalAction = linux.SigAction

// ThreadGroup is a process: threads sharing an address space, a file
// table, signal actions and an exit status.
type ThreadGroup struct {
	s    *Sandbox
	tgid int32

	mu      sync.Mutex
	leader  *Thread
	threads []*Thread
	// cpu is the CPU time of exited threads and reaped children.
	cpu     cpuTotals
	mm      *mm.MemoryManager
	actions [linux.SignalMaximum + 1]SignalAction
	exiting bool
	// releasingMM is set while the last thread out releases the group's
	// memory (mm is nil already): the OOM killer waits for it rather
	// than choose another victim.
	releasingMM bool
	status      WaitStatus
	exited      chan struct{}

	// exe is the executable, set by execve, for /proc/PID/exe.
	exe Executable

	// Limits are the group's resource limits.
	Limits *Limits

	// The process tree, protected by Sandbox.mu (the tasklist lock).
	parent     *ThreadGroup
	children   map[*ThreadGroup]struct{}
	exitSignal int
	zombie     bool
	pgid, sid  int32
	// childSubreaper is PR_SET_CHILD_SUBREAPER; hasChildSubreaper says
	// an ancestor is one (subreaper.go).
	childSubreaper, hasChildSubreaper bool
	// ctty is the controlling terminal (tty.go), nil for none.
	ctty *tty.Terminal

	// childEvents wakes wait4/waitid in this group when a child changes
	// state.
	childEvents kernel.WaitQueue
	// threadsGone wakes an execve waiting for the other threads to die.
	threadsGone kernel.WaitQueue
	// vforkDone is completed when a vfork child execs or exits.
	vforkDone *kernel.Completion

	// sig is the group's signal state (signal_state.go).
	sig groupSignals

	// oom is the group's oom_score_adj (oom.go).
	oom oomState

	// cgroup is the container the process belongs to (cgroup.go), set
	// at creation; nil outside containers.
	cgroup *Cgroup
	// unkillable is Linux's SIGNAL_UNKILLABLE, set at creation for the
	// init of an OCI container: signals it does not handle are dropped,
	// but for SIGKILL and SIGSTOP sent from outside the sandbox.
	unkillable bool
	// execGen counts successful execves (ipc.go).
	execGen uint64

	// sigkilled is set once the group is killed by SIGKILL: even a
	// PTRACE_EVENT_EXIT stop ends (ptrace_stop.go).
	sigkilled atomic.Bool

	// dumpable is the group's dumpability (dumpable.go).
	dumpable atomic.Int32
	// mmUserNS is the user namespace the process's address space
	// belongs to (Linux's mm->user_ns): its creator's at its last exec,
	// inherited at fork; nil for the first. ptrace's dumpable check asks
	// for CAP_SYS_PTRACE there.
	mmUserNS atomic.Pointer[auth.UserNamespace]

	// personality is personality(2)'s persona.
	personality atomic.Uint32
}

// Personality returns the process's persona (personality(2)).
func (tg *ThreadGroup) Personality() uint32 { return tg.personality.Load() }

// SetPersonality replaces the persona and returns the old one.
func (tg *ThreadGroup) SetPersonality(p uint32) uint32 { return tg.personality.Swap(p) }

// TGID returns the group's ID (its leader's TID).
func (tg *ThreadGroup) TGID() int32 { return tg.tgid }

// Leader returns the group's leader thread.
func (tg *ThreadGroup) Leader() *Thread {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return tg.leader
}

// Threads returns the group's live threads.
func (tg *ThreadGroup) Threads() []*Thread {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return append([]*Thread(nil), tg.threads...)
}

// MM returns the group's memory manager.
func (tg *ThreadGroup) MM() *mm.MemoryManager {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return tg.mm
}

// SetMM replaces the group's memory manager (execve) and releases the old
// one.
func (tg *ThreadGroup) SetMM(m *mm.MemoryManager) {
	m.SetOwner(tg.tgid)
	tg.mu.Lock()
	old := tg.mm
	tg.mm = m
	if old != nil && old != m {
		tg.execGen++
	}
	tg.mu.Unlock()
	if old != nil && old != m {
		old.DecUsers()
	}
}

// Executable is a process's executable as /proc/PID/exe shows it: the
// path it was executed as and the file itself, which stays the process's
// executable when that path is unlinked or renamed over (as Linux's
// mm->exe_file; readlink then adds " (deleted)").
type Executable struct {
	Path string
	Loc  vfs.Location
}

// Exe returns the path of the group's executable.
func (tg *ThreadGroup) Exe() string {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return tg.exe.Path
}

// Executable returns the group's executable.
func (tg *ThreadGroup) Executable() Executable {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return tg.exe
}

// SetExe records the group's executable.
func (tg *ThreadGroup) SetExe(e Executable) {
	tg.mu.Lock()
	tg.exe = e
	tg.mu.Unlock()
}

// Action returns the action for signal sig.
func (tg *ThreadGroup) Action(sig int) SignalAction {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return tg.actions[sig]
}

// SetAction replaces the action for signal sig and returns the old one.
func (tg *ThreadGroup) SetAction(sig int, a SignalAction) SignalAction {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	old := tg.actions[sig]
	tg.actions[sig] = a
	return old
}

// Exited is closed when every thread of the group has exited.
func (tg *ThreadGroup) Exited() <-chan struct{} { return tg.exited }

// ExitStatus returns the group's exit status. Preconditions: Exited is
// closed.
func (tg *ThreadGroup) ExitStatus() WaitStatus {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return tg.status
}

// WaitStatus is a Linux wait status word.
type WaitStatus uint32

// ExitedWith returns the status of a normal exit with code.
func ExitedWith(code int) WaitStatus { return WaitStatus((code & 0xff) << 8) }

// KilledBy returns the status of a death by signal sig.
func KilledBy(sig int) WaitStatus { return WaitStatus(sig & 0x7f) }

// Signaled reports whether the status is a death by signal, and which.
func (w WaitStatus) Signaled() (int, bool) {
	sig := int(w & 0x7f)
	return sig, sig != 0 && sig != 0x7f
}

// ExitCode returns the exit code of a normal exit.
func (w WaitStatus) ExitCode() int { return int(w>>8) & 0xff }

// ShellStatus returns the status as a shell reports it: the exit code, or
// 128+N for a death by signal N.
func (w WaitStatus) ShellStatus() int {
	if sig, ok := w.Signaled(); ok {
		return 128 + sig
	}
	return w.ExitCode()
}

func (w WaitStatus) String() string {
	if sig, ok := w.Signaled(); ok {
		return fmt.Sprintf("killed by signal %d", sig)
	}
	return fmt.Sprintf("exit status %d", w.ExitCode())
}

// Thread is a user thread of the sandbox.
type Thread struct {
	Task *kernel.Task
	S    *Sandbox
	TG   *ThreadGroup

	// uts is the thread's UTS namespace (nil: the sandbox's first);
	// written by the thread itself, read by others (/proc/PID/ns).
	uts atomic.Pointer[UTSNamespace]
	// ipc is the thread's IPC namespace (nil: the sandbox's first),
	// as uts.
	ipc atomic.Pointer[IPCNamespace]
	// netns is the thread's network namespace (nil: the sandbox's
	// first), holding a reference on it (netns.go).
	netns atomic.Pointer[NetNamespace]
	// pidns is the thread's PID namespace (nil: the sandbox's own),
	// fixed at creation; childPIDNS is the one its new processes go
	// into when unshare or setns changed it (pidns.go).
	pidns      *PIDNamespace
	childPIDNS atomic.Pointer[PIDNamespace]
	// cgroupns is the thread's cgroup namespace (nil: the sandbox's;
	// cgroupns.go).
	cgroupns atomic.Pointer[CgroupNamespace]
	// timens is the thread's time namespace and timensChildren the one
	// its new processes go into (nil: the sandbox's first; timens.go).
	timens, timensChildren atomic.Pointer[TimeNamespace]

	// Regs are the application registers while the thread is in the
	// sentry.
	Regs arch.Registers

	ctx platform.Context
	// fpInit is the FP state a new thread starts with (its creator's at
	// clone time), applied before its first switch; nil for the
	// platform's initial state.
	fpInit []byte
	kick   func()

	FDs *vfs.FDTable
	FS  *vfs.FSContext
	// creds are the thread's credentials, replaced whole (never changed
	// in place) by SetCredentials; anybody may load them.
	creds atomic.Pointer[auth.Credentials]

	// SignalMask is the thread's blocked signal set.
	SignalMask linux.SignalSet
	// ClearChildTID is set_tid_address's address.
	ClearChildTID uintptr
	// RobustList is set_robust_list's head.
	RobustList uintptr
	// TimerSlack and DefaultTimerSlack are PR_SET_TIMERSLACK's value and
	// what a slack of 0 restores (the creator's slack at clone), in
	// nanoseconds; used only by the thread itself.
	TimerSlack, DefaultTimerSlack uint64
	// IOPrio is ioprio_set's value for the thread (inherited by its
	// clones; 0: none set, the I/O class follows the CPU nice value).
	IOPrio atomic.Uint32
	// MemPolicy is set_mempolicy's mode and node mask (one node, 0).
	MemPolicy atomic.Uint64
	// piExited is set (under Futexes.mu) once the exiting thread has
	// handed on its PI futexes: no locker may attach to it again.
	piExited bool
	// restartBlock continues an interrupted timed sleep from where it
	// was (Linux's restart_block; signal_restart.go).
	restartBlock func(t *Thread) (uintptr, error)
	// noRestart marks the current syscall's EINTR as final whatever its
	// class (a socket call with a timeout; signal_restart.go).
	noRestart bool
	// AltStack is sigaltstack's stack.
	AltStack linux.SignalStack

	exiting atomic.Bool
	// nprocExceeded is set when a change of real UID left the new user
	// over RLIMIT_NPROC (tasklimits.go); touched only by the thread.
	nprocExceeded bool
	// syscallStart is when the current syscall entered the sentry (strace).
	syscallStart time.Time

	scratch [256]byte

	// sig is the thread's signal state (signal_state.go).
	sig threadSignals

	// semUndo is the thread's SEM_UNDO list (ipc.go), shared with the
	// threads cloned with CLONE_SYSVSEM; nil until first needed.
	semUndo *sem.UndoList

	// ptrace is the thread's state as a tracee, ptracer as a tracer
	// (ptrace.go; protected by Sandbox.mu).
	ptrace  ptraceTracee
	ptracer ptraceTracer
	// exitSelf marks an exit of the thread's own doing (exit,
	// exit_group, a fatal signal it dequeued), which PTRACE_EVENT_EXIT
	// reports; exitStatus is exit's status (haveExitStatus). Touched
	// only by the thread.
	exitSelf       bool
	haveExitStatus bool
	exitStatus     WaitStatus
	// seccomp is the thread's seccomp mode and filters (seccomp.go).
	seccomp seccompState
}

// TID returns the thread's ID.
func (t *Thread) TID() int32 { return t.Task.TID() }

// Credentials returns the thread's credentials: an immutable snapshot,
// safe to read from any goroutine (one atomic load).
func (t *Thread) Credentials() *auth.Credentials { return t.creds.Load() }

// MM returns the thread's memory manager.
func (t *Thread) MM() *mm.MemoryManager { return t.TG.MM() }

// Log returns a logger for this thread.
func (t *Thread) Log() *logrus.Entry { return t.S.Log.WithField("tid", t.TID()) }

// Exiting reports whether the thread is on its way out.
func (t *Thread) Exiting() bool { return t.exiting.Load() }

// CopyScratchBuffer implements marshal.CopyContext.
func (t *Thread) CopyScratchBuffer(size int) []byte {
	if size <= len(t.scratch) {
		return t.scratch[:size]
	}
	return make([]byte, size)
}

// CopyInBytes implements marshal.CopyContext: it copies len(dst) bytes of
// application memory at addr. Errors are EFAULT.
func (t *Thread) CopyInBytes(addr hostarch.Addr, dst []byte) (int, error) {
	return t.MM().CopyIn(uintptr(addr), dst)
}

// CopyOutBytes implements marshal.CopyContext: it copies src to
// application memory at addr. Errors are EFAULT.
func (t *Thread) CopyOutBytes(addr hostarch.Addr, src []byte) (int, error) {
	return t.MM().CopyOut(uintptr(addr), src)
}

// CopyInString reads a NUL-terminated string of at most max bytes.
func (t *Thread) CopyInString(addr uintptr, max int) (string, error) {
	return t.MM().CopyInString(addr, max)
}
