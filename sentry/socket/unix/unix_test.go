package unix

import (
	"bytes"
	"encoding/binary"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/socket"
	"github.com/runsc-lite/runsc-lite/sentry/usermem"
	"github.com/runsc-lite/runsc-lite/sentry/vfs"
	sys "golang.org/x/sys/unix"
)

// These tests drive the family without a sandbox: no task, so every
// operation is non-blocking (Blocking.Wait says EAGAIN), and only the
// abstract namespace (no VFS). The native-vs-sandbox tests in test/ cover
// the rest.

var testCtx = &socket.Context{Context: &fs.Context{}, Cred: socket.Credentials{PID: 7, UID: 1, GID: 2, EUID: 1, EGID: 2}}

var nonBlocking = &socket.Blocking{NonBlock: true}

func send(t *testing.T, s socket.Socket, data string, rights ...*vfs.FileDescription) (int, error) {
	t.Helper()
	return s.SendMsg(testCtx, usermem.BytesSequence([]byte(data)), &socket.SendOptions{Blocking: nonBlocking, Control: socket.ControlMessages{Rights: rights}})
}

func recv(t *testing.T, s socket.Socket, n int, flags int) (string, socket.RecvResult, error) {
	t.Helper()
	buf := make([]byte, n)
	r, err := s.RecvMsg(testCtx, usermem.BytesSequence(buf), &socket.RecvOptions{Flags: flags, Blocking: nonBlocking, WantControl: true})
	return string(buf[:r.N]), r, err
}

func abstractAddr(name string) []byte {
	b := make([]byte, 3+len(name))
	binary.LittleEndian.PutUint16(b, sys.AF_UNIX)
	copy(b[3:], name)
	return b
}

