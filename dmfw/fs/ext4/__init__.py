"""ext2/ext3/ext4, read-only: ExtFS(dev) implements dmfw.fs.base.FileSystem.

Supported: 1-64 KiB blocks, 32/64-byte group descriptors (64bit), flex_bg, meta_bg,
sparse_super(2), extents (unwritten extents and holes read as zeros) and the
ext2/3 block map (direct, single/double/triple indirect), huge_file, large_file,
128- and 256-byte inodes, 32-bit uids/gids, htree directories (hash lookup with
legacy/half-MD4/TEA, signed or unsigned, and the superblock's hash seed) and linear
ones, inline_data files/directories/symlinks, fast and slow symlinks, device nodes
(old and new encodings), metadata_csum (superblock, descriptors, inodes, extent
blocks, directory leaves and index blocks; gdt_csum's CRC-16 without it).
The journal is never replayed: a file system that needs recovery is read as it is
and `warning` says so. Refused: unknown incompatible features, compression,
dirdata, external journal devices; encrypted inodes (per inode). Casefolded
directories are listed with names as stored and searched linearly.

Memory: file reads stream: one request's bytes, at most MAX_READ (8 MiB) per
read() call (a shorter result than asked for only then; File loops); a metadata
cache of at most META_CACHE (16) blocks (extent index/leaf and indirect blocks), INODE_CACHE (32)
parsed inodes (path walks re-read the same directories) and one group
descriptor block; directory blocks are read one at a time and not kept. Checksums
are verified once per block/inode: a set of at most VERIFIED_MAX keys remembers
which (the device is read-only), emptied when full.
"""

from dmfw.errors import DMError, FormatError, EINVAL, EOPNOTSUPP
from dmfw.fs.base import FileSystem, S_IFMT, S_IFDIR, s_isdir, PATH_MAX
from dmfw.fs.base import Inode, ENOTDIR, EISDIR, decode_name
from dmfw.fs.ext4.super import Super, fmt_uuid, INCOMPAT_FILETYPE, BG_INODE_UNINIT
from dmfw.fs.ext4.super import COMPAT_HAS_JOURNAL, INCOMPAT_RECOVER
from dmfw.fs.ext4.inode import ExtInode, FL_EXTENTS, FL_INLINE_DATA, FL_ENCRYPT
from dmfw.fs.ext4.extents import ExtentMap
from dmfw.fs.ext4.blockmap import BlockMap
from dmfw.fs.ext4.dir import entries, is_dx, htree_lookup
from dmfw.fs.ext4.inline import inline_bytes

META_CACHE = 16
INODE_CACHE = 32
# One read() returns at most this much (File.read/readinto loop over short reads):
# a file may claim terabytes of holes, and read(ino, 0, size) must not turn that
# into one allocation.
MAX_READ = 8 << 20
VERIFIED_MAX = 256
RECOVERY_WARNING = "ext4: needs journal recovery; reading without replaying it"


