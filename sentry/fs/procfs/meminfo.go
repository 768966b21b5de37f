package procfs

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/kswapd"
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/hostfs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/synth"
	"golang.org/x/sys/unix"
)

// The memory files: /proc/meminfo, /proc/vmstat, /proc/zoneinfo,
// /proc/swaps and /proc/sys/vm/*, all generated from one snapshot of the
// sandbox's memory zone (kswapd.Zone.Snapshot) taken when the file is
// opened, laid out as Linux lays them out. Fields the sandbox does not
// track print 0. The sysctls under /proc/sys/vm that Linux lets root
// write are writable and call the zone's setters (EINVAL for values Linux
// refuses).
//
// Locking: none of procfs's own; Snapshot takes the zone's locks.

// pageKB is the size of a page in KiB.
const pageKB = 4

// memSnapshot returns the zone's state, or one made from the memory file
// alone when the sandbox has no zone (unit tests).
func (p *procFS) memSnapshot() kswapd.Snapshot {
	if p.s.Zone != nil {
		return p.s.Zone.Snapshot()
	}
	var sn kswapd.Snapshot
	if p.s.MF != nil {
		sn.TotalPages = p.s.MF.TotalPages()
		used := p.s.MF.UsedPages()
		sn.FreePages = sn.TotalPages - min(used, sn.TotalPages)
		sn.ActiveAnon = used
	}
	return sn
}

// memAvailable estimates the pages that can be had without swapping, as
// Linux's si_mem_available: free pages above the reserve (the high
// watermark), plus the page cache less what reclaim would leave of it.
func memAvailable(sn kswapd.Snapshot) uint64 {
	avail := int64(sn.FreePages) - int64(sn.High)
	pagecache := int64(sn.ActiveFile + sn.InactiveFile)
	pagecache -= min(pagecache/2, int64(sn.Low))
	avail += pagecache
	return uint64(max(avail, 0))
}

// filePages is what Linux counts as NR_FILE_PAGES: the page cache
// including shared memory.
func filePages(sn kswapd.Snapshot) uint64 {
	return sn.ActiveFile + sn.InactiveFile + gauge(sn, kswapd.NrShmem)
}

func gauge(sn kswapd.Snapshot, s kswapd.Stat) uint64 {
	return uint64(max(sn.Stats[s], 0))
}

// dirtyPages is the zone's dirty page-cache pages plus the bytes waiting
// in hostfs write-behind buffers.
func dirtyPages(sn kswapd.Snapshot) uint64 {
	return gauge(sn, kswapd.NrDirty) + (uint64(hostfs.DirtyBytes())+4095)/4096
}

// meminfo generates /proc/meminfo (Linux 6.x field order).
func (p *procFS) meminfo(*fs.Context) string {
	sn := p.memSnapshot()
	anon := sn.ActiveAnon + sn.InactiveAnon
	shmem := gauge(sn, kswapd.NrShmem)
	swapUsed := sn.SwapTotal - min(sn.SwapFree, sn.SwapTotal)
	lines := []struct {
		k string
		v uint64 // pages, unless noted
	}{
		{"MemTotal", sn.TotalPages},
		{"MemFree", sn.FreePages},
		{"MemAvailable", memAvailable(sn)},
		{"Buffers", 0},
		{"Cached", filePages(sn)},
		{"SwapCached", 0},
		{"Active", sn.ActiveAnon + sn.ActiveFile},
		{"Inactive", sn.InactiveAnon + sn.InactiveFile},
		{"Active(anon)", sn.ActiveAnon},
		{"Inactive(anon)", sn.InactiveAnon},
		{"Active(file)", sn.ActiveFile},
		{"Inactive(file)", sn.InactiveFile},
		{"Unevictable", sn.Unevictable},
		{"Mlocked", 0},
		{"SwapTotal", sn.SwapTotal},
		{"SwapFree", sn.SwapFree},
		{"Zswap", 0},
		{"Zswapped", 0},
		{"Dirty", dirtyPages(sn)},
		{"Writeback", gauge(sn, kswapd.NrWriteback)},
		{"AnonPages", anon},
		{"Mapped", gauge(sn, kswapd.NrMapped)},
		{"Shmem", shmem},
		{"KReclaimable", 0},
		{"Slab", 0},
		{"SReclaimable", 0},
		{"SUnreclaim", 0},
		{"KernelStack", 0},
		{"PageTables", 0},
		{"SecPageTables", 0},
		{"NFS_Unstable", 0},
		{"Bounce", 0},
		{"WritebackTmp", 0},
		// vm.overcommit_ratio is 50.
		{"CommitLimit", sn.TotalPages/2 + sn.SwapTotal},
		{"Committed_AS", anon + shmem + swapUsed},
	}
	var b strings.Builder
	for _, l := range lines {
		fmt.Fprintf(&b, "%-16s%8d kB\n", l.k+":", l.v*pageKB)
	}
	for _, l := range []struct {
		k    string
		v    uint64
		unit string
	}{
		{"VmallocTotal", 34359738367, " kB"}, {"VmallocUsed", 0, " kB"}, {"VmallocChunk", 0, " kB"},
		{"Percpu", 0, " kB"}, {"HardwareCorrupted", 0, " kB"}, {"AnonHugePages", 0, " kB"},
		{"ShmemHugePages", 0, " kB"}, {"ShmemPmdMapped", 0, " kB"}, {"FileHugePages", 0, " kB"},
		{"FilePmdMapped", 0, " kB"}, {"HugePages_Total", 0, ""}, {"HugePages_Free", 0, ""},
		{"HugePages_Rsvd", 0, ""}, {"HugePages_Surp", 0, ""}, {"Hugepagesize", 2048, " kB"},
		{"Hugetlb", 0, " kB"}, {"DirectMap4k", sn.TotalPages * pageKB, " kB"},
	} {
		if len(l.k) > 15 {
			// Linux prints this one as "HardwareCorrupted: %5lu kB".
			fmt.Fprintf(&b, "%s: %5d%s\n", l.k, l.v, l.unit)
			continue
		}
		fmt.Fprintf(&b, "%-16s%8d%s\n", l.k+":", l.v, l.unit)
	}
	return b.String()
}

