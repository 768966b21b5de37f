package test

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestFutexPIAPI: FUTEX_LOCK_PI/LOCK_PI2/TRYLOCK_PI/UNLOCK_PI on raw words
// and PTHREAD_PRIO_INHERIT mutexes (issue 15 item 3), compared with native:
// the word's bits after each call, Linux's errors, hand-off to a sleeping
// waiter, a deadlock cycle (EDEADLK), and robust PI owners dying.
func TestFutexPIAPI(t *testing.T) { compareC(t, "futex_pi", 0, "api") }

// TestFutexPIInversion: the classic priority inversion on one CPU (a fair
// owner, a SCHED_FIFO 50 waiter, a SCHED_FIFO 20 spinner), natively pinned
// to CPU 0 and in the sandbox with --cpus 1. The order of events must be
// the same: with PTHREAD_PRIO_INHERIT the owner is boosted and the high
// thread gets the mutex while the spinner still spins; with
// PTHREAD_PRIO_NONE it waits until the spinner has spent its budget.
func TestFutexPIInversion(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for SCHED_FIFO")
	}
	for _, proto := range []string{"pi", "none"} {
		t.Run(proto, func(t *testing.T) {
			compare(t, cmpCase{
				argv:   []string{cProg(t, "futex_pi"), "inversion", proto},
				opts:   runOpts{Flags: []string{"--cpus", "1"}},
				stderr: true,
			})
		})
	}
}

// TestProcsMisc: futex_waitv, futex_wake, futex_wait, futex_requeue,
// process_vm_readv/writev (partial transfers, EFAULT, permission), kcmp,
// ioprio_get/set, get/set_mempolicy and sysfs(2), compared with native.
func TestProcsMisc(t *testing.T) { compareC(t, "procs_misc", 0) }

// TestPidfd: pidfd_open, CLONE_PIDFD with clone and clone3,
// pidfd_send_signal, pidfd_getfd, waitid(P_PIDFD) (blocking, WNOHANG, a
// non-blocking pidfd, WNOWAIT, after the reap), and the exit's readiness
// in poll and epoll, compared with native.
func TestPidfd(t *testing.T) { compareC(t, "pidfd", 0) }

// TestMembarrier: membarrier(2)'s served commands, registrations (kept
// across fork) and errors, compared with native.
func TestMembarrier(t *testing.T) { compareC(t, "membarrier", 0) }

// TestMlock: mlock, mlock2 (MLOCK_ONFAULT), munlock, mlockall
// (MCL_FUTURE), munlockall: VmLck, residence, errors, RLIMIT_MEMLOCK
// without CAP_IPC_LOCK, fork not inheriting locks — compared with native.
func TestMlock(t *testing.T) { compareC(t, "mlock", 0) }

// TestMlockPinnedUnderPressure: under 64 MiB of memory with swap, 80 MiB
// of anonymous memory touched twice pushes an unlocked 8 MiB region
// partly out to swap, while an mlocked 8 MiB region stays wholly resident
// (kswapd leaves locked pages alone).
func TestMlockPinnedUnderPressure(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: moves tens of MiB through swap")
	}
	needSandbox(t)
	r := runSandbox(t, []string{cProg(t, "mlock"), "pressure", "80"}, runOpts{Flags: []string{"--total-memory", "64M", "--swap", "128M"}, Timeout: heavyTimeout})
	if r.Status != 0 {
		t.Fatalf("status %d\n%s\n%s", r.Status, r.Stdout, tail(r.Stderr, 20))
	}
	var locked, control, total int
	fmt.Sscanf(line(r.Stdout, "locked resident"), "locked resident %d of %d pages", &locked, &total)
	fmt.Sscanf(line(r.Stdout, "control resident"), "control resident %d of %d pages", &control, &total)
	t.Logf("%s", r.Stdout)
	if total == 0 || locked != total {
		t.Errorf("mlocked region: %d of %d pages resident after the pressure, want all", locked, total)
	}
	if control == total {
		t.Errorf("the unlocked control region stayed wholly resident too: the pressure showed nothing")
	}
	if !strings.Contains(r.Stdout, "VmLck 8192 kB") {
		t.Errorf("VmLck is not the 8 MiB locked")
	}
}

// TestPrctlProcs: PR_SET/GET_CHILD_SUBREAPER (an orphan goes to the
// nearest subreaper, which reaps it), PR_SET/GET_TIMERSLACK (inherited,
// reset to the creator's), PR_GET_TID_ADDRESS and PR_GET_SECCOMP,
// compared with native.
func TestPrctlProcs(t *testing.T) { compareC(t, "prctl_procs", 0) }

// TestPrctlVMAAnonName: PR_SET_VMA_ANON_NAME. The host's kernel may be
// built without CONFIG_ANON_VMA_NAME (then every call is EINVAL), so the
// sandbox's output is checked against Linux's documented behaviour
// (prctl(2), madvise_set_anon_name, show_map_vma): names on a split
// range, [anon_shmem:...] for shared anonymous memory, the character and
// length rules, ENOMEM for a hole, EBADF for a file mapping, inherited by
// fork.
func TestPrctlVMAAnonName(t *testing.T) {
	needSandbox(t)
	r := runSandbox(t, []string{cProg(t, "prctl_procs"), "vma"}, runOpts{})
	want := `PR_SET_VMA name 2 pages = 0
first page: (no name)
second page: [anon:my heap]
fourth page: (no name)
PR_SET_VMA shared anonymous = 0
shared: [anon_shmem:shm]
PR_SET_VMA bad character = -1 EINVAL
PR_SET_VMA newline = -1 EINVAL
PR_SET_VMA 79 characters = 0
PR_SET_VMA 80 characters = -1 EINVAL
PR_SET_VMA unaligned = -1 EINVAL
PR_SET_VMA unmapped = -1 ENOMEM
PR_SET_VMA option 1 = -1 EINVAL
PR_SET_VMA clear = 0
second page after clearing: (no name)
third page: [anon:my heap]
PR_SET_VMA of a file mapping = -1 EBADF
child sees: [anon:my heap]
`
	if r.Status != 0 || r.Stdout != want {
		t.Errorf("status %d; stdout differs:\n%s\nwant:\n%s\nstderr:\n%s", r.Status, diff(want, r.Stdout), want, tail(r.Stderr, 20))
	}
}

// TestPersonality: personality(2) read and set, fork and execve
// (READ_IMPLIES_EXEC dropped by a 64-bit ELF), READ_IMPLIES_EXEC's
// executable mappings, UNAME26 and /proc/self/personality; and Debian's
// setarch -R, compared with native.
func TestPersonality(t *testing.T) {
	compareC(t, "personality", 0)
	compare(t, cmpCase{argv: []string{"/usr/bin/setarch", "x86_64", "-R", "cat", "/proc/self/personality"}})
}

// TestFutexRequeuePI: FUTEX_WAIT_REQUEUE_PI and FUTEX_CMP_REQUEUE_PI: the
// top waiter takes a free PI futex at once; waiters moved onto a held one
// get it in turn from its owner's FUTEX_UNLOCK_PI; a plain FUTEX_WAKE of
// such a waiter is EINVAL; the errors — compared with native.
func TestFutexRequeuePI(t *testing.T) { compareC(t, "futex_requeue_pi", 0) }
