package tty

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// These tests drive a terminal without tasks: every read and write is
// non-blocking (a blocking one would need a kernel task; the conformance
// tests in test/ cover those against Linux).

const nb = unix.O_NONBLOCK

// sessions records the signals the line discipline sends.
type sessions struct {
	mu   sync.Mutex
	sent []string
	hung int
}

func (s *sessions) SignalProcessGroup(pgid int32, sig int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, unix.SignalName(unix.Signal(sig))+"@"+strconv.Itoa(int(pgid)))
}

func (s *sessions) HangupSession(t *Terminal) {
	s.mu.Lock()
	s.hung++
	s.mu.Unlock()
	t.SetControl(0, 0)
}

func (s *sessions) signals() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.sent, " ")
}

func newTerm(t *testing.T) (*Terminal, *sessions) {
	t.Helper()
	s := &sessions{}
	term := New(3, s)
	if err := term.OpenReplica(true); err != nil {
		t.Fatal(err)
	}
	term.SetControl(7, 7)
	return term, s
}

func readReplica(t *testing.T, term *Terminal) string {
	t.Helper()
	b := make([]byte, 8192)
	n, err := term.ReplicaRead(fs.Background, b, nb)
	if err == unix.EAGAIN {
		return "<EAGAIN>"
	}
	if err != nil {
		t.Fatalf("replica read: %v", err)
	}
	return string(b[:n])
}

func readMaster(t *testing.T, term *Terminal) string {
	t.Helper()
	var all []byte
	b := make([]byte, 8192)
	for {
		n, err := term.MasterRead(fs.Background, b, nb)
		all = append(all, b[:n]...)
		if err != nil {
			return string(all)
		}
	}
}

func TestCanonicalLineAndEcho(t *testing.T) {
	term, _ := newTerm(t)
	term.Input([]byte("ab"))
	if got := readReplica(t, term); got != "<EAGAIN>" {
		t.Errorf("partial line readable: %q", got)
	}
	term.Input([]byte("c\x7fd\r"))
	if got := readReplica(t, term); got != "abd\n" {
		t.Errorf("line %q, want abd\\n", got)
	}
	if got := readMaster(t, term); got != "abc\b \bd\r\n" {
		t.Errorf("echo %q", got)
	}
	term.Input([]byte("\x04"))
	if got := readReplica(t, term); got != "" {
		t.Errorf("EOF at line start read %q, want end of file", got)
	}
}

func TestSignalCharacters(t *testing.T) {
	term, s := newTerm(t)
	term.Input([]byte("xx\x03\x1c\x1a"))
	if got := s.signals(); got != "SIGINT@7 SIGQUIT@7 SIGTSTP@7" {
		t.Errorf("signals %q", got)
	}
	if got := readMaster(t, term); got != "xx^C^\\^Z" {
		t.Errorf("echo %q", got)
	}
	term.Input([]byte("\n"))
	if got := readReplica(t, term); got != "\n" {
		t.Errorf("^C did not flush the partial line: %q", got)
	}
}

func TestRawModeAndOutput(t *testing.T) {
	term, s := newTerm(t)
	kt := term.Termios()
	kt.LocalFlags &^= linux.ICANON | linux.ECHO | linux.ISIG
	kt.ControlCharacters[linux.VMIN] = 1
	term.SetTermios(kt)
	term.Input([]byte("a\x03\r"))
	if got := readReplica(t, term); got != "a\x03\n" {
		t.Errorf("raw read %q (ICRNL still maps)", got)
	}
	if got := s.signals(); got != "" {
		t.Errorf("signals without ISIG: %q", got)
	}
	if n, err := term.ReplicaWrite(fs.Background, []byte("x\ty\n"), 0); n != 4 || err != nil {
		t.Fatalf("write: %d %v", n, err)
	}
	if got := readMaster(t, term); got != "x\ty\r\n" {
		t.Errorf("output %q", got)
	}
}

func TestFlowControl(t *testing.T) {
	term, _ := newTerm(t)
	term.Input([]byte("\x13"))
	if _, err := term.ReplicaWrite(fs.Background, []byte("w"), nb); err != unix.EAGAIN {
		t.Errorf("write while stopped: %v, want EAGAIN", err)
	}
	if term.ReplicaReadiness(unix.POLLOUT) != 0 {
		t.Errorf("POLLOUT while stopped")
	}
	term.Input([]byte("k\x11"))
	if got := readMaster(t, term); got != "k" {
		t.Errorf("held echo after ^Q: %q", got)
	}
}

func TestHangup(t *testing.T) {
	term, s := newTerm(t)
	term.Input([]byte("pending\n"))
	term.CloseMaster()
	if s.hung != 1 {
		t.Errorf("session told %d times", s.hung)
	}
	if got := readReplica(t, term); got != "" {
		t.Errorf("read after hangup %q, want end of file", got)
	}
	if _, err := term.ReplicaWrite(fs.Background, []byte("x"), 0); err != unix.EIO {
		t.Errorf("write after hangup: %v, want EIO", err)
	}
	if sid, pg := term.Control(); sid != 0 || pg != 0 {
		t.Errorf("still controls %d/%d", sid, pg)
	}
	if err := term.OpenReplica(true); err != unix.EIO {
		t.Errorf("open after hangup: %v", err)
	}
}

