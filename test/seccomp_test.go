package test

import (
	"strings"
	"testing"
)

// seccomp(2) inside the sandbox: the application's own filters
// (test/c/seccomp.c, test/c/docker_seccomp.c), each case natively and in
// the sandbox with the outputs compared. The sentry evaluates the
// program's filters itself, so every verdict, signal, exit status and
// /proc/self/status line must be Linux's. (TestSeccompViolation and the
// other TestSeccomp* tests in confine_test.go are about the sentry's own
// host filter.)

// TestAppSeccompArgs: seccomp(2)/prctl argument checks, the BPF program rules
// (EINVAL), EFAULT, EACCES without no_new_privs or CAP_SYS_ADMIN,
// GET_ACTION_AVAIL, GET_NOTIF_SIZES, Seccomp:/Seccomp_filters:.
func TestAppSeccompArgs(t *testing.T) { compareC(t, "seccomp", 0, "args") }

// TestAppSeccompStrict: SECCOMP_MODE_STRICT allows read/write/exit only.
func TestAppSeccompStrict(t *testing.T) { compareC(t, "seccomp", 0, "strict") }

// TestAppSeccompActions: ERRNO (0, capped at 4095), TRAP's SIGSYS siginfo and
// rollback, TRACE without a tracer, LOG, ALLOW, KILL_PROCESS and
// KILL_THREAD with one and two threads, an unknown action.
func TestAppSeccompActions(t *testing.T) { compareC(t, "seccomp", 0, "actions") }

// TestAppSeccompPrecedence: several filters, Linux's order of actions, the
// newest filter winning a tie.
func TestAppSeccompPrecedence(t *testing.T) { compareC(t, "seccomp", 0, "precedence") }

// TestAppSeccompInherit: filters kept across fork and execve.
func TestAppSeccompInherit(t *testing.T) { compareC(t, "seccomp", 0, "inherit") }

// TestAppSeccompTSync: SECCOMP_FILTER_FLAG_TSYNC, its failure (the TID of the
// diverged thread, or ESRCH), no_new_privs given to synchronised threads.
func TestAppSeccompTSync(t *testing.T) { compareC(t, "seccomp", 0, "tsync") }

// TestAppSeccompUserNotif: a SECCOMP_RET_USER_NOTIF supervisor thread on the
// listener: poll readiness, RECV, SEND (value, error, CONTINUE), ID_VALID,
// a notification withdrawn by a signal and sent again, ADDFD (SETFD,
// SEND, its argument checks), ENOSYS once the
// listener is closed; POLLHUP once no thread uses the filter;
// WAIT_KILLABLE_RECV (a received notification is not interrupted by a
// signal).
func TestAppSeccompUserNotif(t *testing.T) { compareC(t, "seccomp", 0, "notif") }

// TestAppSeccompDockerProfile is the acceptance: Docker's default
// profile, built with libseccomp by test/c/docker_seccomp.c, installed
// before a shell pipeline (seq | sort | head, tr, sed, ls | wc, a nested
// sh) that must work under it, ending with a probe whose denied calls
// (keyctl, add_key, kexec_load, mount, unshare(CLONE_NEWUSER), clone with
// namespace flags, bpf, ...) must fail as natively: EPERM (clone3: the
// profile's ENOSYS).
func TestAppSeccompDockerProfile(t *testing.T) {
	native, _ := compareC(t, "docker_seccomp", 0, "run")
	// The probe without the profile must answer differently, or the
	// comparison above proves nothing about the filter.
	unfiltered := runNative(t, []string{cProg(t, "docker_seccomp"), "probe"}, runOpts{})
	filtered := strings.Count(native.Stdout, "EPERM")
	if filtered < 30 || strings.Count(unfiltered.Stdout, "EPERM") >= filtered {
		t.Fatalf("the profile refuses %d calls with EPERM, the unfiltered probe %d: the probe does not show the filter\nfiltered:\n%s\nunfiltered:\n%s",
			filtered, strings.Count(unfiltered.Stdout, "EPERM"), native.Stdout, unfiltered.Stdout)
	}
}
