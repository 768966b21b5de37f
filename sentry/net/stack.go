package net

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/runsc-lite/runsc-lite/softirqd"
	"github.com/runsc-lite/runsc-lite/timekeeper"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/raw"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
)

// DefaultTTL is the hop limit of outgoing packets (net.ipv4.ip_default_ttl).
const DefaultTTL = 64

// LoopbackIndex is the interface index of "lo".
const LoopbackIndex = 1

// Config describes a stack to build.
type Config struct {
	// Softirqs is the kernel's softirq machinery; the stack registers
	// NET_RX and NET_TX there.
	Softirqs *softirqd.Softirqs
	// Log receives the stack's messages (nil: logrus's standard logger).
	Log logrus.FieldLogger
	// LoopbackDown makes lo as a new Linux network namespace has it:
	// down and without addresses until SetUp (a CLONE_NEWNET stack).
	LoopbackDown bool
}

// Stack is the sandbox's network stack: the tcpip stack, its devices and
// the per-CPU queues between them.
type Stack struct {
	tcpip *stack.Stack
	sirq  *softirqd.Softirqs
	log   logrus.FieldLogger
	cpus  []*softnet
	flows flowTable

	mu      sync.Mutex
	devices []*Device // by creation; devices[0] is lo
	// broadcasts are the broadcast addresses configured with IPv4
	// addresses (what "brd" set on the host), by address.
	broadcasts map[tcpip.Address]tcpip.Address
	// irq is the interrupt controller of host-backed devices (nil
	// without any).
	irq    *irqController
	closed bool
}

// sandboxClock is the stack's clock: tcpip's standard one (the host's
// monotonic clock and timers), but for Now, which stamps received
// datagrams (SO_TIMESTAMP, SO_TIMESTAMPNS) and so reads the sandbox's
// CLOCK_REALTIME, the clock the program reads: ping compares the stamp
// with the send time it wrote into the packet. The host's wall clock can
// be behind the sandbox's (its TSC formula, timekeeper, slews towards the
// host's and may lead it by tens of microseconds), and such a stamp came
// before the send ("time of day goes back"). netstack also reads Now in
// the ICMP rate limiter, the IGMP and MLD timers and IPv4's Timestamp
// option, each comparing it only with its own earlier readings, which any
// wall clock that is never stepped back serves alike.
type sandboxClock struct{ tcpip.Clock }

// Now implements tcpip.Clock.Now.
func (sandboxClock) Now() time.Time {
	return time.Unix(0, timekeeper.Sandbox.Read(unix.CLOCK_REALTIME))
}

// New builds a stack with the loopback device "lo" (127.0.0.1/8 and ::1)
// and adds it to the stacks its softirq machinery's NET_RX and NET_TX
// run (hub.go).
func New(cfg Config) (*Stack, error) {
	if cfg.Softirqs == nil {
		return nil, errors.New("net: no softirq machinery")
	}
	log := cfg.Log
	if log == nil {
		log = logrus.StandardLogger()
	}
	s := &Stack{
		sirq: cfg.Softirqs,
		log:  log,
		tcpip: stack.New(stack.Options{
			NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, ipv6.NewProtocol, arp.NewProtocol},
			TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol, icmp.NewProtocol4, icmp.NewProtocol6},
			// Raw IP sockets (SOCK_RAW, for holders of CAP_NET_RAW).
			RawFactory: raw.EndpointFactory{},
			// Traffic to the sandbox's own non-loopback addresses is
			// looped back inside the network layer (as runsc does):
			// Linux routes it through lo.
			HandleLocal: true,
			Clock:       sandboxClock{tcpip.NewStdClock()},
		}),
	}
	n := cfg.Softirqs.Kernel().NumCPUs()
	s.cpus = make([]*softnet, n)
	for i := range s.cpus {
		s.cpus[i] = newSoftnet(s, i)
	}
	if err := s.setOptions(); err != nil {
		s.tcpip.Close()
		return nil, err
	}
	if err := attach(s); err != nil {
		s.tcpip.Close()
		return nil, err
	}
	lo, err := s.addDevice(deviceSpec{
		name:     "lo",
		arpType:  header.ARPHardwareLoopback,
		flags:    unix.IFF_UP | unix.IFF_LOOPBACK | unix.IFF_RUNNING | unix.IFF_LOWER_UP,
		mtu:      loopbackMTU,
		qdisc:    "noqueue",
		driver:   loopback{},
		disabled: cfg.LoopbackDown,
	})
	if err != nil {
		s.Close()
		return nil, err
	}
	if lo.index != LoopbackIndex {
		s.Close()
		return nil, fmt.Errorf("net: lo got index %d", lo.index)
	}
	if cfg.LoopbackDown {
		return s, nil
	}
	if err := s.addLoopbackAddresses(lo); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// loopbackAddresses are lo's: 127.0.0.1/8 and ::1.
