// Package hostinet is --network=host: the sandbox's AF_INET and AF_INET6
// sockets are host sockets the sentry owns (runsc's hostinet). A call on
// such a socket is served by the sentry with the matching host syscall on
// its own descriptor, always non-blocking; a call that must wait sleeps on
// the socket's kernel wait queue, releasing its sandbox CPU, until the
// host says the socket is ready.
//
// # Readiness: host epoll feeding NET_RX
//
// Every host socket is registered, edge-triggered, in one host epoll
// instance. One goroutine waits in epoll_wait: it is the interrupt. Its
// top half records the events on the socket, queues the socket on the
// ready list of a CPU (spread by descriptor) and raises NET_RX there. The
// NET_RX action drains the list within Linux's budget (netdev_budget 300
// sockets, 2 ms; the rest waits for the next run, through ksoftirqd when
// softirqs overflow), waking each socket's waiters and poll/epoll
// watchers. Readiness itself is asked of the host (poll with a zero
// timeout) when a waiter or poll needs it, so an edge never gets lost.
//
// # What this gives up
//
// The program's network traffic is the host's: it binds host ports, sees
// the host's interfaces and routes (NETLINK_ROUTE dumps are forwarded to
// the host; changes are refused), and reaches whatever the host reaches.
// The sentry's own identity and capabilities apply to the host socket.
// Only sockets are passed through; their data is still copied by the
// sentry, and the calls and options are checked against an allow-list.
//
// Locking: Net.mu protects the socket table (a leaf); readyList.mu one
// CPU's ready list (a leaf); sock.mu a socket's own state. No lock is held
// across a host syscall that may block (none does: every descriptor is
// non-blocking) or a wait.
package hostinet

