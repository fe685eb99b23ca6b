# SPDX-License-Identifier: MIT
"""pyload.py MIB - build and checksum a large bytearray and a large list.

The workload of tests/programs/python.sh: about MIB MiB of bytearray and as
much again of list (ints and small strings), each written, read back twice in
different orders and checksummed with SHA-256.  Prints the checksums: the same
under uswap as without it.  Deterministic (seeded); no output but the digests.
"""
import hashlib
import random
import sys

mib = int(sys.argv[1])
rng = random.Random(12345)
PAGE = 4096

# Bytearray: each page one quarter random, the rest a repeated pattern, and its
# index in the first 8 bytes: compressible about 3:1, like real data, and no two
# pages the same (no page is found all-zero or deduplicated by the store).
blocks = [rng.randbytes(PAGE // 4) + bytes([i]) * (3 * PAGE // 4) for i in range(64)]
ba = bytearray(mib << 20)
npages = len(ba) // PAGE
for p in range(npages):
    off = p * PAGE
    ba[off:off + PAGE] = blocks[p % 64]
    ba[off:off + 8] = p.to_bytes(8, "little")
h = hashlib.sha256(ba)
print("bytearray", len(ba), h.hexdigest())

# Read back in a shuffled page order, and rewrite a byte in every page.
order = list(range(npages))
rng.shuffle(order)
h = hashlib.sha256()
for p in order:
    off = p * PAGE
    h.update(ba[off:off + PAGE])
    ba[off + 100] ^= 0x5A
del order
print("bytearray-shuffled", h.hexdigest())
print("bytearray-modified", hashlib.sha256(ba).hexdigest())

# List: n entries of ~60 bytes each (an int, and every 4th a short string).
n = (mib << 20) // 60
lst = [(i * 2654435761) % 4294967291 if i % 4 else "s%x" % (i * 7919) for i in range(n)]
h = hashlib.sha256()
total = 0
for i in range(0, n, 4096):
    chunk = lst[i:i + 4096]
    h.update(repr(chunk).encode())
    total += sum(x for x in chunk if isinstance(x, int))
print("list", n, total, h.hexdigest())
# Touch it again in reverse, as a second pass over swapped-out objects.
total = 0
for x in reversed(lst):
    if isinstance(x, int):
        total ^= x
print("list-reversed", total)
# The bytearray again after the list pushed it out.
print("bytearray-final", hashlib.sha256(ba).hexdigest())
