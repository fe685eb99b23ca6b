/* SPDX-License-Identifier: MIT */
/*
 * test_file_backend - the file backend through its ops table, on a real file
 * in a temporary directory on disk (/var/tmp): spec errors and their
 * messages, the header, mode 0600, every page round-tripping (aligned and
 * unaligned buffers), matches(), a corrupted block caught by its hash, punch
 * hole giving a cluster's blocks back, a second instance refused (flock),
 * reuse of a file, batches with per-slot errors, 4 threads on distinct slots
 * in each ring mode, and -ENOSPC from a full filesystem (a small tmpfs, when
 * we may mount one).  file_check_invariants runs after every test.
 */
#include "backend/backend.h"
#include "backend/file.h"
#include "check.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#define PAGE 4096
#define CLUSTER 512

static const struct swap_backend_ops *ops = &file_backend_ops;
static char dir[256];

#define CHECK_INV(f)                                                                               \
	do {                                                                                       \
		char err_[256] = "";                                                               \
		int ret_ = ops->check_invariants(f, err_, sizeof(err_));                           \
		if (ret_)                                                                          \
			fprintf(stderr, "invariants: %s\n", err_);                                 \
		CHECK_EQ(ret_, 0);                                                                 \
	} while (0)

static void path_of(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

static void *fcreate(const char *args, uint64_t *nr)
{
	char err[256] = "";
	uint64_t dummy;
	void *f = NULL;
	int ret = ops->create(args, &f, nr ? nr : &dummy, err, sizeof(err));

	if (ret)
		fprintf(stderr, "create(\"%s\"): %d %s\n", args, ret, err);
	CHECK_EQ(ret, 0);
	return f;
}

static void fdestroy(void *f)
{
	CHECK_INV(f);
	ops->destroy(f);
}

static uint64_t hash_of(const void *page)
{
	return XXH3_64bits(page, PAGE);
}

static void *page_alloc(size_t n)
{
	void *p = NULL;

	CHECK_EQ(posix_memalign(&p, PAGE, n * PAGE), 0);
	return p;
}

static void write_page(void *f, uint64_t slot, uint64_t seed, int kind)
{
	unsigned char *p = page_alloc(1);

	fill_page(p, seed, slot, kind);
	CHECK_EQ(ops->write(f, slot, p, hash_of(p)), 0);
	free(p);
}

static void read_verify(void *f, uint64_t slot, uint64_t seed, int kind)
{
	unsigned char *p = page_alloc(1);
	uint64_t hash = 0;
	bool valid = false;

	memset(p, 0xa5, PAGE);
	CHECK_EQ(ops->read(f, slot, p, &hash, &valid), 0);
	CHECK(valid);
	CHECK(verify_page(p, seed, slot, kind));
	CHECK(hash == hash_of(p));
	free(p);
}

/* Expect create(@args) to fail with @want and a message containing @msg. */
static void bad_spec(const char *args, int want, const char *msg)
{
	char err[256] = "";
	uint64_t nr;
	void *f = NULL;
	int ret = ops->create(args, &f, &nr, err, sizeof(err));

	if (ret != want || !strstr(err, msg)) {
		fprintf(stderr, "create(\"%s\"): %d \"%s\", want %d \"%s\"\n", args, ret, err, want,
			msg);
		CHECK(0);
	}
	CHECK(f == NULL);
}

static void test_spec(void)
{
	char a[512], p[300];

	bad_spec("", -EINVAL, "no path");
	bad_spec("relative/x:size=4M", -EINVAL, "not absolute");
	path_of(p, sizeof(p), "spec");
	snprintf(a, sizeof(a), "%s:size=4097", p);
	bad_spec(a, -EINVAL, "not a multiple of 4096");
	snprintf(a, sizeof(a), "%s:size=2M", p);
	bad_spec(a, -EINVAL, "too small");
	snprintf(a, sizeof(a), "%s:size=4M:size=8M", p);
	bad_spec(a, -EINVAL, "given twice");
	snprintf(a, sizeof(a), "%s:size=4M:bogus=1", p);
	bad_spec(a, -EINVAL, "unknown option 'bogus'");
	snprintf(a, sizeof(a), "%s:size=4M:depth=1", p);
	bad_spec(a, -EINVAL, "bad depth");
	snprintf(a, sizeof(a), "%s:size=4M:direct=maybe", p);
	bad_spec(a, -EINVAL, "bad direct");
	snprintf(a, sizeof(a), "%s:size=4M:ring=many", p);
	bad_spec(a, -EINVAL, "bad ring");
	snprintf(a, sizeof(a), "%s:size=4M:", p);
	bad_spec(a, -EINVAL, "empty option");
	snprintf(a, sizeof(a), "%s", p);
	bad_spec(a, -EINVAL, "size= is needed");
	snprintf(a, sizeof(a), "%s/no/such/dir/f:size=4M", dir);
	bad_spec(a, -ENOENT, "directory does not exist");
	bad_spec("/dev/null:size=4M", -EINVAL, "neither a regular file nor a block device");
	/* Nothing was left behind by the failures. */
	CHECK(access(p, F_OK) != 0);

	/* Somebody's file: refused, then accepted with :format. */
	{
		int fd = open(p, O_CREAT | O_WRONLY | O_TRUNC, 0644);
		void *f;

		CHECK(fd >= 0);
		CHECK_EQ(write(fd, "precious", 8), 8);
		close(fd);
		snprintf(a, sizeof(a), "%s:size=4M", p);
		bad_spec(a, -EINVAL, "not a uswap swap file");
		snprintf(a, sizeof(a), "%s:size=4M:format", p);
		f = fcreate(a, NULL);
		fdestroy(f);
		unlink(p);
	}
	/* A size larger than the filesystem allows. */
	snprintf(a, sizeof(a), "%s:size=64T", p);
	{
		char err[256] = "";
		uint64_t nr;
		void *f = NULL;
		int ret = ops->create(a, &f, &nr, err, sizeof(err));

		if (ret == 0) { /* xfs, btrfs: 64T sparse is fine */
			CHECK_EQ(nr, (64ull << 40) / PAGE - 1);
			fdestroy(f);
		} else {
			CHECK_EQ(ret, -EINVAL);
			CHECK(strstr(err, "cannot size it"));
		}
		unlink(p);
	}
	/* The short form file:/path:SIZE. */
	{
		uint64_t nr;
		void *f;

		snprintf(a, sizeof(a), "%s:8M", p);
		f = fcreate(a, &nr);
		CHECK_EQ(nr, 8 * 256 - 1);
		fdestroy(f);
		unlink(p);
	}
}

struct disk_header {
	char magic[8];
	uint32_t version, page_size;
	uint64_t size_bytes, nr_slots;
	uint8_t uuid[16];
	uint32_t pid, pad;
	uint64_t checksum;
};

static void read_header(const char *path, struct disk_header *h)
{
	int fd = open(path, O_RDONLY);

	CHECK(fd >= 0);
	CHECK_EQ(pread(fd, h, sizeof(*h), 0), sizeof(*h));
	close(fd);
}

static void test_header_and_reuse(void)
{
	char p[300], a[400], err[256] = "";
	struct disk_header h, h2;
	struct file_info info;
	struct stat st;
	uint64_t nr, nr2;
	void *f, *g = NULL;
	int ret;

	path_of(p, sizeof(p), "hdr.swap");
	snprintf(a, sizeof(a), "%s:size=16M", p);
	f = fcreate(a, &nr);
	CHECK_EQ(nr, 16 * 256 - 1);
	CHECK_EQ(stat(p, &st), 0);
	CHECK_EQ(st.st_mode & 0777, 0600);
	CHECK_EQ(st.st_size, 16 << 20);
	read_header(p, &h);
	CHECK(memcmp(h.magic, "USWAPSWP", 8) == 0);
	CHECK_EQ(h.version, 1);
	CHECK_EQ(h.page_size, PAGE);
	CHECK_EQ(h.size_bytes, 16 << 20);
	CHECK_EQ(h.nr_slots, nr);
	CHECK_EQ(h.pid, getpid());
	CHECK_EQ(h.checksum, XXH3_64bits(&h, offsetof(struct disk_header, checksum)));
	CHECK_EQ(h.uuid[6] >> 4, 4); /* version 4 (random) */
	file_backend_info(f, &info);
	CHECK(memcmp(info.uuid, h.uuid, 16) == 0);
	CHECK(info.direct); /* /var/tmp is a disk filesystem */
	CHECK_EQ(info.ring_mode, FILE_RING_THREAD);

	/* A second instance on the same file: refused while the first lives. */
	ret = ops->create(a, &g, &nr2, err, sizeof(err));
	CHECK_EQ(ret, -EBUSY);
	CHECK(g == NULL);
	{
		char want[64];

		snprintf(want, sizeof(want), "in use by another uswap (pid %d)", (int)getpid());
		if (!strstr(err, want)) {
			fprintf(stderr, "message: %s\n", err);
			CHECK(0);
		}
	}
	write_page(f, 5, 1, FILL_RANDOM);
	fdestroy(f);

	/* Reused without size=: same size, a new uuid, old data gone. */
	chmod(p, 0644);
	snprintf(a, sizeof(a), "%s", p);
	f = fcreate(a, &nr2);
	CHECK_EQ(nr2, nr);
	read_header(p, &h2);
	CHECK(memcmp(h.uuid, h2.uuid, 16) != 0);
	CHECK_EQ(stat(p, &st), 0);
	CHECK_EQ(st.st_mode & 0777, 0600);
	{
		unsigned char *pg = page_alloc(1);
		uint64_t hash;
		bool valid;

		CHECK_EQ(ops->read(f, 5, pg, &hash, &valid), -ENOENT);
		free(pg);
	}
	fdestroy(f);
	/* Reused with another size. */
	snprintf(a, sizeof(a), "%s:size=8M", p);
	f = fcreate(a, &nr2);
	CHECK_EQ(nr2, 8 * 256 - 1);
	fdestroy(f);
	unlink(p);
}

static void test_roundtrip(const char *ring)
{
	char p[300], a[400];
	unsigned char *pg = page_alloc(1), *raw = malloc(PAGE + 1);
	uint64_t nr, hash;
	struct backend_stat st;
	bool valid;
	void *f;

	path_of(p, sizeof(p), "rt.swap");
	snprintf(a, sizeof(a), "%s:size=8M:ring=%s", p, ring);
	f = fcreate(a, &nr);
	for (uint64_t s = 0; s < nr; s++)
		write_page(f, s, 7, (int)(s % 5));
	CHECK_INV(f);
	CHECK_EQ(ops->stat(f, &st), 0);
	CHECK_EQ(st.nr_stored, nr);
	CHECK_EQ(st.orig_data_size, nr * PAGE);
	CHECK_EQ(st.writes, nr);
	CHECK_EQ(st.bytes_written, nr * PAGE);
	CHECK(st.mem_used_total >= st.slot_table_bytes && st.slot_table_bytes >= nr * 8);
	for (uint64_t s = 0; s < nr; s++)
		read_verify(f, s, 7, (int)(s % 5));
	CHECK_EQ(ops->stat(f, &st), 0);
	CHECK_EQ(st.reads, nr);
	CHECK_EQ(st.bytes_read, nr * PAGE);

	/* Overwrite, matches. */
	write_page(f, 3, 8, FILL_TEXT);
	read_verify(f, 3, 8, FILL_TEXT);
	fill_page(pg, 8, 3, FILL_TEXT);
	CHECK_EQ(ops->matches(f, 3, pg, hash_of(pg)), 1);
	fill_page(pg, 9, 3, FILL_TEXT);
	CHECK_EQ(ops->matches(f, 3, pg, hash_of(pg)), 0);

	/* Unaligned buffers bounce. */
	fill_page(pg, 11, 4, FILL_RANDOM); /* fill_page stores whole words: fill aligned, copy */
	memcpy(raw + 1, pg, PAGE);
	CHECK_EQ(ops->write(f, 4, raw + 1, hash_of(raw + 1)), 0);
	memset(raw, 0, PAGE + 1);
	CHECK_EQ(ops->read(f, 4, raw + 1, &hash, &valid), 0);
	CHECK(memcmp(raw + 1, pg, PAGE) == 0);
	CHECK(valid && hash == hash_of(raw + 1));

	/* Discard, empty, out of range. */
	CHECK_EQ(ops->discard(f, 4), 0);
	CHECK_EQ(ops->read(f, 4, pg, &hash, &valid), -ENOENT);
	CHECK_EQ(ops->matches(f, 4, pg, 0), -ENOENT);
	CHECK_EQ(ops->discard(f, 4), 0);
	CHECK_EQ(ops->read(f, nr, pg, &hash, &valid), -EINVAL);
	CHECK_EQ(ops->write(f, nr, pg, 0), -EINVAL);
	CHECK_EQ(ops->discard(f, nr), -EINVAL);
	CHECK_EQ(ops->stat(f, &st), 0);
	CHECK_EQ(st.nr_stored, nr - 1);
	fdestroy(f);
	unlink(p);
	free(pg);
	free(raw);
}

static void test_corruption(void)
{
	char p[300], a[400];
	unsigned char *pg = page_alloc(1);
	uint64_t hash = 0;
	bool valid = false;
	int fd;
	void *f;

	path_of(p, sizeof(p), "corrupt.swap");
	snprintf(a, sizeof(a), "%s:size=4M", p);
	f = fcreate(a, NULL);
	write_page(f, 10, 3, FILL_TEXT);
	/* Flip one byte of slot 10 on disk, behind the backend's back. */
	fd = open(p, O_RDWR);
	CHECK(fd >= 0);
	{
		unsigned char b;

		CHECK_EQ(pread(fd, &b, 1, PAGE * 11 + 100), 1);
		b ^= 0x40;
		CHECK_EQ(pwrite(fd, &b, 1, PAGE * 11 + 100), 1);
		CHECK_EQ(fsync(fd), 0);
	}
	close(fd);
	CHECK_EQ(ops->read(f, 10, pg, &hash, &valid), 0);
	CHECK(valid);
	CHECK(hash != hash_of(pg)); /* the core sees the mismatch and poisons the page */
	CHECK(!verify_page(pg, 3, 10, FILL_TEXT));
	fdestroy(f);
	unlink(p);
	free(pg);
}

static long long blocks_of(const char *path)
{
	struct stat st;

	CHECK_EQ(stat(path, &st), 0);
	return (long long)st.st_blocks;
}

static void test_punch(void)
{
	char p[300], a[400];
	struct file_info info;
	long long full, empty;
	void *f;

	path_of(p, sizeof(p), "punch.swap");
	snprintf(a, sizeof(a), "%s:size=8M", p);
	f = fcreate(a, NULL);
	/* Clusters 0 and 1 full. */
	for (uint64_t s = 0; s < 2 * CLUSTER; s++)
		write_page(f, s, 5, FILL_RANDOM);
	full = blocks_of(p);
	CHECK(full >= 2 * CLUSTER * PAGE / 512);
	/* Empty cluster 1 but one slot: nothing given back yet. */
	for (uint64_t s = CLUSTER; s < 2 * CLUSTER - 1; s++)
		CHECK_EQ(ops->discard(f, s), 0);
	file_backend_info(f, &info);
	CHECK_EQ(info.nr_punched, 0);
	CHECK_EQ(blocks_of(p), full);
	/* The last one: the cluster's 2 MiB are punched out. */
	CHECK_EQ(ops->discard(f, 2 * CLUSTER - 1), 0);
	file_backend_info(f, &info);
	CHECK_EQ(info.nr_punched, 1);
	empty = blocks_of(p);
	CHECK(empty <= full - CLUSTER * PAGE / 512);
	/* Cluster 0 still reads back; cluster 1 is writable again. */
	for (uint64_t s = 0; s < CLUSTER; s += 37)
		read_verify(f, s, 5, FILL_RANDOM);
	write_page(f, CLUSTER + 1, 6, FILL_HALF);
	read_verify(f, CLUSTER + 1, 6, FILL_HALF);
	fdestroy(f);
	/* destroy gives the whole data area back. */
	CHECK(blocks_of(p) <= 16);
	unlink(p);
}

static void test_batches(void)
{
	char p[300], a[400];
	unsigned char *buf = page_alloc(BK_MAX_BATCH);
	void *pages[BK_MAX_BATCH];
	uint64_t slots[BK_MAX_BATCH], hashes[BK_MAX_BATCH];
	bool valid[BK_MAX_BATCH];
	int rc[BK_MAX_BATCH];
	uint64_t nr;
	void *f;

	path_of(p, sizeof(p), "batch.swap");
	snprintf(a, sizeof(a), "%s:size=4M", p);
	f = fcreate(a, &nr);
	for (unsigned int i = 0; i < BK_MAX_BATCH; i++) {
		pages[i] = buf + (size_t)i * PAGE;
		slots[i] = 100 + i;
		fill_page(pages[i], 21, slots[i], FILL_HALF);
		hashes[i] = hash_of(pages[i]);
	}
	slots[7] = nr + 5; /* out of range */
	CHECK_EQ(ops->write_batch(f, BK_MAX_BATCH, slots, (const void *const *)pages, hashes, rc),
		 -EINVAL);
	for (unsigned int i = 0; i < BK_MAX_BATCH; i++)
		CHECK_EQ(rc[i], i == 7 ? -EINVAL : 0);
	CHECK_EQ(ops->write_batch(f, BK_MAX_BATCH + 1, slots, (const void *const *)pages, hashes,
				  rc),
		 -EINVAL);
	slots[7] = 100 + 7;
	CHECK_EQ(ops->discard(f, 110), 0);
	memset(buf, 0, (size_t)BK_MAX_BATCH * PAGE);
	CHECK_EQ(ops->read_batch(f, BK_MAX_BATCH, slots, pages, hashes, valid, rc), -ENOENT);
	for (unsigned int i = 0; i < BK_MAX_BATCH; i++) {
		if (i == 7 || i == 10) {
			CHECK_EQ(rc[i], -ENOENT);
			CHECK(!valid[i]);
			continue;
		}
		CHECK_EQ(rc[i], 0);
		CHECK(valid[i]);
		CHECK(verify_page(pages[i], 21, slots[i], FILL_HALF));
		CHECK(hashes[i] == hash_of(pages[i]));
	}
	fdestroy(f);
	unlink(p);
	free(buf);
}

struct worker {
	void *f;
	unsigned int id;
	int fails;
};

#define NR_THREADS 4
#define PER_THREAD 300

/* Each thread owns slots id, id + 4, ...: writes, reads, batches, discards. */
static void *worker_run(void *arg)
{
	struct worker *w = arg;
	unsigned char *buf = page_alloc(BK_MAX_BATCH);
	void *pages[BK_MAX_BATCH];
	uint64_t slots[BK_MAX_BATCH], hashes[BK_MAX_BATCH];
	bool valid[BK_MAX_BATCH];
	int rc[BK_MAX_BATCH];

	for (int round = 0; round < 3; round++) {
		for (unsigned int k = 0; k < PER_THREAD; k++) {
			uint64_t s = (uint64_t)k * NR_THREADS + w->id;

			fill_page(buf, (uint64_t)round, s, FILL_RANDOM);
			if (ops->write(w->f, s, buf, hash_of(buf)))
				w->fails++;
		}
		for (unsigned int k = 0; k + BK_MAX_BATCH <= PER_THREAD; k += BK_MAX_BATCH) {
			for (unsigned int i = 0; i < BK_MAX_BATCH; i++) {
				slots[i] = (uint64_t)(k + i) * NR_THREADS + w->id;
				pages[i] = buf + (size_t)i * PAGE;
			}
			if (ops->read_batch(w->f, BK_MAX_BATCH, slots, pages, hashes, valid, rc))
				w->fails++;
			for (unsigned int i = 0; i < BK_MAX_BATCH; i++)
				if (!valid[i] || !verify_page(pages[i], (uint64_t)round, slots[i],
							      FILL_RANDOM))
					w->fails++;
			for (unsigned int i = 0; i < BK_MAX_BATCH; i++) {
				fill_page(pages[i], (uint64_t)round + 100, slots[i], FILL_TEXT);
				hashes[i] = hash_of(pages[i]);
			}
			if (ops->write_batch(w->f, BK_MAX_BATCH, slots, (const void *const *)pages,
					     hashes, rc))
				w->fails++;
		}
		for (unsigned int k = 0; k < PER_THREAD; k++) {
			uint64_t s = (uint64_t)k * NR_THREADS + w->id, hash;
			bool v;
			int kind = k < PER_THREAD / BK_MAX_BATCH * BK_MAX_BATCH ? FILL_TEXT
										: FILL_RANDOM;
			uint64_t seed = kind == FILL_TEXT ? (uint64_t)round + 100 : (uint64_t)round;

			if (ops->read(w->f, s, buf, &hash, &v) || !v || hash != hash_of(buf) ||
			    !verify_page(buf, seed, s, kind))
				w->fails++;
			if (round == 2 && ops->discard(w->f, s))
				w->fails++;
		}
	}
	free(buf);
	return NULL;
}

static void test_threads(const char *ring)
{
	char p[300], a[400];
	struct worker w[NR_THREADS];
	pthread_t th[NR_THREADS];
	struct backend_stat st;
	struct file_info info;
	void *f;

	path_of(p, sizeof(p), "threads.swap");
	snprintf(a, sizeof(a), "%s:size=8M:ring=%s", p, ring);
	f = fcreate(a, NULL);
	for (unsigned int i = 0; i < NR_THREADS; i++) {
		w[i] = (struct worker){ .f = f, .id = i };
		CHECK_EQ(pthread_create(&th[i], NULL, worker_run, &w[i]), 0);
	}
	for (unsigned int i = 0; i < NR_THREADS; i++) {
		CHECK_EQ(pthread_join(th[i], NULL), 0);
		CHECK_EQ(w[i].fails, 0);
	}
	CHECK_EQ(ops->stat(f, &st), 0);
	CHECK_EQ(st.nr_stored, 0);
	file_backend_info(f, &info);
	CHECK(info.nr_punched >= 2); /* both clusters emptied at the end */
	fdestroy(f);
	unlink(p);
}

/* A filesystem that fills up: write() says -ENOSPC, reads of what fitted still work. */
static void test_enospc(void)
{
	char mnt[300], p[400], a[500];
	unsigned char *pg = page_alloc(1);
	struct file_info info;
	uint64_t nr, s;
	int ret = 0;
	void *f;

	path_of(mnt, sizeof(mnt), "mnt");
	CHECK_EQ(mkdir(mnt, 0700), 0);
	if (mount("uswap-test", mnt, "tmpfs", 0, "size=1M")) {
		fprintf(stderr, "test_enospc: cannot mount a tmpfs (%s): skipped\n",
			strerror(errno));
		rmdir(mnt);
		free(pg);
		return;
	}
	snprintf(p, sizeof(p), "%s/full.swap", mnt);
	snprintf(a, sizeof(a), "%s:size=8M", p);
	f = fcreate(a, &nr);
	file_backend_info(f, &info);
	fprintf(stderr, "tmpfs: O_DIRECT %s\n", info.direct ? "yes" : "no (buffered)");
	for (s = 0; s < nr; s++) {
		fill_page(pg, 2, s, FILL_RANDOM);
		ret = ops->write(f, s, pg, hash_of(pg));
		if (ret)
			break;
	}
	CHECK_EQ(ret, -ENOSPC);
	CHECK(s > 0 && s < nr);
	for (uint64_t k = 0; k < s; k++)
		read_verify(f, k, 2, FILL_RANDOM);
	/* The failed slot is empty, not half-written. */
	{
		uint64_t hash;
		bool valid;

		CHECK_EQ(ops->read(f, s, pg, &hash, &valid), -ENOENT);
	}
	/* direct=on on tmpfs: refused if tmpfs has no O_DIRECT here. */
	fdestroy(f);
	unlink(p);
	if (!info.direct) {
		snprintf(a, sizeof(a), "%s:size=4M:direct=on", p);
		bad_spec(a, -EINVAL, "O_DIRECT");
	}
	CHECK_EQ(umount(mnt), 0);
	rmdir(mnt);
	free(pg);
}

int main(void)
{
	snprintf(dir, sizeof(dir), "%s", test_tmpdir("file"));
	test_spec();
	test_header_and_reuse();
	test_roundtrip("thread");
	test_roundtrip("shared");
	test_roundtrip("none");
	test_corruption();
	test_punch();
	test_batches();
	test_threads("thread");
	test_threads("shared");
	test_threads("none");
	test_enospc();
	return 0;
}