var loopbackAddresses = []tcpip.ProtocolAddress{
	{Protocol: ipv4.ProtocolNumber, AddressWithPrefix: tcpip.AddressWithPrefix{Address: tcpip.AddrFrom4([4]byte{127, 0, 0, 1}), PrefixLen: 8}},
	{Protocol: ipv6.ProtocolNumber, AddressWithPrefix: tcpip.AddressWithPrefix{Address: tcpip.AddrFrom16([16]byte{15: 1}), PrefixLen: 128}},
}

// addLoopbackAddresses gives lo the loopback addresses of the protocols
// it has none of, as Linux does when lo comes up (inetdev_event's
// NETDEV_UP, addrconf's init_loopback).
func (s *Stack) addLoopbackAddresses(lo *Device) error {
	have := map[tcpip.NetworkProtocolNumber]bool{}
	for _, a := range s.Addresses(lo) {
		have[a.Protocol] = true
	}
	for _, a := range loopbackAddresses {
		if have[a.Protocol] {
			continue
		}
		if err := s.AddAddress(lo, a); err != nil {
			return err
		}
	}
	return nil
}

// linkUpFlags are the flags of a device that is up.
const linkUpFlags = unix.IFF_UP | unix.IFF_RUNNING | unix.IFF_LOWER_UP

// SetUp brings d up or down (SIOCSIFFLAGS, RTM_NEWLINK's IFF_UP). Only
// loopback devices change (EOPNOTSUPP for others): a loopback device
// coming up gets the loopback addresses of the protocols it has none of;
// going down, its NIC stops carrying packets and it loses its IPv6
// addresses (Linux's addrconf_ifdown), keeping its IPv4 ones.
func (s *Stack) SetUp(d *Device, up bool) error {
	if !d.IsLoopback() {
		return unix.EOPNOTSUPP
	}
	if up == (d.Flags()&unix.IFF_UP != 0) {
		return nil
	}
	if up {
		if err := s.tcpip.EnableNIC(d.index); err != nil {
			return fmt.Errorf("net: enabling %s: %s", d.name, err)
		}
		for {
			f := d.flags.Load()
			if d.flags.CompareAndSwap(f, f|linkUpFlags) {
				break
			}
		}
		d.activated.Store(true)
		return s.addLoopbackAddresses(d)
	}
	if err := s.tcpip.DisableNIC(d.index); err != nil {
		return fmt.Errorf("net: disabling %s: %s", d.name, err)
	}
	// IPv6 addresses go with the link (addrconf_ifdown; lo gets ::1
	// back when it comes up), IPv4 ones stay.
	for _, a := range s.Addresses(d) {
		if a.Protocol == ipv6.ProtocolNumber {
			s.RemoveAddress(d, a.AddressWithPrefix.Address)
		}
	}
	for {
		f := d.flags.Load()
		if d.flags.CompareAndSwap(f, f&^linkUpFlags) {
			return nil
		}
	}
}

// RemoveAddress takes address a off d, with the route to its subnet
// when no other address of d is in it (RTM_DELADDR); EADDRNOTAVAIL when d
// does not have it.
func (s *Stack) RemoveAddress(d *Device, a tcpip.Address) error {
	var prefix tcpip.AddressWithPrefix
	found := false
	for _, pa := range s.Addresses(d) {
		if pa.AddressWithPrefix.Address == a {
			prefix, found = pa.AddressWithPrefix, true
		}
	}
	if !found {
		return unix.EADDRNOTAVAIL
	}
	if err := s.tcpip.RemoveAddress(d.index, a); err != nil {
		return unix.EADDRNOTAVAIL
	}
	subnet := prefix.Subnet()
	for _, pa := range s.Addresses(d) {
		if pa.AddressWithPrefix.Subnet() == subnet {
			return nil
		}
	}
	s.tcpip.RemoveRoutes(func(r tcpip.Route) bool { return r.NIC == d.index && r.Destination == subnet })
	return nil
}

// HasAddress reports whether d has address a.
func (s *Stack) HasAddress(d *Device, a tcpip.Address) bool {
	for _, pa := range s.Addresses(d) {
		if pa.AddressWithPrefix.Address == a {
			return true
		}
	}
	return false
}

// setOptions sets the protocol options the sandbox's programs expect:
// Linux's default TTL, SACK, and receive-buffer auto-tuning.
func (s *Stack) setOptions() error {
	ttl := tcpip.DefaultTTLOption(DefaultTTL)
	for _, p := range []tcpip.NetworkProtocolNumber{ipv4.ProtocolNumber, ipv6.ProtocolNumber} {
		if err := s.tcpip.SetNetworkProtocolOption(p, &ttl); err != nil {
			return fmt.Errorf("net: default TTL: %s", err)
		}
	}
	sack := tcpip.TCPSACKEnabled(true)
	if err := s.tcpip.SetTransportProtocolOption(tcp.ProtocolNumber, &sack); err != nil {
		return fmt.Errorf("net: SACK: %s", err)
	}
	// Nagle's algorithm is on for new sockets, as in Linux (TCP_NODELAY
	// off).
	delay := tcpip.TCPDelayEnabled(true)
	if err := s.tcpip.SetTransportProtocolOption(tcp.ProtocolNumber, &delay); err != nil {
		return fmt.Errorf("net: TCP delay: %s", err)
	}
	mod := tcpip.TCPModerateReceiveBufferOption(true)
	if err := s.tcpip.SetTransportProtocolOption(tcp.ProtocolNumber, &mod); err != nil {
		return fmt.Errorf("net: receive buffer auto-tuning: %s", err)
	}
	return nil
}

