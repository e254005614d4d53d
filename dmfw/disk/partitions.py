# Partitions as block devices, named and numbered the way Linux does, so a
# dm table written for the kernel (`/dev/vda2`, `254:2`) works unchanged.

from dmfw.blockdev import SliceDevice, FileDevice, MemoryDevice
from dmfw.errors import DMError

from dmfw.devnames import BLOCK_EXT_MAJOR, minors_per_disk, partition_name  # noqa: F401


def _sysfs_devno(disk, part):
    # In the guest the kernel already numbered the partition: use its answer.
    try:
        with open("/sys/block/%s/%s/dev" % (disk, part)) as f:
            a, b = f.read().strip().split(":")
            return int(a), int(b)
    except (OSError, ValueError):
        return None


def partition_devno(devices, disk, partno, name):
    dn = _sysfs_devno(disk.name, name)
    if dn is not None:
        return dn
    if partno < minors_per_disk(disk.name):
        return disk.major, disk.minor + partno
    return BLOCK_EXT_MAJOR, devices.free_minor(BLOCK_EXT_MAJOR)


def make_partitions(devices, disk, gpt):
    """Register a SliceDevice for every partition of `gpt` on `disk`;
    returns them. A name already present (the guest's own /dev/vda1) is
    left as it is."""
    out = []
    for p in gpt.partitions:
        name = partition_name(disk.name, p.partno)
        have = devices.find(name)
        if have is not None:
            out.append(have)
            continue
        if p.start + p.nr_sectors > disk.nr_sectors:
            continue
        major, minor = partition_devno(devices, disk, p.partno, name)
        dev = SliceDevice(disk, p.start, p.nr_sectors, name, major, minor)
        dev.partno = p.partno
        dev.part = p
        devices.add(dev)
        out.append(dev)
    return out


def is_whole_disk(dev):
    # A disk driver's own devices (the bare-metal virtio-blk) say so themselves.
    return (getattr(dev, "whole_disk", False) or isinstance(dev, (FileDevice, MemoryDevice))) \
        and getattr(dev, "partno", None) is None


def _stderr(line):
    import sys
    sys.stderr.write(line + "\n")


def scan(devices, disk=None, warn=None):
    """Find the GPT on `disk` (or on every whole disk in the registry not yet
    scanned) and add its partitions. Disks without a GPT are skipped
    silently, as Linux does; repairs from the backup header are reported
    through warn(line) (standard error by default, like the kernel's log)."""
    from dmfw.disk.gpt import read_gpt
    if warn is None:
        warn = _stderr
    disks = [disk] if disk is not None else \
        [devices.find(n) for n in devices.names()]
    added = []
    for d in disks:
        if d is None or not is_whole_disk(d) or getattr(d, "gpt_scanned", False):
            continue
        d.gpt_scanned = True
        try:
            gpt = read_gpt(d)
        except DMError:
            continue
        d.gpt = gpt
        for w in gpt.warnings:
            warn(w)
        added.extend(make_partitions(devices, d, gpt))
    return added
