package boot

import (
	"fmt"

	"github.com/runsc-lite/runsc-lite/sentry/auth"
	"github.com/runsc-lite/runsc-lite/sentry/net"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"github.com/runsc-lite/runsc-lite/sentry/socket"
	"github.com/runsc-lite/runsc-lite/sentry/socket/hostinet"
	"github.com/runsc-lite/runsc-lite/sentry/socket/inet"
	"github.com/runsc-lite/runsc-lite/sentry/socket/netlink"
	unixsocket "github.com/runsc-lite/runsc-lite/sentry/socket/unix"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// Network modes (--network, as runsc spells them).
const (
	// NetworkNone: the sandbox's own stack with a loopback device only.
	NetworkNone = "none"
	// NetworkSandbox: the sandbox's stack takes over the interfaces of
	// the network namespace the sentry runs in (or Config.NetNS).
	NetworkSandbox = "sandbox"
	// NetworkHost: the sandbox's INET sockets are host sockets.
	NetworkHost = "host"
)

// setupNetwork builds the sandbox's network for cfg.Network and registers
// the INET and NETLINK_ROUTE families in s.Sockets. It returns the
// sandbox's own stack (nil for --network=host) and the teardown to run
// when the sandbox ends.
func setupNetwork(s *process.Sandbox, cfg Config, log *logrus.Logger) (*net.Stack, func(), error) {
	mode := cfg.Network
	if mode == "" {
		mode = NetworkNone
	}
	switch mode {
	case NetworkNone, NetworkSandbox:
		st, err := net.New(net.Config{Softirqs: s.Softirqs, Log: log})
		if err != nil {
			return nil, nil, fmt.Errorf("building the network stack: %w", err)
		}
		if mode == NetworkSandbox {
			links, err := st.TakeOver(cfg.NetNS)
			if err != nil {
				st.Close()
				return nil, nil, fmt.Errorf("--network=sandbox: %w", err)
			}
			for _, l := range links {
				log.Debugf("network: took over %s (index %d, mtu %d, %s)", l.Name, l.Index, l.MTU, l.MAC)
			}
		}
		inet.Register(s.Sockets, st)
		s.Sockets.Register(netlink.NewFamily(netlink.StackSource{Stack: st}))
		// CLONE_NEWNET makes stacks of its own beside this one.
		s.NewNetStack = netNamespaceStack(s, log)
		return st, st.Close, nil
	case NetworkHost:
		n, err := hostinet.New(s.Softirqs, log)
		if err != nil {
			return nil, nil, fmt.Errorf("--network=host: %w", err)
		}
		nl, err := netlink.NewHostFamily()
		if err != nil {
			n.Close()
			return nil, nil, fmt.Errorf("--network=host: %w", err)
		}
		n.Register(s.Sockets)
		s.Sockets.Register(nl)
		// A namespace made inside gets a stack of the sandbox's own
		// (the host's network is the first namespace's only), whose
		// NET_RX shares the softirq with hostinet's (net/hub.go).
		s.NewNetStack = netNamespaceStack(s, log)
		return nil, func() { nl.Close(); n.Close() }, nil
	}
	return nil, nil, fmt.Errorf("unknown network mode %q (want none, sandbox or host)", mode)
}

// netNamespaceStack is the sandbox's process.NetStackFactory: a new
// network namespace gets a stack of its own whose lo is down and without
// addresses, as in a new Linux namespace (whatever the first namespace's
// mode), over the sandbox's softirqs, and its AF_INET, AF_INET6 and
// NETLINK_ROUTE families, through which the holders of CAP_NET_ADMIN in
// the owner bring lo up; AF_UNIX is the sandbox's family seen from the
// namespace (its own abstract names and /proc/net/unix).
func netNamespaceStack(s *process.Sandbox, log *logrus.Logger) process.NetStackFactory {
	return func(owner *auth.UserNamespace, hold, drop func()) (*socket.Registry, func(), error) {
		st, err := net.New(net.Config{Softirqs: s.Softirqs, Log: log, LoopbackDown: true})
		if err != nil {
			return nil, nil, err
		}
		reg := socket.NewRegistry()
		if f, ok := s.Sockets.Family(unix.AF_UNIX).(*unixsocket.Family); ok {
			reg.Register(f.NewNetNamespace())
		}
		n := inet.Register(reg, st)
		n.Hold, n.Drop = hold, drop
		n.Admin = func(ctx *socket.Context) bool {
			return ctx == nil || ctx.Creds.HasCapabilityIn(owner, linux.CAP_NET_ADMIN)
		}
		reg.Register(netlink.NewFamily(netlink.NamespaceSource{StackSource: netlink.StackSource{Stack: st}, Owner: owner}))
		release := func() {
			st.Close()
			log.Debugf("network: a namespace's stack closed (%d stacks left)", net.LiveStacks(s.Softirqs))
		}
		return reg, release, nil
	}
}
