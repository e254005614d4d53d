"""A writer for the "newc" cpio format, the only one the Linux initramfs unpacker reads.

Written in Python rather than calling cpio(1) so that archives need no staging tree
(device nodes such as /dev/console cannot be made without root) and are byte-identical
from run to run (fixed mtimes, uid/gid 0).
"""
import os
import stat

_TRAILER = "TRAILER!!!"


class CpioWriter:
    def __init__(self, fileobj):
        self._f = fileobj
        self._ino = 1
        self._seen = set()

    def _entry(self, name, mode, data=b"", rdev=(0, 0), nlink=1):
        name = name.strip("/") or "."
        encoded = name.encode() + b"\0"
        header = "070701" + "".join(
            "%08X" % v for v in (
                self._ino, mode, 0, 0, nlink, 0, len(data),
                0, 0, rdev[0], rdev[1], len(encoded), 0))
        self._ino += 1
        self._f.write(header.encode() + encoded)
        self._pad(110 + len(encoded))
        self._f.write(data)
        self._pad(len(data))

    def _pad(self, n):
        self._f.write(b"\0" * (-n % 4))

    def directory(self, name, mode=0o755):
        """Add a directory and any missing parents (the unpacker does not make them)."""
        name = name.strip("/")
        parts = name.split("/")
        for i in range(1, len(parts) + 1):
            sub = "/".join(parts[:i])
            if sub and sub not in self._seen:
                self._seen.add(sub)
                self._entry(sub, stat.S_IFDIR | mode, nlink=2)

    def _parent(self, name):
        parent = os.path.dirname(name.strip("/"))
        if parent:
            self.directory(parent)

    def file(self, name, data, mode=0o644):
        self._parent(name)
        self._entry(name, stat.S_IFREG | mode, data)

    def symlink(self, name, target):
        self._parent(name)
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def chardev(self, name, major, minor, mode=0o600):
        self._parent(name)
        self._entry(name, stat.S_IFCHR | mode, rdev=(major, minor))

    def tree(self, src, dest=""):
        """Add a host directory tree under dest, keeping symlinks as symlinks."""
        for root, dirs, files in os.walk(src):
            dirs.sort()
            rel = os.path.relpath(root, src)
            base = dest if rel == "." else os.path.join(dest, rel)
            if base:
                self.directory(base)
            for entry in sorted(files) + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
                path = os.path.join(root, entry)
                name = os.path.join(base, entry)
                st = os.lstat(path)
                if stat.S_ISLNK(st.st_mode):
                    self.symlink(name, os.readlink(path))
                elif stat.S_ISREG(st.st_mode):
                    with open(path, "rb") as f:
                        self.file(name, f.read(), stat.S_IMODE(st.st_mode))

    def close(self):
        self._entry(_TRAILER, 0)
