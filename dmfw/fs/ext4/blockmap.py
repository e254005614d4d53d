# The ext2/ext3 block map: 12 direct pointers, then single, double and triple
# indirect blocks. A lookup reads at most three indirect blocks (through the
# reader's small block cache); runs of consecutive pointers inside one indirect
# block are returned together so sequential reads issue large requests.

import struct

from dmfw.errors import FormatError


class BlockMap:
    def __init__(self, fs, inode):
        self.fs = fs
        self.inode = inode
        self.ino = inode.ino
        self.per = fs.block_size // 4
        self.root = struct.unpack_from("<15I", inode.iblock, 0)

    def _ptrs(self, pblk):
        buf = self.fs.meta_block(pblk, self.ino)
        return buf

    def map(self, lblk):
        """(physical block or 0 for a hole, run length) at lblk."""
        per = self.per
        if lblk < 12:
            p = self.root[lblk]
            n = 1
            while lblk + n < 12 and n < 12 and (p == 0) == (self.root[lblk + n] == 0) \
                    and (p == 0 or self.root[lblk + n] == p + n):
                n += 1
            return p, n
        lblk -= 12
        # (pointer in i_block, levels below it, blocks it covers)
        if lblk < per:
            top, levels, span = self.root[12], 1, per
        elif lblk < per + per * per:
            lblk -= per
            top, levels, span = self.root[13], 2, per * per
        elif lblk < per + per * per + per * per * per:
            lblk -= per + per * per
            top, levels, span = self.root[14], 3, per * per * per
        else:
            raise FormatError("ext4: inode %d: block %d beyond the block map"
                              % (self.ino, lblk + 12))
        p = top
        while levels > 0:
            if p == 0:
                return 0, span - lblk % span
            buf = self._ptrs(p)
            span //= per
            i = lblk // span
            lblk %= span
            levels -= 1
            p = struct.unpack_from("<I", buf, 4 * i)[0]
            if levels == 0:
                n = 1
                while i + n < per:
                    q = struct.unpack_from("<I", buf, 4 * (i + n))[0]
                    if (p == 0) != (q == 0) or (p and q != p + n):
                        break
                    n += 1
                return p, n
        return 0, 1
