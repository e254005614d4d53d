"""Read-only file system access on block devices (FAT today)."""


def open_fs(dev):
    """A read-only file system object for `dev` with listdir(path) ->
    [(name, is_dir, size)] and open(path) -> file with read/readinto.
    MicroPython uses its vfs.VfsFat (the block protocol is all it needs);
    elsewhere dmfw's own FAT reader."""
    try:
        import vfs
        VfsFat = vfs.VfsFat
    except (ImportError, AttributeError):
        VfsFat = None
    if VfsFat is not None:
        from dmfw.fs.vfsfat import VfsFatFS
        return VfsFatFS(VfsFat, dev)
    from dmfw.fs.fat import FatFS
    return _Native(FatFS(dev))


class _Native:
    def __init__(self, fs):
        self.fs = fs
        self.kind = fs.kind

    def listdir(self, path="/"):
        return [(e.name, e.is_dir(), e.size) for e in self.fs.listdir(path)]

    def open(self, path):
        return self.fs.open(path)


def mount(dev, path):
    """Mount the FAT on `dev` read-only at `path` in MicroPython's VFS, so
    any code (a kernel loader) can open files below it. Only MicroPython has
    a VFS to mount into."""
    from dmfw.errors import DMError, FormatError, EOPNOTSUPP, EBUSY
    try:
        import vfs
        VfsFat = vfs.VfsFat
    except (ImportError, AttributeError):
        raise DMError(EOPNOTSUPP, "mount needs MicroPython's vfs; use ddi ls/cat")
    try:
        fs = VfsFat(dev)
    except OSError as e:
        raise FormatError("%s: not a FAT file system (%s)" % (dev.name, e))
    try:
        vfs.mount(fs, path, readonly=True)
    except OSError as e:
        raise DMError(EBUSY, "%s: cannot mount (%s)" % (path, e))


def umount(path):
    from dmfw.errors import DMError, EOPNOTSUPP, EINVAL
    try:
        import vfs
    except ImportError:
        raise DMError(EOPNOTSUPP, "umount needs MicroPython's vfs")
    try:
        vfs.umount(path)
    except OSError:
        raise DMError(EINVAL, "%s: not mounted" % path)