// vmstatLine is one name/value line of /proc/vmstat or /proc/zoneinfo.
type vmstatLine struct {
	k string
	v uint64
}

// zoneStats are the per-zone gauges (Linux's NR_ZONE_* items).
func zoneStats(sn kswapd.Snapshot) []vmstatLine {
	return []vmstatLine{
		{"nr_free_pages", sn.FreePages},
		{"nr_zone_inactive_anon", sn.InactiveAnon},
		{"nr_zone_active_anon", sn.ActiveAnon},
		{"nr_zone_inactive_file", sn.InactiveFile},
		{"nr_zone_active_file", sn.ActiveFile},
		{"nr_zone_unevictable", sn.Unevictable},
		{"nr_zone_write_pending", dirtyPages(sn) + gauge(sn, kswapd.NrWriteback)},
		{"nr_mlock", 0},
		{"nr_zspages", 0},
		{"nr_free_cma", 0},
	}
}

// nodeStats are the per-node gauges (Linux's node_stat_item), the
// workingset events among them.
func nodeStats(sn kswapd.Snapshot) []vmstatLine {
	return []vmstatLine{
		{"nr_inactive_anon", sn.InactiveAnon},
		{"nr_active_anon", sn.ActiveAnon},
		{"nr_inactive_file", sn.InactiveFile},
		{"nr_active_file", sn.ActiveFile},
		{"nr_unevictable", sn.Unevictable},
		{"nr_slab_reclaimable", 0},
		{"nr_slab_unreclaimable", 0},
		{"nr_isolated_anon", 0},
		{"nr_isolated_file", 0},
		{"workingset_nodes", 0},
		{"workingset_refault_anon", 0},
		{"workingset_refault_file", sn.Events[kswapd.WorkingsetRefault]},
		{"workingset_activate_anon", 0},
		{"workingset_activate_file", sn.Events[kswapd.WorkingsetRefault]}, // every working-set refault is activated
		{"workingset_restore_anon", 0},
		{"workingset_restore_file", 0},
		{"workingset_nodereclaim", 0},
		{"nr_anon_pages", sn.ActiveAnon + sn.InactiveAnon},
		{"nr_mapped", gauge(sn, kswapd.NrMapped)},
		{"nr_file_pages", filePages(sn)},
		{"nr_dirty", dirtyPages(sn)},
		{"nr_writeback", gauge(sn, kswapd.NrWriteback)},
		{"nr_shmem", gauge(sn, kswapd.NrShmem)},
		{"nr_shmem_hugepages", 0},
		{"nr_shmem_pmdmapped", 0},
		{"nr_file_hugepages", 0},
		{"nr_file_pmdmapped", 0},
		{"nr_anon_transparent_hugepages", 0},
		{"nr_vmscan_write", 0},
		{"nr_vmscan_immediate_reclaim", 0},
		{"nr_dirtied", 0},
		{"nr_written", 0},
		{"nr_kernel_misc_reclaimable", 0},
		{"nr_kernel_stack", 0},
		{"nr_page_table_pages", 0},
		{"nr_swapcached", 0},
	}
}

