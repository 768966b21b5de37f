package control

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/runsc-lite/runsc-lite/sentry/container"
	"github.com/runsc-lite/runsc-lite/sentry/net"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// Server serves a sandbox's control socket and keeps its containers.
type Server struct {
	env *container.Env
	// stack is the sandbox's own network stack (nil: --network=host),
	// which OpStart's Links join.
	stack *net.Stack

	mu         sync.Mutex
	containers map[string]*container.Container
	ln         *unixSocket
	closed     bool
}

// NewServer returns a server for the sandbox env describes, holding its
// first container; stack is the sandbox's network stack (nil for none of
// its own).
func NewServer(env *container.Env, first *container.Container, stack *net.Stack) *Server {
	return &Server{env: env, stack: stack, containers: map[string]*container.Container{first.ID: first}}
}

// Serve accepts connections on the listening Unix socket fd (the server
// owns it) until Close. It returns at once; each connection is served on
// its own goroutine.
func (s *Server) Serve(fd int) error {
	ul, err := newUnixSocket(fd, "control")
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	s.mu.Lock()
	s.ln = ul
	s.mu.Unlock()
	go func() {
		for {
			c, err := ul.accept()
			if errors.Is(err, unix.ECONNABORTED) || errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil {
				return
			}
			go s.serve(newConn(c))
		}
	}()
	return nil
}

// Close stops accepting connections.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.ln != nil {
		s.ln.Close()
	}
}

func (s *Server) container(id string) (*container.Container, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.containers[id]
	if c == nil {
		return nil, fmt.Errorf("container %q is not in this sandbox", id)
	}
	return c, nil
}

func (s *Server) serve(c *conn) {
	defer c.c.Close()
	defer func() {
		// A bug in serving one call must not take the sandbox down.
		if r := recover(); r != nil && s.env.Log != nil {
			s.env.Log.Errorf("control: serving a call: %v", r)
		}
	}()
	var req Request
	fds, err := c.read(&req)
	if err != nil {
		return
	}
	defer closeAll(fds)
	var resp Response
	switch req.Op {
	case OpExec:
		s.exec(c, &req, fds)
		return
	case OpWait:
		ct, err := s.container(req.Container)
		if err != nil {
			c.write(Response{Error: err.Error()})
			return
		}
		done := make(chan struct{})
		if req.KillOnClose {
			go func() {
				defer func() {
					if r := recover(); r != nil {
						logrus.Warnf("control: kill-on-close of %q: %v", req.Container, r)
					}
				}()
				// The client sends nothing more (a stand-in:
				// only signals): a read ends when it goes away
				// (or when this call closes the connection,
				// after done).
				if req.StandIn {
					for {
						sig, err := c.readByte()
						if err != nil {
							break
						}
						ct.Signal(int(sig), false)
					}
				} else {
					var more Request
					c.read(&more)
				}
				select {
				case <-done:
				default:
					ct.Signal(int(unix.SIGKILL), true)
				}
			}()
		}
		// done closes before the reply goes out: a client that exits
		// as soon as it has read it must not look like one that went
		// away early.
		exit := exitOf(ct.Wait())
		close(done)
		if req.StandIn && req.KillOnClose {
			c.writeBytes([]byte{byte(exit.Code), byte(exit.Signal)})
			return
		}
		c.write(Response{Exit: exit})
		return
	case OpCreate:
		resp = s.create(&req, fds)
	case OpStart:
		if err := s.adoptLinks(&req, fds); err != nil {
			resp = errResponse(err)
			break
		}
		resp = s.call(&req)
	default:
		resp = s.call(&req)
	}
	c.write(resp)
}

// adoptLinks gives the sandbox's stack the interfaces of an OpStart
// (Request.Links), whose sockets are fds; they are the stack's then.
func (s *Server) adoptLinks(req *Request, fds []int) error {
	if len(req.Links) == 0 {
		return nil
	}
	if len(fds) != len(req.Links) {
		return fmt.Errorf("start: %d interfaces with %d descriptors", len(req.Links), len(fds))
	}
	ct, err := s.container(req.Container)
	if err != nil {
		return err
	}
	if s.stack == nil || ct.Status() != container.Created {
		return fmt.Errorf("start: interfaces to take over, but the sandbox has no network stack of its own or %s has started", req.Container)
	}
	links := append([]net.TakenLink(nil), req.Links...)
	for i := range links {
		links[i].FD = fds[i]
		fds[i] = -1
	}
	if err := s.stack.Adopt(links); err != nil {
		return err
	}
	for _, l := range links {
		if s.env.Log == nil {
			break
		}
		s.env.Log.Debugf("network: took over %s at start (index %d, mtu %d, %s)", l.Link.Name, l.Link.Index, l.Link.MTU, l.Link.MAC)
	}
	return nil
}

