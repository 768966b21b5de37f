package sandbox

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/runsc-lite/runsc-lite/sentry/syscalls"
	"golang.org/x/sys/unix"
)

// auditSeccomp matches the kernel's audit record of a seccomp action
// (type 1326, AUDIT_SECCOMP), as printed to the kernel log when no audit
// daemon takes it: "audit: type=1326 audit(...): auid=... uid=0 ...
// pid=1234 comm="runsc-lite" exe="..." sig=31 arch=c000003e syscall=41
// compat=0 ip=0x... code=0x80000000".
var auditSeccomp = regexp.MustCompile(`type=1326 .*\bpid=(\d+) .*\bsyscall=(\d+)\b.*\bcode=(0x[0-9a-f]+)`)

// seccompViolation returns what the kernel log says about the seccomp
// violations of host process pid ("syscall 41 (socket)"), or a hint
// where to look when it says nothing (no access to /dev/kmsg, or the
// record was rate-limited).
//
// The kernel hands audit records to the log from its kauditd thread, after
// the process is already dead: on a busy host the record can come tens of
// milliseconds after the death is seen, so the log is read again for up to
// auditWait before giving up.
func seccompViolation(pid int) string {
	calls := seccompAuditWait(pid, false)
	if len(calls) == 0 {
		return "the syscall is not in the kernel log; run with --debug --seccomp-log to find it"
	}
	return "syscall " + calls[len(calls)-1]
}

// auditWait bounds how long a violation's report waits for its audit
// record to reach the kernel log.
const auditWait = 2 * time.Second

// kmsgReadable says whether this process can read the kernel log at all
// (without it there is no record to wait for).
func kmsgReadable() bool {
	fd, err := unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	unix.Close(fd)
	return true
}

// seccompAuditWait is seccompAudit, reading the log again for up to
// auditWait while it has no record for pid: the process is dead, and a
// violation was seen (or, with logged, expected).
func seccompAuditWait(pid int, logged bool) []string {
	calls := seccompAudit(pid, logged)
	for deadline := time.Now().Add(auditWait); len(calls) == 0 && kmsgReadable() && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		calls = seccompAudit(pid, logged)
	}
	return calls
}

// seccompAudit returns the syscalls (as "N (name)") of the kernel's
// seccomp audit records for host process pid, oldest first: all of them
// when logged is set (SECCOMP_RET_LOG records), else only the kills.
func seccompAudit(pid int, logged bool) []string {
	fd, err := unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	defer unix.Close(fd)
	want := strconv.Itoa(pid)
	var out []string
	seen := map[string]bool{}
	buf := make([]byte, 8192)
	for {
		n, err := unix.Read(fd, buf)
		if err == unix.EPIPE {
			continue // overwritten records: go on with the next
		}
		if err != nil || n <= 0 {
			break
		}
		rec := buf[:n]
		if !bytes.Contains(rec, []byte("type=1326")) {
			continue
		}
		m := auditSeccomp.FindSubmatch(rec)
		if m == nil || string(m[1]) != want {
			continue
		}
		code, _ := strconv.ParseUint(string(m[3]), 0, 32)
		isLog := uint32(code) == unix.SECCOMP_RET_LOG
		if isLog != logged {
			continue
		}
		no, _ := strconv.Atoi(string(m[2]))
		name := "unknown"
		if sc := syscalls.Lookup(uintptr(no)); sc != nil {
			name = sc.Name
		}
		s := fmt.Sprintf("%d (%s)", no, name)
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
