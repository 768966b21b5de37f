package mm

import (
	"github.com/runsc-lite/runsc-lite/platform"
	"github.com/runsc-lite/runsc-lite/sentry/memfile"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// mapQueue collects platform mapping changes that the memory manager
// makes back to back (a fork's write-protection of the parent and its
// hot-page copies, the child's pre-mapping, a fault-around window of
// several runs) and applies them with one platform.BatchMapper call when
// the platform has one: on ptrace and systrap one host round trip instead
// of one per change.
type mapQueue struct {
	as  platform.AddressSpace
	ops []platform.MapOp
}

func (q *mapQueue) mapFile(addr uintptr, fr memfile.FileRange, at hostarch.AccessType) {
	q.ops = append(q.ops, platform.MapOp{Addr: addr, FR: fr, Access: at})
}

func (q *mapQueue) unmap(addr, length uintptr) {
	q.ops = append(q.ops, platform.MapOp{Addr: addr, Length: length})
}

// flush applies the queued changes in order and empties the queue. A
// change that fails is reported to failed (with its index in the queue,
// when failed is not nil) and skipped; the others are still applied. It
// returns the first error.
func (q *mapQueue) flush(failed func(i int, op *platform.MapOp, err error)) error {
	ops := q.ops
	q.ops = q.ops[:0]
	var first error
	fail := func(i int, err error) {
		if first == nil {
			first = err
		}
		if failed != nil {
			failed(i, &ops[i], err)
		}
	}
	if bm, ok := q.as.(platform.BatchMapper); ok && len(ops) > 1 {
		for i := 0; i < len(ops); i++ {
			n, err := bm.MapBatch(ops[i:])
			i += n
			if err == nil {
				break
			}
			fail(i, err)
		}
		return first
	}
	for i := range ops {
		op := &ops[i]
		if !op.Access.Any() {
			q.as.Unmap(op.Addr, op.Length)
			continue
		}
		if err := q.as.MapFile(op.Addr, op.FR, op.Access); err != nil {
			fail(i, err)
		}
	}
	return first
}
