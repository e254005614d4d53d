"""squashfs 4.0, read-only (the format of Linux fs/squashfs and squashfs-tools).

Every compressor squashfs-tools writes (gzip as "zlib", lzma, lzo, xz, lz4,
zstd) through dmfw.compress, their options blocks checked; block sizes 4 KiB to
1 MiB; fragments and tail-ends, holes, uncompressed metadata/data/fragments
(-noI -noD -noF -noX), basic and extended inodes of every type, hard links, the
id table, directory indexes for lookups in big directories. Export and xattr
tables are bounds-checked, not read (xattr indexes in inodes are checked).

Memory, per open file system (the stated bound):
  metadata  LRU of 16 decompressed metadata blocks (16 x 8 KiB = 128 KiB)
  data      one decompressed data block and one fragment block (<= block_size
            each: 256 KiB at the usual 128 KiB); past 256 KiB blocks one of the
            two at a time (1 MiB at the 1 MiB maximum; MicroPython then needs a
            4 MiB heap: the block, its compressed input and the decoder's output)
  blocks    the block list of one file: a checkpoint per 512 blocks and one
            window of 512 words (2 KiB)
  ids       the id table when it fits one metadata block (<= 2048 ids, 8 KiB)
Nothing is sized from an on-disk field without checking it against the block
size, the metadata block size or the table it must fit in.
"""

from dmfw.errors import DMError, EINVAL
from dmfw.fs.base import FileSystem, Inode, EISDIR
from dmfw.fs.squashfs.super import Super, SB_SIZE
from dmfw.fs.squashfs.meta import Meta
from dmfw.fs.squashfs import tables, inode as sqinode, dir as sqdir, file as sqfile


class SquashFS(FileSystem):
    kind = "squashfs"

    def __init__(self, dev):
        self.dev = dev
        size = dev.nr_sectors << 9
        sb = Super(dev.pread(0, SB_SIZE) if size >= SB_SIZE else b"", size)
        self.sb = sb
        self.block_size = sb.block_size
        self.meta = Meta(dev, sb.decoder)
        sb.parse_options(self.meta.block)
        tables.load(self, sb)
        self.data = sqfile.Data(self)
        self._root = sqinode.read_inode(self, sb.root_inode)
        if not self._root.is_dir():
            raise tables.err("root inode is not a directory")

    def root(self):
        return self._root

    def inode(self, ref):
        if isinstance(ref, Inode):
            return ref
        return sqinode.read_inode(self, ref[0], ref[1])

    def entries(self, d):
        if not d.is_dir():
            raise DMError(20, "squashfs: inode %d: not a directory" % d.ino)
        return sqdir.entries(self, d)

    def lookup_child(self, d, name):
        ref = sqdir.lookup(self, d, name)
        if ref is None:
            return None
        return sqinode.read_inode(self, ref[0], ref[1])

    def read_link(self, ino):
        if ino.target is None:
            raise DMError(EINVAL, "squashfs: inode %d: not a symlink" % ino.ino)
        return ino.target

    def read(self, ino, pos, n):
        self._readable(ino, pos)
        return sqfile.read(self, ino, pos, n)

    def readinto(self, ino, pos, mv):
        self._readable(ino, pos)
        return sqfile.readinto(self, ino, pos, mv)

    def _readable(self, ino, pos):
        if ino.is_dir():
            raise DMError(EISDIR, "squashfs: inode %d: is a directory" % ino.ino)
        if not ino.is_reg():
            raise DMError(EINVAL, "squashfs: inode %d: not a regular file" % ino.ino)
        if pos < 0:
            raise DMError(EINVAL, "squashfs: inode %d: negative position" % ino.ino)
