package unix

import (
	"github.com/runsc-lite/runsc-lite/sentry/socket"
	"github.com/runsc-lite/runsc-lite/sentry/usermem"
	"github.com/runsc-lite/runsc-lite/sentry/vfs"
	sys "golang.org/x/sys/unix"
)

// hostTarget is a host socket file --host-uds=open allows connecting to.
type hostTarget struct{}

// hostConn relays a sandbox socket to a host socket.
type hostConn struct {
	peerName []byte
}

func (f *Family) hostTarget(loc vfs.Location) (hostTarget, bool) { return hostTarget{}, false }

func (e *endpoint) connectHost(ctx *socket.Context, t hostTarget, addr []byte) error {
	return sys.ECONNREFUSED
}

func (h *hostConn) readiness() uint32 { return 0 }
func (h *hostConn) writable() bool    { return true }
func (h *hostConn) inq() int          { return 0 }
func (h *hostConn) shutdown(how int)  {}
func (h *hostConn) close()            {}
func (h *hostConn) send(ctx *socket.Context, src *usermem.IOSequence, o *socket.SendOptions) (int, error) {
	return 0, sys.EPIPE
}
func (h *hostConn) recv(ctx *socket.Context, dst *usermem.IOSequence, o *socket.RecvOptions) (socket.RecvResult, error) {
	return socket.RecvResult{}, nil
}
