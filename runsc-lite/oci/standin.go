package oci

// The stand-in: the host process that is a sandbox's first container to
// the outside. The state's pid (and --pid-file) names it, so it is what
// runtime-spec and the engines look at: it lives in the namespaces
// linux.namespaces names (joined by path with setns, new ones for the
// kinds listed without a path), in the config's host cgroup with its
// limits exactly as written, is a descendant of the caller, lives as long
// as the container's init and ends as it did, and forwards the signals it
// gets to init. It is src/standin.S, a freestanding executable of a few
// hundred bytes without a Go runtime (standincode.go, made by src/gen.sh),
// executed from a memfd: it holds a control connection on which create
// sent an OpWait with KillOnClose and StandIn (sentry/control), sends the
// signals it gets on it as bytes, and ends as the exit record the sentry
// sends says. A sentry that dies ends the connection, and the stand-in
// ends as a SIGKILL would end it; a stand-in that dies ends it, and the
// sentry kills the container. The sentry keeps its own confinement
// namespaces and sits in a sibling cgroup with its headroom (cgroup.go).

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/runsc-lite/runsc-lite/sentry/control"
	"golang.org/x/sys/unix"
)

// nsKinds are the clone flags of the namespace types.
var nsKinds = map[specs.LinuxNamespaceType]int{
	specs.PIDNamespace:     unix.CLONE_NEWPID,
	specs.NetworkNamespace: unix.CLONE_NEWNET,
	specs.MountNamespace:   unix.CLONE_NEWNS,
	specs.IPCNamespace:     unix.CLONE_NEWIPC,
	specs.UTSNamespace:     unix.CLONE_NEWUTS,
	specs.UserNamespace:    unix.CLONE_NEWUSER,
	specs.CgroupNamespace:  unix.CLONE_NEWCGROUP,
	specs.TimeNamespace:    unix.CLONE_NEWTIME,
}

// nsGetNSType is NS_GET_NSTYPE, the ioctl that returns the CLONE_NEW*
// kind of a namespace file.
const nsGetNSType = 0xb703

// standIn is how a stand-in is started: the namespaces it joins and the
// ones it is made in.
type standIn struct {
	// join are the namespace files it joins, with their kinds.
	join []nsFile
	// attr has the clone flags of the new namespaces and a new user
	// namespace's mappings.
	attr syscall.SysProcAttr
}

type nsFile struct {
	kind int
	f    *os.File
}

// newStandIn reads sb's namespaces: the files of those with a path are
// opened and their kinds checked (a path of another kind is an error, as
// the spec asks). It returns what it does not do as warnings: a user or
// time namespace with a path is not joined (setns of those kinds needs a
// single-threaded process, which a Go program is not), nor is a new time
// namespace made (only a process's children enter one).
func newStandIn(sb *Sandbox) (*standIn, []string, error) {
	si := &standIn{}
	var warn []string
	newUser := false
	for i, ns := range sb.Namespaces {
		kind := nsKinds[ns.Type]
		if ns.Path == "" {
			switch kind {
			case unix.CLONE_NEWTIME:
				warn = append(warn, "linux.namespaces: a new time namespace is the sandbox's own; the container's host process stays in the runtime's")
				continue
			case unix.CLONE_NEWUSER:
				newUser = true
			}
			si.attr.Cloneflags |= uintptr(kind)
			continue
		}
		fd, err := unix.Open(ns.Path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			si.close()
			return nil, nil, fmt.Errorf("linux.namespaces[%d].path %s: %w", i, ns.Path, err)
		}
		f := os.NewFile(uintptr(fd), ns.Path)
		got, err := unix.IoctlRetInt(fd, nsGetNSType)
		if err != nil || got != kind {
			f.Close()
			si.close()
			if err != nil {
				return nil, nil, fmt.Errorf("linux.namespaces[%d].path %s is not a namespace: %w", i, ns.Path, err)
			}
			return nil, nil, fmt.Errorf("linux.namespaces[%d].path %s is not a %s namespace", i, ns.Path, ns.Type)
		}
		if kind == unix.CLONE_NEWUSER || kind == unix.CLONE_NEWTIME {
			f.Close()
			warn = append(warn, fmt.Sprintf("linux.namespaces: the %s namespace %s is not joined by the container's host process (a multithreaded process cannot); the sandbox has its own", ns.Type, ns.Path))
			continue
		}
		si.join = append(si.join, nsFile{kind: kind, f: f})
	}
	if newUser {
		for _, m := range sb.UIDMappings {
			si.attr.UidMappings = append(si.attr.UidMappings, syscall.SysProcIDMap{ContainerID: int(m.ContainerID), HostID: int(m.HostID), Size: int(m.Size)})
		}
		for _, m := range sb.GIDMappings {
			si.attr.GidMappings = append(si.attr.GidMappings, syscall.SysProcIDMap{ContainerID: int(m.ContainerID), HostID: int(m.HostID), Size: int(m.Size)})
		}
	} else if si.attr.Cloneflags != 0 && os.Geteuid() != 0 {
		// Without root, new namespaces need a user namespace of their
		// own: one that maps the user to themselves.
		uid, gid := os.Getuid(), os.Getgid()
		si.attr.Cloneflags |= unix.CLONE_NEWUSER
		si.attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: uid, HostID: uid, Size: 1}}
		si.attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: gid, HostID: gid, Size: 1}}
	}
	return si, warn, nil
}

