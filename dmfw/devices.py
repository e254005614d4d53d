# The firmware's view of /dev: every block device by kernel name, by the
# paths that lead to it (/dev/vda, /dev/mapper/x, /dev/VG/LV) and by
# major:minor, which is how tables name lower devices.

from dmfw.errors import DMError, ENODEV, EEXIST
from dmfw.numbers import is_decimal

# Linux's fixed block majors: loop devices, and the device mapper's
# (dynamic on Linux; 253 on every distribution kernel we compare with).
LOOP_MAJOR = 7
DM_MAJOR = 253


def _split_devno(spec):
    i = spec.find(":")
    if i <= 0 or "/" in spec:
        return None
    a = spec[:i]
    b = spec[i + 1:]
    if not (is_decimal(a) and is_decimal(b)):
        return None
    return (int(a), int(b))


class DeviceRegistry:
    def __init__(self):
        self.by_name = {}      # kernel name -> device
        self.aliases = {}      # extra path -> kernel name

    def add(self, dev):
        if dev.name in self.by_name:
            raise DMError(EEXIST, "%s: device exists" % dev.name)
        self.by_name[dev.name] = dev

    def remove(self, dev):
        if self.by_name.get(dev.name) is dev:
            del self.by_name[dev.name]
        for k in [k for k, v in self.aliases.items() if v == dev.name]:
            del self.aliases[k]

    def alias(self, path, dev):
        self.aliases[path] = dev.name

    def unalias(self, path):
        self.aliases.pop(path, None)

    def find(self, spec):
        """Return the device for a path, kernel name or major:minor, or None."""
        devno = _split_devno(spec)
        if devno is not None:
            for d in self.by_name.values():
                if d.major == devno[0] and d.minor == devno[1]:
                    return d
            return None
        if spec in self.aliases:
            return self.by_name.get(self.aliases[spec])
        name = spec[5:] if spec.startswith("/dev/") else spec
        return self.by_name.get(name)

    def get(self, spec):
        d = self.find(spec)
        if d is None:
            raise DMError(ENODEV, "%s: no such block device" % spec)
        return d

    # -- attaching backing storage
    def attach(self, devpath, filepath, readonly=False, devno=None, warn=None):
        """A file or /dev node as the whole disk `devpath` (/dev/vda), with
        the numbers Linux would give it, and its GPT partitions scanned.
        `warn(line)` hears about a partition table that cannot be read."""
        from dmfw.blockdev import FileDevice
        from dmfw.devnames import disk_devno
        name = devpath[5:] if devpath.startswith("/dev/") else devpath
        if devno is None:
            devno = disk_devno(name)
        dev = FileDevice(filepath, readonly=readonly, name=name,
                         major=devno[0], minor=devno[1])
        self.add(dev)
        self.scan_partitions(dev, warn)
        return dev

    def scan_partitions(self, dev, warn=None):
        try:
            from dmfw.disk import scan_partitions
        except ImportError:
            return
        try:
            scan_partitions(self, dev, warn)
        except DMError as e:
            if warn is not None:
                warn("%s: %s" % (dev.name, e))

    def attach_loop(self, filepath, warn=None, readonly=True):
        """losetup --find --show [-r]: the image's loop device, reusing the
        one it is already on (as `losetup -j` would find it). Read-write
        only when asked (cryptsetup open maps an image read-write)."""
        for d in self.by_name.values():
            if d.major == LOOP_MAJOR and getattr(d, "path", None) == filepath:
                return d
        n = self.free_minor(LOOP_MAJOR)
        return self.attach("/dev/loop%d" % n, filepath, readonly=readonly,
                           devno=(LOOP_MAJOR, n), warn=warn)

    def attach_sysfs(self, name, warn=None):
        """A disk the kernel shows in /sys/block but this registry has not
        attached yet (hot-plugged): attach its /dev node under the kernel's
        numbers, read-write if the kernel allows it. None when the kernel
        has no such disk. dm devices are the kernel's own, never ours."""
        from dmfw.compat import read_text
        if "/" in name or name.startswith("dm-"):
            return None
        devno = read_text("/sys/block/%s/dev" % name)
        if not devno or ":" not in devno:
            return None
        ma, mi = devno.strip().split(":")
        if not (is_decimal(ma) and is_decimal(mi)):
            return None
        ro = read_text("/sys/block/%s/ro" % name)
        devno = (int(ma), int(mi))
        path = "/dev/" + name
        if not (ro and ro.strip() == "1"):
            try:
                return self.attach(path, path, devno=devno, warn=warn)
            except DMError:
                pass
        return self.attach(path, path, readonly=True, devno=devno, warn=warn)

    def names(self):
        return sorted(self.by_name)

    def free_minor(self, major, step=1):
        used = set()
        for d in self.by_name.values():
            if d.major == major:
                used.add(d.minor)
        m = 0
        while m in used:
            m += step
        return m


def resolve(registry, spec, image=None, write=False, warn=None):
    """The one way a command turns a device argument into a block device.

    In order: a device the registry has (`/dev/vdX`, `/dev/mapper/NAME`,
    `/dev/VG/LV`, `/dev/dm-N`, a kernel name, `MAJ:MIN`); a disk the kernel
    shows (`/dev/NAME` or `/sys/block/NAME`) attached on first use; any
    other `/dev/...` path is not ours (in the guest a kernel node such as
    /dev/mapper/x made by the real dmsetup is not a firmware device).
    Anything else is an image file, and `image` says what it becomes:
    "loop" - attached as the next free loopN, read-only unless `write`, so a
    table can name it (veritysetup open, systemd-dissect, cryptsetup open);
    "file" - a plain unregistered device (dd, sha256sum, a hash image),
    opened read-write with `write`;
    None - refused."""
    dev = registry.find(spec)
    if dev is not None:
        return dev
    name = None
    if spec.startswith("/sys/block/"):
        name = spec[11:].rstrip("/")
    elif spec.startswith("/dev/"):
        name = spec[5:]
    if name is not None:
        dev = registry.find(name) or registry.attach_sysfs(name, warn)
        if dev is None:
            raise DMError(ENODEV, "%s: No such device" % spec)
        return dev
    if image == "loop":
        return registry.attach_loop(spec, warn, readonly=not write)
    if image != "file":
        raise DMError(ENODEV, "%s: No such device" % spec)
    from dmfw.blockdev import FileDevice
    return FileDevice(spec, readonly=not write)
