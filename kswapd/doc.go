// Package kswapd owns the sandbox's memory zone: the watermarks over the
// memory file (package memfile), a descriptor per frame with the LRU lists
// of anonymous and page-cache pages, page reclaim (kswapd0 in the
// background, direct reclaim in an allocating task), the swap file and the
// in-sandbox OOM killer. It is Linux's mm/page_alloc.c watermarks,
// mm/vmscan.c and mm/oom_kill.c, cut down to one node with one zone.
//
// # Who owns what
//
// The zone never touches a page's contents or mappings. Every page on an
// LRU list has an Owner (api.go): the memory manager for an anonymous page
// (key: its virtual address), the page cache for a file page (key: its
// file offset). Reclaim asks the owner to let go of a page
// (Owner.Reclaim: write it to swap or back to its file, unmap it, drop its
// references); when the last reference goes the memory file frees the frame
// and tells the zone through its free hook. Pages the platforms allocate
// from the memory file directly (stubs, page tables) are on no list: they
// only count as used.
//
// # Why a descriptor per frame
//
// The lists are threaded through an array of descriptors indexed by frame
// number (Linux's struct page): two uint32 links, the list, the flags
// (referenced, isolated), the owner and its key. Moving a page between
// lists, activating it on a fault and forgetting a freed frame are O(1)
// with no allocation and no map look-up, and the free hook can find the
// page of any frame the memory file frees.
//
// # Seeing use
//
// Neither platform tells the sentry which pages were accessed (ptrace has no
// access bits at all; KVM's guest page tables have them, but scanning them is
// the platform's business). Recent use is a software referenced bit, set by
// MarkAccessed, which the memory manager calls on every fault and the page
// cache on every read or write through it (mark_page_accessed: an inactive
// referenced page is activated). To observe the use of a page that is
// mapped, the zone deactivates it (Owner.Deactivate) when it moves from the
// active to the inactive list: the owner unmaps it from the platform address
// spaces (on ptrace an munmap in the stub, on KVM a cleared guest PTE and a
// TLB flush), so the next access faults and sets the bit again. A page that
// reaches the tail of an inactive list still unreferenced has not been
// touched since it was deactivated: it is reclaimed; a referenced one is
// activated instead (its second chance). Active pages at the tail of their
// list with the bit set are rotated (bit cleared) rather than deactivated.
//
// # Reclaim
//
// Watermarks are Linux's (watermark.go): below low an allocation wakes
// kswapd0, which reclaims until free memory is at high (balance_pgdat:
// passes at priority 12 down to 1 scanning lru_size >> priority pages of
// each list, 32 at a time, with a preemption point between batches); an
// allocation that would go below min fails and its caller reclaims itself
// (Reclaim: counts allocstall, then the same passes down to priority 0).
// File pages are scanned first; anonymous ones only when swap has free slots,
// in the ratio swappiness : 200-swappiness (get_scan_count). The inactive
// lists are refilled from the active ones whenever they fall below Linux's
// inactive_is_low ratio. When nothing can be reclaimed the OOM killer picks
// the candidate with the highest oom_badness (skipping oom_score_adj -1000),
// waits instead while a victim is still dying, kills, logs as Linux does and
// waits (at most a second) for the memory to come back.
//
// # Working set and thrashing
//
// Evicted file pages leave shadow entries; a page read back within a
// refault distance no larger than the file LRU is a working-set refault
// (workingset_refault_file) and is activated at once. When nearly all of a
// window of stolen file pages comes back that way, reclaim is thrashing the
// running programs' own text while what fills memory cannot go; the next
// direct reclaim calls the OOM killer instead of stealing more
// (workingset.go).
//
// # Locking
//
// Lock order, across packages:
//
//	mm.MemoryManager.mu -> mm cache object locks -> memfile.MemoryFile.mu -> Zone.mu (LRU lock, leaf)
//
// Zone.mu protects the descriptors and lists. The memory file's free hook
// takes it with memfile.MemoryFile.mu held, so a frame is forgotten before
// it can be allocated again. The zone never holds Zone.mu while it calls an
// Owner method or the memory file: a scanner isolates a batch under the lock
// (marks the pages isolated, takes them off their list, remembers each
// descriptor's generation), drops it, calls the owners, and re-takes it to
// put back what is left — skipping any frame whose generation changed
// (freed meanwhile). Swap.mu (slot bitmap) is a leaf. Zone.oomMu (Linux's
// oom_lock) is only ever TryLocked, so nothing waits for it: OOMCandidates
// is called with it held, Kill after it is released. Counters and gauges
// are atomics.
package kswapd
