"""Read-only EROFS (Linux fs/erofs) on a dmfw block device.

Supported: block sizes 512 B .. 64 KiB, superblock crc32c, compact and extended inodes,
layouts FLAT_PLAIN, FLAT_INLINE (tail packing), CHUNK_BASED (block maps and chunk
indexes, holes), COMPRESSED_FULL and COMPRESSED_COMPACT (2- and 4-byte packs; lz4 with
or without 0padding, lzma (MicroLZMA), deflate, zstd; big pclusters, HEAD2, stored and
interlaced extents, ztailpacking, fragments and the packed inode, dedupe's partial
references), directories with binary-search lookups, symlinks, device nodes, fifos,
sockets. Not supported (refused by name): extra devices, 48-bit block numbers,
metabox; xattrs are skipped (their size is accounted for).

Caches (the bounds):
  - metadata: at most META_BLOCKS (16) blocks;
  - directories: the last directory block read (one block);
  - decoded extents: at most two (one for files, one for the packed inode), each at
    most the kernel's Z_EROFS_PCLUSTER_MAX_DSIZE (12 MiB). Real images use up to
    their extent's decoded size: 4 KiB .. 1 MiB, several MiB for long zero runs, so
    images for MicroPython's heap are best made with mkfs.erofs
    --max-extent-bytes=65536. A dedupe partial reference decoded by deflate or zstd
    may take up to the bound transiently (those decoders cannot stop early).
Everything else is read per call.
"""

from dmfw.errors import DMError, FormatError, EINVAL
from dmfw.fs.base import FileSystem, EISDIR, S_IFMT, S_IFDIR
from dmfw.fs.erofs.super import Super, uuid_str
from dmfw.fs.erofs.inode import (read_inode, ErofsInode, FLAT_PLAIN, FLAT_INLINE,
                                 CHUNK_BASED)

META_BLOCKS = 16


