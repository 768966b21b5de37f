package net

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/runsc-lite/runsc-lite/softirqd"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// Linux's defaults for the receive and transmit softirqs
// (/proc/sys/net/core).
const (
	// NetdevBudget is netdev_budget: packets one NET_RX run may deliver.
	NetdevBudget = 300
	// NetdevBudgetTime is netdev_budget_usecs: how long one NET_RX run
	// may take.
	NetdevBudgetTime = 2 * time.Millisecond
	// napiWeight is dev_weight / NAPI_POLL_WEIGHT: packets one poll of
	// one NAPI context may deliver.
	napiWeight = 64
	// devTxWeight is dev_tx_weight: packets one NET_TX run hands to one
	// device.
	devTxWeight = 64
	// MaxBacklog is netdev_max_backlog: packets a CPU's backlog holds
	// before it drops.
	MaxBacklog = 1000
	// ringSize is the capacity of the per-CPU rings (a power of two of
	// at least MaxBacklog and the transmit queue length).
	ringSize = 1024
	// TxQueueLen is a device's transmit queue length (txqueuelen).
	TxQueueLen = 1000
)

// entry is one queued packet and the device it belongs to.
type entry struct {
	dev   *Device
	proto tcpip.NetworkProtocolNumber
	pkt   *stack.PacketBuffer
}

// ring is a fixed-capacity FIFO of packets, allocated once. It is
// protected by the mu of the softnet that owns it.
type ring struct {
	buf        [ringSize]entry
	head, size int
}

func (r *ring) push(e entry) {
	r.buf[(r.head+r.size)&(ringSize-1)] = e
	r.size++
}

func (r *ring) pop() entry {
	e := r.buf[r.head]
	r.buf[r.head] = entry{}
	r.head = (r.head + 1) & (ringSize - 1)
	r.size--
	return e
}

// pushFront puts e back at the head (a transmit the driver refused).
func (r *ring) pushFront(e entry) {
	r.head = (r.head - 1) & (ringSize - 1)
	r.buf[r.head] = e
	r.size++
}

// napi is one NAPI context: a receive queue polled by NET_RX.
type napi struct {
	// scheduled is NAPI_STATE_SCHED: the context is on a poll list or
	// being polled; only whoever sets it queues the context.
	scheduled atomic.Bool
	// poll delivers up to budget packets on cpu and returns how many it
	// delivered. A poll that delivered fewer than budget has run out of
	// work and has completed the context (napiComplete) itself.
	poll func(cpu, budget int) int
	// next links the poll list (under the CPU's softnet.mu).
	next *napi
}

// txQueue is one device's transmit queue on one CPU (its qdisc).
type txQueue struct {
	dev    *Device
	ring   ring
	queued bool     // on the CPU's output list
	next   *txQueue // output list link
	// stopped: the driver could not take more (its host queue is full);
	// the queue is not run until the driver wakes it.
	stopped bool
}

// softnet is one CPU's network state (Linux's softnet_data).
type softnet struct {
	s   *Stack
	cpu int

	mu sync.Mutex
	// backlog is the input queue of packets received on this CPU by
	// devices without a NAPI context of their own (loopback).
	backlog     ring
	backlogNAPI napi
	// pollHead/pollTail is the list of scheduled NAPI contexts.
	pollHead, pollTail *napi
	// outHead/outTail is the list of transmit queues with packets.
	outHead, outTail *txQueue

	// Scratch space of the CPU's softirqs (they never run concurrently
	// with each other on one CPU), so the steady state allocates nothing.
	rxBatch [napiWeight]entry
	txBatch [devTxWeight]entry
	txPkts  [devTxWeight]*stack.PacketBuffer

	// Statistics (/proc/net/softnet_stat).
	processed   atomic.Uint64
	dropped     atomic.Uint64
	timeSqueeze atomic.Uint64
	txRuns      atomic.Uint64
}

func newSoftnet(s *Stack, cpu int) *softnet {
	sn := &softnet{s: s, cpu: cpu}
	sn.backlogNAPI.poll = sn.processBacklog
	return sn
}

// napiSchedule puts n on this CPU's poll list and raises NET_RX there,
// unless n is scheduled already (napi_schedule). It may be called from
// any goroutine.
func (sn *softnet) napiSchedule(n *napi) {
	if !n.scheduled.CompareAndSwap(false, true) {
		return
	}
	sn.mu.Lock()
	sn.addPollLocked(n)
	sn.mu.Unlock()
	sn.s.sirq.RaiseOn(sn.cpu, softirqd.NET_RX)
}

