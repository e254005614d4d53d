# A dmfw FileSystem as a MicroPython VFS object (the protocol vfs.mount() expects of
# a Python class: open/ilistdir/stat/statvfs/chdir/getcwd, plus the writing calls,
# which fail with EROFS). MicroPython hands it paths inside the mount ("/" for its
# root) or, after chdir into it, relative ones. Errors become OSError(errno), as the
# port's own file systems raise them, so open() of a missing file is ENOENT.

from dmfw.errors import DMError, EROFS, EINVAL


def _oserror(e):
    return OSError(e.errno if isinstance(e, DMError) else EINVAL)


class VfsReader:
    def __init__(self, fs):
        self.fs = fs
        self.cwd = "/"

    def _path(self, path):
        if not path.startswith("/"):
            path = self.cwd.rstrip("/") + "/" + path
        return path

    def mount(self, readonly, mkfs):
        if mkfs:
            raise OSError(EROFS)

    def umount(self):
        pass

    def open(self, path, mode="r"):
        try:
            return self.fs.open(self._path(path), mode)
        except DMError as e:
            raise _oserror(e)

    def ilistdir(self, path="/"):
        try:
            items = self.fs.scandir(self._path(path))
        except DMError as e:
            raise _oserror(e)
        for name, ino in items:
            yield (name, ino.mode & 0o170000, ino.ino, ino.size)

    def stat(self, path):
        try:
            i = self.fs.stat(self._path(path))
        except DMError as e:
            raise _oserror(e)
        return (i.mode, i.ino, 0, i.nlink, i.uid, i.gid, i.size,
                i.atime if i.atime is not None else i.mtime, i.mtime,
                i.ctime if i.ctime is not None else i.mtime)

    def statvfs(self, path):
        bs = self.fs.block_size or 512
        blocks = (self.fs.dev.nr_sectors << 9) // bs if self.fs.dev is not None else 0
        # f_bsize, f_frsize, f_blocks, f_bfree, f_bavail, f_files, f_ffree, f_favail,
        # f_flag (ST_RDONLY), f_namemax
        return (bs, bs, blocks, 0, 0, 0, 0, 0, 1, 255)

    def chdir(self, path):
        try:
            d = self.fs.stat(self._path(path))
        except DMError as e:
            raise _oserror(e)
        if not d.is_dir():
            raise OSError(20)
        from dmfw.fs import _norm
        self.cwd = _norm(self._path(path))

    def getcwd(self):
        return self.cwd

    def mkdir(self, path):
        raise OSError(EROFS)

    def remove(self, path):
        raise OSError(EROFS)

    def rename(self, old, new):
        raise OSError(EROFS)

    def rmdir(self, path):
        raise OSError(EROFS)