func errResponse(err error) Response {
	r := Response{Error: err.Error()}
	var ee *container.ExitError
	if errors.As(err, &ee) {
		r.ExitStatus = ee.Status
	}
	return r
}

// call serves the one-answer operations on an existing container.
func (s *Server) call(req *Request) Response {
	ct, err := s.container(req.Container)
	if err != nil {
		return errResponse(err)
	}
	switch req.Op {
	case OpState:
		return Response{State: stateOf(ct)}
	case OpStart:
		if err := ct.Start(); err != nil {
			return errResponse(err)
		}
		return Response{State: stateOf(ct)}
	case OpSignal:
		if err := ct.Signal(req.Signal, req.All); err != nil {
			return errResponse(err)
		}
		return Response{}
	case OpPause:
		ct.Pause()
		return Response{State: stateOf(ct)}
	case OpResume:
		ct.Resume()
		return Response{State: stateOf(ct)}
	case OpPs:
		return Response{Processes: processesOf(ct)}
	case OpStats:
		return Response{Stats: s.stats(ct)}
	case OpDelete:
		return s.remove(ct)
	}
	return Response{Error: fmt.Sprintf("unknown control operation %q", req.Op)}
}

func stateOf(c *container.Container) *State {
	return &State{ID: c.ID, Status: c.Status(), InitPid: c.Init().TGID(), Created: c.Created}
}

// stdioOf pairs the request's descriptor numbers with the descriptors
// that came with it, and returns the console's terminal if it has one;
// rest are the descriptors after them. The console's descriptor is taken
// over (set to -1 in fds): the caller closes the Terminal's Host.
func stdioOf(req *Request, fds []int) (stdio container.Stdio, term *container.Terminal, rest []int, err error) {
	n := len(req.Stdio)
	if req.Console {
		n++
	}
	if len(fds) < n {
		return nil, nil, nil, fmt.Errorf("%d descriptors named, %d passed", n, len(fds))
	}
	stdio = make(container.Stdio, len(req.Stdio))
	for i, fd := range req.Stdio {
		stdio[fd] = fds[i]
	}
	if req.Console {
		i := len(req.Stdio)
		term = &container.Terminal{Host: os.NewFile(uintptr(fds[i]), "console")}
		fds[i] = -1
	}
	return stdio, term, fds[n:], nil
}

// closeTerminal closes the console descriptor a request brought.
func closeTerminal(term *container.Terminal) {
	if term != nil && term.Host != nil {
		term.Host.Close()
	}
}

// create makes a container that joins the sandbox.
func (s *Server) create(req *Request, fds []int) Response {
	if req.Spec == nil || req.Spec.ID == "" {
		return Response{Error: "create: no container spec"}
	}
	stdio, term, dirs, err := stdioOf(req, fds)
	defer closeTerminal(term)
	if err != nil {
		return errResponse(err)
	}
	// The spec's host directories: the filesystems take over the
	// descriptors they use (serve closes the others).
	take := func(n int) (int, error) {
		if n == 0 {
			return 0, nil
		}
		if n < 0 || n > len(dirs) || dirs[n-1] < 0 {
			return 0, fmt.Errorf("create: spec names descriptor %d of %d", n, len(dirs))
		}
		fd := dirs[n-1]
		dirs[n-1] = -1
		return fd, nil
	}
	spec := *req.Spec
	spec.Mounts = append([]container.Mount(nil), spec.Mounts...)
	if spec.Root.FD, err = take(spec.Root.FD); err != nil {
		return errResponse(err)
	}
	for i := range spec.Mounts {
		if spec.Mounts[i].HostFD, err = take(spec.Mounts[i].HostFD); err != nil {
			return errResponse(err)
		}
	}
	req.Spec = &spec
	s.mu.Lock()
	if s.containers[req.Spec.ID] != nil {
		s.mu.Unlock()
		return Response{Error: fmt.Sprintf("container %q is already in this sandbox", req.Spec.ID)}
	}
	s.containers[req.Spec.ID] = nil // reserved while it is built
	s.mu.Unlock()
	ct, err := container.New(s.env, req.Spec, stdio, term, 0)
	s.mu.Lock()
	if err != nil {
		delete(s.containers, req.Spec.ID)
	} else {
		s.containers[ct.ID] = ct
	}
	s.mu.Unlock()
	if err != nil {
		return errResponse(err)
	}
	if console := ct.Console(); console != nil {
		go func() {
			ct.Wait()
			console.Close()
		}()
	}
	return Response{State: stateOf(ct)}
}

