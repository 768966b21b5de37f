package net

import (
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// driver is what a device's hardware is: how its packets leave.
type driver interface {
	// transmit sends pkts (ents holds the same packets with their
	// device and protocol) on cpu, from its NET_TX softirq, and returns
	// how many it took; packets it took are completed by the caller.
	// Taking fewer stops the device's queue on that CPU until the driver
	// calls wakeTx. It must not block.
	transmit(sn *softnet, pkts []*stack.PacketBuffer, ents []entry) int
	// close releases the driver's host resources.
	close()
}

// DeviceStats are a device's counters (/proc/net/dev, IFLA_STATS64).
type DeviceStats struct {
	RxPackets, RxBytes, RxErrors, RxDropped, RxMulticast uint64
	TxPackets, TxBytes, TxErrors, TxDropped              uint64
}

type deviceStats struct {
	rxPackets, rxBytes, rxErrors, rxDropped, rxMulticast atomic.Uint64
	txPackets, txBytes, txErrors, txDropped              atomic.Uint64
}

// Device is a network device (Linux's net_device): a NIC of the stack,
// with its link endpoint, driver, per-CPU transmit queues and counters.
type Device struct {
	s     *Stack
	index tcpip.NICID
	name  string
	// arpType is the ARPHRD_* type (loopback, ether).
	arpType header.ARPHardwareType
	flags   atomic.Uint32 // IFF_*; changes only by SetUp
	// activated: the device has been up (its qdisc attached; Linux
	// keeps it when the device goes down again).
	activated atomic.Bool
	mtu       atomic.Uint32
	mac       tcpip.LinkAddress
	// qdisc is the queueing discipline's name as ip link shows it.
	qdisc string
	// headerLen is the link header's length (14 for Ethernet, 0 for
	// loopback).
	headerLen uint16
	driver    driver
	txq       []*txQueue // per CPU
	stats     deviceStats

	// rx is the receive NAPI context of a device with a queue of its
	// own (a host-backed device), polled on irqCPU, the CPU its
	// interrupt is routed to.
	rx     napi
	irqCPU int

	// link is the endpoint the stack's NIC is built on.
	link *linkEndpoint

	mu         sync.Mutex
	dispatcher stack.NetworkDispatcher
}

// Index returns the device's interface index.
func (d *Device) Index() int32 { return int32(d.index) }

// Name returns the interface name ("lo", "eth0").
func (d *Device) Name() string { return d.name }

// Flags returns the IFF_* flags.
func (d *Device) Flags() uint32 { return d.flags.Load() }

// MTU returns the device's MTU.
func (d *Device) MTU() uint32 { return d.mtu.Load() }

// HardwareAddr returns the device's link address (empty for loopback).
func (d *Device) HardwareAddr() []byte { return []byte(d.mac) }

// ARPType returns Linux's ARPHRD_* type of the device.
func (d *Device) ARPType() uint16 {
	switch d.arpType {
	case header.ARPHardwareEther:
		return unix.ARPHRD_ETHER
	case header.ARPHardwareLoopback:
		return unix.ARPHRD_LOOPBACK
	}
	return unix.ARPHRD_NONE
}

// IsLoopback reports whether this is the loopback device.
func (d *Device) IsLoopback() bool { return d.flags.Load()&unix.IFF_LOOPBACK != 0 }

// Qdisc returns the name of the device's queueing discipline ("noqueue"
// for loopback, the host device's for a device taken over).
func (d *Device) Qdisc() string {
	if !d.activated.Load() {
		return "noop" // a device never up has noop_qdisc
	}
	return d.qdisc
}

// TxQueueLen returns the transmit queue length (qlen).
func (d *Device) TxQueueLen() int { return TxQueueLen }

// Stats returns a snapshot of the device's counters.
func (d *Device) Stats() DeviceStats {
	st := &d.stats
	return DeviceStats{
		RxPackets: st.rxPackets.Load(), RxBytes: st.rxBytes.Load(), RxErrors: st.rxErrors.Load(),
		RxDropped: st.rxDropped.Load(), RxMulticast: st.rxMulticast.Load(),
		TxPackets: st.txPackets.Load(), TxBytes: st.txBytes.Load(), TxErrors: st.txErrors.Load(),
		TxDropped: st.txDropped.Load(),
	}
}

// scheduleRX is the device's interrupt: it schedules its receive NAPI
// context on its interrupt CPU (napi_schedule from the top half). It may
// be called from any goroutine.
func (d *Device) scheduleRX() {
	d.s.cpus[d.irqCPU].napiSchedule(&d.rx)
}

// completeRX ends a poll that ran out of work (napi_complete_done): the
// next interrupt schedules the context again.
func (d *Device) completeRX() {
	d.rx.scheduled.Store(false)
}

// receive delivers one received packet into the stack, on sn's CPU, from
// its NET_RX softirq, and drops the caller's reference
// (__netif_receive_skb).
func (d *Device) receive(sn *softnet, proto tcpip.NetworkProtocolNumber, pkt *stack.PacketBuffer) {
	sn.processed.Add(1)
	d.stats.rxPackets.Add(1)
	d.stats.rxBytes.Add(uint64(pkt.Size()))
	d.mu.Lock()
	disp := d.dispatcher
	d.mu.Unlock()
	if disp != nil {
		disp.DeliverNetworkPacket(proto, pkt)
	} else {
		d.stats.rxDropped.Add(1)
	}
	pkt.DecRef()
}

// linkEndpoint is the stack.LinkEndpoint of a device: the stack's view of
// it. Its WritePackets only queues (see the package comment).
type linkEndpoint struct {
	d *Device
}

var _ stack.LinkEndpoint = (*linkEndpoint)(nil)

// MTU implements stack.LinkEndpoint.
func (l *linkEndpoint) MTU() uint32 { return l.d.mtu.Load() }

// SetMTU implements stack.LinkEndpoint.
func (l *linkEndpoint) SetMTU(mtu uint32) { l.d.mtu.Store(mtu) }

// MaxHeaderLength implements stack.LinkEndpoint.
func (l *linkEndpoint) MaxHeaderLength() uint16 { return l.d.headerLen }

// LinkAddress implements stack.LinkEndpoint.
func (l *linkEndpoint) LinkAddress() tcpip.LinkAddress { return l.d.mac }

// SetLinkAddress implements stack.LinkEndpoint (the address is fixed).
func (l *linkEndpoint) SetLinkAddress(tcpip.LinkAddress) {}

// Capabilities implements stack.LinkEndpoint.
func (l *linkEndpoint) Capabilities() stack.LinkEndpointCapabilities {
	if l.d.IsLoopback() {
		// Nothing leaves the sandbox: checksums are neither computed
		// nor checked (Linux's loopback does the same).
		return stack.CapabilityRXChecksumOffload | stack.CapabilityTXChecksumOffload | stack.CapabilityLoopback
	}
	return stack.CapabilityResolutionRequired
}

// Attach implements stack.LinkEndpoint.
func (l *linkEndpoint) Attach(d stack.NetworkDispatcher) {
	l.d.mu.Lock()
	l.d.dispatcher = d
	l.d.mu.Unlock()
}

// IsAttached implements stack.LinkEndpoint.
func (l *linkEndpoint) IsAttached() bool {
	l.d.mu.Lock()
	defer l.d.mu.Unlock()
	return l.d.dispatcher != nil
}

// Wait implements stack.LinkEndpoint.
func (l *linkEndpoint) Wait() {}

// ARPHardwareType implements stack.LinkEndpoint.
func (l *linkEndpoint) ARPHardwareType() header.ARPHardwareType { return l.d.arpType }

// AddHeader implements stack.LinkEndpoint: an Ethernet header for Ethernet
// devices, none for loopback.
func (l *linkEndpoint) AddHeader(pkt *stack.PacketBuffer) {
	if l.d.headerLen == 0 {
		return
	}
	eth := header.Ethernet(pkt.LinkHeader().Push(header.EthernetMinimumSize))
	src := pkt.EgressRoute.LocalLinkAddress
	if src == "" {
		src = l.d.mac
	}
	eth.Encode(&header.EthernetFields{
		SrcAddr: src,
		DstAddr: pkt.EgressRoute.RemoteLinkAddress,
		Type:    pkt.NetworkProtocolNumber,
	})
}

// ParseHeader implements stack.LinkEndpoint.
func (l *linkEndpoint) ParseHeader(pkt *stack.PacketBuffer) bool {
	if l.d.headerLen == 0 {
		return true
	}
	_, ok := pkt.LinkHeader().Consume(header.EthernetMinimumSize)
	return ok
}

// Close implements stack.LinkEndpoint.
func (l *linkEndpoint) Close() {}

// SetOnCloseAction implements stack.LinkEndpoint.
func (l *linkEndpoint) SetOnCloseAction(func()) {}

// WritePackets implements stack.LinkWriter: each packet is queued on the
// device's transmit queue of the CPU it is steered to (its socket's CPU,
// else a hash of its addresses) and NET_TX is raised on every CPU that got
// packets. It never transmits and never blocks.
func (l *linkEndpoint) WritePackets(pkts stack.PacketBufferList) (int, tcpip.Error) {
	d := l.d
	s := d.s
	n := 0
	var raised uint64 // CPUs (< 64) already raised in this call
	for _, pkt := range pkts.AsSlice() {
		cpu := s.steer(pkt)
		pkt.IncRef()
		sn := s.cpus[cpu]
		if !sn.enqueueTx(d.txq[cpu], entry{dev: d, proto: pkt.NetworkProtocolNumber, pkt: pkt}) {
			if n == 0 {
				return 0, &tcpip.ErrNoBufferSpace{}
			}
			break
		}
		n++
		if cpu >= 64 || raised&(1<<uint(cpu)) == 0 {
			if cpu < 64 {
				raised |= 1 << uint(cpu)
			}
			s.raiseTx(cpu)
		}
	}
	return n, nil
}
