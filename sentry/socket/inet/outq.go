package inet

import (
	"reflect"
	"sync"
	"unsafe"

	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// SIOCOUTQ of a TCP socket is the data it holds in its send queue:
// written and not yet acknowledged. tcpip keeps that count
// (TCPSndBufState.SndBufUsed, decreased as ACKs arrive) in an unexported
// field of tcp.Endpoint, guarded by an unexported mutex, and offers no
// accessor; tcpOutq reads it through offsets found by reflection at start
// (the gvisor.dev/gvisor version is pinned in go.mod, and
// TestSIOCOUTQ fails if an upgrade moves the fields).

var outq struct {
	ok                bool
	queueOff, usedOff uintptr
}

func init() {
	t := reflect.TypeOf(tcp.Endpoint{})
	q, ok := t.FieldByName("sndQueueInfo")
	if !ok || q.Type.Kind() != reflect.Struct {
		return
	}
	mu, ok := q.Type.FieldByName("sndQueueMu")
	if !ok || mu.Offset != 0 || mu.Type.Size() != reflect.TypeOf(sync.Mutex{}).Size() {
		return
	}
	used, ok := q.Type.FieldByName("SndBufUsed")
	if !ok || used.Type.Kind() != reflect.Int {
		return
	}
	outq.ok, outq.queueOff, outq.usedOff = true, q.Offset, used.Offset
}

// tcpOutq returns the bytes ep's send queue holds, under the queue's lock
// (its first word is a sync.Mutex: gvisor's sync.Mutex wraps one).
func tcpOutq(ep *tcp.Endpoint) (int, bool) {
	if !outq.ok {
		return 0, false
	}
	q := unsafe.Add(unsafe.Pointer(ep), outq.queueOff)
	mu := (*sync.Mutex)(q)
	mu.Lock()
	n := *(*int)(unsafe.Add(q, outq.usedOff))
	mu.Unlock()
	return n, true
}
