package control

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// The control socket's transport: Unix stream sockets driven with
// golang.org/x/sys/unix through os.File's poller, not the net package.
// net links the cgo resolver when cgo is enabled, and a binary with cgo
// cannot confine the sentry (syscall.AllThreadsSyscall refuses to run);
// it also asks for the sockets' addresses, calls a confined sentry has no
// use for. The sentry's calls are accept4, recvmsg and sendmsg on
// descriptors it was given (sentry/sandbox's controlList).

// unixSocket is a non-blocking Unix stream socket in Go's poller.
type unixSocket struct {
	f *os.File
}

// newUnixSocket takes over fd, making it non-blocking.
func newUnixSocket(fd int, name string) (*unixSocket, error) {
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return &unixSocket{f: os.NewFile(uintptr(fd), name)}, nil
}

// dialUnix connects to the socket at path.
func dialUnix(path string) (*unixSocket, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "connect", Path: path, Err: err}
	}
	return newUnixSocket(fd, path)
}

// accept waits for a connection on listening socket s.
func (s *unixSocket) accept() (*unixSocket, error) {
	rc, err := s.f.SyscallConn()
	if err != nil {
		return nil, err
	}
	nfd := -1
	var aerr error
	err = rc.Read(func(fd uintptr) bool {
		nfd, _, aerr = unix.Accept4(int(fd), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		return !errors.Is(aerr, unix.EAGAIN)
	})
	if err == nil {
		err = aerr
	}
	if err != nil {
		return nil, err
	}
	return &unixSocket{f: os.NewFile(uintptr(nfd), "control connection")}, nil
}

// recvmsg reads bytes into b and descriptors' control messages into oob
// (received close-on-exec).
func (s *unixSocket) recvmsg(b, oob []byte) (n, oobn int, err error) {
	rc, err := s.f.SyscallConn()
	if err != nil {
		return 0, 0, err
	}
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		n, oobn, _, _, rerr = unix.Recvmsg(int(fd), b, oob, unix.MSG_CMSG_CLOEXEC)
		return !errors.Is(rerr, unix.EAGAIN)
	})
	if err == nil {
		err = rerr
	}
	return n, oobn, err
}

// sendmsg writes b, with oob's descriptors on its first byte; it returns
// how much of b went.
func (s *unixSocket) sendmsg(b, oob []byte) (int, error) {
	rc, err := s.f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var werr error
	err = rc.Write(func(fd uintptr) bool {
		n, werr = unix.SendmsgN(int(fd), b, oob, nil, 0)
		return !errors.Is(werr, unix.EAGAIN)
	})
	if err == nil {
		err = werr
	}
	return n, err
}

// Close closes the socket; a goroutine blocked on it returns an error.
func (s *unixSocket) Close() error { return s.f.Close() }
