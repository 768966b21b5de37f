package net

import (
	"encoding/binary"
	"sync/atomic"

	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// flowTableSize is the number of entries of the flow table
// (rps_sock_flow_entries); flows whose hashes collide share an entry,
// which costs only a cross-CPU hand-off when both are busy.
const flowTableSize = 4096

// flowTable maps a flow hash to the CPU its socket was last used on, plus
// one (0: none).
type flowTable [flowTableSize]atomic.Uint32

func (t *flowTable) record(hash uint32, cpu int) {
	e := &t[hash%flowTableSize]
	if e.Load() != uint32(cpu)+1 {
		e.Store(uint32(cpu) + 1)
	}
}

func (t *flowTable) lookup(hash uint32) int {
	return int(t[hash%flowTableSize].Load()) - 1
}

// flowHash hashes a flow's protocol, addresses and ports (FNV-1a). The
// result is never 0 when the caller ORs in 1, which Owner.SetFlow and
// packetFlow both do.
func flowHash(proto uint8, src, dst []byte, sport, dport uint16) uint32 {
	h := uint32(2166136261)
	mix := func(b byte) {
		h ^= uint32(b)
		h *= 16777619
	}
	mix(proto)
	for _, b := range src {
		mix(b)
	}
	for _, b := range dst {
		mix(b)
	}
	mix(byte(sport >> 8))
	mix(byte(sport))
	mix(byte(dport >> 8))
	mix(byte(dport))
	return h
}

// packetFlow returns the flow hash of an outgoing IP packet whose network
// and transport headers are built, or 0 if it has none (ARP, NDP).
func packetFlow(pkt *stack.PacketBuffer) uint32 {
	nh := pkt.NetworkHeader().Slice()
	var proto uint8
	var src, dst []byte
	switch pkt.NetworkProtocolNumber {
	case header.IPv4ProtocolNumber:
		if len(nh) < header.IPv4MinimumSize {
			return 0
		}
		proto, src, dst = nh[9], nh[12:16], nh[16:20]
	case header.IPv6ProtocolNumber:
		if len(nh) < header.IPv6MinimumSize {
			return 0
		}
		proto, src, dst = nh[6], nh[8:24], nh[24:40]
	default:
		return 0
	}
	var sport, dport uint16
	if proto == uint8(header.TCPProtocolNumber) || proto == uint8(header.UDPProtocolNumber) {
		if th := pkt.TransportHeader().Slice(); len(th) >= 4 {
			sport = binary.BigEndian.Uint16(th[0:])
			dport = binary.BigEndian.Uint16(th[2:])
		}
	}
	return flowHash(proto, src, dst, sport, dport) | 1
}

// steer picks the CPU whose queues take an outgoing packet: the CPU its
// flow was last used on (RFS), else the CPU its owner last recorded, else
// one chosen by the flow hash (RPS), else CPU 0.
func (s *Stack) steer(pkt *stack.PacketBuffer) int {
	n := len(s.cpus)
	if n == 1 {
		return 0
	}
	f := packetFlow(pkt)
	if f != 0 {
		if c := s.flows.lookup(f); c >= 0 && c < n {
			return c
		}
	}
	if o, ok := pkt.Owner.(*Owner); ok {
		if c := int(o.cpu.Load()); c >= 0 && c < n {
			return c
		}
	}
	return int(f % uint32(n))
}
