package loader

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/hostarch"
)

const (
	elfTypeExec = elf.ET_EXEC
	elfTypeDyn  = elf.ET_DYN

	// elfHeaderSize and progHeaderSize are the sizes of Elf64_Ehdr and
	// Elf64_Phdr.
	elfHeaderSize  = 64
	progHeaderSize = 56

	// maxProgHeaderBytes bounds the program header table (Linux refuses
	// more than 64 KiB of headers).
	maxProgHeaderBytes = 64 << 10

	// minUserAddress is the lowest address a segment may occupy (Linux's
	// default vm.mmap_min_addr).
	minUserAddress = 0x10000
)

// segment is a validated PT_LOAD program header.
type segment struct {
	vaddr, memsz, filesz, offset uint64
	perms                        hostarch.AccessType
}

// elfImage is a validated ELF executable or interpreter, not yet mapped.
type elfImage struct {
	path  string // resolved path
	file  File
	typ   elf.Type
	entry uint64

	phoff     uint64
	phentsize uint16
	phnum     uint16
	phdrs     []byte // the raw program header table

	// loads are the PT_LOAD segments with a non-zero memory size, in
	// ascending address order without overlaps.
	loads []segment
	// firstPage is the page-aligned start of the first segment, spanEnd
	// the page-aligned end of the last, loadEnd its exact end.
	firstPage, spanEnd, loadEnd uint64

	interp    string // PT_INTERP path, "" for none
	ptPhdr    uint64 // PT_PHDR's p_vaddr if hasPtPhdr
	hasPtPhdr bool
	execStack bool // PT_GNU_STACK asks for an executable stack
}

// notELF returns an ENOEXEC error explaining why path is not a loadable
// ELF file.
func notELF(path, format string, args ...any) error {
	return fmt.Errorf("%s: not a loadable ELF executable: %s: %w", path, fmt.Sprintf(format, args...), unix.ENOEXEC)
}

// parseELF reads and validates the ELF headers of f (named path) for
// loading into an address space that ends at maxAddr. It returns the
// validated image or an error wrapping ENOEXEC (or the read error of f).
func parseELF(f File, path string, maxAddr uintptr) (*elfImage, error) {
	hdrBuf := make([]byte, elfHeaderSize)
	n, err := readAtMost(f, hdrBuf, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: reading the ELF header: %w", path, err)
	}
	if n < 4 || !bytes.Equal(hdrBuf[:4], []byte(elf.ELFMAG)) {
		return nil, notELF(path, "bad magic")
	}
	if n < elfHeaderSize {
		return nil, notELF(path, "file of %d bytes is too short for an ELF header", n)
	}
	var hdr elf.Header64
	if _, err := binary.Decode(hdrBuf, binary.LittleEndian, &hdr); err != nil {
		return nil, notELF(path, "undecodable header: %v", err)
	}
	switch {
	case elf.Class(hdr.Ident[elf.EI_CLASS]) != elf.ELFCLASS64:
		return nil, notELF(path, "class %v, want ELFCLASS64", elf.Class(hdr.Ident[elf.EI_CLASS]))
	case elf.Data(hdr.Ident[elf.EI_DATA]) != elf.ELFDATA2LSB:
		return nil, notELF(path, "data encoding %v, want little-endian", elf.Data(hdr.Ident[elf.EI_DATA]))
	case elf.Machine(hdr.Machine) != elf.EM_X86_64:
		return nil, notELF(path, "machine %v, want x86-64", elf.Machine(hdr.Machine))
	case elf.Type(hdr.Type) != elf.ET_EXEC && elf.Type(hdr.Type) != elf.ET_DYN:
		return nil, notELF(path, "type %v is neither ET_EXEC nor ET_DYN", elf.Type(hdr.Type))
	case hdr.Phentsize != progHeaderSize:
		return nil, notELF(path, "program header size %d, want %d", hdr.Phentsize, progHeaderSize)
	case hdr.Phnum == 0:
		return nil, notELF(path, "no program headers")
	case int(hdr.Phnum)*progHeaderSize > maxProgHeaderBytes:
		return nil, notELF(path, "%d program headers exceed %d bytes", hdr.Phnum, maxProgHeaderBytes)
	}
	img := &elfImage{
		path:      path,
		file:      f,
		typ:       elf.Type(hdr.Type),
		entry:     hdr.Entry,
		phoff:     hdr.Phoff,
		phentsize: hdr.Phentsize,
		phnum:     hdr.Phnum,
	}
	tableSize := uint64(hdr.Phnum) * progHeaderSize
	if hdr.Phoff > 1<<62 || hdr.Phoff+tableSize < hdr.Phoff {
		return nil, notELF(path, "program header offset %#x is out of range", hdr.Phoff)
	}
	img.phdrs = make([]byte, tableSize)
	if n, err := readAtMost(f, img.phdrs, int64(hdr.Phoff)); err != nil {
		return nil, fmt.Errorf("%s: reading the program headers: %w", path, err)
	} else if uint64(n) != tableSize {
		return nil, notELF(path, "program headers at %#x (%d bytes) extend beyond the end of the file", hdr.Phoff, tableSize)
	}

	var prevEnd uint64
	for i := 0; i < int(hdr.Phnum); i++ {
		var ph elf.Prog64
		if _, err := binary.Decode(img.phdrs[i*progHeaderSize:], binary.LittleEndian, &ph); err != nil {
			return nil, notELF(path, "program header %d undecodable: %v", i, err)
		}
		switch elf.ProgType(ph.Type) {
		case elf.PT_LOAD:
			s, err := checkLoad(f, path, i, &ph, maxAddr)
			if err != nil {
				return nil, err
			}
			if s.memsz == 0 {
				continue
			}
			if len(img.loads) > 0 && s.vaddr < prevEnd {
				return nil, notELF(path, "PT_LOAD %d at %#x overlaps or precedes the previous segment ending at %#x", i, s.vaddr, prevEnd)
			}
			img.loads = append(img.loads, s)
			prevEnd = s.vaddr + s.memsz
		case elf.PT_INTERP:
			if img.interp != "" {
				return nil, notELF(path, "more than one PT_INTERP")
			}
			interp, err := readInterp(f, path, &ph)
			if err != nil {
				return nil, err
			}
			img.interp = interp
		case elf.PT_PHDR:
			img.ptPhdr, img.hasPtPhdr = ph.Vaddr, true
		case elf.PT_GNU_STACK:
			img.execStack = elf.ProgFlag(ph.Flags)&elf.PF_X != 0
		}
	}
	if len(img.loads) == 0 {
		return nil, notELF(path, "no loadable segment")
	}
	img.firstPage = img.loads[0].vaddr &^ (hostarch.PageSize - 1)
	img.loadEnd = prevEnd
	// prevEnd <= maxAddr (checked per segment), so rounding cannot wrap.
	img.spanEnd = (prevEnd + hostarch.PageSize - 1) &^ (hostarch.PageSize - 1)
	if img.typ == elfTypeExec && img.firstPage < minUserAddress {
		return nil, notELF(path, "segment at %#x below the lowest user address %#x", img.loads[0].vaddr, minUserAddress)
	}
	if img.entry >= uint64(maxAddr) {
		return nil, notELF(path, "entry point %#x beyond the user address range", img.entry)
	}
	return img, nil
}

