"""Disk images with known contents, for the guest and for the host tests.

Two patterns, both deterministic:

- tagged (`pattern_bytes`, the guest's): every 512-byte sector starts with its disk
  tag and sector number in text (readable in a hexdump) followed by seeded random
  bytes, so a mapping that reads the wrong sector, the wrong disk or the wrong byte
  order changes the checksum;
- seeded (`seeded_bytes`, the host tests' `disks` fixture): every sector is
  sha256("SEED:SECTOR") repeated, distinct and cheap to recompute.

`pattern_disk` writes either to a file.
"""
import hashlib
import random

SECTOR = 512


def pattern_bytes(nbytes, tag="a"):
    seed = int.from_bytes(hashlib.sha256(tag.encode()).digest()[:8], "little")
    data = bytearray(random.Random(seed).randbytes(nbytes))
    for n in range(nbytes // SECTOR):
        head = b"dmfw disk %-4s sector %-10d\n" % (tag.encode(), n)
        data[n * SECTOR:n * SECTOR + len(head)] = head
    return data


def seeded_bytes(nbytes, seed=0):
    """Sector n is sha256(b"SEED:n") * 16; a partial last sector is cut short."""
    out = bytearray()
    sec = 0
    while len(out) < nbytes:
        out += hashlib.sha256(b"%d:%d" % (seed, sec)).digest() * (SECTOR // 32)
        sec += 1
    return bytes(out[:nbytes])


def pattern_disk(path, nbytes, tag="a", seed=None):
    """Write a disk of nbytes at path and return path: the tagged pattern (nbytes a
    multiple of 512), or the seeded one when `seed` is given."""
    if seed is None:
        if nbytes % SECTOR:
            raise ValueError("pattern_disk: %d is not a multiple of %d" % (nbytes, SECTOR))
        data = pattern_bytes(nbytes, tag)
    else:
        data = seeded_bytes(nbytes, seed)
    with open(path, "wb") as f:
        f.write(data)
    return path
