package tmpfs

// chunkSize is the unit of storage of file data. Holes (never written
// chunks) read as zeros and take no memory.
const chunkSize = 64 << 10

// fileData is the contents of a regular file: a size and the chunks that
// were written. Not synchronized: the owning Inode's mu protects it.
type fileData struct {
	size   int64
	chunks map[int64][]byte // chunk index -> chunkSize bytes
}

// allocated returns the bytes of memory holding data.
func (d *fileData) allocated() int64 { return int64(len(d.chunks)) * chunkSize }

func (d *fileData) readAt(dst []byte, off int64) int {
	if off >= d.size {
		return 0
	}
	if rest := d.size - off; int64(len(dst)) > rest {
		dst = dst[:rest]
	}
	n := 0
	for n < len(dst) {
		pos := off + int64(n)
		idx, in := pos/chunkSize, int(pos%chunkSize)
		want := min(len(dst)-n, chunkSize-in)
		if c, ok := d.chunks[idx]; ok {
			copy(dst[n:n+want], c[in:in+want])
		} else {
			clear(dst[n : n+want])
		}
		n += want
	}
	return n
}

func (d *fileData) writeAt(src []byte, off int64) int {
	if d.chunks == nil {
		d.chunks = make(map[int64][]byte)
	}
	n := 0
	for n < len(src) {
		pos := off + int64(n)
		idx, in := pos/chunkSize, int(pos%chunkSize)
		want := min(len(src)-n, chunkSize-in)
		c, ok := d.chunks[idx]
		if !ok {
			c = make([]byte, chunkSize)
			d.chunks[idx] = c
		}
		copy(c[in:in+want], src[n:n+want])
		n += want
	}
	if end := off + int64(n); end > d.size {
		d.size = end
	}
	return n
}

// truncate sets the size; bytes beyond it are dropped so that growing
// again reads zeros.
func (d *fileData) truncate(size int64) {
	if size < d.size {
		last := (size + chunkSize - 1) / chunkSize // first chunk wholly beyond
		for idx := range d.chunks {
			if idx >= last {
				delete(d.chunks, idx)
			}
		}
		if in := size % chunkSize; in != 0 {
			if c, ok := d.chunks[size/chunkSize]; ok {
				clear(c[in:])
			}
		}
	}
	d.size = size
}
