package net

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// packetNIC is the driver of a device taken over from the host: its frames
// come and go through an AF_PACKET socket bound to the host interface.
//
// Receive is NAPI: the host socket's readiness is the device's interrupt
// (the stack's interrupt goroutine waits on it with epoll, one-shot); the
// top half only schedules the device's NAPI context on its interrupt CPU.
// The poll, in that CPU's NET_RX, takes up to its budget of frames with
// one recvmmsg and delivers them; when the socket is empty it completes
// and re-arms the interrupt. Transmit happens in NET_TX: one sendmmsg per
// batch; a full host socket stops the queue until the socket is writable
// again (EPOLLOUT, the transmit-completion interrupt).
type packetNIC struct {
	dev *Device
	fd  int
	ep  *irqController
	mtu int

	// rx is the receive ring of the poll (it runs on one CPU at a time:
	// the device's NAPI context is polled by one NET_RX at a time).
	rx rxRing

	// txMu serialises transmits from different CPUs' NET_TX (they share
	// the scratch vectors).
	txMu sync.Mutex
	tx   txScratch

	// txWaiting: a queue was stopped on a full host socket and the
	// interrupt watches for writability.
	txWaiting atomic.Bool
	closed    atomic.Bool
}

// rxBatch is how many frames one recvmmsg takes (the NAPI weight).
const rxBatch = napiWeight

// auxdataSize is the room for a PACKET_AUXDATA control message.
const auxdataSize = 64

// rxRing is the preallocated receive state: a buffer, iovec, msghdr and
// control buffer per slot.
type rxRing struct {
	bufs [rxBatch][]byte
	iovs [rxBatch]unix.Iovec
	hdrs [rxBatch]mmsghdr
	ctl  [rxBatch][auxdataSize]byte
}

// mmsghdr is struct mmsghdr.
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [4]byte
}

// maxFrame is the largest frame a poll takes: a GSO frame from the host
// (veth hands the sandbox unsegmented TCP frames of up to 64 KiB).
const maxFrame = 65536 + header.EthernetMinimumSize

func (r *rxRing) init() {
	for i := range r.bufs {
		r.bufs[i] = make([]byte, maxFrame)
		r.iovs[i] = unix.Iovec{Base: &r.bufs[i][0]}
		r.iovs[i].SetLen(maxFrame)
		r.hdrs[i].hdr.Iov = &r.iovs[i]
		r.hdrs[i].hdr.SetIovlen(1)
		r.hdrs[i].hdr.Control = &r.ctl[i][0]
	}
}

// txIovs is how many pieces of a packet one iovec array takes; a packet
// in more pieces is copied into its slot's flat buffer first.
const txIovs = 8

// txScratch holds one sendmmsg's vectors.
type txScratch struct {
	hdrs [devTxWeight]mmsghdr
	iovs [devTxWeight][txIovs]unix.Iovec
	flat [devTxWeight][]byte
}

// tpStatusCsumNotReady is TP_STATUS_CSUMNOTREADY in struct
// tpacket_auxdata's tp_status: the frame's transport checksum holds only
// the pseudo-header sum, the rest left to offload.
const tpStatusCsumNotReady = 1 << 3

// completeChecksum computes the TCP or UDP checksum of an unfragmented
// IPv4 or IPv6 frame whose checksum was left to offload.
func completeChecksum(frame []byte) {
	eth := header.Ethernet(frame)
	var proto tcpip.TransportProtocolNumber
	var src, dst tcpip.Address
	var payload []byte
	switch eth.Type() {
	case header.IPv4ProtocolNumber:
		ip := header.IPv4(frame[header.EthernetMinimumSize:])
		if !ip.IsValid(len(ip)) || ip.More() || ip.FragmentOffset() != 0 {
			return
		}
		proto, src, dst = ip.TransportProtocol(), ip.SourceAddress(), ip.DestinationAddress()
		payload = ip[ip.HeaderLength():ip.TotalLength()]
	case header.IPv6ProtocolNumber:
		ip := header.IPv6(frame[header.EthernetMinimumSize:])
		if !ip.IsValid(len(ip)) {
			return
		}
		proto, src, dst = ip.TransportProtocol(), ip.SourceAddress(), ip.DestinationAddress()
		payload = ip[header.IPv6MinimumSize : header.IPv6MinimumSize+int(ip.PayloadLength())]
	default:
		return
	}
	var off int
	switch proto {
	case header.TCPProtocolNumber:
		off = header.TCPChecksumOffset
	case header.UDPProtocolNumber:
		off = 6 // the UDP checksum field
	default:
		return
	}
	if len(payload) < off+2 {
		return
	}
	payload[off], payload[off+1] = 0, 0
	xsum := header.PseudoHeaderChecksum(proto, src, dst, uint16(len(payload)))
	xsum = ^checksum.Checksum(payload, xsum)
	if proto == header.UDPProtocolNumber && xsum == 0 {
		xsum = 0xffff
	}
	binary.BigEndian.PutUint16(payload[off:], xsum)
}