func TestStreamPairMergesAndKeepsOrder(t *testing.T) {
	f := New(Options{})
	a, b, err := f.Pair(testCtx, sys.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release()
	defer b.Release()
	for _, s := range []string{"ab", "cd", "ef"} {
		if n, err := send(t, a, s); n != 2 || err != nil {
			t.Fatalf("send %q: %d %v", s, n, err)
		}
	}
	if got, _, _ := recv(t, b, 3, 0); got != "abc" {
		t.Errorf("first read %q, want abc", got)
	}
	if got, _, _ := recv(t, b, 10, sys.MSG_PEEK); got != "def" {
		t.Errorf("peek %q, want def", got)
	}
	if got, _, _ := recv(t, b, 10, 0); got != "def" {
		t.Errorf("second read %q, want def", got)
	}
	if _, _, err := recv(t, b, 10, 0); err != sys.EAGAIN {
		t.Errorf("empty read: %v, want EAGAIN", err)
	}
	if a.(*endpoint).wmem.Load() != 0 {
		t.Errorf("sender still charged %d after everything was read", a.(*endpoint).wmem.Load())
	}
}

func TestDatagramBoundariesAndTruncation(t *testing.T) {
	f := New(Options{})
	a, b, _ := f.Pair(testCtx, sys.SOCK_DGRAM, 0)
	defer a.Release()
	defer b.Release()
	send(t, a, "hello")
	send(t, a, "")
	got, r, err := recv(t, b, 2, 0)
	if got != "he" || r.Flags&sys.MSG_TRUNC == 0 || r.MsgLen != 5 || err != nil {
		t.Errorf("truncated read: %q %+v %v", got, r, err)
	}
	if got, r, err := recv(t, b, 10, 0); got != "" || r.MsgLen != 0 || err != nil {
		t.Errorf("empty datagram: %q %+v %v", got, r, err)
	}
}

func TestSendBufferFillsAtLinuxCount(t *testing.T) {
	f := New(Options{})
	a, b, _ := f.Pair(testCtx, sys.SOCK_DGRAM, 0)
	defer a.Release()
	defer b.Release()
	n := 0
	for {
		if _, err := send(t, a, "x"); err != nil {
			if err != sys.EAGAIN {
				t.Fatalf("send: %v", err)
			}
			break
		}
		n++
	}
	// Linux 6.x on x86-64: a 1-byte datagram has a truesize of 768.
	if n != 278 {
		t.Errorf("%d one-byte datagrams fit the default send buffer, Linux fits 278", n)
	}
	if a.Readiness(sys.POLLOUT)&sys.POLLOUT != 0 {
		t.Errorf("a full sender polls writable")
	}
}

func TestListenConnectAcceptAbstract(t *testing.T) {
	f := New(Options{})
	l, _ := f.Socket(testCtx, sys.SOCK_SEQPACKET, 0)
	defer l.Release()
	addr := abstractAddr("srv")
	if err := l.Bind(testCtx, addr); err != nil {
		t.Fatal(err)
	}
	if err := l.Listen(testCtx, 0); err != nil {
		t.Fatal(err)
	}
	c1, _ := f.Socket(testCtx, sys.SOCK_SEQPACKET, 0)
	c2, _ := f.Socket(testCtx, sys.SOCK_SEQPACKET, 0)
	defer c1.Release()
	defer c2.Release()
	if err := c1.Connect(testCtx, addr, nonBlocking); err != nil {
		t.Fatal(err)
	}
	// A backlog of 0 takes one pending connection, as Linux.
	if err := c2.Connect(testCtx, addr, nonBlocking); err != sys.EAGAIN {
		t.Errorf("second connect: %v, want EAGAIN", err)
	}
	if l.Readiness(sys.POLLIN)&sys.POLLIN == 0 {
		t.Errorf("listener with a pending connection is not readable")
	}
	s, err := l.Accept(testCtx, nonBlocking)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Release()
	send(t, c1, "one")
	send(t, c1, "two")
	if got, _, _ := recv(t, s, 10, 0); got != "one" {
		t.Errorf("got %q, want one (records are kept)", got)
	}
	if _, err := l.Accept(testCtx, nonBlocking); err != sys.EAGAIN {
		t.Errorf("accept with none pending: %v", err)
	}
	other, _ := f.Socket(testCtx, sys.SOCK_STREAM, 0)
	defer other.Release()
	if err := other.Connect(testCtx, addr, nonBlocking); err != sys.ECONNREFUSED {
		t.Errorf("stream connect to a seqpacket name: %v, want ECONNREFUSED (abstract names are per type)", err)
	}
}

// newFile wraps s in a description (what SCM_RIGHTS carries).
func newFile(s socket.Socket) *vfs.FileDescription {
	return socket.NewFile(testCtx, sys.AF_UNIX, s, 0)
}

func TestRightsTravelAndAreReleased(t *testing.T) {
	f := New(Options{})
	a, b, _ := f.Pair(testCtx, sys.SOCK_STREAM, 0)
	defer a.Release()
	defer b.Release()
	x, y, _ := f.Pair(testCtx, sys.SOCK_DGRAM, 0)
	fx, fy := newFile(x), newFile(y)
	if _, err := send(t, a, "fd", fx); err != nil {
		t.Fatal(err)
	}
	if fx.Refs() != 2 {
		t.Fatalf("queued description has %d references, want 2", fx.Refs())
	}
	_, r, err := recv(t, b, 10, 0)
	if err != nil || len(r.Control.Rights) != 1 || r.Control.Rights[0] != fx {
		t.Fatalf("recv: %+v %v", r, err)
	}
	r.Control.Release()
	fx.DecRef()
	fy.DecRef()
	f.mu.Lock()
	n := len(f.all)
	f.mu.Unlock()
	if n != 2 {
		t.Errorf("%d sockets live after the pair passed around was closed, want 2", n)
	}
}

func TestGarbageCycleCollected(t *testing.T) {
	f := New(Options{})
	a, b, _ := f.Pair(testCtx, sys.SOCK_STREAM, 0)
	fa, fb := newFile(a), newFile(b)
	// a queued in b's queue and b in a's: once closed, only the
	// cycle holds them.
	send(t, a, "x", fa)
	send(t, b, "y", fb)
	fa.DecRef()
	fb.DecRef()
	f.mu.Lock()
	n := len(f.all)
	f.mu.Unlock()
	if n != 2 {
		t.Fatalf("%d sockets before collection, want 2", n)
	}
	// Linux collects when any AF_UNIX socket is released.
	s, _ := f.Socket(testCtx, sys.SOCK_DGRAM, 0)
	s.Release()
	f.mu.Lock()
	n = len(f.all)
	f.mu.Unlock()
	if n != 0 || f.gc.total.Load() != 0 {
		t.Errorf("after collection: %d sockets, %d in flight; want none", n, f.gc.total.Load())
	}
}

func TestReachableInflightSocketIsNotCollected(t *testing.T) {
	f := New(Options{})
	a, b, _ := f.Pair(testCtx, sys.SOCK_STREAM, 0)
	defer b.Release()
	x, y, _ := f.Pair(testCtx, sys.SOCK_STREAM, 0)
	defer y.Release()
	fx := newFile(x)
	// x is in flight in b's queue, b is open: x is reachable.
	send(t, a, "x", fx)
	fx.DecRef()
	a.Release()
	s, _ := f.Socket(testCtx, sys.SOCK_DGRAM, 0)
	s.Release()
	_, r, err := recv(t, b, 10, 0)
	if err != nil || len(r.Control.Rights) != 1 {
		t.Fatalf("the in-flight socket was lost: %+v %v", r, err)
	}
	send(t, y, "still connected")
	got, _, _ := recv(t, r.Control.Rights[0].Impl().(*socket.File).Socket(), 100, 0)
	if got != "still connected" {
		t.Errorf("received socket reads %q", got)
	}
	r.Control.Release()
}

// TestConcurrentTraffic runs senders, receivers, closers and descriptor
// passing at once (go test -race finds unguarded state).
func TestConcurrentTraffic(t *testing.T) {
	f := New(Options{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				typ := []int{sys.SOCK_STREAM, sys.SOCK_DGRAM, sys.SOCK_SEQPACKET}[i%3]
				a, b, _ := f.Pair(testCtx, typ, 0)
				fa := newFile(a)
				var inner sync.WaitGroup
				inner.Add(2)
				go func() {
					defer inner.Done()
					for j := 0; j < 20; j++ {
						a.SendMsg(testCtx, usermem.BytesSequence(bytes.Repeat([]byte{byte(j)}, j)), &socket.SendOptions{Blocking: nonBlocking})
					}
					if i%5 == 0 {
						a.SendMsg(testCtx, usermem.BytesSequence([]byte("fd")), &socket.SendOptions{Blocking: nonBlocking, Control: socket.ControlMessages{Rights: []*vfs.FileDescription{fa}}})
					}
				}()
				go func() {
					defer inner.Done()
					buf := make([]byte, 64)
					for j := 0; j < 25; j++ {
						r, _ := b.RecvMsg(testCtx, usermem.BytesSequence(buf), &socket.RecvOptions{Blocking: nonBlocking, WantControl: true})
						r.Control.Release()
						b.Readiness(sys.POLLIN | sys.POLLOUT)
					}
				}()
				inner.Wait()
				fa.DecRef()
				b.Release()
			}
		}()
	}
	wg.Wait()
	s, _ := f.Socket(testCtx, sys.SOCK_DGRAM, 0)
	s.Release()
	f.mu.Lock()
	n := len(f.all)
	f.mu.Unlock()
	if n != 0 {
		t.Errorf("%d sockets left after every one was closed", n)
	}
}

