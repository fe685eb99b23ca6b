/* SPDX-License-Identifier: MIT */
/*
 * file.c - the "file" backend: pages in a swap file or on a block device,
 * written with O_DIRECT through io_uring.
 *
 * kernel: the role of mm/swapfile.c's block device / swap file plus
 * mm/page_io.c's bio submission; this is uswap's own implementation of the
 * backend contract in backend.h.
 *
 * Spec: "file:PATH[:size=N | :N][:depth=D][:direct=auto|on|off]
 *        [:ring=thread|shared|none][:format]", e.g. "/var/tmp/uswap.swap:size=4G".
 *   PATH          absolute path of a regular file or block device; it may not
 *                 contain ':' (the spec separator)
 *   size=N, N     size of the file in bytes, header page included, a multiple
 *                 of 4096 of at least 4096 + 512 * 4096 (the header and one
 *                 cluster); N as parsed by backend_parse_size().  Required
 *                 to create a file; an existing uswap file keeps its size
 *                 unless size= is given (then it is truncated or extended);
 *                 a block device defaults to its whole size, and a larger
 *                 size= is refused
 *   depth=D       submission queue entries per ring, BK_MAX_BATCH..4096
 *                 (default BK_MAX_BATCH: one batch always fits)
 *   direct=       auto (default): O_DIRECT, or buffered I/O where the
 *                 filesystem refuses O_DIRECT; on: refuse such a
 *                 filesystem; off: buffered I/O (the page cache then holds
 *                 a second copy of swapped pages until the kernel drops it)
 *   ring=         thread (default): one io_uring per calling thread;
 *                 shared: one ring per device behind a mutex; none: plain
 *                 pread/pwrite (also what "thread" falls back to when
 *                 io_uring is not permitted, e.g. by seccomp or
 *                 kernel.io_uring_disabled)
 *   format        allow overwriting an existing file or block device that
 *                 does not carry a uswap header (without it, such a target
 *                 is refused: it is somebody's data)
 *
 * Layout
 *   Page 0 is the header (struct file_header): magic, version, page size,
 *   size, a random uuid (getrandom) made at each swapon, the pid of the
 *   instance using it, and an xxh3 checksum.  Slot s is the page at offset
 *   4096 * (s + 1).  The contents do not survive the instance: swap holds no
 *   data across restarts, so a reused file has its data area punched out at
 *   swapon (no stale pages of a previous program linger on disk).
 *
 * Creation, reuse, locking
 *   A missing file is created with O_CREAT | O_EXCL, mode 0600, sparse (its
 *   blocks are allocated by the writes, and given back by punching; a
 *   filesystem that fills up makes write() fail with -ENOSPC, which the
 *   core treats as a full device).  An existing file is reused if it has a
 *   uswap header (or is empty) and is not in use; its mode is forced to
 *   0600.  "In use" is an flock(LOCK_EX | LOCK_NB) held for the life of the
 *   instance: a second instance (in this or another process) is refused
 *   with -EBUSY and "in use by another uswap (pid N)", N read from the
 *   header.  A block device is also opened O_EXCL (the kernel then refuses
 *   it while mounted).
 *
 * Errors of create()
 *   -EINVAL bad spec, size, or a target that is not a uswap file (message in
 *   err); system errors are passed through with a message: -ENOENT (the
 *   directory is missing), -EACCES / -EPERM / -EROFS (not writable), -EBUSY
 *   (in use), -ENOSPC (cannot write the header).  Passing them on tells the
 *   caller more than -EINVAL would.
 *
 * Slot table
 *   The core gives a hash with each page; it is kept here in RAM, 8 bytes
 *   per slot, with an occupancy bitmap and a live count per 512-slot
 *   cluster, in chunks of 8 Ki slots mmap'd on the first write into them
 *   (as zram.c does).  read() returns the hash with hash_valid = true, so a
 *   block corrupted on disk is caught by the core, which poisons the page.
 *   matches() compares hashes: a clean page is evicted without a write.
 *
 * Discard
 *   discard() only clears the slot's bit.  When a cluster's live count
 *   drops to 0, its 2 MiB are given back: fallocate(PUNCH_HOLE | KEEP_SIZE)
 *   on a file, BLKDISCARD on a block device (nothing if unsupported).  The
 *   core allocates slots sequentially within clusters, so this frees whole
 *   extents.  A writer that lands in a cluster being punched waits for the
 *   punch to finish before its I/O (PUNCHING bit of the live count).
 *
 * io_uring and concurrency
 *   Rings are per thread, not per device: one ring in thread-local storage
 *   serves every file device of the process (an SQE names its fd), is set
 *   up on the first I/O of the thread (IORING_SETUP_SINGLE_ISSUER |
 *   DEFER_TASKRUN where the kernel has them) and torn down by a pthread
 *   key destructor when the thread exits.  No lock is taken on the I/O
 *   path.  ring=shared is the alternative measured against it
 *   (bench/bench_file.c, 2 vCPUs, ext4 on virtio, 4 threads, batches of
 *   64: per-thread rings 200-550 MB/s, shared ring 40-170 MB/s, pwrite and
 *   pread 20-50 MB/s; one thread: about equal): a shared ring behind a
 *   mutex holds the lock across submit-and-wait, so one thread's batch
 *   waits for another's completions and the device never sees two batches
 *   at once; per-thread rings keep several batches in flight.  Single-page
 *   ops cost the same either way (one io_uring_enter against one pread):
 *   batching is what pays, 5-20x per page on reads and rewrites.
 *
 * read() from a SIGBUS handler
 *   read() never calls malloc and never waits for a lock.  The per-thread
 *   ring has a busy flag: if the handler interrupted its own thread inside
 *   an I/O on that ring (or the thread has no ring yet), read() uses
 *   pread() on the same fd instead.  A thread's first I/O sets its ring
 *   up, reads included (a fault handler thread may only ever read, and its
 *   read-ahead batches need the ring): busy is raised before set-up, so a
 *   signal arriving during it falls back to pread; io_uring_queue_init only
 *   makes system calls (io_uring_setup, mmap; liburing 2.x allocates in
 *   its probe functions only); the pthread key is created at swapon, and
 *   pthread_setspecific() of a key below 32 stores into the thread
 *   descriptor without allocating (glibc's first-level block) - with a
 *   larger key (a process with many keys) only writes set rings up, and a
 *   thread that only reads uses pread.  With ring=shared,
 *   read() only trylocks the mutex and falls back to pread().  A buffer
 *   that is not 4096-aligned is bounced through an mmap'd page (mmap is
 *   async-signal-safe).
 */
