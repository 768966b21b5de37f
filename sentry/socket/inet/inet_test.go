package inet

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/net"
	"github.com/runsc-lite/runsc-lite/sentry/socket"
	"github.com/runsc-lite/runsc-lite/sentry/usermem"
	"github.com/runsc-lite/runsc-lite/softirqd"
	"golang.org/x/sys/unix"
)

// env is a booted kernel with a stack and the INET families.
type env struct {
	k   *kernel.Kernel
	st  *net.Stack
	reg *socket.Registry
	n   *Net
}

func boot(tb testing.TB, cpus int) *env {
	tb.Helper()
	k := kernel.New(kernel.Config{CPUs: cpus, Tick: time.Millisecond})
	k.ReserveTID()
	k.StartKthreadd()
	sirq, err := softirqd.Start(k)
	if err != nil {
		tb.Fatal(err)
	}
	sirq.SetKickApps(true)
	st, err := net.New(net.Config{Softirqs: sirq})
	if err != nil {
		tb.Fatal(err)
	}
	reg := socket.NewRegistry()
	n := Register(reg, st)
	tb.Cleanup(func() {
		st.Close()
		sirq.Stop()
		k.Shutdown()
	})
	return &env{k: k, st: st, reg: reg, n: n}
}

// run runs fn as a task (on any CPU) and waits for it.
func (e *env) run(tb testing.TB, name string, fn func(ctx *socket.Context)) chan struct{} {
	done := make(chan struct{})
	t := e.k.NewTask(kernel.TaskOptions{Name: name, Entry: func(t *kernel.Task) {
		defer close(done)
		fn(&socket.Context{Context: &fs.Context{Task: t}, Sockets: e.reg})
	}})
	t.Start()
	return done
}

func wait(tb testing.TB, chs ...chan struct{}) {
	tb.Helper()
	for _, ch := range chs {
		select {
		case <-ch:
		case <-time.After(30 * time.Second):
			tb.Fatal("task did not finish")
		}
	}
}

func sin(a [4]byte, port uint16) []byte {
	b := make([]byte, 16)
	binary.LittleEndian.PutUint16(b, unix.AF_INET)
	binary.BigEndian.PutUint16(b[2:], port)
	copy(b[4:], a[:])
	return b
}

func sin6(a [16]byte, port uint16) []byte {
	b := make([]byte, 28)
	binary.LittleEndian.PutUint16(b, unix.AF_INET6)
	binary.BigEndian.PutUint16(b[2:], port)
	copy(b[8:], a[:])
	return b
}

var localhost = [4]byte{127, 0, 0, 1}

func blocking() *socket.Blocking { return &socket.Blocking{} }

func nonblocking() *socket.Blocking { return &socket.Blocking{NonBlock: true} }

func (e *env) socket(tb testing.TB, ctx *socket.Context, domain, stype, proto int) socket.Socket {
	s, err := e.reg.Family(domain).Socket(ctx, stype, proto)
	if err != nil {
		tb.Fatalf("socket(%d, %d, %d): %v", domain, stype, proto, err)
	}
	return s
}

func send(tb testing.TB, ctx *socket.Context, s socket.Socket, data []byte, to []byte) int {
	n, err := s.SendMsg(ctx, usermem.BytesSequence(data), &socket.SendOptions{To: to, Blocking: blocking()})
	if err != nil {
		tb.Errorf("send: %v", err)
	}
	return n
}

func recv(tb testing.TB, ctx *socket.Context, s socket.Socket, n int, flags int) ([]byte, socket.RecvResult, error) {
	buf := make([]byte, n)
	r, err := s.RecvMsg(ctx, usermem.BytesSequence(buf), &socket.RecvOptions{Flags: flags, Blocking: blocking()})
	return buf[:r.N], r, err
}