func TestProcNetUnix(t *testing.T) {
	f := New(Options{})
	l, _ := f.Socket(testCtx, sys.SOCK_STREAM, 0)
	defer l.Release()
	l.(*endpoint).SetIno(4242)
	l.Bind(testCtx, abstractAddr("x\x00y"))
	l.Listen(testCtx, 5)
	out := f.procNetUnix(nil)
	want := "00000002 00000000 00010000 0001 01  4242 @x@y\n"
	if !bytes.Contains([]byte(out), []byte(want)) {
		t.Errorf("/proc/net/unix:\n%s\nwant a line ending %q", out, want)
	}
}

// BenchmarkStreamRoundTrip is the socket layer's own share of a round
// trip: a byte sent each way over a stream pair and received, without
// the platform's syscall cost or a task hand-off.
func BenchmarkStreamRoundTrip(b *testing.B) {
	f := New(Options{})
	x, y, _ := f.Pair(testCtx, sys.SOCK_STREAM, 0)
	defer x.Release()
	defer y.Release()
	one := []byte{'x'}
	buf := make([]byte, 1)
	so := &socket.SendOptions{Blocking: nonBlocking}
	ro := &socket.RecvOptions{Blocking: nonBlocking}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		x.SendMsg(testCtx, usermem.BytesSequence(one), so)
		y.RecvMsg(testCtx, usermem.BytesSequence(buf), ro)
		y.SendMsg(testCtx, usermem.BytesSequence(one), so)
		x.RecvMsg(testCtx, usermem.BytesSequence(buf), ro)
	}
}

// BenchmarkStreamThroughput moves 64 KiB per send through a stream pair.
func BenchmarkStreamThroughput(b *testing.B) {
	f := New(Options{})
	x, y, _ := f.Pair(testCtx, sys.SOCK_STREAM, 0)
	defer x.Release()
	defer y.Release()
	data := make([]byte, 64<<10)
	buf := make([]byte, 64<<10)
	so := &socket.SendOptions{Blocking: nonBlocking}
	ro := &socket.RecvOptions{Blocking: nonBlocking}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		x.SendMsg(testCtx, usermem.BytesSequence(data), so)
		for got := 0; got < len(data); {
			r, _ := y.RecvMsg(testCtx, usermem.BytesSequence(buf), ro)
			got += r.N
		}
	}
}