// close releases the namespace files.
func (si *standIn) close() {
	for _, j := range si.join {
		j.f.Close()
	}
	si.join = nil
}

//go:generate src/gen.sh

// start starts cmd as the stand-in: made in the new namespaces, and in
// the ones it joins. Those are entered by a thread of this process made
// for it, which forks the stand-in and ends: setns changes only the
// calling thread's namespaces (its mount namespace once it has a
// filesystem context of its own), and a forked child has its creator's.
func (si *standIn) start(cmd *exec.Cmd) error {
	attr := si.attr
	if cmd.SysProcAttr != nil {
		attr.Setsid = cmd.SysProcAttr.Setsid
	}
	cmd.SysProcAttr = &attr
	if len(si.join) == 0 {
		return cmd.Start()
	}
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the thread ends with the goroutine, its
		// namespaces with it.
		runtime.LockOSThread()
		for _, j := range si.join {
			if j.kind == unix.CLONE_NEWNS {
				if err := unix.Unshare(unix.CLONE_FS); err != nil {
					errc <- fmt.Errorf("joining the mount namespace %s: %w", j.f.Name(), err)
					return
				}
			}
			if err := unix.Setns(int(j.f.Fd()), j.kind); err != nil {
				errc <- fmt.Errorf("joining the namespace %s: %w", j.f.Name(), err)
				return
			}
		}
		errc <- cmd.Start()
	}()
	err := <-errc
	if errors.Is(err, unix.EPERM) && os.Geteuid() != 0 {
		err = fmt.Errorf("%w (the container's namespaces need root, or a user namespace in the config)", err)
	}
	return err
}

// launch starts the stand-in of container id, whose sandbox's control
// socket is cl's, and returns its PID. It opens the stand-in session
// itself (the request waits in the socket's backlog until the sentry has
// built the container and serves it) and passes the connection on as
// descriptor 3, the executable's memfd as 4.
func (si *standIn) launch(cl control.Client, id string) (int, error) {
	img, err := standInFile()
	if err != nil {
		return 0, err
	}
	defer img.Close()
	conn, err := cl.StandIn(id)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	return si.exec(conn, img, id)
}

// exec starts the stand-in executable img for container id, holding
// conn.
func (si *standIn) exec(conn, img *os.File, id string) (int, error) {
	cmd := &exec.Cmd{
		Path:        "/proc/self/fd/4",
		Args:        []string{"runsc-lite-wait", id},
		Env:         []string{},
		ExtraFiles:  []*os.File{conn, img},
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	if err := si.start(cmd); err != nil {
		return 0, err
	}
	return cmd.Process.Pid, nil
}

// standInFile returns a sealed memfd holding the stand-in's executable.
func standInFile() (*os.File, error) {
	const name = "runsc-lite-wait"
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING|unix.MFD_EXEC)
	if err == unix.EINVAL {
		// Kernels before 6.3 know no MFD_EXEC; their memfds are
		// executable anyway.
		fd, err = unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	}
	if err != nil {
		return nil, fmt.Errorf("memfd_create for the stand-in: %w", err)
	}
	f := os.NewFile(uintptr(fd), name)
	if _, err := f.Write(standInImage); err != nil {
		f.Close()
		return nil, fmt.Errorf("writing the stand-in: %w", err)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SEAL|unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE); err != nil {
		f.Close()
		return nil, fmt.Errorf("sealing the stand-in: %w", err)
	}
	return f, nil
}