// TestTCPStream connects two tasks over 127.0.0.1 and ::1, moves 1 MiB
// each way through blocking sends and receives, and checks names, EOF
// after shutdown and MSG_WAITALL.
func TestTCPStream(t *testing.T) {
	for _, domain := range []int{unix.AF_INET, unix.AF_INET6} {
		e := boot(t, 2)
		addr := sin(localhost, 7000)
		if domain == unix.AF_INET6 {
			addr = sin6([16]byte{15: 1}, 7000)
		}
		const size = 1 << 20
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(i * 13)
		}
		listening := make(chan struct{})
		server := e.run(t, "server", func(ctx *socket.Context) {
			l := e.socket(t, ctx, domain, unix.SOCK_STREAM, 0)
			defer l.Release()
			if err := l.Bind(ctx, addr); err != nil {
				t.Errorf("bind: %v", err)
				close(listening)
				return
			}
			if err := l.Listen(ctx, 5); err != nil {
				t.Errorf("listen: %v", err)
			}
			close(listening)
			c, err := l.Accept(ctx, blocking())
			if err != nil {
				t.Errorf("accept: %v", err)
				return
			}
			defer c.Release()
			got, _, err := recv(t, ctx, c, size, unix.MSG_WAITALL)
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("server received %d bytes (err %v), want %d identical", len(got), err, size)
			}
			send(t, ctx, c, data, nil)
			c.Shutdown(ctx, unix.SHUT_WR)
		})
		<-listening
		client := e.run(t, "client", func(ctx *socket.Context) {
			c := e.socket(t, ctx, domain, unix.SOCK_STREAM, 0)
			defer c.Release()
			if err := c.Connect(ctx, addr, blocking()); err != nil {
				t.Errorf("connect: %v", err)
				return
			}
			peer, err := c.PeerName(ctx)
			if err != nil || !bytes.Equal(peer, addr) {
				t.Errorf("getpeername = %x, %v; want %x", peer, err, addr)
			}
			if n := send(t, ctx, c, data, nil); n != size {
				t.Errorf("sent %d", n)
			}
			got, _, err := recv(t, ctx, c, size, unix.MSG_WAITALL)
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("client received %d bytes (err %v), want %d identical", len(got), err, size)
			}
			// The server shut down its side: end of stream.
			if b, _, err := recv(t, ctx, c, 10, 0); len(b) != 0 || err != nil {
				t.Errorf("after shutdown: %d bytes, %v; want EOF", len(b), err)
			}
		})
		wait(t, server, client)
	}
}

// TestTCPErrors covers the error cases a C program checks: a refused
// connection, non-blocking connect's EINPROGRESS and SO_ERROR, listen on
// a connected socket, bad addresses.
func TestTCPErrors(t *testing.T) {
	e := boot(t, 1)
	wait(t, e.run(t, "errors", func(ctx *socket.Context) {
		s := e.socket(t, ctx, unix.AF_INET, unix.SOCK_STREAM, 0)
		defer s.Release()
		if err := s.Connect(ctx, sin(localhost, 1), blocking()); err != unix.ECONNREFUSED {
			t.Errorf("connect to a closed port: %v, want ECONNREFUSED", err)
		}
		s2 := e.socket(t, ctx, unix.AF_INET, unix.SOCK_STREAM, 0)
		defer s2.Release()
		if err := s2.Connect(ctx, sin(localhost, 1), nonblocking()); err != unix.EINPROGRESS {
			t.Errorf("non-blocking connect: %v, want EINPROGRESS", err)
		}
		var soerr int32
		for i := 0; i < 1000 && soerr == 0; i++ {
			if s2.Readiness(unix.POLLOUT) != 0 {
				v, _ := s2.GetSockOpt(ctx, unix.SOL_SOCKET, unix.SO_ERROR, 4)
				soerr = int32(binary.LittleEndian.Uint32(v))
				break
			}
			ctx.Task.Yield()
			time.Sleep(time.Millisecond)
		}
		if unix.Errno(soerr) != unix.ECONNREFUSED {
			t.Errorf("SO_ERROR after a refused non-blocking connect: %v, want ECONNREFUSED", unix.Errno(soerr))
		}
		// Bad addresses.
		s3 := e.socket(t, ctx, unix.AF_INET, unix.SOCK_STREAM, 0)
		defer s3.Release()
		if err := s3.Bind(ctx, sin(localhost, 0)[:15]); err != unix.EINVAL {
			t.Errorf("bind with 15 bytes: %v, want EINVAL", err)
		}
		bad := sin(localhost, 0)
		bad[0] = unix.AF_INET6
		if err := s3.Bind(ctx, bad); err != unix.EAFNOSUPPORT {
			t.Errorf("bind with AF_INET6 on AF_INET: %v, want EAFNOSUPPORT", err)
		}
		if err := s3.Connect(ctx, []byte{2}, blocking()); err != unix.EINVAL {
			t.Errorf("connect with 1 byte: %v, want EINVAL", err)
		}
		// listen on a connected socket.
		l := e.socket(t, ctx, unix.AF_INET, unix.SOCK_STREAM, 0)
		defer l.Release()
		if err := l.Bind(ctx, sin(localhost, 7001)); err != nil {
			t.Fatal(err)
		}
		if err := l.Listen(ctx, 1); err != nil {
			t.Fatal(err)
		}
		c := e.socket(t, ctx, unix.AF_INET, unix.SOCK_STREAM, 0)
		defer c.Release()
		if err := c.Connect(ctx, sin(localhost, 7001), blocking()); err != nil {
			t.Fatal(err)
		}
		if err := c.Listen(ctx, 1); err != unix.EINVAL {
			t.Errorf("listen on a connected socket: %v, want EINVAL", err)
		}
		if err := c.Connect(ctx, sin(localhost, 7001), blocking()); err != unix.EISCONN {
			t.Errorf("second connect: %v, want EISCONN", err)
		}
		// A second bind to a port in use.
		l2 := e.socket(t, ctx, unix.AF_INET, unix.SOCK_STREAM, 0)
		defer l2.Release()
		if err := l2.Bind(ctx, sin(localhost, 7001)); err != unix.EADDRINUSE {
			t.Errorf("bind to a listening port: %v, want EADDRINUSE", err)
		}
	}))
}