// remove kills what is left of a joined container and forgets it.
func (s *Server) remove(ct *container.Container) Response {
	if ct.Init() == s.env.Sandbox.Init() {
		return Response{Error: "the sandbox's first container leaves with the sandbox"}
	}
	ct.Resume()
	ct.Signal(int(unix.SIGKILL), true)
	ct.Wait()
	s.env.Sandbox.ReleaseDetached(ct.Init())
	s.mu.Lock()
	delete(s.containers, ct.ID)
	s.mu.Unlock()
	return Response{}
}

// exec runs a process in a container and reports its start and its end.
func (s *Server) exec(c *conn, req *Request, fds []int) {
	ct, err := s.container(req.Container)
	if err == nil && req.Process == nil {
		err = errors.New("exec: no process")
	}
	var stdio container.Stdio
	var term *container.Terminal
	if err == nil {
		var rest []int
		stdio, term, rest, err = stdioOf(req, fds)
		if err == nil && len(rest) > 0 {
			err = fmt.Errorf("%d descriptors more than named", len(rest))
		}
	}
	defer closeTerminal(term)
	if err == nil {
		switch ct.Status() {
		case container.Stopped:
			err = errors.New("cannot exec in a stopped container")
		case container.Paused:
			err = errors.New("cannot exec in a paused container")
		}
	}
	var tg *process.ThreadGroup
	var console *container.Console
	if err == nil {
		tg, console, err = ct.Exec(req.Process, stdio, term)
	}
	if err != nil {
		c.write(errResponse(err))
		return
	}
	c.write(Response{Pid: tg.TGID()})
	// Signals from the caller, until the process ends or the caller
	// hangs up.
	go func() {
		defer func() {
			if r := recover(); r != nil && s.env.Log != nil {
				s.env.Log.Errorf("control: exec session: %v", r)
			}
		}()
		for {
			var r Request
			fds, err := c.read(&r)
			closeAll(fds)
			if err != nil {
				return
			}
			if r.Op == OpSignal && r.Signal > 0 && r.Signal <= 64 {
				tg.SendSignalInfo(process.UserSignalInfo(r.Signal, nil))
			}
		}
	}()
	<-tg.Exited()
	st := tg.ExitStatus()
	s.env.Sandbox.ReleaseDetached(tg)
	// Its last output reaches the console before the caller hears of
	// the end.
	console.Close()
	c.write(Response{Exit: exitOf(st)})
}

func exitOf(st process.WaitStatus) *Exit {
	if sig, ok := st.Signaled(); ok {
		return &Exit{Signal: sig}
	}
	return &Exit{Code: st.ExitCode()}
}

// processesOf lists the container's processes.
func processesOf(ct *container.Container) []Process {
	var out []Process
	for _, tg := range ct.Cgroup.Members() {
		leader := tg.Leader()
		if leader == nil {
			continue
		}
		p := Process{Pid: tg.TGID(), Started: leader.Task.StartTime()}
		if parent := tg.Parent(); parent != nil {
			p.PPid = parent.TGID()
		}
		if c := leader.Credentials(); c != nil {
			p.UID = c.RealUID
		}
		user, sys := tg.CPUTimes()
		p.CPU = user + sys
		if m := tg.MM(); m != nil {
			p.Cmdline = strings.TrimRight(strings.ReplaceAll(string(m.Argv()), "\x00", " "), " ")
			if h, ok := m.AddressSpace().(interface{ HostPID() int }); ok {
				p.HostPid = h.HostPID()
			} else {
				p.HostPid = os.Getpid()
			}
		}
		if p.Cmdline == "" {
			p.Cmdline = "[" + leader.Task.Name() + "]"
		}
		out = append(out, p)
	}
	return out
}

// stats returns the sandbox's usage, with ct's task count and limit.
func (s *Server) stats(ct *container.Container) *Stats {
	sb := s.env.Sandbox
	st := &Stats{Pids: uint64(sb.CgroupTasks(ct.Cgroup)), PidsLimit: uint64(ct.Cgroup.PidsMax())}
	k := sb.Kernel
	for i := 0; i < k.NumCPUs(); i++ {
		user, sys, _ := k.CPU(i).CPUTimes()
		st.CPUUser += uint64(user)
		st.CPUSystem += uint64(sys)
		st.PerCPU = append(st.PerCPU, uint64(user+sys))
	}
	st.CPUTotal = st.CPUUser + st.CPUSystem
	z := sb.Zone.Snapshot()
	const page = 4096
	st.MemoryLimit = z.TotalPages * page
	st.MemoryUsage = (z.TotalPages - z.FreePages) * page
	st.MemoryCache = (z.ActiveFile + z.InactiveFile) * page
	if z.SwapTotal > 0 {
		st.SwapLimit = z.SwapTotal * page
		st.SwapUsage = (z.SwapTotal - z.SwapFree) * page
	}
	return st
}
