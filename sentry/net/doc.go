// Package net is the sandbox kernel's network stack: the construction of
// the gvisor.dev/gvisor/pkg/tcpip stack (IPv4, IPv6, ARP, TCP, UDP, ICMP)
// and its network devices, and the link layer below it, which is the
// sandbox kernel's own: packets move between the stack and the devices
// through per-CPU queues drained by the NET_TX and NET_RX softirqs of
// package softirqd, as in Linux's net/core/dev.c.
//
// # The path of a packet
//
// The stack hands a packet to a device's link endpoint (WritePackets). The
// endpoint queues it on the transmit queue of that device on one CPU and
// raises NET_TX there; it never transmits itself. The CPU is the one the
// packet's socket last ran on (its Owner records it at every call into the
// stack, Linux's RFS), or, for packets without a socket (ICMP errors, RSTs
// for closed ports, ARP), a hash of the addresses (RPS).
//
// NET_TX (net_tx_action) runs the queues of its CPU: up to devTxWeight
// packets per device per run are handed to the device's driver, which
// transmits them (loopback: turns each into an inbound packet on this CPU's
// backlog, Linux's netif_rx; a host-backed device: one sendmmsg to its host
// socket), and the sent packets are completed (their buffers released,
// counted in the device's tx statistics).
//
// NET_RX (net_rx_action) polls the NAPI contexts on its CPU's poll list:
// the CPU's backlog (process_backlog: loopback's received packets) and the
// receive queues of host-backed devices, scheduled by their interrupt (host
// fd readiness). Each poll may deliver up to napiWeight (64) packets into
// the stack; one NET_RX run delivers at most NetdevBudget (300) packets and
// runs at most NetdevBudgetTime (2 ms). Work left over re-raises NET_RX and
// counts a time_squeeze; softirqd's own budget then hands the overflow to
// ksoftirqd/N, a fair-class kthread, so a flood of packets costs user tasks
// about half of the CPU it arrives on, never all of it.
//
// A task calling into the stack from a syscall brackets the call with
// Enter and Exit: Enter disables bottom halves on the CPU it holds, so the
// packets the call sends are left queued on that CPU, and Exit re-enables
// them, which runs NET_TX and NET_RX right there, in the caller's context
// and within the budget (Linux's local_bh_enable after dev_queue_xmit).
// A write to a loopback socket is thus transmitted, received and delivered
// to the peer's receive queue before the write returns, with no context
// switch, when the CPU is not flooded.
//
// # What runs where
//
// In the softirqs (on a sandbox CPU, accounted to it, under its budget):
// transmission and completion (NET_TX), and reception up to the transport
// layer (NET_RX): link and IP processing, reassembly, ICMP (echo replies
// are generated here), UDP and ICMP datagram delivery into the receiving
// socket's queue, and the queueing of TCP segments on their endpoint. On
// the stack's own goroutines, outside the sandbox scheduler: the TCP state
// machine (tcpip's segment processors take the queued segments, send ACKs
// and wake readers) and every protocol timer (retransmission, delayed ACK,
// keepalive, TIME-WAIT; tcpip's clock). See ARCHITECTURE.md for why.
//
// # Locking
//
// softnet.mu (one CPU's backlog, poll list and output list; never two at
// once) → txQueue rings are protected by the mu of the CPU they belong to.
// No lock of this package is held while it calls into the stack (delivery),
// a driver's transmit, or softirqd. Device fields are immutable after
// creation or atomic; Stack.mu protects the device table.
package net