// TestUDP sends datagrams between two sockets: boundaries, sender
// addresses, MSG_PEEK and MSG_TRUNC.
func TestUDP(t *testing.T) {
	e := boot(t, 2)
	wait(t, e.run(t, "udp", func(ctx *socket.Context) {
		a := e.socket(t, ctx, unix.AF_INET, unix.SOCK_DGRAM, 0)
		defer a.Release()
		b := e.socket(t, ctx, unix.AF_INET, unix.SOCK_DGRAM, 0)
		defer b.Release()
		if err := a.Bind(ctx, sin(localhost, 9000)); err != nil {
			t.Fatal(err)
		}
		if err := b.Bind(ctx, sin(localhost, 9001)); err != nil {
			t.Fatal(err)
		}
		send(t, ctx, b, []byte("hello"), sin(localhost, 9000))
		send(t, ctx, b, []byte("world!"), sin(localhost, 9000))
		got, r, err := recv(t, ctx, a, 100, unix.MSG_PEEK)
		if err != nil || string(got) != "hello" {
			t.Errorf("peek: %q, %v", got, err)
		}
		if !bytes.Equal(r.From, sin(localhost, 9001)) {
			t.Errorf("from = %x, want %x", r.From, sin(localhost, 9001))
		}
		got, r, err = recv(t, ctx, a, 3, 0)
		if err != nil || string(got) != "hel" || r.Flags&unix.MSG_TRUNC == 0 || r.MsgLen != 5 {
			t.Errorf("truncated receive: %q flags %#x len %d, %v", got, r.Flags, r.MsgLen, err)
		}
		got, _, err = recv(t, ctx, a, 100, 0)
		if err != nil || string(got) != "world!" {
			t.Errorf("second datagram: %q, %v", got, err)
		}
		// Nothing left: a non-blocking receive fails with EAGAIN.
		_, err = a.RecvMsg(ctx, usermem.BytesSequence(make([]byte, 10)), &socket.RecvOptions{Blocking: nonblocking()})
		if err != unix.EAGAIN {
			t.Errorf("empty non-blocking receive: %v, want EAGAIN", err)
		}
	}))
}

// TestPing sends an ICMP echo request through a datagram ICMP socket to
// 127.0.0.1 and receives the reply the stack generated in NET_RX.
func TestPing(t *testing.T) {
	e := boot(t, 1)
	wait(t, e.run(t, "ping", func(ctx *socket.Context) {
		s := e.socket(t, ctx, unix.AF_INET, unix.SOCK_DGRAM, unix.IPPROTO_ICMP)
		defer s.Release()
		req := []byte{8, 0, 0, 0, 0, 0, 0, 1, 'p', 'i', 'n', 'g'}
		send(t, ctx, s, req, sin(localhost, 0))
		got, _, err := recv(t, ctx, s, 100, 0)
		if err != nil || len(got) != len(req) || got[0] != 0 || !bytes.Equal(got[8:], req[8:]) {
			t.Errorf("echo reply %x, %v", got, err)
		}
	}))
}