// TCPIP returns the tcpip stack (for the socket layer's endpoints).
func (s *Stack) TCPIP() *stack.Stack { return s.tcpip }

// NumCPUs returns the number of CPUs the stack has queues for.
func (s *Stack) NumCPUs() int { return len(s.cpus) }

// deviceSpec describes a device to add.
type deviceSpec struct {
	name      string
	arpType   header.ARPHardwareType
	flags     uint32
	mtu       uint32
	mac       tcpip.LinkAddress
	headerLen uint16
	qdisc     string
	driver    driver
	// disabled: created down (flags without IFF_UP, the NIC disabled).
	disabled bool
}

// addDevice creates a device and its NIC in the stack.
func (s *Stack) addDevice(spec deviceSpec) (*Device, error) {
	d := &Device{
		s:         s,
		name:      spec.name,
		arpType:   spec.arpType,
		mac:       spec.mac,
		headerLen: spec.headerLen,
		qdisc:     spec.qdisc,
		driver:    spec.driver,
		txq:       make([]*txQueue, len(s.cpus)),
	}
	d.mtu.Store(spec.mtu)
	if spec.disabled {
		d.flags.Store(spec.flags &^ linkUpFlags)
	} else {
		d.flags.Store(spec.flags)
		d.activated.Store(true)
	}
	for i := range d.txq {
		d.txq[i] = &txQueue{dev: d}
	}
	d.link = &linkEndpoint{d: d}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("net: stack closed")
	}
	d.index = s.tcpip.NextNICID()
	if err := s.tcpip.CreateNICWithOptions(d.index, d.link, stack.NICOptions{Name: spec.name, Disabled: spec.disabled}); err != nil {
		return nil, fmt.Errorf("net: creating %s: %s", spec.name, err)
	}
	s.devices = append(s.devices, d)
	return d, nil
}

// AddAddress assigns a to d and adds the route to its subnet through d.
func (s *Stack) AddAddress(d *Device, a tcpip.ProtocolAddress) error {
	if err := s.tcpip.AddProtocolAddress(d.index, a, stack.AddressProperties{}); err != nil {
		return fmt.Errorf("net: adding %s to %s: %s", a.AddressWithPrefix, d.name, err)
	}
	s.tcpip.AddRoute(tcpip.Route{Destination: a.AddressWithPrefix.Subnet(), NIC: d.index})
	return nil
}

// SetBroadcast records the broadcast address configured with a.
func (s *Stack) SetBroadcast(a, bc tcpip.Address) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broadcasts == nil {
		s.broadcasts = make(map[tcpip.Address]tcpip.Address)
	}
	s.broadcasts[a] = bc
}

// Broadcast returns the broadcast address configured with d's address a,
// if one was.
func (s *Stack) Broadcast(d *Device, a tcpip.Address) (tcpip.Address, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	bc, ok := s.broadcasts[a]
	return bc, ok
}

// Devices returns the devices, lo first.
func (s *Stack) Devices() []*Device {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Device(nil), s.devices...)
}

// DeviceByIndex returns the device with interface index i, or nil.
func (s *Stack) DeviceByIndex(i int32) *Device {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.devices {
		if int32(d.index) == i {
			return d
		}
	}
	return nil
}

// DeviceByName returns the device called name, or nil.
func (s *Stack) DeviceByName(name string) *Device {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.devices {
		if d.name == name {
			return d
		}
	}
	return nil
}

// Addresses returns d's addresses (not the IPv4 limited broadcast address
// tcpip keeps on every device).
func (s *Stack) Addresses(d *Device) []tcpip.ProtocolAddress {
	all := s.tcpip.AllAddresses()[d.index]
	out := all[:0]
	for _, a := range all {
		if a.AddressWithPrefix.Address == header.IPv4Broadcast {
			continue
		}
		out = append(out, a)
	}
	return out
}

// Routes returns the stack's route table.
func (s *Stack) Routes() []tcpip.Route { return s.tcpip.GetRouteTable() }

func (s *Stack) raiseTx(cpu int) { s.sirq.RaiseOn(cpu, softirqd.NET_TX) }

// Close tears the stack down: the tcpip stack's endpoints and goroutines,
// the devices' drivers, and the packets still queued.
func (s *Stack) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	devs := s.devices
	irq := s.irq
	s.mu.Unlock()
	detach(s)
	s.tcpip.Close()
	s.tcpip.Wait()
	for _, d := range devs {
		d.driver.close()
	}
	if irq != nil {
		irq.close()
	}
	for _, sn := range s.cpus {
		sn.mu.Lock()
		for sn.backlog.size > 0 {
			sn.backlog.pop().pkt.DecRef()
		}
		for _, d := range devs {
			q := d.txq[sn.cpu]
			for q.ring.size > 0 {
				q.ring.pop().pkt.DecRef()
			}
		}
		sn.mu.Unlock()
	}
}
