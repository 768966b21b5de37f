package inet

import (
	"encoding/binary"
	"io"

	"github.com/runsc-lite/runsc-lite/sentry/socket"
	"github.com/runsc-lite/runsc-lite/sentry/usermem"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/waiter"
)

// SendMsg implements socket.Socket. A stream send returns once all of src
// is queued, waiting for room (releasing the CPU) as needed, or with the
// partial count when it could not go on; a datagram is sent whole or not
// at all.
func (s *sock) SendMsg(ctx *socket.Context, src *usermem.IOSequence, o *socket.SendOptions) (int, error) {
	if o.Flags&unix.MSG_OOB != 0 {
		// Urgent data is not supported (tcpip has none); UDP never
		// had it.
		return 0, unix.EOPNOTSUPP
	}
	if len(o.Control.Rights) > 0 {
		// SCM_RIGHTS is AF_UNIX's only.
		return 0, unix.EINVAL
	}
	opts := tcpip.WriteOptions{
		More:        o.Flags&unix.MSG_MORE != 0,
		EndOfRecord: o.Flags&unix.MSG_EOR != 0,
	}
	if !s.isStream() {
		if len(o.To) > 0 {
			to, _, err := s.peerAddr(o.To, false)
			if err != nil {
				return 0, err
			}
			opts.To = &to
		}
		cm, err := s.sendControl(o.Control.Other)
		if err != nil {
			return 0, err
		}
		opts.ControlMessages = cm
	}
	total := 0
	for {
		entered := s.enter(ctx)
		n, terr := s.ep.Write(src, opts)
		s.exit(ctx, entered)
		total += int(n)
		if terr == nil {
			if !s.isStream() || src.Len() == 0 {
				return total, nil
			}
			continue
		}
		if _, ok := terr.(*tcpip.ErrWouldBlock); !ok {
			if total > 0 && s.isStream() {
				return total, nil
			}
			err := translate(terr)
			if err == unix.EPIPE && s.isStream() {
				ctx.RaiseSIGPIPE(o.Flags)
			}
			return total, err
		}
		if err := o.Blocking.Wait(ctx, &s.waitq, func() bool {
			return s.readiness(waiter.WritableEvents|waiter.EventErr|waiter.EventHUp) != 0
		}); err != nil {
			if total > 0 {
				return total, nil
			}
			return 0, err
		}
	}
}

// sendControl decodes the IPPROTO_IP and IPPROTO_IPV6 control messages of
// a datagram send (IP_TTL, IP_TOS, IPV6_HOPLIMIT, IPV6_TCLASS), with
// Linux's EINVAL for values out of range or messages it does not know at
// those levels.
func (s *sock) sendControl(msgs []socket.RawControl) (tcpip.SendableControlMessages, error) {
	var cm tcpip.SendableControlMessages
	intOf := func(d []byte) (int32, bool) {
		if len(d) != 4 {
			return 0, false
		}
		return int32(binary.LittleEndian.Uint32(d)), true
	}
	for _, m := range msgs {
		switch m.Level {
		case unix.SOL_SOCKET:
			// SO_MARK, SO_TIMESTAMPING, SCM_TXTIME: accepted and
			// ignored, as they change nothing on loopback.
		case unix.IPPROTO_IP:
			switch m.Type {
			case unix.IP_TTL:
				v, ok := intOf(m.Data)
				if !ok || v < 1 || v > 255 {
					return cm, unix.EINVAL
				}
				cm.HasTTL, cm.TTL = true, uint8(v)
			case unix.IP_TOS:
				if len(m.Data) == 0 {
					return cm, unix.EINVAL
				}
				// Linux takes an int or a byte.
				v := int32(m.Data[0])
				if len(m.Data) == 4 {
					v, _ = intOf(m.Data)
				}
				if v < 0 || v > 255 {
					return cm, unix.EINVAL
				}
			case unix.IP_PKTINFO, unix.IP_RETOPTS:
				// A source address choice: the stack picks the
				// route's own, which is the only one on lo.
			default:
				return cm, unix.EINVAL
			}
		case unix.IPPROTO_IPV6:
			switch m.Type {
			case unix.IPV6_HOPLIMIT:
				v, ok := intOf(m.Data)
				if !ok || v < -1 || v > 255 {
					return cm, unix.EINVAL
				}
				if v >= 0 {
					cm.HasHopLimit, cm.HopLimit = true, uint8(v)
				}
			case unix.IPV6_TCLASS:
				v, ok := intOf(m.Data)
				if !ok || v < -1 || v > 255 {
					return cm, unix.EINVAL
				}
			case unix.IPV6_PKTINFO:
			default:
				return cm, unix.EINVAL
			}
		}
	}
	return cm, nil
}

