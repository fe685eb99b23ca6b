/* SPDX-License-Identifier: MIT */
/*
 * vmstat_items.h - every uswap counter, declared once (X-macro).
 * EVENT(name): a monotonically increasing event counter, per group and global.
 * GAUGE(name): a current value computed when statistics are read.
 * Names follow /proc/vmstat and zram's mm_stat where the meaning is the same.
 */
EVENT(pgfault)		  /* faults handled (minor + major + spurious) */
EVENT(pgmajfault)	  /* faults that read from a swap device */
EVENT(pswpin)		  /* pages read from swap devices */
EVENT(pswpout)		  /* pages written to swap devices */
EVENT(pgfault_zero)	  /* first-touch faults filled with zeroes */
EVENT(pgfault_zero_around) /* never-touched pages mapped (zero page) around a sequential first touch */
EVENT(spurious_fault)	  /* fault found already resolved by another thread (SPEC row 1) */
EVENT(fault_refill)	  /* fault on a page the kernel dropped after uswap mapped it (a madvise
			   * racing with a fault on its range): zeroes mapped, as it asked */
EVENT(swapcache_hit)	  /* fault resolved from the swap cache: minor fault (row 5) */
EVENT(swpin_writeback)	  /* of those, pages mapped while their write was in flight (no wait) */
EVENT(swap_ra)		  /* pages read ahead (mapped with the faulting page); also in pswpin */
EVENT(swpin_move)	  /* pages swapped in by moving a warm pool frame in (no copy) */
EVENT(swap_ra_stride)	  /* read-ahead streams started by the trend detector (stride != 1) */
EVENT(swap_ra_cluster)	  /* pages read ahead into the swap cache by slot (cluster mode) */
EVENT(swap_read_batches)  /* batched device reads (one submission each) */
EVENT(swap_write_batches) /* batched device writes (one submission each) */
EVENT(swap_ra_hit)	  /* read-ahead pages the stream walked over */
EVENT(swpin_zero)	  /* refaults of pages evicted as zero (no slot, no I/O) */
EVENT(swpout_zero)	  /* evictions of all-zero pages (no slot, no I/O) */
EVENT(swpout_clean)	  /* evictions of clean pages whose slot still held their data */
EVENT(pgdeactivate)	  /* pages unmapped into the swap cache (inactive list) */
EVENT(pgactivate)	  /* pages mapped back from the swap cache (second chance) */
EVENT(pgscan_kswapd)	  /* pages scanned by background reclaim */
EVENT(pgscan_direct)	  /* pages scanned by direct reclaim */
EVENT(pgsteal_kswapd)	  /* pages freed by background reclaim */
EVENT(pgsteal_direct)	  /* pages freed by direct reclaim */
EVENT(allocstall)	  /* faults that entered direct reclaim */
EVENT(workingset_refault) /* swap-ins whose slot held a shadow */
EVENT(workingset_activate) /* refaults within the refault distance: activated */
EVENT(swpin_poison)	  /* pages poisoned: backend read error or checksum mismatch */
EVENT(swpout_fail)	  /* evictions undone: no slot, device full or write error */
EVENT(oom)		  /* charges that failed after reclaim (group OOM) */
EVENT(uffd_eagain)	  /* UFFDIO_* returned EAGAIN (mapping changing): retried */
EVENT(uffd_eexist)	  /* UFFDIO_* returned EEXIST (already mapped): treated as resolved */
EVENT(move_fail)	  /* pages UFFDIO_MOVE could not take (gone or busy): skipped */
EVENT(move_recovered)	  /* pages UFFDIO_MOVE moved out but did not count (a kernel error
			   * report): found in the page tables and evicted as moved */
EVENT(remove_pages)	  /* pages dropped by MADV_DONTNEED/REMOVE/munmap events */
EVENT(swapoff_pages)	  /* pages brought back by swapoff */
EVENT(colocate_follow)	  /* thread mode: the handler moved to the faulting thread's CPU */
EVENT(colocate_shared)	  /* thread mode: handler stopped following, several threads faulting */
EVENT(colocate_boost)	  /* thread mode: a starved handler raised to SCHED_OTHER by the guard */
EVENT(fault_ns)		  /* total nanoseconds spent resolving faults */
GAUGE(nr_resident)	  /* pages mapped in the program */
GAUGE(nr_swapcache)	  /* pages in the swap cache (pool) */
GAUGE(nr_swapped)	  /* slots in use on swap devices */
GAUGE(nr_usage)		  /* pages charged: resident + swap cache */
GAUGE(nr_limit)		  /* limit in pages (0 = none) */
GAUGE(nr_usage_max)	  /* peak of nr_usage */
GAUGE(swap_total)	  /* slots on all devices */
GAUGE(orig_data_size)	  /* zram mm_stat: bytes stored */
GAUGE(compr_data_size)	  /* zram mm_stat: compressed bytes */
GAUGE(mem_used_total)	  /* zram mm_stat: memory used by the store */
GAUGE(mem_limit)	  /* zram mm_stat */
GAUGE(mem_used_max)	  /* zram mm_stat */
GAUGE(same_pages)	  /* zram mm_stat */
GAUGE(pages_compacted)	  /* zram mm_stat */
GAUGE(huge_pages)	  /* zram mm_stat */
GAUGE(huge_pages_since)	  /* zram mm_stat */
GAUGE(dev_bytes_written)  /* bytes the swap devices wrote to their storage (file: the disk) */
GAUGE(dev_bytes_read)	  /* bytes the swap devices read from their storage */
GAUGE(pool_warm)	  /* free pool frames kept populated for swap-ins (memory, not charged) */
GAUGE(pool_warm_max)	  /* peak of pool_warm */
GAUGE(meta_bytes)	  /* uswap metadata: page tables, swap tables, pool frames, zram tables */