// mem is a caller's memory for ioctl arguments.
type mem struct{ b []byte }

func (m *mem) CopyScratchBuffer(n int) []byte { return make([]byte, n) }

func (m *mem) CopyOutBytes(a hostarch.Addr, src []byte) (int, error) {
	if int(a)+len(src) > len(m.b) {
		return 0, unix.EFAULT
	}
	return copy(m.b[a:], src), nil
}

func (m *mem) CopyInBytes(a hostarch.Addr, dst []byte) (int, error) {
	if int(a)+len(dst) > len(m.b) {
		return 0, unix.EFAULT
	}
	return copy(dst, m.b[a:]), nil
}

func TestIoctls(t *testing.T) {
	term, s := newTerm(t)
	m := &mem{b: make([]byte, 64)}
	ctx := &fs.Context{Mem: m}
	if _, err := term.Ioctl(ctx, Side{}, linux.TCGETS, 0); err != nil {
		t.Fatal(err)
	}
	var tt linux.Termios
	tt.UnmarshalBytes(m.b)
	if tt.LocalFlags != defaultReplicaTermios().LocalFlags {
		t.Errorf("TCGETS lflag %o", tt.LocalFlags)
	}
	if _, err := term.Ioctl(ctx, Side{}, linux.TCGETS, 60); err != unix.EFAULT {
		t.Errorf("TCGETS past the memory: %v", err)
	}
	ws := linux.Winsize{Row: 10, Col: 20}
	ws.MarshalBytes(m.b)
	if _, err := term.Ioctl(ctx, Side{Master: true}, linux.TIOCSWINSZ, 0); err != nil {
		t.Fatal(err)
	}
	if got := s.signals(); got != "SIGWINCH@7" {
		t.Errorf("resize signals %q", got)
	}
	term.Ioctl(ctx, Side{Master: true}, linux.TIOCSWINSZ, 0)
	if got := s.signals(); got != "SIGWINCH@7" {
		t.Errorf("the same size again signalled: %q", got)
	}
	if _, err := term.Ioctl(ctx, Side{}, linux.TIOCGPTN, 0); err != unix.ENOTTY {
		t.Errorf("TIOCGPTN on the replica: %v", err)
	}
	if _, err := term.Ioctl(ctx, Side{Master: true}, linux.TIOCGPTN, 0); err != nil || m.b[0] != 3 {
		t.Errorf("TIOCGPTN: %v %d", err, m.b[0])
	}
	if _, err := term.Ioctl(ctx, Side{}, 0x54ff, 0); err != unix.ENOTTY {
		t.Errorf("unknown ioctl: %v", err)
	}
}

// TestHostLink attaches a host pseudo-terminal: the terminal takes its
// settings and size, the host turns raw while linked, what is typed on the
// host arrives through the sentry's line discipline (echo and all), and
// the settings come back at Close.
func TestHostLink(t *testing.T) {
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	defer master.Close()
	unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0)
	n, _ := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	replica, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer replica.Close()
	unix.IoctlSetWinsize(int(replica.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 12, Col: 34})
	before, _ := unix.IoctlGetTermios(int(replica.Fd()), unix.TCGETS)

	term, _ := newTerm(t)
	link, err := AttachHost(term, int(replica.Fd()), HostOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ws := term.WindowSize(); ws.Row != 12 || ws.Col != 34 {
		t.Errorf("window %dx%d", ws.Row, ws.Col)
	}
	raw, _ := unix.IoctlGetTermios(int(replica.Fd()), unix.TCGETS)
	if raw.Lflag&(unix.ICANON|unix.ECHO|unix.ISIG) != 0 || raw.Oflag&unix.OPOST != 0 {
		t.Errorf("host not raw: lflag %o oflag %o", raw.Lflag, raw.Oflag)
	}
	master.Write([]byte("hi\r"))
	deadline := time.Now().Add(30 * time.Second)
	var line string
	for time.Now().Before(deadline) {
		if line = readReplica(t, term); line != "<EAGAIN>" {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if line != "hi\n" {
		t.Errorf("typed line %q", line)
	}
	term.ReplicaWrite(fs.Background, []byte("out\n"), 0)
	var got bytes.Buffer
	buf := make([]byte, 64)
	for !strings.Contains(got.String(), "out\r\n") && time.Now().Before(deadline) {
		master.SetReadDeadline(deadline)
		k, err := master.Read(buf)
		if err != nil {
			break
		}
		got.Write(buf[:k])
	}
	if got.String() != "hi\r\nout\r\n" {
		t.Errorf("host saw %q, want the echo then the output", got.String())
	}
	link.Close()
	after, _ := unix.IoctlGetTermios(int(replica.Fd()), unix.TCGETS)
	if after.Lflag != before.Lflag || after.Oflag != before.Oflag || after.Iflag != before.Iflag {
		t.Errorf("settings not restored: lflag %o/%o", after.Lflag, before.Lflag)
	}
}