// RecvMsg implements socket.Socket.
func (s *sock) RecvMsg(ctx *socket.Context, dst *usermem.IOSequence, o *socket.RecvOptions) (socket.RecvResult, error) {
	if o.Flags&unix.MSG_ERRQUEUE != 0 {
		return s.recvErr(dst)
	}
	if s.isStream() {
		if o.Flags&unix.MSG_OOB != 0 {
			// No urgent data is ever pending.
			return socket.RecvResult{}, unix.EINVAL
		}
		return s.recvStream(ctx, dst, o)
	}
	return s.recvDatagram(ctx, dst, o)
}

// recvStream is a TCP receive: it returns what is there (at least one
// byte), waiting for data (releasing the CPU) when there is none, until
// end of stream (0) or an error. MSG_WAITALL waits until dst is full;
// MSG_TRUNC discards what it would have copied; MSG_PEEK leaves the data.
func (s *sock) recvStream(ctx *socket.Context, dst *usermem.IOSequence, o *socket.RecvOptions) (socket.RecvResult, error) {
	peek := o.Flags&unix.MSG_PEEK != 0
	waitAll := o.Flags&unix.MSG_WAITALL != 0 && !peek
	if dst.Len() == 0 {
		return socket.RecvResult{}, nil
	}
	total := 0
	for {
		var w io.Writer = dst
		if o.Flags&unix.MSG_TRUNC != 0 {
			w = &tcpip.LimitedWriter{W: io.Discard, N: int64(dst.Len() - total)}
		}
		entered := s.enter(ctx)
		res, terr := s.ep.Read(w, tcpip.ReadOptions{Peek: peek})
		if !peek && res.Count > 0 {
			// Receive-buffer auto-tuning (Linux's
			// tcp_rcv_space_adjust): tcpip grows the buffer and
			// the window it advertises from what the reader
			// consumes per round trip, and learns that only
			// from this call; any window update it sends goes
			// out with the read's softirqs.
			s.ep.ModerateRecvBuf(res.Count)
		}
		s.exit(ctx, entered)
		total += res.Count
		if terr == nil {
			if !waitAll || (o.Flags&unix.MSG_TRUNC == 0 && dst.Len() == 0) || (o.Flags&unix.MSG_TRUNC != 0 && total >= dst.Len()) {
				return socket.RecvResult{N: total, MsgLen: total}, nil
			}
			continue
		}
		switch terr.(type) {
		case *tcpip.ErrClosedForReceive:
			return socket.RecvResult{N: total, MsgLen: total}, nil
		case *tcpip.ErrWouldBlock:
		default:
			if total > 0 {
				return socket.RecvResult{N: total, MsgLen: total}, nil
			}
			return socket.RecvResult{}, translate(terr)
		}
		if total > 0 && !waitAll {
			return socket.RecvResult{N: total, MsgLen: total}, nil
		}
		if err := o.Blocking.Wait(ctx, &s.waitq, func() bool {
			return s.readiness(waiter.ReadableEvents|waiter.EventHUp|waiter.EventErr|waiter.EventRdHUp) != 0
		}); err != nil {
			if total > 0 {
				return socket.RecvResult{N: total, MsgLen: total}, nil
			}
			return socket.RecvResult{}, err
		}
	}
}

// truncWriter takes a datagram: what does not fit in the buffer is
// dropped (MSG_TRUNC tells), while a fault is still an error.
type truncWriter struct{ w io.Writer }

func (t truncWriter) Write(p []byte) (int, error) {
	n, err := t.w.Write(p)
	if err == io.ErrShortWrite {
		return len(p), nil
	}
	return n, err
}

// recvDatagram is a UDP or ICMP receive: one datagram, waiting for one
// when there is none.
func (s *sock) recvDatagram(ctx *socket.Context, dst *usermem.IOSequence, o *socket.RecvOptions) (socket.RecvResult, error) {
	peek := o.Flags&unix.MSG_PEEK != 0
	room := dst.Len()
	for {
		entered := s.enter(ctx)
		res, terr := s.ep.Read(truncWriter{dst}, tcpip.ReadOptions{Peek: peek, NeedRemoteAddr: true})
		s.exit(ctx, entered)
		if terr == nil {
			r := socket.RecvResult{N: min(res.Count, room), MsgLen: res.Total}
			if res.Total > room {
				r.Flags |= unix.MSG_TRUNC
			}
			if res.RemoteAddr.Addr.BitLen() != 0 || res.RemoteAddr.Port != 0 {
				r.From = encodeAddr(s.domain, res.RemoteAddr)
			}
			r.Control.Other = s.recvControl(res.ControlMessages)
			return r, nil
		}
		switch terr.(type) {
		case *tcpip.ErrWouldBlock:
		case *tcpip.ErrClosedForReceive:
			return socket.RecvResult{}, nil
		default:
			return socket.RecvResult{}, translate(terr)
		}
		if err := o.Blocking.Wait(ctx, &s.waitq, func() bool {
			return s.readiness(waiter.ReadableEvents|waiter.EventErr) != 0
		}); err != nil {
			return socket.RecvResult{}, err
		}
	}
}

