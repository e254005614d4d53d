# Read-only file systems on any dmfw block device: one interface (dmfw/fs/base.py)
# for every reader, the type found from the superblock, and mounts: the shell's own
# table (the same on CPython and MicroPython) and, on MicroPython, the port's VFS so
# firmware code can open("/mnt/boot/Image", "rb") after a mount.

from dmfw.errors import DMError, FormatError, EINVAL, EBUSY, ENODEV

# blkid TYPE -> (module, class). ext2/ext3/ext4 are one reader that names its kind.
READERS = {
    "squashfs": ("dmfw.fs.squashfs", "SquashFS"),
    "erofs": ("dmfw.fs.erofs", "ErofsFS"),
    "ext4": ("dmfw.fs.ext4", "ExtFS"),
    "ext3": ("dmfw.fs.ext4", "ExtFS"),
    "ext2": ("dmfw.fs.ext4", "ExtFS"),
    "vfat": ("dmfw.fs.fat", "FatFS"),
}
# What `mount -t` accepts, as Linux names them.
TYPES = ("squashfs", "erofs", "ext4", "ext3", "ext2", "vfat")

SQUASHFS_MAGIC = b"hsqs"
EROFS_MAGIC = b"\xe2\xe1\xf5\xe0"
EXT_MAGIC = b"\x53\xef"


def detect(dev):
    """The file system family on `dev` from its magic numbers ("squashfs", "erofs",
    "ext4" for any ext2/3/4, "vfat"), or None. Cheap: reads the first 2 KiB."""
    n = min(2048, dev.nr_sectors << 9)
    if n < 512:
        return None
    head = dev.pread(0, n)
    if head[0:4] == SQUASHFS_MAGIC:
        return "squashfs"
    if len(head) >= 1028 and head[1024:1028] == EROFS_MAGIC:
        return "erofs"
    if len(head) >= 1082 and head[1080:1082] == EXT_MAGIC:
        return "ext4"
    if head[510:512] == b"\x55\xaa" and head[0] in (0xEB, 0xE9) and \
            (head[54:57] == b"FAT" or head[82:87] == b"FAT32"):
        return "vfat"
    return None


def reader_class(kind):
    entry = READERS.get(kind)
    if entry is None:
        raise DMError(ENODEV, "unknown filesystem type '%s'" % kind)
    try:
        mod = __import__(entry[0], None, None, [entry[1]])
    except ImportError as e:
        raise DMError(ENODEV, "filesystem type %s is not available (%s)" % (kind, e))
    return getattr(mod, entry[1])


def open_fs(dev, kind=None):
    """The read-only FileSystem on `dev`; `kind` (mount -t) must match what is there."""
    found = detect(dev)
    if found is None:
        if kind is not None:
            raise FormatError("%s: wrong fs type, bad superblock (no %s found)"
                              % (dev.name, kind))
        raise FormatError("%s: no known filesystem (squashfs, erofs, ext2/3/4, vfat)"
                          % dev.name)
    if kind is not None and READERS.get(kind, (None,))[0] != READERS[found][0]:
        if kind not in READERS:
            raise DMError(ENODEV, "unknown filesystem type '%s'" % kind)
        raise FormatError("%s: wrong fs type: %s, not %s" % (dev.name, found, kind))
    return reader_class(found)(dev)


def _norm(path):
    parts = []
    for p in path.split("/"):
        if p == "..":
            if parts:
                parts.pop()
        elif p and p != ".":
            parts.append(p)
    return "/" + "/".join(parts)


class Mounts:
    """Mount points -> (FileSystem, device). `resolve(path)` finds the file system
    holding an absolute path (longest mount point first) and the path inside it."""

    def __init__(self):
        self.table = []         # [(dir, fs, dev)] in mount order

    def mount(self, fs, dev, path):
        path = _norm(path)
        for d, _f, dv in self.table:
            if d == path:
                raise DMError(EBUSY, "%s: mount point busy" % path)
            if dv is dev:
                raise DMError(EBUSY, "/dev/%s already mounted on %s" % (dev.name, d))
        _vfs_mount(fs, path)
        self.table.append((path, fs, dev))

    def umount(self, path):
        path = _norm(path)
        for i in range(len(self.table)):
            d, _f, dev = self.table[i]
            if d == path or "/dev/" + dev.name == path:
                for other, _g, _h in self.table:
                    if other != d and other.startswith(d.rstrip("/") + "/"):
                        raise DMError(EBUSY, "%s: target is busy" % d)
                _vfs_umount(d)
                del self.table[i]
                return d
        raise DMError(EINVAL, "%s: not mounted" % path)

    def holding(self, dev):
        """The mount point of `dev`, or None (a mounted device is busy for dmsetup)."""
        for d, _f, dv in self.table:
            if dv is dev:
                return d
        return None

    def device_of(self, fs):
        for _d, f, dev in self.table:
            if f is fs:
                return dev
        return None

    def mount_point(self, fs):
        for d, f, _dev in self.table:
            if f is fs:
                return d
        return None

    def resolve(self, path):
        """(fs, path inside it) for an absolute path, or (None, path) when no mount
        holds it. `..` is lexical only outside mounts (where there is nothing to walk);
        once a mount point is reached the rest goes to its file system unchanged, whose
        own walk resolves `..` after symlinks, as Linux does (`dir/..` where dir is a
        symlink is the target's parent)."""
        parts = [p for p in path.split("/") if p and p != "."]
        at = {}
        for d, fs, _dev in self.table:
            at[d] = fs
        cur = []
        best = (at["/"], 0) if "/" in at else None
        for i in range(len(parts)):
            p = parts[i]
            if p == "..":
                if best is not None:
                    break
                if cur:
                    cur.pop()
                continue
            cur.append(p)
            fs = at.get("/" + "/".join(cur))
            if fs is not None:
                best = (fs, i + 1)
        if best is None:
            return None, "/" + "/".join(cur)
        return best[0], "/" + "/".join(parts[best[1]:])

def _vfs():
    try:
        import vfs
        vfs.mount
        return vfs
    except (ImportError, AttributeError):
        return None


def _vfs_mount(fs, path):
    # Only MicroPython has a VFS to mount into; CPython's shell uses the table alone.
    from dmfw.compat import is_micropython
    if not is_micropython():
        return
    v = _vfs()
    if v is None:
        return
    from dmfw.fs.vfs import VfsReader
    try:
        v.mount(VfsReader(fs), path, readonly=True)
    except OSError as e:
        raise DMError(EBUSY, "%s: cannot mount (%s)" % (path, e))


def _vfs_umount(path):
    from dmfw.compat import is_micropython
    v = _vfs() if is_micropython() else None
    if v is not None:
        try:
            v.umount(path)
        except OSError:
            pass