import (
	"sync"
	"sync/atomic"
	"time"

	snet "github.com/runsc-lite/runsc-lite/sentry/net"
	"github.com/runsc-lite/runsc-lite/sentry/socket"
	"github.com/runsc-lite/runsc-lite/softirqd"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// Budget of one NET_RX run (Linux's netdev_budget and
// netdev_budget_usecs).
const (
	rxBudget     = 300
	rxBudgetTime = 2 * time.Millisecond
)

// Net is the host network of one sandbox.
type Net struct {
	sirq *softirqd.Softirqs
	log  logrus.FieldLogger
	epfd int
	// removeRX takes netRXAction off NET_RX (which it shares with the
	// stacks of network namespaces made inside, sentry/net/hub.go).
	removeRX func()

	mu    sync.Mutex
	socks map[int32]*sock // by host descriptor
	// procNet and procSysNet are the host's /proc/self/net and
	// /proc/sys/net, opened at start-up (the confined sentry has no
	// /proc in view); -1 if they could not be.
	procNet, procSysNet int

	cpus []*readyList
	stop chan struct{}
	done chan struct{}
}

// readyList is one CPU's list of sockets with new host events.
type readyList struct {
	mu          sync.Mutex
	socks       []*sock
	spare       []*sock // the drained slice, reused
	processed   atomic.Uint64
	timeSqueeze atomic.Uint64
}

// New starts the host network: its epoll instance, interrupt goroutine
// and NET_RX action.
func New(sirq *softirqd.Softirqs, log logrus.FieldLogger) (*Net, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	n := &Net{
		sirq:  sirq,
		log:   log,
		epfd:  epfd,
		socks: make(map[int32]*sock),
		cpus:  make([]*readyList, sirq.Kernel().NumCPUs()),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	for i := range n.cpus {
		n.cpus[i] = &readyList{}
	}
	removeRX, err := snet.AddNetRX(sirq, n.netRXAction)
	if err != nil {
		unix.Close(epfd)
		return nil, err
	}
	n.removeRX = removeRX
	n.procNet = openDir("/proc/self/net")
	n.procSysNet = openDir("/proc/sys/net")
	go n.interrupts()
	return n, nil
}

// openDir opens a host directory to read files under it later (-1 when
// it cannot: the files read empty).
func openDir(path string) int {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	return fd
}

// Close stops the interrupt goroutine and closes every host socket left.
func (n *Net) Close() {
	close(n.stop)
	<-n.done
	n.removeRX()
	n.mu.Lock()
	socks := n.socks
	n.socks = map[int32]*sock{}
	n.mu.Unlock()
	for fd := range socks {
		unix.Close(int(fd))
	}
	unix.Close(n.epfd)
	for _, fd := range []int{n.procNet, n.procSysNet} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}

// Register adds the AF_INET and AF_INET6 families to reg.
func (n *Net) Register(reg *socket.Registry) {
	reg.Register(&Family{domain: unix.AF_INET, net: n})
	reg.Register(&Family{domain: unix.AF_INET6, net: n})
}

// initialPending marks sock.initial as not yet consumed.
const initialPending = 1 << 31

// hostEvents are the events the epoll instance waits for.
const hostEvents = unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLPRI

// add registers s in the table and in the epoll instance.
//
// The host reports a descriptor's state once when it is added, an edge
// that is no change: what was ready just before is left out of the first
// event (interrupts), or a sandboxed edge-triggered epoll that has already
// seen that state would see it again as new.
func (n *Net) add(s *sock) error {
	n.mu.Lock()
	n.socks[int32(s.fd)] = s
	n.mu.Unlock()
	s.initial.Store(s.Readiness(hostEvents) | initialPending)
	ev := unix.EpollEvent{Events: hostEvents | unix.EPOLLET, Fd: int32(s.fd)}
	if err := unix.EpollCtl(n.epfd, unix.EPOLL_CTL_ADD, s.fd, &ev); err != nil {
		n.remove(s)
		return err
	}
	return nil
}

// remove takes s out of the table and the epoll instance.
func (n *Net) remove(s *sock) {
	unix.EpollCtl(n.epfd, unix.EPOLL_CTL_DEL, s.fd, nil)
	n.mu.Lock()
	delete(n.socks, int32(s.fd))
	n.mu.Unlock()
}

// interrupts is the interrupt goroutine: each epoll event is queued on a
// CPU's ready list and NET_RX is raised there (the top half).
func (n *Net) interrupts() {
	defer close(n.done)
	var evs [64]unix.EpollEvent
	for {
		k, err := unix.EpollWait(n.epfd, evs[:], 100)
		select {
		case <-n.stop:
			return
		default:
		}
		if err != nil {
			continue
		}
		var raise uint64
		for _, ev := range evs[:k] {
			n.mu.Lock()
			s := n.socks[ev.Fd]
			n.mu.Unlock()
			if s == nil {
				continue
			}
			if init := s.initial.Swap(0); init != 0 {
				if ev.Events &^= init &^ initialPending; ev.Events == 0 {
					continue
				}
			}
			s.events.Or(ev.Events)
			if s.queued.Swap(true) {
				continue
			}
			cpu := int(ev.Fd) % len(n.cpus)
			l := n.cpus[cpu]
			l.mu.Lock()
			l.socks = append(l.socks, s)
			l.mu.Unlock()
			if cpu < 64 {
				raise |= 1 << uint(cpu)
			} else {
				n.sirq.RaiseOn(cpu, softirqd.NET_RX)
			}
		}
		for cpu := 0; raise != 0; cpu++ {
			if raise&1 != 0 {
				n.sirq.RaiseOn(cpu, softirqd.NET_RX)
			}
			raise >>= 1
		}
	}
}

// netRXAction is the NET_RX softirq in host mode: it delivers the events
// the interrupt recorded to the sockets' waiters and watchers, within the
// budget, and raises itself again for what is left (a time squeeze).
func (n *Net) netRXAction(cpu int) {
	l := n.cpus[cpu]
	start := time.Now()
	l.mu.Lock()
	batch := l.socks
	l.socks = l.spare[:0]
	l.mu.Unlock()
	done := 0
	for i, s := range batch {
		if done >= rxBudget || (done > 0 && time.Since(start) >= rxBudgetTime) {
			// Left over: back in front of what came meanwhile.
			l.timeSqueeze.Add(1)
			l.mu.Lock()
			l.socks = append(append([]*sock(nil), batch[i:]...), l.socks...)
			l.mu.Unlock()
			n.sirq.RaiseOn(cpu, softirqd.NET_RX)
			break
		}
		s.queued.Store(false)
		ev := s.events.Swap(0)
		s.waitq.NotifyAll()
		s.notifier.Notify(ev)
		done++
	}
	l.processed.Add(uint64(done))
	clear(batch)
	l.mu.Lock()
	l.spare = batch[:0]
	l.mu.Unlock()
}