class ErofsFS(FileSystem):
    kind = "erofs"

    def __init__(self, dev):
        self.dev = dev
        self.sb = sb = Super(dev)
        self.block_size = sb.block_size
        self.uuid = uuid_str(sb.uuid) if sb.uuid != bytes(16) else None
        self.label = None
        if sb.volume_name:
            from dmfw.fs.base import decode_name
            self.label = decode_name(sb.volume_name)
        self._meta = {}
        self._meta_order = []
        self._zcache = [None, None]
        self._packed = None
        self._depth = 0
        self._dirblk = None     # the last directory block read: (nid, index, bytes)
        r = read_inode(self, sb.root_nid)
        if (r.mode & S_IFMT) != S_IFDIR:
            raise FormatError("erofs: %s: root nid %d is not a directory"
                              % (dev.name, sb.root_nid))
        self._root = r

    # --- device access (every byte range checked against the device first)
    def _check(self, off, n, nid):
        if off < 0 or n < 0 or off + n > self.sb.dev_bytes:
            raise FormatError("erofs: nid %d: %d bytes at %d are outside the device"
                              % (nid, n, off))

    def meta(self, off, n, nid=0):
        """n bytes of metadata at byte `off`, through the small block cache."""
        self._check(off, n, nid)
        bits = self.sb.blkszbits
        bs = self.sb.block_size
        blk = off >> bits
        skip = off & (bs - 1)
        if skip + n <= bs:
            b = self._meta_block(blk)
            return b[skip:skip + n]
        parts = []
        while n > 0:
            b = self._meta_block(blk)
            take = min(n, bs - skip)
            parts.append(b[skip:skip + take])
            n -= take
            skip = 0
            blk += 1
        return b"".join(parts)

    def _meta_block(self, blk):
        b = self._meta.get(blk)
        if b is not None:
            return b
        bs = self.sb.block_size
        off = blk << self.sb.blkszbits
        n = min(bs, self.sb.dev_bytes - off)
        b = bytes(self.dev.pread(off, n))
        if len(b) < bs:
            b = b + bytes(bs - len(b))
        if len(self._meta_order) >= META_BLOCKS:
            del self._meta[self._meta_order.pop(0)]
        self._meta[blk] = b
        self._meta_order.append(blk)
        return b

    def data(self, off, n, ino):
        self._check(off, n, ino.nid)
        return bytes(self.dev.pread(off, n))

    # --- the reader contract
    def root(self):
        return self._root

    def inode(self, ref):
        if isinstance(ref, ErofsInode):
            return ref
        return read_inode(self, ref)

    def entries(self, d):
        from dmfw.fs.erofs import dir as _dir
        if not d.is_dir():
            raise DMError(20, "erofs: nid %d: not a directory" % d.nid)
        return _dir.entries(self, d)

    def lookup_child(self, d, name):
        from dmfw.fs.erofs import dir as _dir
        nid = _dir.lookup(self, d, name)
        if nid is None:
            return None
        return read_inode(self, nid)

    def read_link(self, ino):
        if not ino.is_lnk():
            raise DMError(EINVAL, "erofs: nid %d: not a symlink" % ino.nid)
        return self.read_data(ino, 0, ino.size)

    def read(self, ino, pos, n):
        if ino.is_dir():
            raise DMError(EISDIR, "erofs: nid %d: is a directory" % ino.nid)
        if not ino.is_reg():
            raise DMError(EINVAL, "erofs: nid %d: not a regular file" % ino.nid)
        return self.read_data(ino, pos, n)

    def read_data(self, ino, pos, n):
        """Up to n bytes at pos of any inode's data (files, directories, symlinks)."""
        size = ino.size
        if pos < 0:
            raise DMError(EINVAL, "erofs: nid %d: negative offset" % ino.nid)
        if pos >= size or n <= 0:
            return b""
        n = min(n, size - pos)
        parts = []
        while n > 0:
            piece = self._piece(ino, pos, n)
            if not piece:
                raise FormatError("erofs: nid %d: no data at %d" % (ino.nid, pos))
            parts.append(piece)
            pos += len(piece)
            n -= len(piece)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _piece(self, ino, pos, n):
        lay = ino.layout
        if lay == FLAT_PLAIN or lay == FLAT_INLINE:
            from dmfw.fs.erofs.data import read_flat
            return read_flat(self, ino, pos, n)
        if lay == CHUNK_BASED:
            from dmfw.fs.erofs.data import read_chunked
            return read_chunked(self, ino, pos, n)
        return self._zread(ino, pos, n)

    def _zread(self, ino, pos, n):
        from dmfw.fs.erofs.zmap import ZMap, KIND_FRAGMENT, KIND_META
        if ino.zmap is None:
            ino.zmap = ZMap(self, ino)
        ext = ino.zmap.map(pos)
        if ext.la > pos or ext.la + ext.llen <= pos:
            raise FormatError("erofs: nid %d: extent at %d does not cover %d"
                              % (ino.nid, ext.la, pos))
        want = min(n, ext.la + ext.llen - pos)
        if ext.kind == KIND_FRAGMENT:
            packed = self._packed_inode(ino)
            self._depth += 1
            try:
                return self.read_data(packed, ino.zmap.fragmentoff + pos - ext.la, want)
            finally:
                self._depth -= 1
        slot = 1 if ino.nid == self.sb.packed_nid else 0
        c = self._zcache[slot]
        if c is None or c[0] != ino.nid or c[1] != ext.la or len(c[2]) != ext.llen:
            if ext.kind == KIND_META:
                raw = self.meta(ext.pa, ext.plen, ino.nid)
            else:
                raw = self.data(ext.pa, ext.plen, ino)
            from dmfw.fs.erofs.decompress import decode
            self._zcache[slot] = None
            c = (ino.nid, ext.la, decode(self, ino, ext, raw))
            self._zcache[slot] = c
        off = pos - ext.la
        if off == 0 and want == len(c[2]):
            return c[2]
        return bytes(memoryview(c[2])[off:off + want])

    def _packed_inode(self, ino):
        if self._depth:
            raise FormatError("erofs: nid %d: fragment inside the packed inode" % ino.nid)
        if self._packed is None:
            p = read_inode(self, self.sb.packed_nid)
            if not p.is_reg():
                raise FormatError("erofs: packed nid %d is not a regular file"
                                  % self.sb.packed_nid)
            self._packed = p
        return self._packed