func (sn *softnet) addPollLocked(n *napi) {
	n.next = nil
	if sn.pollTail == nil {
		sn.pollHead = n
	} else {
		sn.pollTail.next = n
	}
	sn.pollTail = n
}

// enqueueBacklog queues a received packet on this CPU's backlog
// (enqueue_to_backlog), taking over the caller's reference, and schedules
// the backlog's NAPI context. A full backlog drops the packet. It reports
// whether the packet was queued.
func (sn *softnet) enqueueBacklog(e entry) bool {
	sn.mu.Lock()
	if sn.backlog.size >= MaxBacklog {
		sn.mu.Unlock()
		sn.dropped.Add(1)
		e.dev.stats.rxDropped.Add(1)
		e.pkt.DecRef()
		return false
	}
	sn.backlog.push(e)
	raise := false
	if sn.backlogNAPI.scheduled.CompareAndSwap(false, true) {
		sn.addPollLocked(&sn.backlogNAPI)
		raise = true
	}
	sn.mu.Unlock()
	if raise {
		sn.s.sirq.RaiseOn(sn.cpu, softirqd.NET_RX)
	}
	return true
}

// processBacklog is the backlog's NAPI poll (process_backlog): it delivers
// up to budget packets from the backlog into the stack.
func (sn *softnet) processBacklog(cpu, budget int) int {
	done := 0
	for done < budget {
		sn.mu.Lock()
		n := 0
		for n < budget-done && sn.backlog.size > 0 {
			sn.rxBatch[n] = sn.backlog.pop()
			n++
		}
		if n == 0 {
			// Out of work: complete under the lock, so an enqueuer
			// either saw the context scheduled (and its packet is
			// taken by this poll loop) or schedules it anew.
			sn.backlogNAPI.scheduled.Store(false)
			sn.mu.Unlock()
			return done
		}
		sn.mu.Unlock()
		for i := 0; i < n; i++ {
			e := sn.rxBatch[i]
			sn.rxBatch[i] = entry{}
			e.dev.receive(sn, e.proto, e.pkt)
		}
		done += n
	}
	return done
}

// netRXAction is the NET_RX softirq of this CPU (net_rx_action): it polls
// the scheduled NAPI contexts round-robin, each up to napiWeight packets,
// until the poll list is empty, NetdevBudget packets were delivered or
// NetdevBudgetTime has passed. What is left goes back on the poll list
// and NET_RX is raised again (a time squeeze).
func (sn *softnet) netRXAction(cpu int) {
	start := time.Now()
	budget := NetdevBudget
	sn.mu.Lock()
	list := sn.pollHead
	sn.pollHead, sn.pollTail = nil, nil
	sn.mu.Unlock()
	// Contexts still to poll in this run: list (head) .. tail.
	var tail *napi
	for n := list; n != nil; n = n.next {
		tail = n
	}
	for list != nil {
		n := list
		list = n.next
		if list == nil {
			tail = nil
		}
		n.next = nil
		work := n.poll(cpu, napiWeight)
		budget -= work
		if work >= napiWeight {
			// It used its whole weight and may have more: to the
			// end of this run's list.
			if tail == nil {
				list = n
			} else {
				tail.next = n
			}
			tail = n
		}
		if list != nil && (budget <= 0 || time.Since(start) >= NetdevBudgetTime) {
			sn.timeSqueeze.Add(1)
			break
		}
	}
	if list == nil {
		return
	}
	// Left over: back at the head of the poll list, before contexts
	// scheduled meanwhile, and NET_RX again.
	sn.mu.Lock()
	tail.next = sn.pollHead
	if sn.pollHead == nil {
		sn.pollTail = tail
	}
	sn.pollHead = list
	sn.mu.Unlock()
	sn.s.sirq.RaiseOn(cpu, softirqd.NET_RX)
}

// enqueueTx queues an outgoing packet on q (this CPU's queue of q.dev),
// taking over the caller's reference. It reports false, dropping the
// packet, when the queue is full. The caller raises NET_TX.
func (sn *softnet) enqueueTx(q *txQueue, e entry) bool {
	sn.mu.Lock()
	if q.ring.size >= TxQueueLen {
		sn.mu.Unlock()
		e.dev.stats.txDropped.Add(1)
		e.pkt.DecRef()
		return false
	}
	q.ring.push(e)
	if !q.queued && !q.stopped {
		sn.addOutputLocked(q)
	}
	sn.mu.Unlock()
	return true
}