// TestAbstractNamesPerNetNamespace: the sockets of a network namespace's
// view have abstract names and a /proc/net/unix of their own, as Linux
// keys them by namespace; the first namespace's are not reachable from it.
func TestAbstractNamesPerNetNamespace(t *testing.T) {
	f := New(Options{})
	ns := f.NewNetNamespace()
	addr := abstractAddr("shared-name")
	l1, _ := f.Socket(testCtx, sys.SOCK_STREAM, 0)
	defer l1.Release()
	l2, _ := ns.Socket(testCtx, sys.SOCK_STREAM, 0)
	defer l2.Release()
	if err := l1.Bind(testCtx, addr); err != nil {
		t.Fatal(err)
	}
	if err := l2.Bind(testCtx, addr); err != nil {
		t.Fatalf("the same abstract name in another namespace: %v", err)
	}
	dup, _ := ns.Socket(testCtx, sys.SOCK_STREAM, 0)
	defer dup.Release()
	if err := dup.Bind(testCtx, addr); err != sys.EADDRINUSE {
		t.Errorf("the name twice in one namespace: %v, want EADDRINUSE", err)
	}
	l1.Listen(testCtx, 5)
	c, _ := ns.Socket(testCtx, sys.SOCK_STREAM, 0)
	defer c.Release()
	if err := c.Connect(testCtx, addr, nonBlocking); err != sys.ECONNREFUSED {
		t.Errorf("connect to a name only the first namespace listens on: %v, want ECONNREFUSED", err)
	}
	l2.Listen(testCtx, 5)
	if err := c.Connect(testCtx, addr, nonBlocking); err != nil {
		t.Errorf("connect to the namespace's own listener: %v", err)
	}
	l1.(*endpoint).SetIno(1111)
	l2.(*endpoint).SetIno(2222)
	first, own := f.procNetUnix(nil), f.procNetUnix(ns)
	if !bytes.Contains([]byte(first), []byte(" 1111 ")) || bytes.Contains([]byte(first), []byte(" 2222 ")) {
		t.Errorf("first namespace's /proc/net/unix:\n%s", first)
	}
	if !bytes.Contains([]byte(own), []byte(" 2222 ")) || bytes.Contains([]byte(own), []byte(" 1111 ")) {
		t.Errorf("the namespace's /proc/net/unix:\n%s", own)
	}
}

// TestRecycledMessagesCarryOnlyTheirData: messages and buffers come back
// from pools (queue.go), so a receiver must see exactly the bytes of the
// sends it reads, never a buffer's earlier contents, and a message must
// not be reused while anyone can still reach it. A sender and a receiver
// run concurrently (under -race in make race) over a stream pair and a
// datagram pair, with sizes that cross both pools and the chunk limit;
// every byte is checked against what was sent. Released pairs with unread
// data exercise the drop path. Bounded by counts, not time.
func TestRecycledMessagesCarryOnlyTheirData(t *testing.T) {
	const msgs = 300
	f := New(Options{})
	size := func(i int) int {
		return []int{1, 7, 511, 512, 513, 4000, maxStreamChunk, maxStreamChunk + 1, 60000}[i%9]
	}
	fill := func(b []byte, i int) {
		for j := range b {
			b[j] = byte(i*31 + j)
		}
	}
	for _, stype := range []int{sys.SOCK_STREAM, sys.SOCK_DGRAM} {
		a, b, err := f.Pair(testCtx, stype, 0)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < msgs; i++ {
				buf := make([]byte, size(i))
				fill(buf, i)
				for off := 0; off < len(buf); {
					n, err := a.SendMsg(testCtx, usermem.BytesSequence(buf[off:]), &socket.SendOptions{Blocking: nonBlocking})
					if err != nil && err != sys.EAGAIN {
						t.Errorf("send %d: %v", i, err)
						return
					}
					off += n
					if err == sys.EAGAIN {
						runtime.Gosched()
					}
				}
			}
		}()
		// The receiver reads with a buffer that never matches the sends'
		// sizes, so stream reads cross message boundaries.
		buf := make([]byte, 50000)
		var got []byte
		for i := 0; i < msgs; {
			r, err := b.RecvMsg(testCtx, usermem.BytesSequence(buf), &socket.RecvOptions{Blocking: nonBlocking})
			if err == sys.EAGAIN {
				runtime.Gosched()
				continue
			}
			if err != nil {
				t.Fatalf("type %d: recv: %v", stype, err)
			}
			if stype == sys.SOCK_DGRAM {
				want := make([]byte, size(i))
				fill(want, i)
				if r.MsgLen != len(want) || !bytes.Equal(buf[:r.N], want[:r.N]) {
					t.Fatalf("datagram %d: %d of %d bytes, content differs: %v", i, r.N, r.MsgLen, !bytes.Equal(buf[:r.N], want[:r.N]))
				}
				i++
				continue
			}
			got = append(got, buf[:r.N]...)
			for i < msgs && len(got) >= size(i) {
				want := make([]byte, size(i))
				fill(want, i)
				if !bytes.Equal(got[:len(want)], want) {
					t.Fatalf("stream message %d (%d bytes) differs from what was sent", i, len(want))
				}
				got = got[len(want):]
				i++
			}
		}
		wg.Wait()
		// Unread messages go back through the drop path on release.
		for i := 0; i < 5; i++ {
			send(t, a, strings.Repeat("x", size(i)))
		}
		a.Release()
		b.Release()
	}
}
