package net

import (
	"sync/atomic"

	"github.com/runsc-lite/runsc-lite/kernel"
	"gvisor.dev/gvisor/pkg/tcpip"
)

// Owner is a socket's steering state: the tcpip packet owner (uid and
// gid) that its endpoint stamps on the packets it sends, the CPU its task
// last called into the stack from, and, once it is connected, its flow.
//
// Steering follows Linux's receive flow steering: every call a task makes
// into the stack for a connected socket records "this flow is handled on
// this CPU" in the stack's flow table (sock_rps_record_flow), and every
// packet of that flow, whoever sends it (the task itself, or the stack's
// goroutines sending ACKs and retransmissions), is queued on that CPU. An
// unconnected socket's packets go to the CPU its owner recorded last.
//
// An Owner is set on an endpoint when the endpoint is created (tcpip does
// not allow changing it later); an accepted TCP endpoint keeps its
// listener's, and its socket steers through its flow.
type Owner struct {
	uid, gid atomic.Uint32
	// cpu is the CPU last recorded, -1 for none.
	cpu atomic.Int32
	// flow is the socket's flow hash once connected (0: none).
	flow atomic.Uint32
}

var _ tcpip.PacketOwner = (*Owner)(nil)

// NewOwner returns an owner for a socket created by uid/gid.
func NewOwner(uid, gid uint32) *Owner {
	o := &Owner{}
	o.uid.Store(uid)
	o.gid.Store(gid)
	o.cpu.Store(-1)
	return o
}

// KUID implements tcpip.PacketOwner.
func (o *Owner) KUID() uint32 { return o.uid.Load() }

// KGID implements tcpip.PacketOwner.
func (o *Owner) KGID() uint32 { return o.gid.Load() }

// CPU returns the CPU last recorded, or -1.
func (o *Owner) CPU() int { return int(o.cpu.Load()) }

// SetFlow records the socket's connection: the packets it sends carry
// local:lport → remote:rport of transport protocol trans. Call it once the
// endpoint is connected (or accepted).
func (o *Owner) SetFlow(trans tcpip.TransportProtocolNumber, local tcpip.Address, lport uint16, remote tcpip.Address, rport uint16) {
	o.flow.Store(flowHash(uint8(trans), local.AsSlice(), remote.AsSlice(), lport, rport) | 1)
}

// Enter is called by a task t (holding a CPU) before it calls into the
// stack for the socket of o (o may be nil): it records t's CPU as the
// socket's (and its flow's) and disables bottom halves on it, so whatever
// the call transmits stays queued on this CPU until Exit. Between Enter
// and Exit, t must neither block nor pass a preemption point (calls into
// tcpip do not block).
func (s *Stack) Enter(t *kernel.Task, o *Owner) {
	if o != nil {
		if c := t.CPU(); c != nil {
			id := int32(c.ID())
			if o.cpu.Load() != id {
				o.cpu.Store(id)
			}
			if f := o.flow.Load(); f != 0 {
				s.flows.record(f, int(id))
			}
		}
	}
	s.sirq.LocalBHDisable(t)
}

// Exit ends what Enter began: bottom halves are enabled again, which runs
// the pending NET_TX and NET_RX of t's CPU here, in t's context and within
// the softirq budget (local_bh_enable): the packets the call queued are
// transmitted and, on loopback, delivered before Exit returns.
func (s *Stack) Exit(t *kernel.Task) {
	s.sirq.LocalBHEnable(t)
}