#include "backend/backend.h"
#include "backend/file.h"
#include "sys.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <xxhash.h>

#define FILE_MAGIC "USWAPSWP"
#define FILE_VERSION 1u
#define FILE_HDR_BYTES USWAP_PAGE_SIZE
#define FILE_CLUSTER 512u /* slots per cluster: the core's SWAPFILE_CLUSTER */
#define FILE_CHUNK_SHIFT 13u
#define FILE_CHUNK_SLOTS (1u << FILE_CHUNK_SHIFT)
#define FILE_CHUNK_CLUSTERS (FILE_CHUNK_SLOTS / FILE_CLUSTER)
#define FILE_MIN_BYTES (FILE_HDR_BYTES + (uint64_t)FILE_CLUSTER * USWAP_PAGE_SIZE)
#define FILE_MAX_SLOTS (UINT64_C(1) << 36)
#define FILE_PUNCHING (UINT32_C(1) << 31) /* in cluster live count: punch in progress */
#define FILE_DEPTH_MAX 4096u

_Static_assert(FILE_CHUNK_SLOTS % FILE_CLUSTER == 0, "a chunk holds whole clusters");

/* Page 0.  Little-endian fields (the file does not outlive its host anyway). */
struct file_header {
	char magic[8];
	uint32_t version;
	uint32_t page_size;
	uint64_t size_bytes; /* the whole file, header page included */
	uint64_t nr_slots;
	uint8_t uuid[16];
	uint32_t pid; /* of the instance that uses it; informative */
	uint32_t pad;
	uint64_t checksum; /* xxh3 of the bytes before it */
};

/* Lazily mapped table for FILE_CHUNK_SLOTS slots. */
struct file_chunk {
	_Atomic uint64_t hash[FILE_CHUNK_SLOTS];
	_Atomic uint64_t bits[FILE_CHUNK_SLOTS / 64];
	_Atomic uint32_t live[FILE_CHUNK_CLUSTERS]; /* | FILE_PUNCHING */
};

struct file_dev {
	int fd;
	bool direct, blkdev, can_discard;
	enum file_ring_mode ring_mode;
	unsigned int depth;
	uint64_t nr_slots;
	uint64_t size_bytes;
	size_t nr_chunks;
	_Atomic(struct file_chunk *) *chunks;
	uint8_t uuid[16];
	char path[128];

	pthread_mutex_t shared_lock; /* ring=shared: protects shared_ring */
	struct io_uring shared_ring;
	bool shared_ready;

	_Atomic uint64_t nr_stored, table_bytes;
	_Atomic uint64_t bytes_written, bytes_read, writes, reads, nr_punched;
};

/* ---- per-thread rings ---- */

struct file_ring {
	struct io_uring ring;
	bool ready;
	bool failed; /* set-up failed once: this thread uses pread/pwrite */
	volatile sig_atomic_t busy;
};

static __thread struct file_ring tls_ring;
static pthread_key_t ring_key;
static pthread_once_t ring_once = PTHREAD_ONCE_INIT;
static int ring_key_err;
static bool ring_key_small; /* pthread_setspecific will not allocate (see above) */
static atomic_uint ring_depth_max = BK_MAX_BATCH; /* largest depth= of any instance */

static void ring_thread_exit(void *p)
{
	struct file_ring *r = p;

	if (r->ready)
		io_uring_queue_exit(&r->ring);
	r->ready = false;
}

/* Once per process, at the first swapon (never on a signal path). */
static void ring_key_init(void)
{
	ring_key_err = pthread_key_create(&ring_key, ring_thread_exit);
	ring_key_small = !ring_key_err && (unsigned long)ring_key < 32;
}

static int ring_setup(struct io_uring *ring, unsigned int depth, bool single_issuer)
{
	int ret = -EINVAL;

#ifdef IORING_SETUP_DEFER_TASKRUN
	if (single_issuer)
		ret = io_uring_queue_init(depth, ring,
					  IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN);
#endif
	if (ret == -EINVAL)
		ret = io_uring_queue_init(depth, ring, 0);
	return ret;
}

/*
 * Take this thread's ring for one operation, setting it up on first use.
 * @write: a write path (never a signal handler), where set-up may allocate.
 * Context: signal-safe when !@write.  Return: the ring (busy set), or
 * NULL: use pread/pwrite.
 */
static struct file_ring *ring_get(bool write)
{
	struct file_ring *r = &tls_ring;

	if (r->busy || r->failed)
		return NULL;
	if (!r->ready && (ring_key_err || (!write && !ring_key_small)))
		return NULL;
	r->busy = 1; /* before set-up: a signal handler arriving now uses pread */
	atomic_signal_fence(memory_order_seq_cst);
	if (!r->ready) {
		if (ring_setup(&r->ring, atomic_load(&ring_depth_max), true) < 0) {
			r->failed = true;
			goto out_idle;
		}
		if (pthread_setspecific(ring_key, r)) {
			io_uring_queue_exit(&r->ring);
			r->failed = true;
			goto out_idle;
		}
		r->ready = true;
	}
	return r;

out_idle:
	atomic_signal_fence(memory_order_seq_cst);
	r->busy = 0;
	return NULL;
}

static void ring_put(struct file_ring *r)
{
	atomic_signal_fence(memory_order_seq_cst);
	r->busy = 0;
}

/* ---- I/O ---- */

struct file_io {
	uint64_t slot;
	void *buf; /* aligned buffer given to the kernel */
	int res;   /* 0 or -errno */
};

