package net

import (
	"bytes"
	"testing"

	"github.com/runsc-lite/runsc-lite/kernel"
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// Run with:
//
//	go test -run '^$' -bench . -benchmem ./sentry/net/

// sinkDispatcher stands for the stack above a device: it takes delivered
// packets and counts them.
type sinkDispatcher struct{ n int }

func (d *sinkDispatcher) DeliverNetworkPacket(tcpip.NetworkProtocolNumber, *stack.PacketBuffer) {
	d.n++
}
func (d *sinkDispatcher) DeliverLinkPacket(tcpip.NetworkProtocolNumber, *stack.PacketBuffer) {}

// BenchmarkSoftirqPath measures the link layer alone, per packet: a task
// hands a packet to a loopback device (WritePackets queues it on its CPU's
// transmit queue and raises NET_TX), and at Exit the softirqs run in its
// context: NET_TX transmits it onto the backlog and completes the original,
// NET_RX polls the backlog and delivers it to the layer above (here a sink,
// so that only this package's work is measured). The packet itself comes
// from tcpip's pools. allocs/op must be 0: the steady state allocates
// nothing.
func BenchmarkSoftirqPath(b *testing.B) {
	for _, batch := range []int{1, 64} {
		b.Run(map[int]string{1: "1-packet", 64: "64-packets"}[batch], func(b *testing.B) {
			k, _, s := bootStack(b, 1)
			d, err := s.addDevice(deviceSpec{name: "bench0", arpType: header.ARPHardwareLoopback, mtu: 65536, driver: loopback{}})
			if err != nil {
				b.Fatal(err)
			}
			sink := &sinkDispatcher{}
			d.link.Attach(sink)
			frame := udpFrame(loopback4, loopback4, 9, 1000)
			var list stack.PacketBufferList
			total := 0
			want := func(n int) int { total += n * batch; return total }
			pkts := make([]*stack.PacketBuffer, batch)
			run := func(tk *kernel.Task, n int) {
				for i := 0; i < n; i++ {
					for j := range pkts {
						pkts[j] = stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(frame)})
						pkts[j].NetworkProtocolNumber = header.IPv4ProtocolNumber
						list.PushBack(pkts[j])
					}
					s.Enter(tk, nil)
					d.link.WritePackets(list)
					s.Exit(tk)
					list.Reset() // drops the packets' references
					// A syscall's exit: ksoftirqd gets its turn when
					// the softirqs overflowed to it.
					tk.PreemptPoint()
				}
				for sink.n < want(n) {
					tk.Yield()
				}
			}
			// Warm the pools, then measure.
			done := make(chan struct{})
			spawn(k, "bench", 0, func(tk *kernel.Task) {
				run(tk, 1000)
				close(done)
			})
			<-done
			b.ReportAllocs()
			b.ResetTimer()
			done = make(chan struct{})
			spawn(k, "bench", 0, func(tk *kernel.Task) {
				run(tk, b.N)
				close(done)
			})
			<-done
			b.StopTimer()
			if sink.n < b.N*batch {
				b.Fatalf("delivered %d packets of %d", sink.n, b.N*batch)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/packet")
		})
	}
}

// BenchmarkLoopbackUDP is the whole path of a 1000-byte datagram over lo:
// a task's Write into a UDP endpoint, NET_TX and NET_RX at its Exit, IP
// and UDP delivery into the receiving endpoint, and its Read. Allocations
// here are tcpip's own (its per-datagram bookkeeping), not the link
// layer's (BenchmarkSoftirqPath).
func BenchmarkLoopbackUDP(b *testing.B) {
	k, _, s := bootStack(b, 1)
	var rq, sq waiter.Queue
	rep, _ := s.TCPIP().NewEndpoint(udp.ProtocolNumber, ipv4.ProtocolNumber, &rq)
	defer rep.Close()
	if err := rep.Bind(tcpip.FullAddress{Addr: loopback4, Port: 5555}); err != nil {
		b.Fatal(err)
	}
	sep, _ := s.TCPIP().NewEndpoint(udp.ProtocolNumber, ipv4.ProtocolNumber, &sq)
	defer sep.Close()
	owner := NewOwner(0, 0)
	sep.SetOwner(owner)
	msg := make([]byte, 1000)
	to := tcpip.FullAddress{Addr: loopback4, Port: 5555}
	run := func(tk *kernel.Task, n int) int {
		got := 0
		var r bytes.Reader
		var w bytes.Buffer
		for i := 0; i < n; i++ {
			r.Reset(msg)
			s.Enter(tk, owner)
			sep.Write(&r, tcpip.WriteOptions{To: &to})
			s.Exit(tk)
			w.Reset()
			// The datagram is there unless the softirqs overflowed to
			// ksoftirqd, which runs when this task yields.
			for try := 0; try < 100; try++ {
				if _, err := rep.Read(&w, tcpip.ReadOptions{}); err == nil {
					got++
					break
				}
				tk.Yield()
			}
			tk.PreemptPoint()
		}
		return got
	}
	done := make(chan int)
	spawn(k, "bench", 0, func(tk *kernel.Task) { done <- run(tk, 1000) })
	<-done
	b.ReportAllocs()
	b.ResetTimer()
	spawn(k, "bench", 0, func(tk *kernel.Task) { done <- run(tk, b.N) })
	got := <-done
	b.StopTimer()
	if got < b.N {
		b.Fatalf("received %d datagrams of %d", got, b.N)
	}
}