// vmstatEventOrder is Linux's order of the events the zone keeps (the
// rest of its events follow, in the zone's order).
var vmstatEventOrder = []kswapd.Event{
	kswapd.PgpgIn, kswapd.PgpgOut, kswapd.PswpIn, kswapd.PswpOut,
	kswapd.AllocStall, kswapd.PgActivate, kswapd.PgDeactivate,
	kswapd.PgFault, kswapd.PgMajFault,
	kswapd.PgStealKswapd, kswapd.PgStealDirect,
	kswapd.PgScanKswapd, kswapd.PgScanDirect,
	kswapd.KswapdLowWmarkHitQuickly, kswapd.KswapdHighWmarkHitQuickly,
	kswapd.DropPageCache, kswapd.OOMKill,
}

// vmstat generates /proc/vmstat: Linux's field names in Linux's order,
// for what the sandbox counts. pgpgin and pgpgout add the host-file I/O
// folded per CPU (vmstat.go) to the zone's own counts.
func (p *procFS) vmstat(*fs.Context) string {
	sn := p.memSnapshot()
	var b strings.Builder
	put := func(k string, v uint64) { fmt.Fprintf(&b, "%s %d\n", k, v) }
	for _, l := range zoneStats(sn) {
		put(l.k, l.v)
	}
	for _, l := range nodeStats(sn) {
		put(l.k, l.v)
	}
	// vm.dirty_ratio 20 and dirty_background_ratio 10 of what could hold
	// dirty data (free and page-cache pages).
	dirtyable := sn.FreePages + sn.ActiveFile + sn.InactiveFile
	put("nr_dirty_threshold", dirtyable*20/100)
	put("nr_dirty_background_threshold", dirtyable*10/100)
	// The workingset events are node statistics, printed above.
	seen := map[kswapd.Event]bool{kswapd.WorkingsetRefault: true}
	for _, e := range vmstatEventOrder {
		seen[e] = true
		v := sn.Events[e]
		switch e {
		case kswapd.PgpgIn:
			v += vmstatTotals.read.Load() / 1024
		case kswapd.PgpgOut:
			v += vmstatTotals.written.Load() / 1024
		}
		put(kswapd.EventNames[e], v)
	}
	for e := kswapd.Event(0); e < kswapd.NrEvents; e++ {
		if !seen[e] && kswapd.EventNames[e] != "" {
			put(kswapd.EventNames[e], sn.Events[e])
		}
	}
	return b.String()
}

// zoneinfo generates /proc/zoneinfo: one node with one zone, Normal,
// whose first lines carry the node's statistics, as Linux prints the
// first populated zone of a node.
func (p *procFS) zoneinfo(*fs.Context) string {
	sn := p.memSnapshot()
	var b strings.Builder
	b.WriteString("Node 0, zone   Normal\n  per-node stats\n")
	for _, l := range nodeStats(sn) {
		fmt.Fprintf(&b, "      %-12s %d\n", l.k, l.v)
	}
	fmt.Fprintf(&b, "  pages free     %d\n", sn.FreePages)
	for _, l := range []vmstatLine{
		{"boost", 0}, {"min", sn.Min}, {"low", sn.Low}, {"high", sn.High}, {"promo", sn.High},
		{"spanned", sn.TotalPages}, {"present", sn.TotalPages}, {"managed", sn.TotalPages}, {"cma", 0},
	} {
		fmt.Fprintf(&b, "        %-8s %d\n", l.k, l.v)
	}
	b.WriteString("        protection: (0, 0, 0, 0, 0)\n")
	for _, l := range zoneStats(sn) {
		fmt.Fprintf(&b, "      %-12s %d\n", l.k, l.v)
	}
	b.WriteString("  pagesets\n")
	for i := 0; i < p.s.Kernel.NumCPUs(); i++ {
		fmt.Fprintf(&b, "    cpu: %d\n              count: 0\n              high:  0\n              batch: 1\n  vm stats threshold: 0\n", i)
	}
	b.WriteString("  node_unreclaimable:  0\n  start_pfn:           0\n")
	return b.String()
}

