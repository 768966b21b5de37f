package hostfd

import (
	"encoding/binary"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// A read of an empty host pipe must give the sandbox CPU away: another
// task runs on the only CPU while the reader waits.
func TestBlockingHostReadReleasesCPU(t *testing.T) {
	k := kernel.New(kernel.Config{CPUs: 1})
	defer k.Shutdown()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	n, err := New(int(pr.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	f, _ := n.Open(fs.Background, unix.O_RDONLY)
	defer f.Release()
	var spins atomic.Int64
	var got string
	var readStarted, readDone atomic.Bool
	reader := k.NewTask(kernel.TaskOptions{Name: "reader", Entry: func(task *kernel.Task) {
		buf := make([]byte, 16)
		readStarted.Store(true)
		k, err := f.Read(&fs.Context{Task: task}, buf, 0)
		if err != nil {
			t.Errorf("read: %v", err)
		}
		got = string(buf[:k])
		readDone.Store(true)
	}})
	spinner := k.NewTask(kernel.TaskOptions{Name: "spinner", Entry: func(task *kernel.Task) {
		for !readDone.Load() {
			spins.Add(1)
			task.PreemptPoint()
			time.Sleep(time.Millisecond)
		}
	}})
	reader.Start()
	spinner.Start()
	// The reader must sleep in its read and the spinner then get the
	// only CPU: wait for each (bounded), not a fixed 100 ms that a loaded
	// host may spend before either task first runs.
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no %s within a minute (reader %v, %d spins)", what, reader.State(), spins.Load())
			}
		}
	}
	waitFor("sleep of the reader in its read", func() bool {
		return readStarted.Load() && reader.State() == kernel.TaskSleeping
	})
	asleep := spins.Load()
	waitFor("turn of the spinner while the reader waited", func() bool { return spins.Load() > asleep })
	pw.Write([]byte("typed"))
	select {
	case <-reader.Exited():
	case <-time.After(10 * time.Second):
		t.Fatal("reader not woken")
	}
	<-spinner.Exited()
	if got != "typed" {
		t.Fatalf("read %q", got)
	}
	// Non-blocking reads do not wait.
	if _, err := f.Read(fs.Background, make([]byte, 1), unix.O_NONBLOCK); err != unix.EAGAIN {
		t.Fatalf("non-blocking read: %v", err)
	}
	// The host descriptor itself stays blocking.
	fl, _ := unix.FcntlInt(pr.Fd(), unix.F_GETFL, 0)
	if fl&unix.O_NONBLOCK != 0 {
		t.Fatalf("host descriptor made non-blocking")
	}
	if n.IsTTY() {
		t.Fatalf("pipe reported as a terminal")
	}
	if _, err := f.(*File).Ioctl(&fs.Context{}, 0x5401, 0); err != unix.ENOTTY {
		t.Fatalf("TCGETS on a pipe: %v", err)
	}
}

