package kswapd

// This file holds the per-frame page descriptors and the LRU lists threaded
// through them. Everything here is protected by Zone.mu (the LRU lock).

// lruList names the list a page is on. The zero value is "none", and links
// are frame numbers plus one (0: none), so a fresh descriptor array is all
// zeros: the host backs it with memory only as pages are used.
type lruList uint8

const (
	lruNone lruList = iota // on no list (free, platform page, forgotten, isolated)
	lruInactiveAnon
	lruActiveAnon
	lruInactiveFile
	lruActiveFile
	lruUnevictable
	nrLists
)

func (l lruList) active() bool { return l == lruActiveAnon || l == lruActiveFile }

// inactiveList and activeList return the lists of a kind.
func inactiveList(k Kind) lruList {
	switch k {
	case Anon:
		return lruInactiveAnon
	case File:
		return lruInactiveFile
	}
	return lruUnevictable
}

func activeList(k Kind) lruList {
	switch k {
	case Anon:
		return lruActiveAnon
	case File:
		return lruActiveFile
	}
	return lruUnevictable
}

// nilFrame bounds the frame numbers the lists can link (frame+1 must fit
// in a uint32).
const nilFrame = ^uint32(0)

// Page flags.
const (
	pgReferenced uint8 = 1 << iota // used since the zone last looked
	pgIsolated                     // taken off its list by a scanner
	pgRelabelled                   // SetOwner ran while it was isolated
)

// page is the descriptor of one frame of the memory file (Linux's struct
// page, cut down to what reclaim needs: 40 bytes). Frames the zone did not
// hand out (free ones, platform pages) have list == lruNone and no owner.
type page struct {
	prev, next uint32 // neighbours on the list (frame+1; 0: none)
	list       lruList
	flags      uint8
	kind       Kind
	// gen counts the times the frame was freed: a scanner that isolated
	// the page compares it when it puts the page back, to notice that the
	// frame was freed (and maybe handed to someone else) meanwhile.
	gen   uint32
	owner Owner
	key   uint64
}

// lru is one list: head is the most recently added page, tail the oldest
// (scanned first); both frame+1, 0 when empty.
type lru struct {
	head, tail uint32
	n          uint64
}

// lruSet is the zone's lists over its descriptors.
//
// The descriptors are allocated in chunks of chunkFrames, each on the first
// use of one of its frames: a descriptor holds an interface (the owner), so
// the garbage collector scans every allocated one, and a 4 GiB zone whose
// program touches 20 MiB should not make it scan 40 MiB of descriptors (it
// cost ~10 ms of every sandbox's start-up).
type lruSet struct {
	chunks [][]page
	lists  [nrLists]lru // lists[lruNone] is unused
}

// chunkFrames is how many descriptors are allocated together (64 MiB of
// memory, 640 KiB of descriptors).
const chunkFrames = 1 << 14

func (s *lruSet) init(frames uint64) {
	s.chunks = make([][]page, (frames+chunkFrames-1)/chunkFrames)
}

// lookup returns the descriptor of frame f, or nil if its chunk was never
// needed (no frame of it was ever the zone's). Preconditions: Zone.mu is
// held.
func (s *lruSet) lookup(f uint32) *page {
	if c := s.chunks[f/chunkFrames]; c != nil {
		return &c[f%chunkFrames]
	}
	return nil
}

// page returns the descriptor of frame f, allocating its chunk on first
// use. Preconditions: Zone.mu is held; f is a frame of the zone.
func (s *lruSet) page(f uint32) *page {
	c := s.chunks[f/chunkFrames]
	if c == nil {
		c = make([]page, chunkFrames)
		s.chunks[f/chunkFrames] = c
	}
	return &c[f%chunkFrames]
}

// tail returns the oldest page of l.
func (s *lruSet) tail(l lruList) (uint32, bool) {
	t := s.lists[l].tail
	return t - 1, t != 0
}

// addHead puts the page of frame f, on no list, at the head of l.
func (s *lruSet) addHead(f uint32, l lruList) {
	p := s.page(f)
	ls := &s.lists[l]
	p.list = l
	p.prev = 0
	p.next = ls.head
	if ls.head != 0 {
		s.page(ls.head - 1).prev = f + 1
	} else {
		ls.tail = f + 1
	}
	ls.head = f + 1
	ls.n++
}

// unlink takes the page of frame f off its list (it must be on one).
func (s *lruSet) unlink(f uint32) {
	p := s.page(f)
	ls := &s.lists[p.list]
	if p.prev != 0 {
		s.page(p.prev - 1).next = p.next
	} else {
		ls.head = p.next
	}
	if p.next != 0 {
		s.page(p.next - 1).prev = p.prev
	} else {
		ls.tail = p.prev
	}
	ls.n--
	p.prev, p.next = 0, 0
	p.list = lruNone
}

// move puts the page of frame f at the head of l, off whatever list it was
// on.
func (s *lruSet) move(f uint32, l lruList) {
	if s.page(f).list != lruNone {
		s.unlink(f)
	}
	s.addHead(f, l)
}

// forget drops the page of frame f from the zone's view: off its list, no
// owner, not isolated.
func (s *lruSet) forget(f uint32) {
	p := s.page(f)
	if p.list != lruNone {
		s.unlink(f)
	}
	p.flags = 0
	p.owner = nil
	p.key = 0
}

// length returns the length of l.
func (s *lruSet) length(l lruList) uint64 { return s.lists[l].n }
