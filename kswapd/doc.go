// Package kswapd will hold the sandbox's memory reclaim: watermarks over
// the memory file, active/inactive LRU lists for anonymous and file pages,
// the kswapd0 kthread, direct reclaim, swap and the in-sandbox OOM killer
// (issue 7). Nothing is implemented yet: the sandbox's memory is bounded
// only by the memory file's size (--total-memory), and an allocation that
// finds no free frame kills the faulting process with SIGKILL.
package kswapd
