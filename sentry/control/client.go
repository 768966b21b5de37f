package control

import (
	"errors"
	"fmt"
	"os"
)

// ErrUnreachable is returned when the sentry does not answer: it has
// exited (or was killed) and its socket is gone or dead.
var ErrUnreachable = errors.New("sandbox is not running")

// Client talks to one sandbox's control socket.
type Client struct {
	// Path is the socket's path.
	Path string
}

// dial connects to the sandbox.
func (cl Client) dial() (*conn, error) {
	c, err := dialUnix(cl.Path)
	if err != nil {
		return nil, fmt.Errorf("%w (%v)", ErrUnreachable, err)
	}
	return newConn(c), nil
}

// Call sends req with files (their descriptors are duplicated into the
// sentry) and returns the answer. A Response with Error set is returned
// as an error, a *ResponseError.
func (cl Client) Call(req Request, files ...*os.File) (*Response, error) {
	c, err := cl.dial()
	if err != nil {
		return nil, err
	}
	defer c.c.Close()
	if err := c.write(req, files...); err != nil {
		return nil, fmt.Errorf("%w (%v)", ErrUnreachable, err)
	}
	var resp Response
	if _, err := c.read(&resp); err != nil {
		return nil, fmt.Errorf("%w (%v)", ErrUnreachable, err)
	}
	if resp.Error != "" {
		return &resp, &ResponseError{Msg: resp.Error, ExitStatus: resp.ExitStatus}
	}
	return &resp, nil
}

// ResponseError is a failure the sentry reported.
type ResponseError struct {
	Msg string
	// ExitStatus is 126 or 127 for a program that could not be run.
	ExitStatus int
}

func (e *ResponseError) Error() string { return e.Msg }

// Session is a call whose answers come over time (exec, wait).
type Session struct {
	c *conn
}

// Open sends req with files and returns the session for its answers.
func (cl Client) Open(req Request, files ...*os.File) (*Session, error) {
	c, err := cl.dial()
	if err != nil {
		return nil, err
	}
	if err := c.write(req, files...); err != nil {
		c.c.Close()
		return nil, fmt.Errorf("%w (%v)", ErrUnreachable, err)
	}
	return &Session{c: c}, nil
}

// Next returns the next answer; a Response with Error set is returned as
// a *ResponseError.
func (s *Session) Next() (*Response, error) {
	var resp Response
	if _, err := s.c.read(&resp); err != nil {
		return nil, fmt.Errorf("%w (%v)", ErrUnreachable, err)
	}
	if resp.Error != "" {
		return &resp, &ResponseError{Msg: resp.Error, ExitStatus: resp.ExitStatus}
	}
	return &resp, nil
}

// StandIn opens the stand-in session of container id, the sandbox's
// first: an OpWait with KillOnClose and StandIn, whose connection, once
// the request is sent, is returned for the stand-in process to hold.
func (cl Client) StandIn(id string) (*os.File, error) {
	c, err := cl.dial()
	if err != nil {
		return nil, err
	}
	if err := c.write(Request{Op: OpWait, Container: id, KillOnClose: true, StandIn: true}); err != nil {
		c.c.Close()
		return nil, fmt.Errorf("%w (%v)", ErrUnreachable, err)
	}
	return c.c.f, nil
}

// Signal asks the sentry to signal the session's process (exec).
func (s *Session) Signal(sig int) error {
	return s.c.write(Request{Op: OpSignal, Signal: sig})
}

// Close ends the session; an exec'd process goes on running.
func (s *Session) Close() error { return s.c.c.Close() }
