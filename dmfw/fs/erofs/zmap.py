# Compressed file maps (Linux fs/erofs/zmap.c). A compressed inode splits its bytes
# into logical clusters (lclusters, 2^lclusterbits bytes) with one index each:
#   PLAIN/HEAD1/HEAD2  an extent starts `clusterofs` bytes into this lcluster; its
#                      pcluster (compressed bytes) starts at block `blkaddr`
#   NONHEAD            inside an extent: delta[0] lclusters back to its head, delta[1]
#                      ahead to the next head; the first NONHEAD of a big pcluster
#                      carries the pcluster's block count instead (D0_CBLKCNT)
# Indexes are "full" (8 bytes each, COMPRESSED_FULL) or "compact" (COMPRESSED_COMPACT:
# packs of 2 lclusters in 8 bytes or 16 in 32 bytes sharing one base blkaddr).
# The tail extent may live inline after the indexes (ztailpacking) or in the packed
# inode (fragments); a whole file may be one fragment. An extent may reference only a
# prefix of its pcluster's output (PARTIAL_REF: dedupe).
#
# map(pos) returns the whole logical extent holding pos. Every walk is bounded by
# MAX_DSIZE / lcluster size steps, so a corrupt index cannot loop or run far.

import struct
from dmfw.errors import FormatError, EOPNOTSUPP
from dmfw.fs.erofs.inode import COMPRESSED_FULL

PLAIN, HEAD1, NONHEAD, HEAD2 = 0, 1, 2, 3
D0_CBLKCNT = 1 << 11
PARTIAL_REF = 1 << 15

ADVISE_COMPACTED_2B = 0x1
ADVISE_BIG_PCLUSTER_1 = 0x2
ADVISE_BIG_PCLUSTER_2 = 0x4
ADVISE_INLINE_PCLUSTER = 0x8
ADVISE_INTERLACED_PCLUSTER = 0x10
ADVISE_FRAGMENT_PCLUSTER = 0x20
ADVISE_KNOWN = 0x3F

# The kernel's bounds (erofs_fs.h): encoded and decoded size of one pcluster.
MAX_PSIZE = 1 << 20
MAX_DSIZE = 12 << 20

# Extent formats besides the algorithm numbers 0..3 (lz4, lzma, deflate, zstd).
SHIFTED = 8
INTERLACED = 9

KIND_BLOCKS = 0     # pcluster on the device at pa
KIND_META = 1       # inline pcluster (ztailpacking) at byte pa in the metadata
KIND_FRAGMENT = 2   # bytes in the packed inode at fragmentoff


class Extent:
    la = 0
    llen = 0
    pa = 0
    plen = 0
    kind = KIND_BLOCKS
    fmt = 0
    partial = False


class _Rec:
    """One loaded lcluster index (z_erofs_maprecorder)."""
    lcn = 0
    type = 0
    clusterofs = 0
    delta0 = 0
    delta1 = 0
    pblk = 0
    cblks = 0
    partial = False
    nextpackoff = 0


