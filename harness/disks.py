"""Disk images with known contents for the guest.

Every 512-byte sector starts with its disk tag and sector number in text (readable in
a hexdump) followed by seeded random bytes, so a mapping that reads the wrong sector,
the wrong disk or the wrong byte order changes the checksum.
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


def pattern_disk(path, nbytes, tag="a"):
    """Write a pattern disk of nbytes (a multiple of 512) at path; returns path."""
    assert nbytes % SECTOR == 0
    with open(path, "wb") as f:
        f.write(pattern_bytes(nbytes, tag))
    return path