func TestHostWriteAndPath(t *testing.T) {
	pr, pw, _ := os.Pipe()
	defer pr.Close()
	defer pw.Close()
	n, err := New(int(pw.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	if p := n.Path(); len(p) < 6 || p[:6] != "pipe:[" {
		t.Fatalf("path %q", p)
	}
	f, _ := n.Open(fs.Background, unix.O_WRONLY)
	if k, err := f.Write(fs.Background, []byte("out"), 0); k != 3 || err != nil {
		t.Fatalf("write %d %v", k, err)
	}
	f.Release()
	b := make([]byte, 8)
	k, _ := pr.Read(b)
	if string(b[:k]) != "out" {
		t.Fatalf("host got %q", b[:k])
	}
	// The duplicate is closed with the last file; the original is not.
	if _, err := unix.FcntlInt(pw.Fd(), unix.F_GETFD, 0); err != nil {
		t.Fatalf("original closed: %v", err)
	}
}

// fakeMem is application memory for ioctl tests: addresses index mem.
type fakeMem struct{ mem []byte }

func (m *fakeMem) CopyScratchBuffer(n int) []byte { return make([]byte, n) }
func (m *fakeMem) CopyOutBytes(addr hostarch.Addr, b []byte) (int, error) {
	if int(addr)+len(b) > len(m.mem) {
		return 0, unix.EFAULT
	}
	return copy(m.mem[addr:], b), nil
}
func (m *fakeMem) CopyInBytes(addr hostarch.Addr, b []byte) (int, error) {
	if int(addr)+len(b) > len(m.mem) {
		return 0, unix.EFAULT
	}
	return copy(b, m.mem[addr:]), nil
}

func openPTY(t *testing.T) (master, slave int) {
	t.Helper()
	m, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	if err := unix.IoctlSetPointerInt(m, unix.TIOCSPTLCK, 0); err != nil {
		t.Skipf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(m, unix.TIOCGPTN)
	if err != nil {
		t.Skipf("ptsname: %v", err)
	}
	s, err := unix.Open("/dev/pts/"+strconv.Itoa(n), unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("open slave: %v", err)
	}
	return m, s
}

func TestTerminalIoctls(t *testing.T) {
	master, slave := openPTY(t)
	defer unix.Close(master)
	defer unix.Close(slave)
	unix.IoctlSetWinsize(slave, unix.TIOCSWINSZ, &unix.Winsize{Row: 42, Col: 99})
	n, err := New(slave)
	if err != nil {
		t.Fatal(err)
	}
	if !n.IsTTY() || n.Path()[:9] != "/dev/pts/" {
		t.Fatalf("tty %v path %q", n.IsTTY(), n.Path())
	}
	f, _ := n.Open(fs.Background, unix.O_RDWR)
	defer f.Release()
	io := f.(*File)
	mem := &fakeMem{mem: make([]byte, 256)}
	ctx := &fs.Context{Mem: mem}
	if _, err := io.Ioctl(ctx, linux.TIOCGWINSZ, 8); err != nil {
		t.Fatal(err)
	}
	if rows, cols := binary.LittleEndian.Uint16(mem.mem[8:]), binary.LittleEndian.Uint16(mem.mem[10:]); rows != 42 || cols != 99 {
		t.Fatalf("winsize %dx%d", rows, cols)
	}
	// TCGETS writes exactly struct termios (36 bytes).
	for i := range mem.mem {
		mem.mem[i] = 0xee
	}
	if _, err := io.Ioctl(ctx, linux.TCGETS, 100); err != nil {
		t.Fatal(err)
	}
	if mem.mem[100+36] != 0xee || mem.mem[99] != 0xee {
		t.Fatalf("TCGETS wrote outside struct termios")
	}
	host, _ := unix.IoctlGetTermios(slave, unix.TCGETS)
	if binary.LittleEndian.Uint32(mem.mem[100+12:]) != host.Lflag {
		t.Fatalf("lflag differs")
	}
	// TCSETS round trip: clear ECHO.
	lflag := binary.LittleEndian.Uint32(mem.mem[100+12:]) &^ unix.ECHO
	binary.LittleEndian.PutUint32(mem.mem[100+12:], lflag)
	if _, err := io.Ioctl(ctx, linux.TCSETS, 100); err != nil {
		t.Fatal(err)
	}
	host, _ = unix.IoctlGetTermios(slave, unix.TCGETS)
	if host.Lflag&unix.ECHO != 0 {
		t.Fatalf("TCSETS did not reach the terminal")
	}
	if _, err := io.Ioctl(ctx, linux.TIOCGPGRP, 0); err != nil || binary.LittleEndian.Uint32(mem.mem[0:]) != 1 {
		t.Fatalf("TIOCGPGRP: %v %d", err, binary.LittleEndian.Uint32(mem.mem[0:]))
	}
	if _, err := io.Ioctl(ctx, linux.TCGETS, 250); err != unix.EFAULT {
		t.Fatalf("bad pointer: %v", err)
	}
	// Typed input is readable.
	unix.Write(master, []byte("ls\n"))
	buf := make([]byte, 16)
	k, err := f.Read(fs.Background, buf, unix.O_NONBLOCK)
	if err != nil && err != unix.EAGAIN {
		t.Fatal(err)
	}
	_ = k
}
