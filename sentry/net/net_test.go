package net

import (
	"bytes"
	"testing"
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/softirqd"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// bootStack boots a kernel with cpus CPUs, its softirqs and a stack.
func bootStack(tb testing.TB, cpus int) (*kernel.Kernel, *softirqd.Softirqs, *Stack) {
	tb.Helper()
	k := kernel.New(kernel.Config{CPUs: cpus, Tick: time.Millisecond})
	k.ReserveTID()
	k.StartKthreadd()
	sirq, err := softirqd.Start(k)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := New(Config{Softirqs: sirq})
	if err != nil {
		tb.Fatal(err)
	}
	// The ksoftirqds are created but not started: each gets its host
	// thread at its first wake-up (softirqd's wakeKsoftirqd), so nothing
	// of theirs runs yet to disturb a test; TestPacketFlood shows that
	// they come up when NET_RX work is deferred to them.
	tb.Cleanup(func() {
		s.Close()
		sirq.Stop()
		k.Shutdown()
	})
	return k, sirq, s
}

func spawn(k *kernel.Kernel, name string, cpu int, fn func(t *kernel.Task)) *kernel.Task {
	var aff kernel.CPUSet
	if cpu >= 0 {
		aff.Set(cpu)
	}
	t := k.NewTask(kernel.TaskOptions{Name: name, Affinity: aff, Entry: fn})
	t.Start()
	return t
}

func join(tb testing.TB, t *kernel.Task, d time.Duration) {
	tb.Helper()
	select {
	case <-t.Exited():
	case <-time.After(d):
		tb.Fatalf("task %q did not finish in %v", t.Name(), d)
	}
}

func eventually(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// waitFor blocks t on a kernel wait queue fed by q's notifications until
// cond holds: the bridge the socket layer builds, in miniature.
func waitFor(t *kernel.Task, q *waiter.Queue, mask waiter.EventMask, cond func() bool) {
	var wq kernel.WaitQueue
	e := waiter.NewFunctionEntry(mask, func(waiter.EventMask) { wq.NotifyAll() })
	q.EventRegister(&e)
	defer q.EventUnregister(&e)
	wq.Wait(t, cond, kernel.WaitOpts{Timeout: kernel.Forever})
}

var loopback4 = tcpip.AddrFrom4([4]byte{127, 0, 0, 1})

// TestLoopbackUDP sends datagrams between two tasks on different CPUs
// over lo: each arrives whole and in order, and the packets went through
// NET_TX and NET_RX (the softirq counters and softnet_stat moved).
func TestLoopbackUDP(t *testing.T) {
	k, sirq, s := bootStack(t, 2)
	before := sirq.Counts()
	var rq, sq waiter.Queue
	rep, err := s.TCPIP().NewEndpoint(udp.ProtocolNumber, ipv4.ProtocolNumber, &rq)
	if err != nil {
		t.Fatal(err)
	}
	defer rep.Close()
	if err := rep.Bind(tcpip.FullAddress{Addr: loopback4, Port: 5555}); err != nil {
		t.Fatal(err)
	}
	sep, err := s.TCPIP().NewEndpoint(udp.ProtocolNumber, ipv4.ProtocolNumber, &sq)
	if err != nil {
		t.Fatal(err)
	}
	defer sep.Close()
	const n = 200
	owner := NewOwner(0, 0)
	sep.SetOwner(owner)
	got := make(chan []byte, n)
	recv := spawn(k, "recv", 1, func(tk *kernel.Task) {
		for i := 0; i < n; i++ {
			var buf bytes.Buffer
			waitFor(tk, &rq, waiter.ReadableEvents, func() bool {
				buf.Reset()
				_, err := rep.Read(&buf, tcpip.ReadOptions{})
				return err == nil
			})
			got <- append([]byte(nil), buf.Bytes()...)
		}
	})
	send := spawn(k, "send", 0, func(tk *kernel.Task) {
		for i := 0; i < n; i++ {
			msg := bytes.Repeat([]byte{byte(i)}, 100+i)
			var r bytes.Reader
			r.Reset(msg)
			s.Enter(tk, owner)
			_, err := sep.Write(&r, tcpip.WriteOptions{To: &tcpip.FullAddress{Addr: loopback4, Port: 5555}})
			s.Exit(tk)
			if err != nil {
				t.Errorf("write %d: %v", i, err)
				return
			}
			// Give the receiver room: a full receive buffer drops.
			if i%32 == 31 {
				tk.Yield()
				for len(got) < i-16 {
					tk.Yield()
				}
			}
		}
	})
	join(t, send, 20*time.Second)
	join(t, recv, 20*time.Second)
	for i := 0; i < n; i++ {
		m := <-got
		if len(m) != 100+i || m[0] != byte(i) {
			t.Fatalf("datagram %d: %d bytes of %d, want %d of %d", i, len(m), m[0], 100+i, i)
		}
	}
	after := sirq.Counts()
	var tx, rx uint64
	for cpu := range after {
		tx += after[cpu][softirqd.NET_TX] - before[cpu][softirqd.NET_TX]
		rx += after[cpu][softirqd.NET_RX] - before[cpu][softirqd.NET_RX]
	}
	if tx == 0 || rx == 0 {
		t.Errorf("NET_TX ran %d times and NET_RX %d times for %d datagrams", tx, rx, n)
	}
	// The sender's socket recorded CPU 0: its packets were queued,
	// transmitted and received there.
	if st := s.Softnet(0); st.Processed < n {
		t.Errorf("CPU 0 processed %d packets, want >= %d; softnet_stat:\n%s", st.Processed, n, s.SoftnetStat())
	}
	lo := s.DeviceByName("lo").Stats()
	if lo.TxPackets < n || lo.RxPackets < n || lo.TxBytes != lo.RxBytes {
		t.Errorf("lo counters: %+v", lo)
	}
}

// TestLoopbackTCP moves 4 MiB over a TCP connection on lo between tasks
// on two CPUs, in both IP versions, and checks every byte.
func TestLoopbackTCP(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		name := "ipv4"
		proto := ipv4.ProtocolNumber
		addr := loopback4
		if v6 {
			name, proto, addr = "ipv6", ipv6.ProtocolNumber, tcpip.AddrFrom16([16]byte{15: 1})
		}
		t.Run(name, func(t *testing.T) {
			k, _, s := bootStack(t, 2)
			const size = 4 << 20
			data := make([]byte, size)
			for i := range data {
				data[i] = byte(i*7 + i>>12)
			}
			var lq waiter.Queue
			lep, err := s.TCPIP().NewEndpoint(tcp.ProtocolNumber, proto, &lq)
			if err != nil {
				t.Fatal(err)
			}
			defer lep.Close()
			if err := lep.Bind(tcpip.FullAddress{Addr: addr, Port: 8080}); err != nil {
				t.Fatal(err)
			}
			if err := lep.Listen(10); err != nil {
				t.Fatal(err)
			}
			var received bytes.Buffer
			server := spawn(k, "server", 1, func(tk *kernel.Task) {
				var ep tcpip.Endpoint
				var wq *waiter.Queue
				waitFor(tk, &lq, waiter.ReadableEvents, func() bool {
					var err tcpip.Error
					ep, wq, err = lep.Accept(nil)
					return err == nil
				})
				defer ep.Close()
				// An accepted endpoint keeps its listener's
				// owner; the socket steers through its flow.
				owner := NewOwner(0, 0)
				la, _ := ep.GetLocalAddress()
				ra, _ := ep.GetRemoteAddress()
				owner.SetFlow(tcp.ProtocolNumber, la.Addr, la.Port, ra.Addr, ra.Port)
				eof := false
				for !eof {
					waitFor(tk, wq, waiter.ReadableEvents|waiter.EventHUp, func() bool {
						s.Enter(tk, owner)
						_, err := ep.Read(&received, tcpip.ReadOptions{})
						s.Exit(tk)
						if _, closed := err.(*tcpip.ErrClosedForReceive); closed {
							eof = true
						}
						return err == nil || eof
					})
				}
			})
			var cq waiter.Queue
			cep, err := s.TCPIP().NewEndpoint(tcp.ProtocolNumber, proto, &cq)
			if err != nil {
				t.Fatal(err)
			}
			client := spawn(k, "client", 0, func(tk *kernel.Task) {
				defer cep.Close()
				owner := NewOwner(0, 0)
				cep.SetOwner(owner)
				s.Enter(tk, owner)
				err := cep.Connect(tcpip.FullAddress{Addr: addr, Port: 8080})
				s.Exit(tk)
				if _, ok := err.(*tcpip.ErrConnectStarted); !ok && err != nil {
					t.Errorf("connect: %v", err)
					return
				}
				waitFor(tk, &cq, waiter.WritableEvents, func() bool {
					return cep.Readiness(waiter.WritableEvents) != 0
				})
				if err := cep.LastError(); err != nil {
					t.Errorf("connect: %v", err)
					return
				}
				off := 0
				for off < size {
					waitFor(tk, &cq, waiter.WritableEvents, func() bool {
						var r bytes.Reader
						r.Reset(data[off:min(off+64<<10, size)])
						s.Enter(tk, owner)
						n, err := cep.Write(&r, tcpip.WriteOptions{})
						s.Exit(tk)
						off += int(n)
						return err == nil
					})
				}
				cep.Shutdown(tcpip.ShutdownWrite)
			})
			join(t, client, 60*time.Second)
			join(t, server, 60*time.Second)
			if !bytes.Equal(received.Bytes(), data) {
				t.Fatalf("received %d bytes, want %d identical", received.Len(), size)
			}
		})
	}
}