// swaps generates /proc/swaps: the sandbox's swap file when --swap is
// given (the host file is unlinked; it is shown under a name of its own).
func (p *procFS) swaps(*fs.Context) string {
	const header = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
	sn := p.memSnapshot()
	if sn.SwapTotal == 0 {
		return header
	}
	const name = "/swapfile"
	size := sn.SwapTotal * pageKB
	used := (sn.SwapTotal - min(sn.SwapFree, sn.SwapTotal)) * pageKB
	tab := func(v uint64) string {
		if v < 10000000 {
			return "\t"
		}
		return ""
	}
	return fmt.Sprintf("%s%s%*s%s\t%d\t%s%d\t%s%d\n", header, name, 40-len(name), " ", "file\t", size, tab(size), used, tab(used), -2)
}

// parseSysctlInt parses what was written to an integer sysctl as Linux's
// proc_dointvec does: optional blanks, one decimal integer, optional
// trailing blanks. Anything else is EINVAL.
func parseSysctlInt(data []byte) (int64, error) {
	s := strings.TrimSpace(string(data))
	if s == "" {
		return 0, unix.EINVAL
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, unix.EINVAL
	}
	return v, nil
}

// sysctlSetter adapts a zone setter taking a non-negative value.
func sysctlSetter(set func(uint64) error) func(*fs.Context, []byte) error {
	return func(_ *fs.Context, data []byte) error {
		v, err := parseSysctlInt(data)
		if err != nil || v < 0 {
			return unix.EINVAL
		}
		if err := set(uint64(v)); err != nil {
			return unix.EINVAL
		}
		return nil
	}
}

// buildVM fills /proc/sys/vm.
func (p *procFS) buildVM(vm *synth.Dir) {
	z := p.s.Zone
	rw := func(name string, get func(kswapd.Snapshot) uint64, set func(uint64) error) {
		f := p.file(0644, func(*fs.Context) ([]byte, error) {
			return []byte(strconv.FormatUint(get(p.memSnapshot()), 10) + "\n"), nil
		})
		if z != nil {
			f.Set = sysctlSetter(set)
		}
		vm.Add(name, f)
	}
	rw("min_free_kbytes", func(sn kswapd.Snapshot) uint64 { return sn.MinFreeKbytes }, func(v uint64) error { return z.SetMinFreeKbytes(v) })
	rw("watermark_scale_factor", func(sn kswapd.Snapshot) uint64 { return sn.WatermarkScaleFactor }, func(v uint64) error { return z.SetWatermarkScaleFactor(v) })
	rw("swappiness", func(sn kswapd.Snapshot) uint64 { return sn.Swappiness }, func(v uint64) error { return z.SetSwappiness(v) })
	// drop_caches is write-only (0200; even root cannot read it): 1
	// frees the page cache, 2 the slab caches (the sandbox has none), 3
	// both; 4 only silences Linux's log line.
	drop := p.file(0200, func(*fs.Context) ([]byte, error) { return nil, unix.EACCES })
	drop.Set = func(ctx *fs.Context, data []byte) error {
		v, err := parseSysctlInt(data)
		if err != nil || v < 1 || v > 4 {
			return unix.EINVAL
		}
		if v&1 != 0 && z != nil {
			z.DropCaches(taskOfCtx(ctx), int(v))
		}
		return nil
	}
	vm.Add("drop_caches", drop)
	for _, s := range []struct{ name, value string }{
		{"overcommit_memory", "0"},
		{"overcommit_ratio", "50"},
		{"overcommit_kbytes", "0"},
		{"max_map_count", "65530"},
		{"mmap_min_addr", "65536"},
		{"dirty_ratio", "20"},
		{"dirty_background_ratio", "10"},
		{"dirty_bytes", "0"},
		{"dirty_background_bytes", "0"},
		{"dirty_writeback_centisecs", "500"},
		{"dirty_expire_centisecs", "3000"},
		{"vfs_cache_pressure", "100"},
		{"page-cluster", "3"},
		{"stat_interval", "1"},
		{"oom_kill_allocating_task", "0"},
		{"panic_on_oom", "0"},
		{"oom_dump_tasks", "1"},
		{"admin_reserve_kbytes", "8192"},
		{"user_reserve_kbytes", "131072"},
		{"lowmem_reserve_ratio", "256\t256\t32\t0\t0"},
	} {
		vm.Add(s.name, p.static(s.value+"\n"))
	}
}

func taskOfCtx(ctx *fs.Context) *kernel.Task {
	if ctx == nil {
		return nil
	}
	return ctx.Task
}
