package platform

import (
	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"github.com/runsc-lite/runsc-lite/sentry/memfile"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// LoadProgram maps a small program into as for a platform's own probe or
// self-test (platform/auto, platform/kvm): code (at most a page) at
// codeAddr, readable and executable, and a zeroed stack page at stackAddr,
// readable and writable, both pages of mf. It returns the registers that
// start the program (rip at codeAddr, rsp at the stack page's top) and a
// release that drops the pages; on an error nothing is left held.
func LoadProgram(mf *memfile.MemoryFile, as AddressSpace, codeAddr uintptr, code []byte, stackAddr uintptr) (arch.Registers, func(), error) {
	var held []memfile.FileRange
	release := func() {
		for _, fr := range held {
			mf.DecRef(fr)
		}
	}
	for _, m := range []struct {
		addr uintptr
		code []byte
		at   hostarch.AccessType
	}{
		{codeAddr, code, hostarch.ReadExecute},
		{stackAddr, nil, hostarch.ReadWrite},
	} {
		fr, err := mf.Allocate(1)
		if err != nil {
			release()
			return arch.Registers{}, nil, err
		}
		held = append(held, fr)
		copy(mf.Slice(fr), m.code)
		if err := as.MapFile(m.addr, fr, m.at); err != nil {
			release()
			return arch.Registers{}, nil, err
		}
	}
	return arch.NewInitialRegisters(codeAddr, stackAddr+hostarch.PageSize), release, nil
}
