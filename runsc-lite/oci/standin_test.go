package oci

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// startTestStandIn starts the stand-in executable on one end of a socket
// pair, in this test's namespaces, and returns its PID and the other end
// (the sentry's side of the protocol), once it has blocked its signals.
func startTestStandIn(t *testing.T) (int, *os.File) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	sentry, conn := os.NewFile(uintptr(fds[0]), "sentry"), os.NewFile(uintptr(fds[1]), "stand-in")
	img, err := standInFile()
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	pid, err := (&standIn{}).exec(conn, img, "test")
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	// Its signals are blocked once SigBlk shows them.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Millisecond) {
		data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), "SigBlk:\t0000000000000000") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the stand-in never blocked its signals")
		}
	}
	return pid, sentry
}

func waitStandIn(t *testing.T, pid int) unix.WaitStatus {
	t.Helper()
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil {
		t.Fatal(err)
	}
	return ws
}

// TestStandInExit: the stand-in ends as the exit record says: with the
// code, or dying of the signal.
func TestStandInExit(t *testing.T) {
	for _, tc := range []struct {
		record []byte
		code   int
		signal unix.Signal
	}{
		{[]byte{3, 0}, 3, 0},
		{[]byte{0, 0}, 0, 0},
		{[]byte{0, byte(unix.SIGTERM)}, 0, unix.SIGTERM},
		{[]byte{0, byte(unix.SIGSEGV)}, 0, unix.SIGSEGV},
	} {
		pid, sentry := startTestStandIn(t)
		// One byte at a time: the record may come in pieces.
		sentry.Write(tc.record[:1])
		sentry.Write(tc.record[1:])
		ws := waitStandIn(t, pid)
		sentry.Close()
		if tc.signal != 0 {
			if !ws.Signaled() || ws.Signal() != tc.signal || ws.CoreDump() {
				t.Errorf("record %v: wait status %#x, want a death by %v without a core", tc.record, ws, tc.signal)
			}
		} else if !ws.Exited() || ws.ExitStatus() != tc.code {
			t.Errorf("record %v: wait status %#x, want exit %d", tc.record, ws, tc.code)
		}
	}
}

// TestStandInSentryGone: the connection's end (the sentry died) ends the
// stand-in as SIGKILL would.
func TestStandInSentryGone(t *testing.T) {
	pid, sentry := startTestStandIn(t)
	sentry.Close()
	if ws := waitStandIn(t, pid); !ws.Signaled() || ws.Signal() != unix.SIGKILL {
		t.Errorf("wait status %#x, want a death by SIGKILL", ws)
	}
}

// TestStandInForwards: the signals it gets are sent as bytes, but for
// SIGCHLD, SIGPIPE, SIGURG and SIGWINCH, which are not forwarded.
func TestStandInForwards(t *testing.T) {
	pid, sentry := startTestStandIn(t)
	defer sentry.Close()
	for _, sig := range []unix.Signal{unix.SIGPIPE, unix.SIGCHLD, unix.SIGURG, unix.SIGWINCH, unix.SIGUSR2, unix.SIGTERM} {
		if err := unix.Kill(pid, sig); err != nil {
			t.Fatal(err)
		}
	}
	got := make([]byte, 2)
	if _, err := io.ReadFull(sentry, got); err != nil {
		t.Fatal(err)
	}
	// Two pending signals come in order of their numbers.
	if got[0] != byte(unix.SIGUSR2) || got[1] != byte(unix.SIGTERM) {
		t.Errorf("forwarded %v, want [%d %d]", got, unix.SIGUSR2, unix.SIGTERM)
	}
	sentry.Write([]byte{0, 0})
	if ws := waitStandIn(t, pid); !ws.Exited() || ws.ExitStatus() != 0 {
		t.Errorf("wait status %#x, want exit 0", ws)
	}
	// Nothing else was forwarded before it ended.
	rest := make([]byte, 16)
	if n, _ := sentry.Read(rest); n != 0 {
		t.Errorf("also forwarded %v", rest[:n])
	}
}

// TestStandInGenerated rebuilds standincode.go from src/standin.S with
// src/gen.sh and compares.
func TestStandInGenerated(t *testing.T) {
	for _, tool := range []string{"as", "objcopy", "gofmt"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s: %v", tool, err)
		}
	}
	out := filepath.Join(t.TempDir(), "standincode.go")
	if b, err := exec.Command("sh", "src/gen.sh", out).CombinedOutput(); err != nil {
		t.Fatalf("src/gen.sh: %v\n%s", err, b)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("standincode.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("standincode.go is not src/standin.S assembled: run go generate ./runsc-lite/oci")
	}
}