// poll is the device's NAPI poll.
func (p *packetNIC) poll(cpu, budget int) int {
	if p.closed.Load() {
		p.dev.completeRX()
		return 0
	}
	sn := p.dev.s.cpus[cpu]
	n := min(budget, rxBatch)
	r := &p.rx
	for i := 0; i < n; i++ {
		r.hdrs[i].hdr.SetControllen(auxdataSize)
		r.hdrs[i].len = 0
	}
	got, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(p.fd), uintptr(unsafe.Pointer(&r.hdrs[0])), uintptr(n), unix.MSG_DONTWAIT, 0, 0)
	if errno != 0 {
		got = 0
		if errno != unix.EAGAIN && errno != unix.EINTR {
			p.dev.stats.rxErrors.Add(1)
		}
	}
	for i := 0; i < int(got); i++ {
		l := int(r.hdrs[i].len)
		if l < header.EthernetMinimumSize {
			p.dev.stats.rxErrors.Add(1)
			continue
		}
		csumReady := true
		if cl := int(r.hdrs[i].hdr.Controllen); cl >= unix.CmsgSpace(4) {
			c := r.ctl[i][:cl]
			level := int32(binary.LittleEndian.Uint32(c[8:]))
			typ := int32(binary.LittleEndian.Uint32(c[12:]))
			if level == unix.SOL_PACKET && typ == unix.PACKET_AUXDATA {
				status := binary.LittleEndian.Uint32(c[16:])
				csumReady = status&tpStatusCsumNotReady == 0
			}
		}
		if !csumReady {
			// A frame of the host's own stack whose transport
			// checksum was left to offload (veth): complete it, as
			// the kernel's skb_checksum_help does.
			completeChecksum(r.bufs[i][:l])
		}
		pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(r.bufs[i][:l])})
		hdr, _ := pkt.LinkHeader().Consume(header.EthernetMinimumSize)
		eth := header.Ethernet(hdr)
		switch dst := eth.DestinationAddress(); {
		case dst == header.EthernetBroadcastAddress:
			pkt.PktType = tcpip.PacketBroadcast
		case header.IsMulticastEthernetAddress(dst):
			pkt.PktType = tcpip.PacketMulticast
			p.dev.stats.rxMulticast.Add(1)
		case dst == p.dev.mac:
			pkt.PktType = tcpip.PacketHost
		default:
			pkt.PktType = tcpip.PacketOtherHost
		}
		p.dev.receive(sn, eth.Type(), pkt)
	}
	if int(got) < n {
		// Out of frames: complete, then re-arm the interrupt (a frame
		// that came meanwhile makes the one-shot fire at once).
		p.dev.completeRX()
		p.ep.arm(p)
	}
	return int(got)
}

// transmit implements driver: the packets go out with one sendmmsg.
func (p *packetNIC) transmit(sn *softnet, pkts []*stack.PacketBuffer, ents []entry) int {
	if p.closed.Load() {
		return len(pkts)
	}
	p.txMu.Lock()
	defer p.txMu.Unlock()
	t := &p.tx
	for i, pkt := range pkts {
		slices := pkt.AsSlices()
		k := 0
		if len(slices) > txIovs {
			// More pieces than the vector holds: flatten into the
			// slot's buffer (grown once, reused).
			f := t.flat[i][:0]
			for _, s := range slices {
				f = append(f, s...)
			}
			t.flat[i] = f
			slices = [][]byte{f}
		}
		for _, s := range slices {
			if len(s) == 0 {
				continue
			}
			t.iovs[i][k] = unix.Iovec{Base: &s[0]}
			t.iovs[i][k].SetLen(len(s))
			k++
		}
		t.hdrs[i] = mmsghdr{}
		t.hdrs[i].hdr.Iov = &t.iovs[i][0]
		t.hdrs[i].hdr.SetIovlen(k)
	}
	sent := 0
	for sent < len(pkts) {
		n, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(p.fd), uintptr(unsafe.Pointer(&t.hdrs[sent])), uintptr(len(pkts)-sent), unix.MSG_DONTWAIT, 0, 0)
		if errno == unix.EINTR {
			continue
		}
		if errno == unix.EAGAIN || errno == unix.ENOBUFS {
			// The host queue is full: stop this queue until the
			// socket is writable.
			if p.txWaiting.CompareAndSwap(false, true) {
				p.ep.armOut(p)
			}
			break
		}
		if errno != 0 {
			// Dropped (the host said no): count it as sent so it is
			// completed, and as an error.
			p.dev.stats.txErrors.Add(1)
			sent++
			continue
		}
		sent += int(n)
	}
	for i := range pkts {
		t.iovs[i] = [txIovs]unix.Iovec{}
	}
	return sent
}

