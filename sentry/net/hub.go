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
	// rx are other NET_RX handlers (hostinet's, with --network=host),
	// run before the stacks'; replaced whole under hubs.mu.
	rx atomic.Pointer[[]*func(cpu int)]
}

// hubs are the hubs by softirq machinery. Locking: mu is a leaf, taken
// when a stack is built or closed.
var hubs struct {
	mu sync.Mutex
	m  map[*softirqd.Softirqs]*hub
}

func (h *hub) netRX(cpu int) {
	if p := h.rx.Load(); p != nil {
		for _, fn := range *p {
			(*fn)(cpu)
		}
	}
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
// NET_RX and NET_TX handlers when it is the hub's first user.
func attach(s *Stack) error {
	hubs.mu.Lock()
	defer hubs.mu.Unlock()
	h, err := hubLocked(s.sirq)
	if err != nil {
		return err
	}
	var list []*Stack
	if p := h.stacks.Load(); p != nil {
		list = append(list, *p...)
	}
	list = append(list, s)
	h.stacks.Store(&list)
	return nil
}

// hubLocked returns sirq's hub, made (and its handlers registered) if
// there is none. Preconditions: hubs.mu is held.
func hubLocked(sirq *softirqd.Softirqs) (*hub, error) {
	if h := hubs.m[sirq]; h != nil {
		return h, nil
	}
	h := &hub{}
	if err := sirq.Register(softirqd.NET_RX, h.netRX); err != nil {
		return nil, err
	}
	if err := sirq.Register(softirqd.NET_TX, h.netTX); err != nil {
		return nil, err
	}
	if hubs.m == nil {
		hubs.m = make(map[*softirqd.Softirqs]*hub)
	}
	hubs.m[sirq] = h
	return h, nil
}

// AddNetRX makes fn a NET_RX handler of sirq beside the stacks' (the host
// network's, which shares NET_RX with the stacks of network namespaces
// made inside); remove takes it off.
func AddNetRX(sirq *softirqd.Softirqs, fn func(cpu int)) (remove func(), err error) {
	hubs.mu.Lock()
	defer hubs.mu.Unlock()
	h, err := hubLocked(sirq)
	if err != nil {
		return nil, err
	}
	p := &fn
	var list []*func(int)
	if l := h.rx.Load(); l != nil {
		list = append(list, *l...)
	}
	list = append(list, p)
	h.rx.Store(&list)
	return func() {
		hubs.mu.Lock()
		defer hubs.mu.Unlock()
		var list []*func(int)
		for _, o := range *h.rx.Load() {
			if o != p {
				list = append(list, o)
			}
		}
		h.rx.Store(&list)
		h.forgetIfIdleLocked(sirq)
	}, nil
}

// forgetIfIdleLocked forgets h once nothing runs through it (its
// handlers stay registered and run nothing until a new hub's replace
// them). Preconditions: hubs.mu is held.
func (h *hub) forgetIfIdleLocked(sirq *softirqd.Softirqs) {
	if p := h.stacks.Load(); p != nil && len(*p) > 0 {
		return
	}
	if p := h.rx.Load(); p != nil && len(*p) > 0 {
		return
	}
	if hubs.m[sirq] == h {
		delete(hubs.m, sirq)
	}
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
	h.forgetIfIdleLocked(s.sirq)
}

// LiveStacks returns the number of stacks not yet closed over sirq (the
// sandbox's first and those of network namespaces still in use).
func LiveStacks(sirq *softirqd.Softirqs) int {
	hubs.mu.Lock()
	defer hubs.mu.Unlock()
	if h := hubs.m[sirq]; h != nil {
		if p := h.stacks.Load(); p != nil {
			return len(*p)
		}
	}
	return 0
}
