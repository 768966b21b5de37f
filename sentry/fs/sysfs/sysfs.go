// Package sysfs is the sandbox's /sys: the few files programs read to size
// themselves, describing the sandbox rather than the host. Without it the
// host's /sys shows through the read-only root, and glibc's
// sysconf(_SC_NPROCESSORS_ONLN) — Python's os.cpu_count(), make -j, Go's
// runtime on some paths — counts the host's CPUs instead of --cpus.
//
// It holds /sys/devices/system/cpu/{online,possible,present,kernel_max} and
// a cpuN directory per sandbox CPU, /sys/devices/system/node/node0 with its
// cpulist, and /sys/kernel/mm/transparent_hugepage/enabled (never: the
// sandbox has no huge pages). Everything else is absent (ENOENT), as in a
// kernel built without the subsystem.
//
// Locking: the tree is built once and never changes (synth's rules).
package sysfs

import (
	"fmt"

	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/synth"
)

// SysfsMagic is sysfs's statfs f_type.
const SysfsMagic = 0x62656572

// New returns a sysfs for a sandbox of cpus CPUs; mount it at /sys.
func New(cpus int) fs.Filesystem {
	major, minor := fs.NewAnonDev()
	attr := func(mode uint32) synth.Attr {
		return synth.Attr{Mode: mode, DevMajor: major, DevMinor: minor, Ino: synth.NewIno()}
	}
	dir := func() *synth.Dir { return synth.NewDir(attr(0755)) }
	file := func(s string) *synth.File { return synth.StaticFile(attr(0444), s) }

	list := "0\n"
	if cpus > 1 {
		list = fmt.Sprintf("0-%d\n", cpus-1)
	}
	cpu := dir().
		Add("online", file(list)).
		Add("possible", file(list)).
		Add("present", file(list)).
		Add("offline", file("\n")).
		Add("kernel_max", file("8191\n"))
	node0 := dir().Add("cpulist", file(list))
	for i := 0; i < cpus; i++ {
		c := dir().Add("online", file("1\n"))
		cpu.Add(fmt.Sprintf("cpu%d", i), c)
		node0.Add(fmt.Sprintf("cpu%d", i), synth.StaticSymlink(attr(0777), fmt.Sprintf("../../cpu/cpu%d", i)))
	}
	node := dir().
		Add("online", file("0\n")).
		Add("possible", file("0\n")).
		Add("node0", node0)
	system := dir().Add("cpu", cpu).Add("node", node)
	thp := dir().
		Add("enabled", file("always madvise [never]\n")).
		Add("defrag", file("always defer defer+madvise madvise [never]\n"))
	root := dir().
		Add("devices", dir().Add("system", system)).
		Add("kernel", dir().Add("mm", dir().Add("transparent_hugepage", thp))).
		Add("fs", dir()).
		Add("class", dir()).
		Add("bus", dir())
	return &synth.Filesystem{RootDir: root, FSName: "sysfs", Magic: SysfsMagic}
}