// txReady is the transmit-completion interrupt: the host socket can take
// frames again, so every stopped queue of the device restarts.
func (p *packetNIC) txReady() {
	p.txWaiting.Store(false)
	for cpu, q := range p.dev.txq {
		p.dev.s.cpus[cpu].wakeTx(q)
	}
}

func (p *packetNIC) close() {
	if p.closed.Swap(true) {
		return
	}
	p.ep.remove(p)
	unix.Close(p.fd)
}

// irqController is the stack's interrupt controller for host-backed
// devices: one goroutine waiting in epoll_wait on their sockets. An event
// is an interrupt; its handling is the top half only (schedule NAPI, or
// restart transmit queues).
type irqController struct {
	epfd int
	mu   sync.Mutex
	nics map[int32]*packetNIC // by fd
	stop chan struct{}
	done chan struct{}
}

func newIRQController() (*irqController, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	c := &irqController{epfd: epfd, nics: make(map[int32]*packetNIC), stop: make(chan struct{}), done: make(chan struct{})}
	go c.loop()
	return c, nil
}

// add registers p's socket (the receive interrupt armed).
func (c *irqController) add(p *packetNIC) error {
	c.mu.Lock()
	c.nics[int32(p.fd)] = p
	c.mu.Unlock()
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLONESHOT, Fd: int32(p.fd)}
	return unix.EpollCtl(c.epfd, unix.EPOLL_CTL_ADD, p.fd, &ev)
}

// arm re-arms p's receive interrupt (napi_complete's irq enable).
func (c *irqController) arm(p *packetNIC) {
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLONESHOT, Fd: int32(p.fd)}
	if p.txWaiting.Load() {
		ev.Events |= unix.EPOLLOUT
	}
	unix.EpollCtl(c.epfd, unix.EPOLL_CTL_MOD, p.fd, &ev)
}

// armOut adds the transmit-completion interrupt to p's.
func (c *irqController) armOut(p *packetNIC) {
	ev := unix.EpollEvent{Events: unix.EPOLLOUT | unix.EPOLLONESHOT, Fd: int32(p.fd)}
	if !p.dev.rx.scheduled.Load() {
		ev.Events |= unix.EPOLLIN
	}
	unix.EpollCtl(c.epfd, unix.EPOLL_CTL_MOD, p.fd, &ev)
}

func (c *irqController) remove(p *packetNIC) {
	unix.EpollCtl(c.epfd, unix.EPOLL_CTL_DEL, p.fd, nil)
	c.mu.Lock()
	delete(c.nics, int32(p.fd))
	c.mu.Unlock()
}

func (c *irqController) loop() {
	defer close(c.done)
	var evs [16]unix.EpollEvent
	for {
		n, err := unix.EpollWait(c.epfd, evs[:], 100)
		select {
		case <-c.stop:
			return
		default:
		}
		if err != nil {
			continue
		}
		for _, ev := range evs[:n] {
			c.mu.Lock()
			p := c.nics[ev.Fd]
			c.mu.Unlock()
			if p == nil {
				continue
			}
			if ev.Events&unix.EPOLLOUT != 0 && p.txWaiting.Load() {
				p.txReady()
			}
			if ev.Events&(unix.EPOLLIN|unix.EPOLLERR|unix.EPOLLHUP) != 0 {
				p.dev.scheduleRX()
			} else if !p.dev.rx.scheduled.Load() {
				// Only the transmit interrupt fired: keep the
				// receive one armed.
				c.arm(p)
			}
		}
	}
}

func (c *irqController) close() {
	close(c.stop)
	<-c.done
	unix.Close(c.epfd)
}