static off_t slot_off(uint64_t slot)
{
	return (off_t)(FILE_HDR_BYTES + slot * USWAP_PAGE_SIZE);
}

static int io_result(ssize_t n)
{
	if (n == (ssize_t)USWAP_PAGE_SIZE)
		return 0;
	if (n == -ENOSPC || n == -EDQUOT)
		return -ENOSPC;
	return -EIO; /* error or short transfer */
}

/* Synchronous fallback, signal-safe (pread/pwrite are). */
static void io_sync(struct file_dev *f, bool write, struct file_io *io, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		ssize_t r;

		do {
			r = write ? pwrite(f->fd, io[i].buf, USWAP_PAGE_SIZE, slot_off(io[i].slot))
				  : pread(f->fd, io[i].buf, USWAP_PAGE_SIZE, slot_off(io[i].slot));
		} while (r < 0 && errno == EINTR);
		io[i].res = io_result(r < 0 ? -errno : r);
	}
}

/* Submit @n I/Os on @ring in one io_uring_enter and reap them all. */
static void io_ring(struct file_dev *f, struct io_uring *ring, bool write, struct file_io *io,
		    unsigned int n)
{
	unsigned int queued = 0, done = 0;
	int ret;

	for (unsigned int i = 0; i < n; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

		if (!sqe)
			break; /* cannot happen: depth >= BK_MAX_BATCH and the ring is drained */
		if (write)
			io_uring_prep_write(sqe, f->fd, io[i].buf, USWAP_PAGE_SIZE,
					    (uint64_t)slot_off(io[i].slot));
		else
			io_uring_prep_read(sqe, f->fd, io[i].buf, USWAP_PAGE_SIZE,
					   (uint64_t)slot_off(io[i].slot));
		io_uring_sqe_set_data64(sqe, i);
		io[i].res = -EIO; /* until its completion says otherwise */
		queued++;
	}
	do {
		ret = io_uring_submit_and_wait(ring, queued);
	} while (ret == -EINTR);
	if (ret < 0) {
		/* Nothing was submitted: drop the SQEs by completing synchronously. */
		io_sync(f, write, io, n);
		return;
	}
	while (done < queued) {
		struct io_uring_cqe *cqe;

		ret = io_uring_wait_cqe(ring, &cqe);
		if (ret == -EINTR || ret == -EAGAIN)
			continue;
		if (ret < 0)
			break;
		io[io_uring_cqe_get_data64(cqe)].res = io_result(cqe->res);
		io_uring_cqe_seen(ring, cqe);
		done++;
	}
	if (queued < n)
		io_sync(f, write, io + queued, n - queued);
}

/*
 * Do @n page I/Os, in one submission where a ring is available.  @may_block:
 * not a read (a read may run in a signal handler: it never waits for the
 * shared ring's mutex, and sets a ring up only where that cannot allocate).
 */
