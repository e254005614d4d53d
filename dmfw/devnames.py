# How Linux names and numbers disks and partitions, in one table, so dm
# tables written for the kernel (`/dev/vda2`, `254:2`) work unchanged.

from dmfw.numbers import is_decimal

# Linux's extended devt major (nvme, and partitions beyond a disk's minors).
BLOCK_EXT_MAJOR = 259

# prefix, major, minors per disk (whole disk + partitions). virtio-blk takes
# the first dynamic major, 254, in the reference guest; mmc reserves 8 minors
# (CONFIG default); nvme and loop (max_part=0) reserve only the disk itself.
_DISKS = (("vd", 254, 16), ("sd", 8, 16), ("hd", 3, 64), ("xvd", 202, 16),
          ("mmcblk", 179, 8))


def minors_per_disk(name):
    for prefix, _major, n in _DISKS:
        if name.startswith(prefix):
            return n
    return 1


def disk_devno(name):
    """major, minor Linux would give a whole disk called `name`."""
    for prefix, major, step in _DISKS:
        rest = name[len(prefix):]
        if name.startswith(prefix) and len(rest) == 1 and "a" <= rest <= "z":
            return major, (ord(rest) - ord("a")) * step
        if prefix == "mmcblk" and name.startswith(prefix) and is_decimal(rest):
            return major, int(rest) * step
    if name.startswith("loop") and is_decimal(name[4:]):
        return 7, int(name[4:])
    return BLOCK_EXT_MAJOR, 0


def partition_name(disk, partno):
    """disk_name(): a `p` goes between a name ending in a digit and the
    number (nvme0n1p1, loop0p1, mmcblk0p1), none otherwise (vda1)."""
    if disk and disk[-1] in "0123456789":
        return "%sp%d" % (disk, partno)
    return "%s%d" % (disk, partno)
