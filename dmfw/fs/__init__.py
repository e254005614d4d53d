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