static void file_io(struct file_dev *f, bool write, struct file_io *io, unsigned int n,
		    bool may_block)
{
	struct file_ring *r;

	switch (f->ring_mode) {
	case FILE_RING_THREAD:
		r = ring_get(may_block);
		if (!r)
			break;
		io_ring(f, &r->ring, write, io, n);
		ring_put(r);
		goto out;
	case FILE_RING_SHARED:
		/* read() may run in a signal handler: never wait for the mutex there. */
		if (may_block ? pthread_mutex_lock(&f->shared_lock)
			       : pthread_mutex_trylock(&f->shared_lock))
			break;
		io_ring(f, &f->shared_ring, write, io, n);
		pthread_mutex_unlock(&f->shared_lock);
		goto out;
	case FILE_RING_NONE:
		break;
	}
	io_sync(f, write, io, n);
out:
	for (unsigned int i = 0; i < n; i++) {
		if (io[i].res)
			continue;
		atomic_fetch_add_explicit(write ? &f->writes : &f->reads, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(write ? &f->bytes_written : &f->bytes_read,
					  USWAP_PAGE_SIZE, memory_order_relaxed);
	}
}

/* ---- slot table ---- */

static struct file_chunk *chunk_of(const struct file_dev *f, uint64_t slot)
{
	return atomic_load_explicit(&f->chunks[slot >> FILE_CHUNK_SHIFT], memory_order_acquire);
}

static int chunk_alloc(struct file_dev *f, uint64_t slot, struct file_chunk **cp)
{
	_Atomic(struct file_chunk *) *p = &f->chunks[slot >> FILE_CHUNK_SHIFT];
	struct file_chunk *c = atomic_load_explicit(p, memory_order_acquire), *expected = NULL;

	if (!c) {
		c = sys_mmap(NULL, sizeof(*c), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			     -1, 0);
		if (c == MAP_FAILED)
			return -ENOMEM;
		if (atomic_compare_exchange_strong_explicit(p, &expected, c, memory_order_acq_rel,
							    memory_order_acquire)) {
			atomic_fetch_add_explicit(&f->table_bytes, sizeof(*c), memory_order_relaxed);
		} else {
			sys_munmap(c, sizeof(*c));
			c = expected;
		}
	}
	*cp = c;
	return 0;
}

static unsigned int slot_idx(uint64_t slot)
{
	return (unsigned int)(slot & (FILE_CHUNK_SLOTS - 1));
}

static bool slot_test(const struct file_chunk *c, uint64_t slot)
{
	unsigned int i = slot_idx(slot);

	return atomic_load_explicit(&c->bits[i / 64], memory_order_acquire) &
	       (UINT64_C(1) << (i % 64));
}

static _Atomic uint32_t *cluster_live(struct file_chunk *c, uint64_t slot)
{
	return &c->live[slot_idx(slot) / FILE_CLUSTER];
}

/* Give back the space of cluster @ci.  Context: its live count holds FILE_PUNCHING. */
static void cluster_punch(struct file_dev *f, uint64_t ci)
{
	uint64_t first = ci * FILE_CLUSTER;
	uint64_t n = f->nr_slots - first < FILE_CLUSTER ? f->nr_slots - first : FILE_CLUSTER;
	uint64_t range[2] = { (uint64_t)slot_off(first), n * USWAP_PAGE_SIZE };

	if (!f->can_discard)
		return;
	if (f->blkdev ? ioctl(f->fd, BLKDISCARD, range)
		      : fallocate(f->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				  (off_t)range[0], (off_t)range[1])) {
		if (errno == EOPNOTSUPP || errno == ENOTTY)
			f->can_discard = false; /* benign race: only an optimisation is lost */
		return;
	}
	atomic_fetch_add_explicit(&f->nr_punched, 1, memory_order_relaxed);
}

/* Mark @slot live before its write.  Return: true if it was empty. */
static bool slot_get(struct file_dev *f, struct file_chunk *c, uint64_t slot)
{
	_Atomic uint32_t *live = cluster_live(c, slot);
	unsigned int i = slot_idx(slot);
	uint64_t bit = UINT64_C(1) << (i % 64);
	uint32_t old;

	/* Raise the count first: from now on nobody starts a punch of this cluster. */
	old = atomic_fetch_add_explicit(live, 1, memory_order_acq_rel);
	while (old & FILE_PUNCHING) {
		sched_yield(); /* a punch started before us: our write must come after it */
		old = atomic_load_explicit(live, memory_order_acquire);
	}
	if (atomic_fetch_or_explicit(&c->bits[i / 64], bit, memory_order_acq_rel) & bit) {
		atomic_fetch_sub_explicit(live, 1, memory_order_relaxed); /* overwrite */
		return false;
	}
	atomic_fetch_add_explicit(&f->nr_stored, 1, memory_order_relaxed);
	return true;
}

/* Mark @slot empty; punch its cluster if it was the last live slot. */
static void slot_put(struct file_dev *f, struct file_chunk *c, uint64_t slot)
{
	_Atomic uint32_t *live = cluster_live(c, slot);
	unsigned int i = slot_idx(slot);
	uint64_t bit = UINT64_C(1) << (i % 64);
	uint32_t zero = 0;

	if (!(atomic_fetch_and_explicit(&c->bits[i / 64], ~bit, memory_order_acq_rel) & bit))
		return;
	atomic_fetch_sub_explicit(&f->nr_stored, 1, memory_order_relaxed);
	if (atomic_fetch_sub_explicit(live, 1, memory_order_acq_rel) != 1)
		return;
	/* A writer that raced in after our decrement makes this CAS fail: no punch. */
	if (!atomic_compare_exchange_strong_explicit(live, &zero, FILE_PUNCHING,
						     memory_order_acq_rel, memory_order_relaxed))
		return;
	cluster_punch(f, slot / FILE_CLUSTER);
	atomic_fetch_and_explicit(live, ~FILE_PUNCHING, memory_order_release);
}

/* ---- aligned buffers ---- */

static bool aligned(const void *p)
{
	return ((uintptr_t)p & (USWAP_PAGE_SIZE - 1)) == 0;
}

/* A page to bounce an unaligned O_DIRECT buffer through.  Signal-safe (mmap). */
static void *bounce_get(void)
{
	void *p = sys_mmap(NULL, USWAP_PAGE_SIZE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* ---- ops: write ---- */

static int file_write_batch(void *priv, unsigned int n, const uint64_t *slots,
			    const void *const *pages, const uint64_t *hashes, int *rc)
{
	struct file_dev *f = priv;
	struct file_io io[BK_MAX_BATCH];
	struct file_chunk *chunk[BK_MAX_BATCH];
	unsigned int idx[BK_MAX_BATCH], m = 0;
	int first = 0;

	if (n > BK_MAX_BATCH)
		return -EINVAL;
	for (unsigned int i = 0; i < n; i++) {
		rc[i] = slots[i] >= f->nr_slots ? -EINVAL : chunk_alloc(f, slots[i], &chunk[i]);
		if (rc[i])
			continue;
		slot_get(f, chunk[i], slots[i]);
		io[m] = (struct file_io){ .slot = slots[i], .buf = (void *)pages[i] };
		if (f->direct && !aligned(pages[i])) {
			io[m].buf = bounce_get();
			if (!io[m].buf) {
				slot_put(f, chunk[i], slots[i]);
				rc[i] = -ENOMEM;
				continue;
			}
			memcpy(io[m].buf, pages[i], USWAP_PAGE_SIZE);
		}
		idx[m++] = i;
	}
	if (m)
		file_io(f, true, io, m, true);
	for (unsigned int k = 0; k < m; k++) {
		unsigned int i = idx[k];

		if (io[k].buf != pages[i])
			sys_munmap(io[k].buf, USWAP_PAGE_SIZE);
		rc[i] = io[k].res;
		if (rc[i] == 0)
			atomic_store_explicit(&chunk[i]->hash[slot_idx(slots[i])], hashes[i],
					      memory_order_release);
		else
			slot_put(f, chunk[i], slots[i]); /* the old content may be torn: gone */
	}
	for (unsigned int i = 0; i < n; i++)
		if (rc[i] && !first)
			first = rc[i];
	return first;
}

static int file_write(void *priv, uint64_t slot, const void *page, uint64_t hash)
{
	int rc;

	file_write_batch(priv, 1, &slot, &page, &hash, &rc);
	return rc;
}

/* ---- ops: read ---- */

static int file_read_common(struct file_dev *f, unsigned int n, const uint64_t *slots,
			    void *const *pages, uint64_t *hashes, bool *hash_valid, int *rc)
{
	struct file_io io[BK_MAX_BATCH];
	unsigned int idx[BK_MAX_BATCH], m = 0;
	int first = 0;

	if (n > BK_MAX_BATCH)
		return -EINVAL;
	for (unsigned int i = 0; i < n; i++) {
		struct file_chunk *c;

		hash_valid[i] = false;
		if (slots[i] >= f->nr_slots) {
			rc[i] = -EINVAL;
			continue;
		}
		c = chunk_of(f, slots[i]);
		if (!c || !slot_test(c, slots[i])) {
			rc[i] = -ENOENT;
			continue;
		}
		hashes[i] = atomic_load_explicit(&c->hash[slot_idx(slots[i])], memory_order_acquire);
		io[m] = (struct file_io){ .slot = slots[i], .buf = pages[i] };
		if (f->direct && !aligned(pages[i]) && !(io[m].buf = bounce_get())) {
			rc[i] = -ENOMEM;
			continue;
		}
		rc[i] = 0;
		idx[m++] = i;
	}
	if (m)
		file_io(f, false, io, m, false);
	for (unsigned int k = 0; k < m; k++) {
		unsigned int i = idx[k];

		rc[i] = io[k].res;
		if (io[k].buf != pages[i]) {
			if (!rc[i])
				memcpy(pages[i], io[k].buf, USWAP_PAGE_SIZE);
			sys_munmap(io[k].buf, USWAP_PAGE_SIZE);
		}
		hash_valid[i] = rc[i] == 0;
	}
	for (unsigned int i = 0; i < n; i++)
		if (rc[i] && !first)
			first = rc[i];
	return first;
}

static int file_read_batch(void *priv, unsigned int n, const uint64_t *slots, void *const *pages,
			   uint64_t *hashes, bool *hash_valid, int *rc)
{
	return file_read_common(priv, n, slots, pages, hashes, hash_valid, rc);
}

static int file_read(void *priv, uint64_t slot, void *page, uint64_t *hash, bool *hash_valid)
{
	int rc;

	file_read_common(priv, 1, &slot, &page, hash, hash_valid, &rc);
	return rc;
}

/* ---- ops: discard, matches, stat ---- */

static int file_discard(void *priv, uint64_t slot)
{
	struct file_dev *f = priv;
	struct file_chunk *c;

	if (slot >= f->nr_slots)
		return -EINVAL;
	c = chunk_of(f, slot);
	if (c)
		slot_put(f, c, slot);
	return 0;
}

static int file_matches(void *priv, uint64_t slot, const void *page, uint64_t hash)
{
	struct file_dev *f = priv;
	struct file_chunk *c;

	if (slot >= f->nr_slots)
		return -EINVAL;
	c = chunk_of(f, slot);
	if (!c || !slot_test(c, slot))
		return -ENOENT;
	return atomic_load_explicit(&c->hash[slot_idx(slot)], memory_order_acquire) == hash;
}

static uint64_t file_fixed_meta(const struct file_dev *f)
{
	return sizeof(*f) + f->nr_chunks * sizeof(*f->chunks);
}

static int file_stat(void *priv, struct backend_stat *st)
{
	struct file_dev *f = priv;

	memset(st, 0, sizeof(*st));
	st->nr_stored = atomic_load_explicit(&f->nr_stored, memory_order_relaxed);
	st->orig_data_size = st->nr_stored * USWAP_PAGE_SIZE;
	st->compr_data_size = st->orig_data_size; /* stored raw */
	st->slot_table_bytes = atomic_load_explicit(&f->table_bytes, memory_order_relaxed);
	st->meta_bytes = st->slot_table_bytes + file_fixed_meta(f);
	st->mem_used_total = st->meta_bytes; /* the pages themselves are on disk */
	st->mem_used_max = st->mem_used_total; /* tables never shrink */
	st->bytes_written = atomic_load_explicit(&f->bytes_written, memory_order_relaxed);
	st->bytes_read = atomic_load_explicit(&f->bytes_read, memory_order_relaxed);
	st->writes = atomic_load_explicit(&f->writes, memory_order_relaxed);
	st->reads = atomic_load_explicit(&f->reads, memory_order_relaxed);
	return 0;
}

int file_backend_info(void *priv, struct file_info *info)
{
	struct file_dev *f = priv;

	memset(info, 0, sizeof(*info));
	info->direct = f->direct;
	info->blkdev = f->blkdev;
	info->can_discard = f->can_discard;
	info->ring_mode = f->ring_mode;
	info->size_bytes = f->size_bytes;
	info->nr_punched = atomic_load_explicit(&f->nr_punched, memory_order_relaxed);
	memcpy(info->uuid, f->uuid, sizeof(info->uuid));
	return 0;
}

/* ---- spec ---- */

struct file_cfg {
	char path[128];
	uint64_t size;
	unsigned int depth;
	enum { DIRECT_AUTO, DIRECT_ON, DIRECT_OFF } direct;
	enum file_ring_mode ring;
	bool have_size, have_depth, have_direct, have_ring, format;
};

static bool tok_is(const char *t, size_t n, const char *word)
{
	return strlen(word) == n && memcmp(t, word, n) == 0;
}

static int parse_size(struct file_cfg *cfg, const char *val, char *err, size_t err_len)
{
	if (cfg->have_size)
		return backend_error(-EINVAL, err, err_len, "file: size given twice");
	cfg->have_size = true;
	if (backend_parse_size(val, &cfg->size))
		return backend_error(-EINVAL, err, err_len, "file: bad size '%s'", val);
	if (cfg->size % USWAP_PAGE_SIZE)
		return backend_error(-EINVAL, err, err_len, "file: size=%s is not a multiple of 4096",
				  val);
	if (cfg->size < FILE_MIN_BYTES)
		return backend_error(-EINVAL, err, err_len,
				  "file: size=%s too small: at least %llu bytes (a header page and "
				  "one 512-page cluster)",
				  val, (unsigned long long)FILE_MIN_BYTES);
	if (cfg->size / USWAP_PAGE_SIZE - 1 > FILE_MAX_SLOTS)
		return backend_error(-EINVAL, err, err_len, "file: size=%s exceeds 2^36 pages", val);
	return 0;
}

static int spec_token(struct file_cfg *cfg, const char *t, size_t n, char *err, size_t err_len)
{
	const char *eq = memchr(t, '=', n);
	char val[64];
	size_t klen, vlen;

	if (n == 0)
		return backend_error(-EINVAL, err, err_len, "file: empty option (stray ':')");
	if (!eq) {
		if (tok_is(t, n, "format")) {
			cfg->format = true;
			return 0;
		}
		if (n < sizeof(val) && *t >= '0' && *t <= '9') {
			memcpy(val, t, n);
			val[n] = '\0';
			return parse_size(cfg, val, err, err_len);
		}
		return backend_error(-EINVAL, err, err_len,
				  "file: unknown option '%.*s' (size=, depth=, direct=, ring=, "
				  "format)",
				  (int)n, t);
	}
	klen = (size_t)(eq - t);
	vlen = n - klen - 1;
	if (vlen == 0 || vlen >= sizeof(val))
		return backend_error(-EINVAL, err, err_len, "file: bad value for '%.*s'", (int)klen, t);
	memcpy(val, eq + 1, vlen);
	val[vlen] = '\0';

	if (tok_is(t, klen, "size"))
		return parse_size(cfg, val, err, err_len);
	if (tok_is(t, klen, "depth")) {
		char *end;
		long d;

		if (cfg->have_depth)
			return backend_error(-EINVAL, err, err_len, "file: depth= given twice");
		cfg->have_depth = true;
		errno = 0;
		d = strtol(val, &end, 10);
		if (errno || *end || end == val || d < (long)BK_MAX_BATCH || d > FILE_DEPTH_MAX)
			return backend_error(-EINVAL, err, err_len, "file: bad depth '%s' (%u..%u)",
					  val, BK_MAX_BATCH, FILE_DEPTH_MAX);
		cfg->depth = (unsigned int)d;
		return 0;
	}
	if (tok_is(t, klen, "direct")) {
		if (cfg->have_direct)
			return backend_error(-EINVAL, err, err_len, "file: direct= given twice");
		cfg->have_direct = true;
		if (!strcmp(val, "auto"))
			cfg->direct = DIRECT_AUTO;
		else if (!strcmp(val, "on"))
			cfg->direct = DIRECT_ON;
		else if (!strcmp(val, "off"))
			cfg->direct = DIRECT_OFF;
		else
			return backend_error(-EINVAL, err, err_len,
					  "file: bad direct '%s' (auto, on, off)", val);
		return 0;
	}
	if (tok_is(t, klen, "ring")) {
		if (cfg->have_ring)
			return backend_error(-EINVAL, err, err_len, "file: ring= given twice");
		cfg->have_ring = true;
		if (!strcmp(val, "thread"))
			cfg->ring = FILE_RING_THREAD;
		else if (!strcmp(val, "shared"))
			cfg->ring = FILE_RING_SHARED;
		else if (!strcmp(val, "none"))
			cfg->ring = FILE_RING_NONE;
		else
			return backend_error(-EINVAL, err, err_len,
					  "file: bad ring '%s' (thread, shared, none)", val);
		return 0;
	}
	return backend_error(-EINVAL, err, err_len,
			  "file: unknown option '%.*s' (size=, depth=, direct=, ring=, format)",
			  (int)klen, t);
}

static int spec_parse(const char *args, struct file_cfg *cfg, char *err, size_t err_len)
{
	const char *p = args ? args : "", *end = strchr(p, ':');
	size_t n = end ? (size_t)(end - p) : strlen(p);

	memset(cfg, 0, sizeof(*cfg));
	cfg->depth = BK_MAX_BATCH;
	cfg->ring = FILE_RING_THREAD;
	if (n == 0)
		return backend_error(-EINVAL, err, err_len, "file: no path (file:/path:size=N)");
	if (*p != '/')
		return backend_error(-EINVAL, err, err_len, "file: path '%.*s' is not absolute",
				  (int)n, p);
	if (n >= sizeof(cfg->path))
		return backend_error(-EINVAL, err, err_len, "file: path too long");
	memcpy(cfg->path, p, n);
	while (end) {
		int ret;

		p = end + 1;
		end = strchr(p, ':');
		n = end ? (size_t)(end - p) : strlen(p);
		ret = spec_token(cfg, p, n, err, err_len);
		if (ret)
			return ret;
	}
	return 0;
}

/* ---- create / destroy ---- */

static void header_build(struct file_dev *f, struct file_header *h)
{
	memset(h, 0, sizeof(*h));
	memcpy(h->magic, FILE_MAGIC, sizeof(h->magic));
	h->version = FILE_VERSION;
	h->page_size = USWAP_PAGE_SIZE;
	h->size_bytes = f->size_bytes;
	h->nr_slots = f->nr_slots;
	memcpy(h->uuid, f->uuid, sizeof(h->uuid));
	h->pid = (uint32_t)getpid();
	h->checksum = XXH3_64bits(h, offsetof(struct file_header, checksum));
}

static bool header_ok(const struct file_header *h)
{
	return !memcmp(h->magic, FILE_MAGIC, sizeof(h->magic)) &&
	       h->checksum == XXH3_64bits(h, offsetof(struct file_header, checksum));
}

/* Read page 0 of @fd (buffered is fine: header only).  Return: true if it is ours. */
static bool header_read(int fd, struct file_header *h)
{
	void *buf = bounce_get();
	bool ok = false;

	if (!buf)
		return false;
	if (pread(fd, buf, USWAP_PAGE_SIZE, 0) == (ssize_t)USWAP_PAGE_SIZE) {
		memcpy(h, buf, sizeof(*h));
		ok = header_ok(h);
	}
	sys_munmap(buf, USWAP_PAGE_SIZE);
	return ok;
}

static void file_destroy(void *priv)
{
	struct file_dev *f = priv;

	if (!f)
		return;
	if (f->shared_ready)
		io_uring_queue_exit(&f->shared_ring);
	pthread_mutex_destroy(&f->shared_lock);
	for (size_t i = 0; f->chunks && i < f->nr_chunks; i++) {
		struct file_chunk *c = atomic_load_explicit(&f->chunks[i], memory_order_relaxed);

		if (c)
			sys_munmap(c, sizeof(*c));
	}
	free(f->chunks);
	/* Give the disk space back; the header stays so that the file can be reused. */
	if (f->fd >= 0 && f->nr_slots && !f->blkdev)
		fallocate(f->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, FILE_HDR_BYTES,
			  (off_t)(f->nr_slots * USWAP_PAGE_SIZE));
	if (f->fd >= 0)
		close(f->fd); /* releases the flock */
	free(f);
}

/* Open (or create) the target and take the lock.  Return: 0 or -errno with a message. */
static int file_open(struct file_dev *f, const struct file_cfg *cfg, bool *created, char *err,
		     size_t err_len)
{
	int flags = O_RDWR | O_CLOEXEC | (cfg->direct == DIRECT_OFF ? 0 : O_DIRECT);
	struct file_header h;
	struct stat st;
	int ret;

	*created = false;
	for (;;) {
		f->fd = open(cfg->path, flags);
		if (f->fd < 0 && errno == EINVAL && (flags & O_DIRECT) && cfg->direct == DIRECT_AUTO) {
			flags &= ~O_DIRECT; /* the filesystem has no O_DIRECT: buffered */
			continue;
		}
		if (f->fd >= 0 || errno != ENOENT)
			break;
		f->fd = open(cfg->path, flags | O_CREAT | O_EXCL, 0600);
		if (f->fd < 0 && errno == EINVAL && (flags & O_DIRECT) && cfg->direct == DIRECT_AUTO) {
			flags &= ~O_DIRECT;
			f->fd = open(cfg->path, flags | O_CREAT | O_EXCL, 0600);
		}
		if (f->fd >= 0) {
			*created = true;
			break;
		}
		if (errno != EEXIST) /* EEXIST: created by somebody else meanwhile: open it */
			break;
	}
	if (f->fd < 0) {
		ret = -errno;
		if (ret == -EINVAL && cfg->direct == DIRECT_ON)
			return backend_error(-EINVAL, err, err_len,
					  "file: %s: the filesystem does not support O_DIRECT "
					  "(direct=on)",
					  cfg->path);
		if (ret == -EBUSY)
			return backend_error(ret, err, err_len,
					  "file: %s: busy (a mounted or exclusively opened device)",
					  cfg->path);
		return backend_error(ret, err, err_len, "file: %s: %s%s", cfg->path, strerror(-ret),
				  ret == -ENOENT ? " (the directory does not exist)" : "");
	}
	f->direct = flags & O_DIRECT;
	if (fstat(f->fd, &st))
		return backend_error(-errno, err, err_len, "file: %s: fstat: %s", cfg->path,
				  strerror(errno));
	f->blkdev = S_ISBLK(st.st_mode);
	if (!f->blkdev && !S_ISREG(st.st_mode))
		return backend_error(-EINVAL, err, err_len,
				  "file: %s is neither a regular file nor a block device",
				  cfg->path);
	if (f->blkdev) {
		/* O_EXCL on a block device: the kernel refuses it while mounted. */
		int excl = open(cfg->path, flags | O_EXCL);

		if (excl < 0)
			return backend_error(errno == EBUSY ? -EBUSY : -errno, err, err_len,
					  "file: %s: %s", cfg->path,
					  errno == EBUSY ? "busy (mounted or in use)"
							 : strerror(errno));
		close(f->fd);
		f->fd = excl;
	}
	if (flock(f->fd, LOCK_EX | LOCK_NB)) {
		if (errno != EWOULDBLOCK)
			return backend_error(-errno, err, err_len, "file: %s: flock: %s", cfg->path,
					  strerror(errno));
		if (header_read(f->fd, &h))
			return backend_error(-EBUSY, err, err_len,
					  "file: %s: in use by another uswap (pid %u)", cfg->path,
					  h.pid);
		return backend_error(-EBUSY, err, err_len, "file: %s: in use by another uswap",
				  cfg->path);
	}
	if (!*created && st.st_size > 0 && !cfg->format && !header_read(f->fd, &h))
		return backend_error(-EINVAL, err, err_len,
				  "file: %s exists and is not a uswap swap file (add :format to "
				  "overwrite it)",
				  cfg->path);
	if (!f->blkdev && (st.st_mode & 0777) != 0600 && fchmod(f->fd, 0600))
		return backend_error(-errno, err, err_len, "file: %s: cannot make it mode 0600: %s",
				  cfg->path, strerror(errno));
	if (f->blkdev) {
		uint64_t bytes;

		if (ioctl(f->fd, BLKGETSIZE64, &bytes))
			return backend_error(-errno, err, err_len, "file: %s: BLKGETSIZE64: %s",
					  cfg->path, strerror(errno));
		if (cfg->have_size && cfg->size > bytes)
			return backend_error(-EINVAL, err, err_len,
					  "file: size=%llu is larger than the block device %s "
					  "(%llu bytes)",
					  (unsigned long long)cfg->size, cfg->path,
					  (unsigned long long)bytes);
		f->size_bytes = cfg->have_size ? cfg->size : bytes & ~(uint64_t)(USWAP_PAGE_SIZE - 1);
		f->can_discard = true; /* BLKDISCARD tells: EOPNOTSUPP turns it off */
	} else {
		if (!cfg->have_size && (*created || st.st_size == 0))
			return backend_error(-EINVAL, err, err_len,
					  "file: %s: size= is needed to create the file", cfg->path);
		f->size_bytes = cfg->have_size ? cfg->size : (uint64_t)st.st_size;
		if (f->size_bytes % USWAP_PAGE_SIZE || f->size_bytes < FILE_MIN_BYTES)
			return backend_error(-EINVAL, err, err_len,
					  "file: %s: size %llu is not a multiple of 4096 of at "
					  "least %llu bytes",
					  cfg->path, (unsigned long long)f->size_bytes,
					  (unsigned long long)FILE_MIN_BYTES);
		if ((uint64_t)st.st_size != f->size_bytes && ftruncate(f->fd, (off_t)f->size_bytes))
			return backend_error(errno == EFBIG ? -EINVAL : -errno, err, err_len,
					  "file: %s: cannot size it to %llu bytes: %s", cfg->path,
					  (unsigned long long)f->size_bytes, strerror(errno));
		f->can_discard = true;
	}
	return 0;
}

static int file_create(const char *args, void **priv, uint64_t *nr_slots, char *err,
		       size_t err_len)
{
	struct file_header h;
	struct file_cfg cfg;
	struct file_dev *f;
	bool created = false;
	void *page;
	ssize_t n;
	int ret;

	ret = spec_parse(args, &cfg, err, err_len);
	if (ret)
		return ret;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->fd = -1;
	pthread_mutex_init(&f->shared_lock, NULL);
	snprintf(f->path, sizeof(f->path), "%s", cfg.path);
	ret = file_open(f, &cfg, &created, err, err_len);
	if (ret)
		goto out_destroy;
	if (cfg.direct == DIRECT_ON && !f->direct) {
		ret = backend_error(-EINVAL, err, err_len, "file: %s: no O_DIRECT", cfg.path);
		goto out_destroy;
	}
	f->nr_slots = f->size_bytes / USWAP_PAGE_SIZE - 1;
	f->depth = cfg.depth;
	f->ring_mode = cfg.ring;
	f->nr_chunks = (size_t)((f->nr_slots + FILE_CHUNK_SLOTS - 1) >> FILE_CHUNK_SHIFT);
	f->chunks = calloc(f->nr_chunks, sizeof(*f->chunks));
	if (!f->chunks)
		goto out_nomem;
	if (getrandom(f->uuid, sizeof(f->uuid), 0) != (ssize_t)sizeof(f->uuid)) {
		ret = backend_error(-EIO, err, err_len, "file: getrandom: %s", strerror(errno));
		goto out_destroy;
	}
	f->uuid[6] = (f->uuid[6] & 0x0f) | 0x40; /* RFC 4122 version 4 */
	f->uuid[8] = (f->uuid[8] & 0x3f) | 0x80;

	/* Stale pages of a previous user: give the space back before anything. */
	if (!created && f->can_discard) {
		uint64_t range[2] = { FILE_HDR_BYTES, f->nr_slots * USWAP_PAGE_SIZE };

		if (f->blkdev ? ioctl(f->fd, BLKDISCARD, range)
			      : fallocate(f->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					  (off_t)range[0], (off_t)range[1]))
			f->can_discard = errno != EOPNOTSUPP && errno != ENOTTY;
	}

	page = bounce_get();
	if (!page)
		goto out_nomem;
	header_build(f, &h);
	memcpy(page, &h, sizeof(h));
	n = pwrite(f->fd, page, USWAP_PAGE_SIZE, 0);
	ret = n == (ssize_t)USWAP_PAGE_SIZE ? 0 : n < 0 ? -errno : -EIO;
	sys_munmap(page, USWAP_PAGE_SIZE);
	if (ret) {
		ret = backend_error(ret, err, err_len, "file: %s: cannot write the header: %s",
				 cfg.path, strerror(-ret));
		goto out_destroy;
	}

	pthread_once(&ring_once, ring_key_init);
	/* Rings: a thread's ring must hold the largest batch of any device. */
	{
		unsigned int cur = atomic_load(&ring_depth_max);

		while (f->depth > cur && !atomic_compare_exchange_weak(&ring_depth_max, &cur, f->depth))
			;
	}
	if (f->ring_mode == FILE_RING_SHARED) {
		if (ring_setup(&f->shared_ring, f->depth, false) < 0)
			f->ring_mode = FILE_RING_NONE;
		else
			f->shared_ready = true;
	}
	*priv = f;
	*nr_slots = f->nr_slots;
	return 0;

out_nomem:
	ret = -ENOMEM;
out_destroy:
	if (created && f->fd >= 0)
		unlink(cfg.path); /* do not leave a half-made file behind */
	file_destroy(f);
	return ret;
}

/* ---- invariants (tests) ---- */

static int file_check_invariants(void *priv, char *err, size_t err_len)
{
	struct file_dev *f = priv;
	uint64_t stored = 0, tables = 0;

	for (size_t i = 0; i < f->nr_chunks; i++) {
		struct file_chunk *c = atomic_load_explicit(&f->chunks[i], memory_order_acquire);

		if (!c)
			continue;
		tables++;
		for (unsigned int k = 0; k < FILE_CHUNK_CLUSTERS; k++) {
			uint32_t live = 0;

			for (unsigned int w = 0; w < FILE_CLUSTER / 64; w++)
				live += (uint32_t)__builtin_popcountll(
					atomic_load(&c->bits[k * (FILE_CLUSTER / 64) + w]));
			if (live != atomic_load(&c->live[k]))
				return backend_error(-EUCLEAN, err, err_len,
						  "file: cluster %zu: live %u, bitmap %u",
						  i * FILE_CHUNK_CLUSTERS + k,
						  (unsigned int)atomic_load(&c->live[k]), live);
			if (live && (uint64_t)(i * FILE_CHUNK_CLUSTERS + k) * FILE_CLUSTER >=
					    f->nr_slots)
				return backend_error(-EUCLEAN, err, err_len,
						  "file: live slots beyond the device");
			stored += live;
		}
	}
	if (stored != f->nr_stored || tables * sizeof(struct file_chunk) != f->table_bytes)
		return backend_error(-EUCLEAN, err, err_len,
				  "file: counters: stored %llu/%llu tables %llu/%llu",
				  (unsigned long long)stored, (unsigned long long)f->nr_stored,
				  (unsigned long long)(tables * sizeof(struct file_chunk)),
				  (unsigned long long)f->table_bytes);
	return 0;
}

const struct swap_backend_ops file_backend_ops = {
	.name = "file",
	.flags = 0,
	.create = file_create,
	.destroy = file_destroy,
	.write = file_write,
	.read = file_read,
	.discard = file_discard,
	.matches = file_matches,
	.stat = file_stat,
	.read_batch = file_read_batch,
	.write_batch = file_write_batch,
	.check_invariants = file_check_invariants,
};
