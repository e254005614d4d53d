# Partitions as block devices, named and numbered the way Linux does, so a
# dm table written for the kernel (`/dev/vda2`, `254:2`) works unchanged.

from dmfw.blockdev import SliceDevice, FileDevice, MemoryDevice
from dmfw.errors import DMError

# Linux's extended devt major, used for partitions beyond a disk's minors.
BLOCK_EXT_MAJOR = 259

# Minors a driver reserves per disk (whole disk + partitions); the rest get
# extended devts. virtio-blk and sd reserve 16, mmc 8 (CONFIG default);
# nvme and loop (max_part=0) reserve only the disk itself.
_MINORS = (("vd", 16), ("sd", 16), ("hd", 64), ("xvd", 16), ("mmcblk", 8))


def partition_name(disk, partno):
    """disk_name(): a `p` goes between a name ending in a digit and the
    number (nvme0n1p1, loop0p1, mmcblk0p1), none otherwise (vda1)."""
    if disk and disk[-1] in "0123456789":
        return "%sp%d" % (disk, partno)
    return "%s%d" % (disk, partno)


def _minors_per_disk(name):
    for prefix, n in _MINORS:
        if name.startswith(prefix):
            return n
    return 1


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
    if partno < _minors_per_disk(disk.name):
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
    return isinstance(dev, (FileDevice, MemoryDevice)) and \
        getattr(dev, "partno", None) is None


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