// checkLoad validates PT_LOAD header number i and returns it as a segment.
func checkLoad(f File, path string, i int, ph *elf.Prog64, maxAddr uintptr) (segment, error) {
	s := segment{vaddr: ph.Vaddr, memsz: ph.Memsz, filesz: ph.Filesz, offset: ph.Off}
	flags := elf.ProgFlag(ph.Flags)
	s.perms = hostarch.AccessType{
		Read:    flags&elf.PF_R != 0,
		Write:   flags&elf.PF_W != 0,
		Execute: flags&elf.PF_X != 0,
	}
	if s.filesz > s.memsz {
		return s, notELF(path, "PT_LOAD %d has file size %#x larger than memory size %#x", i, s.filesz, s.memsz)
	}
	if s.memsz == 0 {
		return s, nil
	}
	if s.vaddr%hostarch.PageSize != s.offset%hostarch.PageSize {
		return s, notELF(path, "PT_LOAD %d offset %#x and address %#x differ modulo the page size", i, s.offset, s.vaddr)
	}
	if end := s.vaddr + s.memsz; end < s.vaddr || end > uint64(maxAddr) {
		return s, notELF(path, "PT_LOAD %d [%#x, +%#x) is beyond the user address range ending at %#x", i, s.vaddr, s.memsz, maxAddr)
	}
	if s.filesz > 0 {
		end := s.offset + s.filesz
		if end < s.offset || end > 1<<62 {
			return s, notELF(path, "PT_LOAD %d file range [%#x, +%#x) is out of range", i, s.offset, s.filesz)
		}
		// The last byte of the segment's file contents must exist.
		var b [1]byte
		if n, err := readAtMost(f, b[:], int64(end-1)); err != nil {
			return s, fmt.Errorf("%s: reading PT_LOAD %d: %w", path, i, err)
		} else if n != 1 {
			return s, notELF(path, "PT_LOAD %d file range [%#x, %#x) extends beyond the end of the file", i, s.offset, end)
		}
	}
	return s, nil
}

// readInterp reads and validates the path in a PT_INTERP header.
func readInterp(f File, path string, ph *elf.Prog64) (string, error) {
	if ph.Filesz < 2 || ph.Filesz > linux.PATH_MAX {
		return "", notELF(path, "PT_INTERP of %d bytes (must be 2 to %d)", ph.Filesz, linux.PATH_MAX)
	}
	if ph.Off > 1<<62 {
		return "", notELF(path, "PT_INTERP offset %#x is out of range", ph.Off)
	}
	buf := make([]byte, ph.Filesz)
	if n, err := readAtMost(f, buf, int64(ph.Off)); err != nil {
		return "", fmt.Errorf("%s: reading PT_INTERP: %w", path, err)
	} else if n != len(buf) {
		return "", notELF(path, "PT_INTERP [%#x, +%#x) extends beyond the end of the file", ph.Off, ph.Filesz)
	}
	if buf[len(buf)-1] != 0 {
		return "", notELF(path, "PT_INTERP path is not NUL-terminated")
	}
	// Like Linux, the path is the C string at the start of the segment.
	name := buf[:bytes.IndexByte(buf, 0)]
	if len(name) == 0 {
		return "", notELF(path, "PT_INTERP path is empty")
	}
	return string(name), nil
}

// phdrVaddr returns the link-time address of the program header table
// (before the load bias): inside the loaded segment whose file contents
// hold the table (as Linux computes AT_PHDR), else PT_PHDR's address. It
// returns false if neither exists.
func (img *elfImage) phdrVaddr() (uint64, bool) {
	size := uint64(len(img.phdrs))
	for _, s := range img.loads {
		if s.offset <= img.phoff && img.phoff+size <= s.offset+s.filesz {
			return s.vaddr + (img.phoff - s.offset), true
		}
	}
	if img.hasPtPhdr {
		return img.ptPhdr, true
	}
	return 0, false
}
