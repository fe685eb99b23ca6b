/* SPDX-License-Identifier: MIT */
/*
 * file.h - what the file backend (file.c) shows beyond the ops table: for
 * the tier backend and for tests.
 */
#ifndef USWAP_BACKEND_FILE_H
#define USWAP_BACKEND_FILE_H

#include <stdbool.h>
#include <stdint.h>

enum file_ring_mode {
	FILE_RING_THREAD, /* one io_uring per calling thread (default) */
	FILE_RING_SHARED, /* one io_uring per device, behind a mutex */
	FILE_RING_NONE,   /* pread / pwrite */
};

struct file_info {
	bool direct;      /* O_DIRECT in use (false: buffered, direct=off or no support) */
	bool blkdev;      /* a block device, not a regular file */
	bool can_discard; /* punch hole / BLKDISCARD works (as far as known) */
	enum file_ring_mode ring_mode;
	uint64_t size_bytes; /* the whole file, header page included */
	uint64_t nr_punched; /* clusters given back since creation */
	uint8_t uuid[16];
};

/* file_backend_info - @priv is a file backend instance.  Context: any.  Return: 0. */
int file_backend_info(void *priv, struct file_info *info);

#endif /* USWAP_BACKEND_FILE_H */
