package hostfs

import (
	"strconv"

	"golang.org/x/sys/unix"
)

// ConnectSocket connects a new non-blocking host socket of type stype
// (SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET) to the host socket file n is,
// and returns the host descriptor, which the caller owns. The file is
// reached like every other host file, through an O_PATH descriptor opened
// beneath the filesystem's root, and connected to by that descriptor's
// /proc/self/fd name, so no host path string is ever resolved on the host.
// It is the one place the sentry uses a host socket (--host-uds=open);
// errors are the host's (ECONNREFUSED, EAGAIN for a full backlog...).
func (n *Node) ConnectSocket(stype int) (int, error) {
	if n.typ != unix.S_IFSOCK {
		return -1, unix.ECONNREFUSED
	}
	pfd, err := n.fs.openRel(n.rel, unix.O_PATH, 0)
	if err != nil {
		return -1, err
	}
	defer unix.Close(pfd)
	var st unix.Stat_t
	if err := unix.Fstat(pfd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return -1, unix.ECONNREFUSED
	}
	s, err := unix.Socket(unix.AF_UNIX, stype|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return -1, err
	}
	addr := &unix.SockaddrUnix{Name: "/proc/self/fd/" + strconv.Itoa(pfd)}
	for {
		err = unix.Connect(s, addr)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		unix.Close(s)
		return -1, err
	}
	return s, nil
}
