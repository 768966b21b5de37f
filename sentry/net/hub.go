package net

import (
	"sync"
	"sync/atomic"

	"github.com/runsc-lite/runsc-lite/softirqd"
)

// The stacks of one kernel share its NET_RX and NET_TX softirqs, as the
// network namespaces of a Linux kernel share its per-CPU softnet_data: a
// sandbox has one stack per network namespace (the first one boot builds,
// one more for each CLONE_NEWNET), and a softirq vector has one handler.
// The hub of a softirq machinery is that handler: it runs the softnet of
// every live stack on the CPU the softirq runs on. Each stack's softnet
// keeps its own budget (a flood in one namespace gets at most one budget
// per run of the softirq, as before).

// hub is the set of live stacks over one softirq machinery. stacks is
// replaced whole (copy on write) under hubs.mu; the softirqs read it
// without a lock.
type hub struct {
	stacks atomic.Pointer[[]*Stack]
}

// hubs are the hubs by softirq machinery. Locking: mu is a leaf, taken
// when a stack is built or closed.
var hubs struct {
	mu sync.Mutex
	m  map[*softirqd.Softirqs]*hub
}

func (h *hub) netRX(cpu int) {
	if p := h.stacks.Load(); p != nil {
		for _, s := range *p {
			s.cpus[cpu].netRXAction(cpu)
		}
	}
}

func (h *hub) netTX(cpu int) {
	if p := h.stacks.Load(); p != nil {
		for _, s := range *p {
			s.cpus[cpu].netTXAction(cpu)
		}
	}
}

// attach adds s to its softirq machinery's hub, registering the hub's
// NET_RX and NET_TX handlers when s is the first stack there.
func attach(s *Stack) error {
	hubs.mu.Lock()
	defer hubs.mu.Unlock()
	h := hubs.m[s.sirq]
	if h == nil {
		h = &hub{}
		if err := s.sirq.Register(softirqd.NET_RX, h.netRX); err != nil {
			return err
		}
		if err := s.sirq.Register(softirqd.NET_TX, h.netTX); err != nil {
			return err
		}
		if hubs.m == nil {
			hubs.m = make(map[*softirqd.Softirqs]*hub)
		}
		hubs.m[s.sirq] = h
	}
	var list []*Stack
	if p := h.stacks.Load(); p != nil {
		list = append(list, *p...)
	}
	list = append(list, s)
	h.stacks.Store(&list)
	return nil
}

// detach removes s from its hub; the hub of the last stack is forgotten
// (its handlers stay registered and run nothing until a new stack
// registers a new hub's).
func detach(s *Stack) {
	hubs.mu.Lock()
	defer hubs.mu.Unlock()
	h := hubs.m[s.sirq]
	if h == nil {
		return
	}
	var list []*Stack
	for _, o := range *h.stacks.Load() {
		if o != s {
			list = append(list, o)
		}
	}
	h.stacks.Store(&list)
	if len(list) == 0 {
		delete(hubs.m, s.sirq)
	}
}

// LiveStacks returns the number of stacks not yet closed over sirq (the
// sandbox's first and those of network namespaces still in use).
func LiveStacks(sirq *softirqd.Softirqs) int {
	hubs.mu.Lock()
	defer hubs.mu.Unlock()
	if h := hubs.m[sirq]; h != nil {
		return len(*h.stacks.Load())
	}
	return 0
}
