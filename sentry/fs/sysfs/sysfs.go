// Package sysfs is the sandbox's /sys: the few files programs read to size
// themselves, describing the sandbox rather than the host. Without it the
// host's /sys shows through the read-only root, and glibc's
// sysconf(_SC_NPROCESSORS_ONLN) — Python's os.cpu_count(), make -j, Go's
// runtime on some paths — counts the host's CPUs instead of --cpus.
//
// It holds /sys/devices/system/cpu/{online,possible,present,kernel_max} and
// a cpuN directory per sandbox CPU with its topology (each CPU a core of
// its own on one package, as lscpu and hwloc read it),
// /sys/devices/system/node/node0 with its cpulist, cpumap and distance (for
// libnuma), and /sys/kernel/mm/transparent_hugepage/{enabled,defrag,
// hpage_pmd_size} (never: the sandbox has no huge pages). Everything else is absent (ENOENT), as in a
// kernel built without the subsystem.
//
// Locking: the tree is built once and never changes (synth's rules).
package sysfs

import (
	"fmt"
	"strings"

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

	all := make([]int, cpus)
	for i := range all {
		all[i] = i
	}
	list := cpuList(all) + "\n"
	allMask := cpuMask(all) + "\n"
	cpu := dir().
		Add("online", file(list)).
		Add("possible", file(list)).
		Add("present", file(list)).
		Add("offline", file("\n")).
		Add("kernel_max", file("8191\n"))
	node0 := dir().
		Add("cpulist", file(list)).
		Add("cpumap", file(allMask)).
		Add("distance", file("10\n"))
	for i := 0; i < cpus; i++ {
		// Each sandbox CPU is a core of its own on package 0, die 0,
		// without SMT siblings.
		self := cpuMask([]int{i}) + "\n"
		selfList := fmt.Sprintf("%d\n", i)
		topology := dir().
			Add("core_id", file(fmt.Sprintf("%d\n", i))).
			Add("physical_package_id", file("0\n")).
			Add("die_id", file("0\n")).
			Add("cluster_id", file("65535\n")).
			Add("thread_siblings", file(self)).
			Add("thread_siblings_list", file(selfList)).
			Add("core_cpus", file(self)).
			Add("core_cpus_list", file(selfList)).
			Add("cluster_cpus", file(self)).
			Add("cluster_cpus_list", file(selfList)).
			Add("core_siblings", file(allMask)).
			Add("core_siblings_list", file(list)).
			Add("die_cpus", file(allMask)).
			Add("die_cpus_list", file(list)).
			Add("package_cpus", file(allMask)).
			Add("package_cpus_list", file(list))
		c := dir().Add("online", file("1\n")).Add("topology", topology)
		cpu.Add(fmt.Sprintf("cpu%d", i), c)
		node0.Add(fmt.Sprintf("cpu%d", i), synth.StaticSymlink(attr(0777), fmt.Sprintf("../../cpu/cpu%d", i)))
	}
	node := dir().
		Add("online", file("0\n")).
		Add("possible", file("0\n")).
		Add("has_cpu", file("0\n")).
		Add("has_memory", file("0\n")).
		Add("has_normal_memory", file("0\n")).
		Add("node0", node0)
	system := dir().Add("cpu", cpu).Add("node", node)
	thp := dir().
		Add("enabled", file("always madvise [never]\n")).
		Add("defrag", file("always defer defer+madvise madvise [never]\n")).
		Add("hpage_pmd_size", file("2097152\n"))
	root := dir().
		Add("devices", dir().Add("system", system)).
		Add("kernel", dir().Add("mm", dir().Add("transparent_hugepage", thp))).
		Add("fs", dir()).
		Add("class", dir()).
		Add("bus", dir())
	return &synth.Filesystem{RootDir: root, FSName: "sysfs", Magic: SysfsMagic}
}

// cpuList formats CPU numbers (ascending) as Linux's cpulist: "0-3,5".
func cpuList(cpus []int) string {
	var b strings.Builder
	for i := 0; i < len(cpus); {
		j := i
		for j+1 < len(cpus) && cpus[j+1] == cpus[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		if j > i {
			fmt.Fprintf(&b, "%d-%d", cpus[i], cpus[j])
		} else {
			fmt.Fprintf(&b, "%d", cpus[i])
		}
		i = j + 1
	}
	return b.String()
}

// cpuMask formats CPU numbers as Linux's cpumask: hexadecimal in 32-bit
// words, most significant first, separated by commas ("3", "1,ffffffff").
func cpuMask(cpus []int) string {
	words := 1
	for _, c := range cpus {
		words = max(words, c/32+1)
	}
	w := make([]uint32, words)
	for _, c := range cpus {
		w[c/32] |= 1 << (c % 32)
	}
	parts := make([]string, words)
	for i := range w {
		f := "%08x"
		if i == words-1 {
			f = "%x"
		}
		parts[words-1-i] = fmt.Sprintf(f, w[i])
	}
	return strings.Join(parts, ",")
}