class ZMap:
    def __init__(self, fs, ino):
        self.fs = fs
        self.ino = ino
        self.nid = nid = ino.nid
        sb = fs.sb
        self.tail_headlcn = -1
        self.fragmentoff = 0
        self.idataoff = 0
        self.idata_size = 0
        self.whole_fragment = False
        h = (ino.data_start() + 7) & ~7
        hb = fs.meta(h, 8, nid)
        self.ebase = h + 8
        if hb[7] & 0x80:
            # The whole file is one fragment of the packed inode.
            self.advise = ADVISE_FRAGMENT_PCLUSTER
            self.fragmentoff = int.from_bytes(hb, "little") & ((1 << 63) - 1)
            self.whole_fragment = True
            self.tail_headlcn = 0
            self._need_packed()
            return
        # h_fragmentoff (u32) overlays h_reserved1 (u16) and h_idata_size (u16).
        fragoff, advise, algs, cbits = struct.unpack_from("<IHBB", hb, 0)
        idata = fragoff >> 16
        if advise & ~ADVISE_KNOWN:
            raise FormatError("erofs: nid %d: unknown compression advise 0x%x" % (nid, advise),
                              EOPNOTSUPP)
        self.advise = advise
        self.algs = (algs & 15, algs >> 4)
        for a in self.algs:
            if a > 3:
                raise FormatError("erofs: nid %d: unknown compression algorithm %d"
                                  % (nid, a), EOPNOTSUPP)
        self.lbits = sb.blkszbits + (cbits & 15)
        self.compact = ino.layout != COMPRESSED_FULL
        if self.compact and self.lbits > 14 or self.lbits > 20:
            raise FormatError("erofs: nid %d: lcluster size 2^%d is not supported"
                              % (nid, self.lbits), EOPNOTSUPP)
        big1 = bool(advise & ADVISE_BIG_PCLUSTER_1)
        big2 = bool(advise & ADVISE_BIG_PCLUSTER_2)
        if self.compact and big1 != big2:
            raise FormatError("erofs: nid %d: big pcluster head1/2 of compact indexes differ"
                              % nid)
        if (big1 or big2) and not (sb.feature_incompat & 0x2):
            raise FormatError("erofs: nid %d: big pclusters without the feature" % nid)
        lsize = 1 << self.lbits
        self.totalidx = (ino.size + lsize - 1) >> self.lbits
        # Where the index array ends must be on the device: it bounds totalidx, so a
        # huge i_size cannot make index reads run anywhere.
        if self.compact:
            ini = ((32 - self.ebase % 32) // 4) & 7
            if advise & ADVISE_COMPACTED_2B and ini < self.totalidx:
                c2b = (self.totalidx - ini) // 16 * 16
            else:
                c2b = 0
            self.c4_initial = ini
            self.c2b = c2b
            if c2b and self.lbits > 12:
                raise FormatError("erofs: nid %d: 2-byte indexes with lclusters over 4 KiB"
                                  % nid, EOPNOTSUPP)
            end = self.ebase + 4 * self.totalidx
        else:
            end = self.ebase + 8 + 8 * self.totalidx
        if end > sb.dev_bytes:
            raise FormatError("erofs: nid %d: %d lcluster indexes run past the device"
                              % (nid, self.totalidx))
        if advise & ADVISE_INLINE_PCLUSTER:
            self.idata_size = idata
            ext = self._map(ino.size - 1, True)
            if not ext.plen or (ext.pa & (sb.block_size - 1)) + ext.plen > sb.block_size:
                raise FormatError("erofs: nid %d: invalid tail-packing pcluster of %d bytes"
                                  % (nid, ext.plen))
        if advise & ADVISE_FRAGMENT_PCLUSTER:
            self.fragmentoff = fragoff
            self._map(ino.size - 1, True)
            self._need_packed()

    def _need_packed(self):
        if not self.fs.sb.packed_nid or not (self.fs.sb.feature_incompat & 0x20):
            raise FormatError("erofs: nid %d: fragment without a packed inode" % self.nid)

    # --- lcluster indexes
    def _load(self, m, lcn, lookahead=False):
        if lcn >= self.totalidx:
            raise FormatError("erofs: nid %d: lcluster %d past the end (%d)"
                              % (self.nid, lcn, self.totalidx))
        m.lcn = lcn
        m.cblks_here = 0
        if self.compact:
            self._load_compact(m, lcn, lookahead)
        else:
            self._load_full(m, lcn)

    def _load_full(self, m, lcn):
        pos = self.ebase + 8 + 8 * lcn
        advise, cofs, u = struct.unpack("<HHI", self.fs.meta(pos, 8, self.nid))
        m.nextpackoff = pos + 8
        m.type = advise & 3
        m.partial = False
        if m.type == NONHEAD:
            m.clusterofs = 1 << self.lbits
            d0 = u & 0xFFFF
            m.delta1 = u >> 16
            if d0 & D0_CBLKCNT:
                if not self.advise & (ADVISE_BIG_PCLUSTER_1 | ADVISE_BIG_PCLUSTER_2):
                    raise FormatError("erofs: nid %d: lcluster %d: block count without big "
                                      "pclusters" % (self.nid, lcn))
                m.cblks = d0 & ~D0_CBLKCNT
                m.cblks_here = 1
                d0 = 1
            m.delta0 = d0
        else:
            m.partial = bool(advise & PARTIAL_REF)
            if cofs >= 1 << self.lbits:
                raise FormatError("erofs: nid %d: lcluster %d: cluster offset %d too large"
                                  % (self.nid, lcn, cofs))
            m.clusterofs = cofs
            m.pblk = u
            m.delta0 = 0

    def _load_compact(self, m, lcn, lookahead):
        pos = self.ebase
        if lcn < self.c4_initial:
            shift = 2
        else:
            pos += self.c4_initial * 4
            lcn -= self.c4_initial
            if lcn < self.c2b:
                shift = 1
            else:
                pos += self.c2b * 2
                lcn -= self.c2b
                shift = 2
        pos += lcn << shift
        vcnt = 2 if shift == 2 else 16
        packsize = vcnt << shift
        start = pos - pos % packsize
        pack = self.fs.meta(start, packsize, self.nid)
        m.nextpackoff = start + packsize
        m.partial = False
        lobits = max(self.lbits, 12)
        encodebits = (packsize - 4) * 8 // vcnt
        lomask = (1 << lobits) - 1

        def dec(j):
            # A little-endian 32-bit read at the entry's byte, as the kernel does (no
            # big integers: some MicroPython ports have only 64-bit ones).
            p = encodebits * j
            v = struct.unpack_from("<I", pack, p >> 3)[0] >> (p & 7)
            return v & lomask, (v >> lobits) & 3

        i = (pos - start) >> shift
        lo, t = dec(i)
        m.type = t
        if t == NONHEAD:
            m.clusterofs = 1 << self.lbits
            if lookahead:
                d1 = 0
                j = i
                while j < vcnt:
                    lo2, t2 = dec(j)
                    if t2 != NONHEAD:
                        break
                    d1 += 1
                    j += 1
                else:
                    if not lo2 & D0_CBLKCNT:
                        d1 += lo2 - 1
                m.delta1 = d1
            if lo & D0_CBLKCNT:
                if not self.advise & ADVISE_BIG_PCLUSTER_1:
                    raise FormatError("erofs: nid %d: lcluster %d: block count without big "
                                      "pclusters" % (self.nid, m.lcn))
                m.cblks = lo & ~D0_CBLKCNT
                m.cblks_here = 1
                m.delta0 = 1
                return
            if i + 1 != vcnt:
                m.delta0 = lo
                return
            # The pack's last lcluster keeps delta[1] in lo; delta[0] comes from the
            # one before it.
            lo, t = dec(i - 1)
            if t != NONHEAD:
                lo = 0
            elif lo & D0_CBLKCNT:
                lo = 1
            m.delta0 = lo + 1
            return
        m.clusterofs = lo
        m.delta0 = 0
        # A HEAD's block is the pack's base plus the blocks of the heads before it.
        nblk = 0
        if not self.advise & ADVISE_BIG_PCLUSTER_1:
            nblk = 1
            while i > 0:
                i -= 1
                lo, t = dec(i)
                if t == NONHEAD:
                    i -= lo
                if i >= 0:
                    nblk += 1
        else:
            while i > 0:
                i -= 1
                lo, t = dec(i)
                if t == NONHEAD:
                    if lo & D0_CBLKCNT:
                        i -= 1
                        nblk += lo & ~D0_CBLKCNT
                        continue
                    if lo <= 1:
                        raise FormatError("erofs: nid %d: lcluster %d: bogus delta in a big "
                                          "pcluster pack" % (self.nid, m.lcn))
                    i -= lo - 2
                    continue
                nblk += 1
        m.pblk = struct.unpack_from("<I", pack, packsize - 4)[0] + nblk

    # --- extents
    def _lookback(self, m, dist):
        steps = (MAX_DSIZE >> self.lbits) + 2
        while m.lcn >= dist and dist > 0 and steps > 0:
            steps -= 1
            self._load(m, m.lcn - dist)
            if m.type == NONHEAD:
                dist = m.delta0
                continue
            return (m.lcn << self.lbits) | m.clusterofs
        raise FormatError("erofs: nid %d: bogus lookback distance %d at lcluster %d"
                          % (self.nid, dist, m.lcn))

    def map(self, pos):
        if self.whole_fragment:
            e = Extent()
            e.la = 0
            e.llen = self.ino.size
            e.kind = KIND_FRAGMENT
            return e
        return self._map(pos, False)

    def _map(self, pos, findtail):
        nid = self.nid
        lbits = self.lbits
        m = _Rec()
        initial = pos >> lbits
        endoff = pos & ((1 << lbits) - 1)
        self._load(m, initial)
        if findtail and self.advise & ADVISE_INLINE_PCLUSTER:
            self.idataoff = m.nextpackoff
        if m.type != NONHEAD and endoff >= m.clusterofs:
            la = (m.lcn << lbits) | m.clusterofs
        else:
            if m.type != NONHEAD:
                if not m.lcn:
                    raise FormatError("erofs: nid %d: invalid logical cluster 0" % nid)
                dist = 1
            else:
                dist = m.delta0
            la = self._lookback(m, dist)
        e = Extent()
        e.la = la
        e.partial = m.partial
        headtype = m.type
        headlcn = m.lcn
        if findtail:
            self.tail_headlcn = headlcn
            if self.advise & ADVISE_FRAGMENT_PCLUSTER and not self.compact:
                self.fragmentoff |= m.pblk << 32
        if self.advise & ADVISE_INLINE_PCLUSTER and headlcn == self.tail_headlcn:
            e.kind = KIND_META
            e.pa = self.idataoff
            e.plen = self.idata_size
        elif self.advise & ADVISE_FRAGMENT_PCLUSTER and headlcn == self.tail_headlcn:
            e.kind = KIND_FRAGMENT
        else:
            e.pa = m.pblk << self.fs.sb.blkszbits
            e.plen = self._plen(m, headtype)
        if headtype == PLAIN:
            e.fmt = INTERLACED if self.advise & ADVISE_INTERLACED_PCLUSTER else SHIFTED
        else:
            e.fmt = self.algs[1] if headtype == HEAD2 else self.algs[0]
            if not self.fs.sb.available_algs & (1 << e.fmt):
                raise FormatError("erofs: nid %d: algorithm %d not in the superblock"
                                  % (nid, e.fmt))
        e.llen = self._end(headlcn, la) - la
        if e.kind != KIND_FRAGMENT and (e.plen > MAX_PSIZE or e.llen > MAX_DSIZE):
            raise FormatError("erofs: nid %d: extent at %d: %d -> %d bytes is too large"
                              % (nid, la, e.plen, e.llen), EOPNOTSUPP)
        if headtype == PLAIN and e.llen > e.plen and e.kind != KIND_FRAGMENT:
            raise FormatError("erofs: nid %d: uncompressed extent at %d longer than its "
                              "pcluster" % (nid, la))
        return e

    def _plen(self, m, headtype):
        bs = self.fs.sb.block_size
        if headtype == PLAIN or \
                (headtype == HEAD1 and not self.advise & ADVISE_BIG_PCLUSTER_1) or \
                (headtype == HEAD2 and not self.advise & ADVISE_BIG_PCLUSTER_2):
            return 1 << self.lbits
        # The head's own load never sets the count; the next lcluster holds it.
        m2 = _Rec()
        self._load(m2, m.lcn + 1)
        if m2.type != NONHEAD:
            return bs
        if m2.delta0 != 1 or not m2.cblks_here:
            raise FormatError("erofs: nid %d: no block count at lcluster %d"
                              % (self.nid, m.lcn + 1))
        return m2.cblks << self.fs.sb.blkszbits

    def _end(self, headlcn, la):
        """Where the extent starting at `la` (head lcluster headlcn) ends: the start of
        the next head, or the end of the file (z_erofs_get_extent_decompressedlen)."""
        lbits = self.lbits
        size = self.ino.size
        m = _Rec()
        lcn = headlcn
        while True:
            if lcn << lbits >= size:
                return size
            if (lcn << lbits) - la > MAX_DSIZE:
                return lcn << lbits     # too long: map() refuses it
            self._load(m, lcn, True)
            if m.type == NONHEAD:
                d1 = m.delta1
                if not d1:
                    break
            elif lcn != headlcn:
                break
            else:
                d1 = 1
            lcn += d1
        end = (lcn << lbits) + m.clusterofs
        if end > size:
            end = size
        if end <= la:
            raise FormatError("erofs: nid %d: empty extent at %d" % (self.nid, la))
        return end