// recvControl returns the control messages a datagram brings, in the order
// Linux puts them (socket level first, then IP's).
func (s *sock) recvControl(cm tcpip.ReceivableControlMessages) []socket.RawControl {
	var out []socket.RawControl
	s.mu.Lock()
	ts := s.timestamp
	s.mu.Unlock()
	if ts != 0 && cm.HasTimestamp {
		b := make([]byte, 16)
		sec := cm.Timestamp.Unix()
		binary.LittleEndian.PutUint64(b, uint64(sec))
		if ts == unix.SO_TIMESTAMPNS {
			binary.LittleEndian.PutUint64(b[8:], uint64(cm.Timestamp.Nanosecond()))
			out = append(out, socket.RawControl{Level: unix.SOL_SOCKET, Type: unix.SCM_TIMESTAMPNS, Data: b})
		} else {
			binary.LittleEndian.PutUint64(b[8:], uint64(cm.Timestamp.Nanosecond()/1000))
			out = append(out, socket.RawControl{Level: unix.SOL_SOCKET, Type: unix.SCM_TIMESTAMP, Data: b})
		}
	}
	int32Data := func(v int32) []byte {
		b := make([]byte, 4)
		binary.LittleEndian.PutUint32(b, uint32(v))
		return b
	}
	if cm.HasIPPacketInfo {
		b := make([]byte, 12)
		binary.LittleEndian.PutUint32(b, uint32(cm.PacketInfo.NIC))
		copy(b[4:8], cm.PacketInfo.LocalAddr.AsSlice())
		copy(b[8:12], cm.PacketInfo.DestinationAddr.AsSlice())
		out = append(out, socket.RawControl{Level: unix.IPPROTO_IP, Type: unix.IP_PKTINFO, Data: b})
	}
	if cm.HasTTL {
		out = append(out, socket.RawControl{Level: unix.IPPROTO_IP, Type: unix.IP_TTL, Data: int32Data(int32(cm.TTL))})
	}
	if cm.HasTOS {
		out = append(out, socket.RawControl{Level: unix.IPPROTO_IP, Type: unix.IP_TOS, Data: []byte{cm.TOS}})
	}
	if cm.HasOriginalDstAddress {
		out = append(out, socket.RawControl{Level: unix.IPPROTO_IP, Type: unix.IP_ORIGDSTADDR, Data: encodeAddr(unix.AF_INET, cm.OriginalDstAddress)})
	}
	if cm.HasTClass {
		out = append(out, socket.RawControl{Level: unix.IPPROTO_IPV6, Type: unix.IPV6_TCLASS, Data: int32Data(int32(cm.TClass))})
	}
	if cm.HasHopLimit {
		out = append(out, socket.RawControl{Level: unix.IPPROTO_IPV6, Type: unix.IPV6_HOPLIMIT, Data: int32Data(int32(cm.HopLimit))})
	}
	if cm.HasIPv6PacketInfo {
		b := make([]byte, 20)
		copy(b, cm.IPv6PacketInfo.Addr.AsSlice())
		binary.LittleEndian.PutUint32(b[16:], uint32(cm.IPv6PacketInfo.NIC))
		out = append(out, socket.RawControl{Level: unix.IPPROTO_IPV6, Type: unix.IPV6_PKTINFO, Data: b})
	}
	return out
}

// recvErr is recvmsg(MSG_ERRQUEUE): the socket's error queue (filled only
// with IP_RECVERR / IPV6_RECVERR), EAGAIN when empty.
func (s *sock) recvErr(dst *usermem.IOSequence) (socket.RecvResult, error) {
	e := s.ep.SocketOptions().DequeueErr()
	if e == nil {
		return socket.RecvResult{}, unix.EAGAIN
	}
	var r socket.RecvResult
	if e.Payload != nil {
		data := e.Payload.AsSlice()
		n, _ := dst.Write(data)
		r.N, r.MsgLen = n, len(data)
		if n < len(data) {
			r.Flags |= unix.MSG_TRUNC
		}
		e.Payload.Release()
	}
	r.Flags |= unix.MSG_ERRQUEUE
	// struct sock_extended_err and the offender's address.
	ee := make([]byte, 16)
	binary.LittleEndian.PutUint32(ee, uint32(unix.Errno(translateErrno(e.Err))))
	ee[4] = uint8(e.Cause.Origin())
	ee[5] = e.Cause.Type()
	ee[6] = e.Cause.Code()
	binary.LittleEndian.PutUint32(ee[8:], e.Cause.Info())
	offender := encodeAddr(s.domain, e.Offender)
	level, typ := int32(unix.IPPROTO_IP), int32(unix.IP_RECVERR)
	if s.domain == unix.AF_INET6 {
		level, typ = unix.IPPROTO_IPV6, unix.IPV6_RECVERR
	}
	r.Control.Other = append(r.Control.Other, socket.RawControl{Level: level, Type: typ, Data: append(ee, offender...)})
	return r, nil
}

// translateErrno is translate for errors known to be errnos.
func translateErrno(err tcpip.Error) unix.Errno {
	if e, ok := translate(err).(unix.Errno); ok {
		return e
	}
	return unix.EIO
}
