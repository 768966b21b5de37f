package pipe

import (
	"bytes"
	"testing"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"golang.org/x/sys/unix"
)

// readAll drains r without blocking.
func readAll(t *testing.T, r fs.File) []byte {
	t.Helper()
	var out []byte
	buf := make([]byte, 1<<17)
	for {
		n, err := r.Read(fs.Background, buf, unix.O_NONBLOCK)
		out = append(out, buf[:n]...)
		if err != nil || n == 0 {
			return out
		}
	}
}

// A write that takes only part of what SpliceOut took leaves the rest at
// the pipe's head, before what writers queued meanwhile.
func TestSpliceOutPutsBackWhatWasNotWritten(t *testing.T) {
	_, r, w := NewPair(nil)
	re, we := r.(*End), w.(*End)
	we.Write(fs.Background, []byte("0123456789"), 0)
	n, err := re.SpliceOut(fs.Background, 100, true, func(b []byte) (int, error) {
		// A writer fills the pipe while the data is out.
		we.Write(fs.Background, bytes.Repeat([]byte("w"), DefaultSize-4), unix.O_NONBLOCK)
		return 4, unix.EAGAIN
	})
	if n != 4 || err != nil {
		t.Fatalf("SpliceOut = %d, %v; want 4, nil", n, err)
	}
	got := readAll(t, r)
	if want := "456789" + string(bytes.Repeat([]byte("w"), DefaultSize-4)); string(got) != want {
		t.Fatalf("pipe holds %d bytes starting %q, want %d starting %q", len(got), got[:min(10, len(got))], len(want), want[:10])
	}
	if n, err := re.SpliceOut(fs.Background, 100, true, nil); n != 0 || err != unix.EAGAIN {
		t.Errorf("empty pipe, nonblock: %d, %v", n, err)
	}
}

// SpliceIn never loses what it read, even if the room went meanwhile.
func TestSpliceInOverfillsRatherThanLoses(t *testing.T) {
	_, r, w := NewPair(nil)
	we := w.(*End)
	n, err := we.SpliceIn(fs.Background, 10, true, func(b []byte) (int, error) {
		we.Write(fs.Background, bytes.Repeat([]byte("w"), DefaultSize), unix.O_NONBLOCK)
		return copy(b, "spliced"), nil
	})
	if n != 7 || err != nil {
		t.Fatalf("SpliceIn = %d, %v", n, err)
	}
	got := readAll(t, r)
	if len(got) != DefaultSize+7 || string(got[DefaultSize:]) != "spliced" {
		t.Fatalf("pipe holds %d bytes ending %q", len(got), got[max(0, len(got)-7):])
	}
	r.Release()
	if _, err := we.SpliceIn(fs.Background, 10, true, nil); err != unix.EPIPE {
		t.Errorf("no reader: %v, want EPIPE", err)
	}
}

// Splice between pipes waits for data, and tee keeps it.
func TestSpliceBetweenPipesWaits(t *testing.T) {
	k := kernel.New(kernel.Config{CPUs: 1})
	defer k.Shutdown()
	_, ir, iw := NewPair(nil)
	_, or, ow := NewPair(nil)
	var n, tn int
	var err, terr error
	run(t, k, func(ctx *fs.Context) {
		tn, terr = Splice(ctx, ir.(*End), ow.(*End), 100, false, true)
		n, err = Splice(ctx, ir.(*End), ow.(*End), 3, false, false)
	}, func(ctx *fs.Context) {
		iw.Write(ctx, []byte("data"), 0)
	})
	if tn != 4 || terr != nil || n != 3 || err != nil {
		t.Fatalf("tee = %d, %v; splice = %d, %v", tn, terr, n, err)
	}
	if got := string(readAll(t, or)); got != "datadat" {
		t.Errorf("out pipe holds %q, want %q", got, "datadat")
	}
	if got := string(readAll(t, ir)); got != "a" {
		t.Errorf("in pipe holds %q, want %q", got, "a")
	}
}
