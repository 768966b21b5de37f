package kvm

import (
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestCodePage(t *testing.T) {
	p := codePage()
	if len(p) != pageSize {
		t.Fatalf("code page is %d bytes", len(p))
	}
	want := map[int][]byte{
		entryOff:          {0x48, 0x85, 0xc0},
		entryIretqOff:     {0x48, 0xcf},
		syscallOff:        {0xf4},
		syscallExitOff:    {0xeb, 0xfd},
		commonOff:         {0x50, 0x0f, 0x20, 0xd0, 0x50},
		excExitOff - 1:    {0xf4},
		excExitOff:        {0xeb, 0xfd},
		entryEndOff:       {0xcc},
		entryIretqOff - 1: {0x58},
		entryIretqOff - 4: {0x0f, 0x22, 0xd8},
		entryIretqOff - 6: {0x74, 0x03},
		vectorsEnd:        {0xcc},
		vectorsOff - 1:    {0xcc},
	}
	for off, b := range want {
		if got := p[off : off+len(b)]; string(got) != string(b) {
			t.Errorf("code at %#x = % x, want % x", off, got, b)
		}
	}
	// Every vector stub pushes an error code unless the CPU does, then
	// the vector, then jumps to common.
	for i := 0; i < vectorSlots; i++ {
		v := slotVector(i)
		s := p[vectorsOff+i*vectorStride:]
		if !hasErrorCode(v) {
			if s[0] != 0x6a || s[1] != 0 {
				t.Errorf("vector %d: no push $0: % x", v, s[:2])
			}
			s = s[2:]
		}
		if s[0] != 0x68 || binary.LittleEndian.Uint32(s[1:]) != uint32(v) {
			t.Errorf("vector %d: push % x", v, s[:5])
		}
		if s[5] != 0xe9 {
			t.Fatalf("vector %d: no jmp", v)
		}
		end := len(p) - len(s) + 10
		if target := end + int(int32(binary.LittleEndian.Uint32(s[6:]))); target != commonOff {
			t.Errorf("vector %d jumps to %#x", v, target)
		}
	}
}

// TestCodePageDisassembly checks the stubs with objdump, where there is
// one.
func TestCodePageDisassembly(t *testing.T) {
	objdump, err := exec.LookPath("objdump")
	if err != nil {
		t.Skip("no objdump")
	}
	f := filepath.Join(t.TempDir(), "code")
	if err := os.WriteFile(f, codePage()[:vectorsEnd], 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(objdump, "-D", "-b", "binary", "-m", "i386:x86-64", f).CombinedOutput()
	if err != nil {
		t.Skipf("objdump: %v: %s", err, out)
	}
	text := string(out)
	for _, want := range []string{
		"0:\t48 85 c0             \ttest   %rax,%rax",
		"3:\t74 03                \tje     0x8",
		"5:\t0f 22 d8             \tmov    %rax,%cr3",
		"8:\t58                   \tpop    %rax",
		"9:\t48 cf                \tiretq",
		"40:\tf4                   \thlt",
		"41:\teb fd                \tjmp    0x40",
		"80:\t50                   \tpush   %rax",
		"81:\t0f 20 d0             \tmov    %cr2,%rax",
		"85:\tf4                   \thlt",
		"86:\teb fd                \tjmp    0x85",
		"jmp    0x80",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("disassembly lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("%s", text)
	}
}

func TestIDT(t *testing.T) {
	p := idtPage()
	le := binary.LittleEndian
	present := 0
	for v := 0; v < 256; v++ {
		g := p[v*16:]
		if g[5]&0x80 == 0 {
			continue
		}
		present++
		addr := uint64(le.Uint16(g[0:])) | uint64(le.Uint16(g[6:]))<<16 | uint64(le.Uint32(g[8:]))<<32
		slot := v
		if v == vecInt80 {
			slot = int80Slot
		}
		if addr != codeVA+uint64(vectorsOff+slot*vectorStride) {
			t.Errorf("vector %d: handler %#x", v, addr)
		}
		if le.Uint16(g[2:]) != kernelCS {
			t.Errorf("vector %d: selector %#x", v, le.Uint16(g[2:]))
		}
		dpl := g[5] >> 5 & 3
		wantDPL := byte(0)
		if v == vecBP || v == vecOF || v == vecInt80 {
			wantDPL = 3
		}
		if dpl != wantDPL || g[5]&0xf != 0xe {
			t.Errorf("vector %d: attributes %#x", v, g[5])
		}
		wantIST := byte(0)
		if v == vecDF || v == vecNMI || v == vecMC {
			wantIST = 1
		}
		if g[4] != wantIST {
			t.Errorf("vector %d: IST %d", v, g[4])
		}
	}
	if present != vectorSlots {
		t.Errorf("%d gates present, want %d", present, vectorSlots)
	}
}

func TestGDT(t *testing.T) {
	p := gdtPage()
	le := binary.LittleEndian
	desc := func(sel int) uint64 { return le.Uint64(p[sel&^7:]) }
	for _, c := range []struct {
		sel     int
		dpl     uint64
		code, l bool
	}{
		{kernelCS, 0, true, true},
		{kernelSS, 0, false, false},
		{userCS, 3, true, true},
		{userSS, 3, false, false},
	} {
		d := desc(c.sel)
		if d>>47&1 != 1 || d>>45&3 != c.dpl || (d>>43&1 == 1) != c.code || (d>>53&1 == 1) != c.l || d>>40&1 != 1 {
			t.Errorf("selector %#x: descriptor %#016x", c.sel, d)
		}
	}
	if starValue>>32&0xffff != kernelCS || (starValue>>48)+16 != userCS|3 || (starValue>>48)+8 != userSS {
		t.Errorf("STAR %#x does not match the GDT", uint64(starValue))
	}
	if desc(0) != 0 || desc(0x20) != 0 {
		t.Errorf("null or 32-bit user descriptor not empty")
	}
}

func TestVCPUPage(t *testing.T) {
	p := make([]byte, pageSize)
	initVCPUPage(p, 3)
	le := binary.LittleEndian
	if got := le.Uint64(p[tssOff+4:]); got != vcpuMainVA(3)+pageSize {
		t.Errorf("RSP0 %#x", got)
	}
	if got := le.Uint64(p[tssOff+36:]); got != vcpuISTVA(3)+pageSize {
		t.Errorf("IST1 %#x", got)
	}
	if got := le.Uint16(p[tssOff+102:]); got != 104 {
		t.Errorf("I/O map base %d", got)
	}
	if frameOff+6*8 > pageSize-2*excFrameSize-64 {
		t.Errorf("the entry frame is too close to the stack")
	}
	if vcpuMainVA(3)>>39&511 != 511 || !canonical(vcpuISTVA(1023)) {
		t.Errorf("vCPU pages outside PML4 slot 511")
	}
}
