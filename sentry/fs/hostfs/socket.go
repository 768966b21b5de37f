package hostfs

import (
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// procSelfFD is an O_PATH descriptor of the host's /proc/self/fd, kept
// from before the confinement (KeepProcSelfFD); -1 when not kept, when
// the host's /proc is still in view. cwdMu serialises connects that
// change the sentry's working directory to it.
var (
	procSelfFD = -1
	cwdMu      sync.Mutex
)

// KeepProcSelfFD opens the host's /proc/self/fd for ConnectSocket, to be
// called before the sentry is confined (its root then has no /proc).
func KeepProcSelfFD() error {
	fd, err := unix.Open("/proc/self/fd", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	procSelfFD = fd
	return nil
}

// ConnectSocket connects a new non-blocking host socket of type stype
// (SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET) to the host socket file n is,
// and returns the host descriptor, which the caller owns. The file is
// reached like every other host file, through an O_PATH descriptor opened
// beneath the filesystem's root, and connected to by that descriptor's
// /proc/self/fd name, so no host path string is ever resolved on the host
// (a name in the socket's directory could be swapped for a symlink between
// the check and the connect). Confined, the sentry has no /proc: it
// connects from the /proc/self/fd directory kept from start-up, made its
// working directory for the call (the sentry uses no relative path
// otherwise; its filter refuses AT_FDCWD).
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
	if procSelfFD >= 0 {
		addr.Name = strconv.Itoa(pfd)
		cwdMu.Lock()
		defer cwdMu.Unlock()
		if err := unix.Fchdir(procSelfFD); err != nil {
			unix.Close(s)
			return -1, err
		}
	}
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
