package tty

// Terminal settings: the defaults of a new pseudo-terminal, baud rates, and
// the three user-space layouts of the settings (struct termios, struct
// termios2 and the old struct termio).

import (
	"encoding/binary"

	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/marshal"
)

// marshal returns the bytes of an ABI structure.
func marshalBytes(m marshal.Marshallable) []byte {
	b := make([]byte, m.SizeBytes())
	m.MarshalBytes(b)
	return b
}

// Ioctl numbers the ABI package does not name.
const (
	tcgeta         = 0x5405
	tcseta         = 0x5406
	tcsetaw        = 0x5407
	tcsetaf        = 0x5408
	tcxonc         = 0x540a
	tiocgsoftcar   = 0x5419
	tiocssoftcar   = 0x541a
	tiocgserial    = 0x541e
	tiocsig        = 0x40045436
	tiocgptlck     = 0x80045439
	tiocglcktrmios = 0x5456
	tiocslcktrmios = 0x5457
	tiocmiwait     = 0x545c
)

// tcxonc arguments.
const (
	tcooff = 0
	tcoon  = 1
	tcioff = 2
	tcion  = 3
)

// nTTY is the only line discipline (TIOCGETD/TIOCSETD).
const nTTY = 0

// termioSize is sizeof(struct termio): four 16-bit flag words, c_line and
// eight control characters, padded to 18 bytes.
const termioSize = 18

// termioNCC is the number of control characters in struct termio.
const termioNCC = 8

// defaultReplicaTermios is a new pseudo-terminal's settings, as Linux's
// tty_std_termios with the pty driver's CS8|CREAD (no HUPCL).
func defaultReplicaTermios() linux.KernelTermios {
	return linux.KernelTermios{
		InputFlags:        linux.ICRNL | linux.IXON,
		OutputFlags:       linux.OPOST | linux.ONLCR,
		ControlFlags:      linux.B38400 | linux.CS8 | linux.CREAD,
		LocalFlags:        linux.ISIG | linux.ICANON | linux.ECHO | linux.ECHOE | linux.ECHOK | linux.ECHOCTL | linux.ECHOKE | linux.IEXTEN,
		ControlCharacters: linux.DefaultControlCharacters,
		InputSpeed:        38400,
		OutputSpeed:       38400,
	}
}

// baudTable maps a CBAUD index (with CBAUDEX folded in as +15) to bits
// per second, as Linux's baud_table.
var baudTable = [...]uint32{
	0, 50, 75, 110, 134, 150, 200, 300, 600, 1200, 1800, 2400, 4800, 9600, 19200, 38400,
	57600, 115200, 230400, 460800, 500000, 576000, 921600, 1000000, 1152000, 1500000,
	2000000, 2500000, 3000000, 3500000, 4000000,
}

// baudOf returns the speed a CBAUD field encodes; other is the speed
// BOTHER stands for.
func baudOf(cbaud uint32, other uint32) uint32 {
	if cbaud == linux.BOTHER {
		return other
	}
	i := cbaud &^ linux.CBAUDEX
	if cbaud&linux.CBAUDEX != 0 {
		i += 15
	}
	if int(i) < len(baudTable) {
		return baudTable[i]
	}
	return 0
}

// updateSpeeds recomputes the speed fields from c_cflag's CBAUD and CIBAUD
// bits (tty_termios_baud_rate, tty_termios_input_baud_rate): a zero
// CIBAUD means "the same as the output speed".
func updateSpeeds(t *linux.KernelTermios) {
	t.OutputSpeed = baudOf(t.ControlFlags&linux.CBAUD, t.OutputSpeed)
	ibaud := (t.ControlFlags >> linux.IBSHIFT) & linux.CBAUD
	if ibaud == linux.B0 {
		t.InputSpeed = t.OutputSpeed
	} else {
		t.InputSpeed = baudOf(ibaud, t.InputSpeed)
	}
}

// ptyHardware applies what the pty driver forces on every setting
// (pty_set_termios): eight data bits, receiver on, no parity.
func ptyHardware(t *linux.KernelTermios) {
	t.ControlFlags &^= linux.CSIZE | linux.PARENB
	t.ControlFlags |= linux.CS8 | linux.CREAD
}

// marshalTermios returns struct termios (TCGETS).
func marshalTermios(t *linux.KernelTermios) []byte {
	tt := t.ToTermios()
	return marshalBytes(&tt)
}

// unmarshalTermios replaces the struct termios fields of t (TCSETS); the
// speeds are recomputed by the caller.
func unmarshalTermios(t *linux.KernelTermios, b []byte) {
	var tt linux.Termios
	tt.UnmarshalBytes(b)
	t.FromTermios(tt)
}

// marshalTermio returns the old struct termio (TCGETA).
func marshalTermio(t *linux.KernelTermios) []byte {
	b := make([]byte, termioSize)
	binary.LittleEndian.PutUint16(b[0:], uint16(t.InputFlags))
	binary.LittleEndian.PutUint16(b[2:], uint16(t.OutputFlags))
	binary.LittleEndian.PutUint16(b[4:], uint16(t.ControlFlags))
	binary.LittleEndian.PutUint16(b[6:], uint16(t.LocalFlags))
	b[8] = t.LineDiscipline
	copy(b[9:9+termioNCC], t.ControlCharacters[:termioNCC])
	return b
}

// unmarshalTermio applies a struct termio (TCSETA): only the low 16 bits
// of each flag word and the first eight control characters change, as
// Linux's user_termio_to_kernel_termios.
func unmarshalTermio(t *linux.KernelTermios, b []byte) {
	set16 := func(dst *uint32, v uint16) { *dst = *dst&0xffff0000 | uint32(v) }
	set16(&t.InputFlags, binary.LittleEndian.Uint16(b[0:]))
	set16(&t.OutputFlags, binary.LittleEndian.Uint16(b[2:]))
	set16(&t.ControlFlags, binary.LittleEndian.Uint16(b[4:]))
	set16(&t.LocalFlags, binary.LittleEndian.Uint16(b[6:]))
	copy(t.ControlCharacters[:termioNCC], b[9:9+termioNCC])
}

// applyLocked keeps the bits and characters that TIOCSLCKTRMIOS locked at
// their old values (unset_locked_termios).
func applyLocked(nw *linux.KernelTermios, old, locked *linux.KernelTermios) {
	keep := func(dst *uint32, o, l uint32) { *dst = *dst&^l | o&l }
	keep(&nw.InputFlags, old.InputFlags, locked.InputFlags)
	keep(&nw.OutputFlags, old.OutputFlags, locked.OutputFlags)
	keep(&nw.ControlFlags, old.ControlFlags, locked.ControlFlags)
	keep(&nw.LocalFlags, old.LocalFlags, locked.LocalFlags)
	if locked.LineDiscipline != 0 {
		nw.LineDiscipline = old.LineDiscipline
	}
	for i, l := range locked.ControlCharacters {
		if l != 0 {
			nw.ControlCharacters[i] = old.ControlCharacters[i]
		}
	}
	if locked.InputSpeed != 0 {
		nw.InputSpeed = old.InputSpeed
	}
	if locked.OutputSpeed != 0 {
		nw.OutputSpeed = old.OutputSpeed
	}
}