class ExtFS(FileSystem):
    def __init__(self, dev):
        name = getattr(dev, "name", "?")
        if dev.nr_sectors < 4:
            raise FormatError("%s: not an ext2/ext3/ext4 file system (too small)" % name)
        self.dev = dev
        self.sb = sb = Super(dev, dev.pread(1024, 1024))
        self.kind = sb.kind()
        self.block_size = sb.block_size
        self.uuid = fmt_uuid(sb.uuid_raw)
        self.label = decode_name(sb.volume_name) if sb.volume_name else None
        self.filetype = bool(sb.incompat & INCOMPAT_FILETYPE)
        self.warning = None
        if sb.compat & COMPAT_HAS_JOURNAL and sb.incompat & INCOMPAT_RECOVER:
            self.warning = RECOVERY_WARNING
        self._cache = {}
        self._order = []
        self._verified = {}
        self._icache = {}
        self._iorder = []
        self._zeros = bytes(self.block_size)

    # --- blocks ---
    def _check_blk(self, pblk, n, ino):
        if pblk < self.sb.first_data_block or pblk + n > self.sb.blocks_count:
            raise FormatError("ext4: inode %d: block %d past the end of the file system"
                              % (ino, pblk))

    def data_block(self, pblk, ino):
        self._check_blk(pblk, 1, ino)
        bs = self.block_size
        return self.dev.pread(pblk * bs, bs)

    def meta_block(self, pblk, ino):
        buf = self._cache.get(pblk)
        if buf is None:
            buf = self.data_block(pblk, ino)
            if len(self._order) >= META_CACHE:
                del self._cache[self._order.pop(0)]
            self._cache[pblk] = buf
            self._order.append(pblk)
        return buf

    def verified(self, key):
        return key in self._verified

    def mark_verified(self, key):
        if len(self._verified) >= VERIFIED_MAX:
            self._verified = {}
        self._verified[key] = True

    def mapper(self, dino):
        if dino.flags & FL_EXTENTS:
            return ExtentMap(self, dino)
        return BlockMap(self, dino)

    def inline(self, dino):
        return bool(dino.flags & FL_INLINE_DATA)

    # --- inodes ---
    def get_inode(self, ino):
        node = self._icache.get(ino)
        if node is None:
            node = self._load_inode(ino)
            if len(self._iorder) >= INODE_CACHE:
                del self._icache[self._iorder.pop(0)]
            self._icache[ino] = node
            self._iorder.append(ino)
        return node

    def _load_inode(self, ino):
        sb = self.sb
        if ino < 1 or ino > sb.inodes_count:
            raise FormatError("ext4: inode %d out of range" % ino)
        g, idx = divmod(ino - 1, sb.inodes_per_group)
        itab, flags, unused = sb.group_desc(g)
        if flags & BG_INODE_UNINIT or (unused and idx >= sb.inodes_per_group - unused):
            raise FormatError("ext4: inode %d: not in use (uninitialised group %d)" % (ino, g))
        isz = sb.inode_size
        bs = self.block_size
        blk = itab + (idx * isz) // bs
        self._check_blk(blk, 1, ino)
        raw = self.dev.pread(blk * bs + (idx * isz) % bs, isz)
        node = ExtInode(self, ino, raw)
        if node.mode == 0 or (node.nlink == 0 and not s_isdir(node.mode)):
            raise FormatError("ext4: inode %d: not in use" % ino)
        self._check_size(node)
        return node

    def _check_size(self, node):
        bs = self.block_size
        if node.flags & FL_EXTENTS or self.inline(node):
            limit = (1 << 32) * bs
        else:
            per = bs // 4
            limit = (12 + per + per * per + per * per * per) * bs
        if s_isdir(node.mode):
            limit = min(limit, self.sb.blocks_count * bs)
        if node.size > limit:
            raise FormatError("ext4: inode %d: size %d larger than possible (%d)"
                              % (node.ino, node.size, limit))

    def _plain(self, node):
        if node.flags & FL_ENCRYPT:
            raise DMError(EOPNOTSUPP, "ext4: inode %d: encrypted; not supported" % node.ino)

    def root(self):
        r = self.get_inode(2)
        if (r.mode & S_IFMT) != S_IFDIR:
            raise FormatError("ext4: inode 2: the root is not a directory")
        return r

    def inode(self, ref):
        if isinstance(ref, Inode):
            return ref
        return self.get_inode(ref)

    def entries(self, dir_inode):
        if not dir_inode.is_dir():
            raise DMError(ENOTDIR, "ext4: inode %d: not a directory" % dir_inode.ino)
        self._plain(dir_inode)
        return entries(self, dir_inode)

    def lookup_child(self, dir_inode, name):
        self._plain(dir_inode)
        if not self.inline(dir_inode) and is_dx(self, dir_inode):
            ino = htree_lookup(self, dir_inode, name)
            if ino is not None:
                return self.get_inode(ino) if ino else None
        return FileSystem.lookup_child(self, dir_inode, name)

    def read_link(self, node):
        if not node.is_lnk():
            raise DMError(EINVAL, "ext4: inode %d: not a symbolic link" % node.ino)
        self._plain(node)
        if node.size >= PATH_MAX or node.size > self.block_size:
            raise FormatError("ext4: inode %d: symlink of %d bytes" % (node.ino, node.size))
        if self.inline(node):
            data = inline_bytes(node)
            if len(data) != node.size:
                raise FormatError("ext4: inode %d: symlink longer than its inline data"
                                  % node.ino)
            return data
        if node.fast_link:
            return node.iblock[:node.size]
        return self._read(node, 0, node.size)

    def _check_read(self, node, pos):
        if node.is_dir():
            raise DMError(EISDIR, "ext4: inode %d: is a directory" % node.ino)
        if not node.is_reg():
            raise DMError(EINVAL, "ext4: inode %d: not a regular file" % node.ino)
        self._plain(node)
        if pos < 0:
            raise DMError(EINVAL, "ext4: negative read position")

    def read(self, node, pos, n):
        self._check_read(node, pos)
        if self.inline(node):
            want = max(0, min(n, node.size - pos, MAX_READ))
            data = inline_bytes(node)[pos:pos + want]
            return data + bytes(want - len(data))
        return self._read(node, pos, n)

    def readinto(self, node, pos, mv):
        """Fill the caller's memoryview straight from the device (no copy); returns
        the byte count: short only at end of file or past MAX_READ."""
        self._check_read(node, pos)
        if self.inline(node):
            data = self.read(node, pos, len(mv))
            mv[:len(data)] = data
            return len(data)
        return self._fill(node, pos, mv)

    def _read(self, node, pos, n):
        n = max(0, min(n, MAX_READ, node.size - pos))
        if n == 0:
            return b""
        out = bytearray(n)
        self._fill(node, pos, memoryview(out))
        return bytes(out)

    def _fill(self, node, pos, mv):
        end = min(node.size, pos + min(len(mv), MAX_READ))
        if end <= pos:
            return 0
        bs = self.block_size
        rb = getattr(self.dev, "readblocks", None)
        mp = self.mapper(node)
        o = 0
        while pos < end:
            lblk = pos // bs
            inner = pos % bs
            pblk, run = mp.map(lblk)
            if run <= 0:
                raise FormatError("ext4: inode %d: bad block map" % node.ino)
            take = min(run * bs - inner, end - pos)
            if pblk:
                self._check_blk(pblk, (inner + take + bs - 1) // bs, node.ino)
                at = pblk * bs + inner
                if rb is not None:
                    rb(at >> 9, mv[o:o + take], at & 511)
                else:
                    mv[o:o + take] = self.dev.pread(at, take)
            else:
                # A hole or an unwritten extent: the caller's buffer is not zeroed.
                z = self._zeros
                k = 0
                while k < take:
                    c = min(take - k, len(z))
                    mv[o + k:o + k + c] = z[:c]
                    k += c
            o += take
            pos += take
        return o