func (sn *softnet) addOutputLocked(q *txQueue) {
	q.queued = true
	q.next = nil
	if sn.outTail == nil {
		sn.outHead = q
	} else {
		sn.outTail.next = q
	}
	sn.outTail = q
}

// wakeTx restarts q after its driver stopped it (netif_wake_queue) and
// raises NET_TX on this CPU if it has packets.
func (sn *softnet) wakeTx(q *txQueue) {
	sn.mu.Lock()
	q.stopped = false
	raise := false
	if !q.queued && q.ring.size > 0 {
		sn.addOutputLocked(q)
		raise = true
	}
	sn.mu.Unlock()
	if raise {
		sn.s.sirq.RaiseOn(sn.cpu, softirqd.NET_TX)
	}
}

// netTXAction is the NET_TX softirq of this CPU (net_tx_action running
// the qdiscs): every transmit queue on the output list hands up to
// devTxWeight packets to its driver; sent packets are completed. Queues
// with packets left go back on the list and NET_TX is raised again.
func (sn *softnet) netTXAction(cpu int) {
	sn.txRuns.Add(1)
	sn.mu.Lock()
	q := sn.outHead
	sn.outHead, sn.outTail = nil, nil
	sn.mu.Unlock()
	again := false
	for q != nil {
		next := q.next
		sn.mu.Lock()
		q.next = nil
		n := 0
		for n < devTxWeight && q.ring.size > 0 {
			sn.txBatch[n] = q.ring.pop()
			sn.txPkts[n] = sn.txBatch[n].pkt
			n++
		}
		sn.mu.Unlock()
		sent := 0
		if n > 0 {
			sent = q.dev.driver.transmit(sn, sn.txPkts[:n], sn.txBatch[:n])
		}
		for i := 0; i < sent; i++ {
			// Completion: the transmitted packet's reference is
			// dropped (dev_consume_skb) and counted.
			e := sn.txBatch[i]
			e.dev.stats.txPackets.Add(1)
			e.dev.stats.txBytes.Add(uint64(e.pkt.Size()))
			e.pkt.DecRef()
		}
		sn.mu.Lock()
		// Unsent packets go back at the head, in order; the driver
		// stopped the queue and will wake it.
		for i := n - 1; i >= sent; i-- {
			q.ring.pushFront(sn.txBatch[i])
		}
		if sent < n {
			q.stopped = true
		}
		q.queued = false
		if q.ring.size > 0 && !q.stopped {
			sn.addOutputLocked(q)
			again = true
		}
		sn.mu.Unlock()
		for i := 0; i < n; i++ {
			sn.txBatch[i] = entry{}
			sn.txPkts[i] = nil
		}
		q = next
	}
	if again {
		sn.s.sirq.RaiseOn(cpu, softirqd.NET_TX)
	}
}

// SoftnetStat renders /proc/net/softnet_stat as Linux 6.x does: one line
// per CPU of fifteen hex columns: processed, dropped, time_squeeze, five
// unused, cpu_collision (unused), received_rps, flow_limit_count, the
// backlog length, the CPU's index, and the input and process queue
// lengths.
func (s *Stack) SoftnetStat() string {
	var b strings.Builder
	for i, sn := range s.cpus {
		sn.mu.Lock()
		qlen := sn.backlog.size
		sn.mu.Unlock()
		fmt.Fprintf(&b, "%08x %08x %08x %08x %08x %08x %08x %08x %08x %08x %08x %08x %08x %08x %08x\n",
			uint32(sn.processed.Load()), uint32(sn.dropped.Load()), uint32(sn.timeSqueeze.Load()),
			0, 0, 0, 0, 0, 0, 0, 0, qlen, i, qlen, 0)
	}
	return b.String()
}

// SoftnetStats are one CPU's counters.
type SoftnetStats struct {
	Processed, Dropped, TimeSqueeze, TxRuns uint64
	Backlog                                 int
}

// Softnet returns cpu's counters.
func (s *Stack) Softnet(cpu int) SoftnetStats {
	sn := s.cpus[cpu]
	sn.mu.Lock()
	q := sn.backlog.size
	sn.mu.Unlock()
	return SoftnetStats{
		Processed:   sn.processed.Load(),
		Dropped:     sn.dropped.Load(),
		TimeSqueeze: sn.timeSqueeze.Load(),
		TxRuns:      sn.txRuns.Load(),
		Backlog:     q,
	}
}
