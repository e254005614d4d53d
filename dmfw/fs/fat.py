# A small read-only FAT12/16/32 reader over the block protocol, behind the
# file system contract of dmfw/fs/base.py (the same on MicroPython and CPython,
# so firmware and host read a verified device alike). Long file names (VFAT)
# and the NT lower-case bits are honoured; lookups are case-insensitive, as FAT
# is. Metadata as Linux's vfat shows it with default mount options: owner 0:0,
# mode 0755 (0555 for read-only entries), times in UTC, directories' link count
# 2 + subdirectories. Anything malformed is a FormatError.
#
# Caches: the whole FAT when it is at most FAT_CACHE_MAX (1 MiB), else up to 64
# FAT sectors; each open file's extent list (one pair per contiguous run).

import struct
from dmfw.errors import FormatError
from dmfw.fs.base import FileSystem, Inode, S_IFDIR, S_IFREG

ATTR_DIR = 0x10
ATTR_VOLUME = 0x08
ATTR_LFN = 0x0F
# Whole FATs up to this size are cached; larger ones a sector at a time.
FAT_CACHE_MAX = 1 << 20


ATTR_RO = 0x01


class FatInode(Inode):
    def __init__(self, name, attr, cluster, size, ino=1, mtime=0):
        self.name = name
        self.attr = attr
        self.cluster = cluster
        self.ino = ino
        self.mtime = mtime
        perm = 0o555 if attr & ATTR_RO else 0o755
        if attr & ATTR_DIR:
            self.mode = S_IFDIR | perm
            self.size = 0
            self.nlink = 0          # counted on first stat (needs the directory)
        else:
            self.mode = S_IFREG | perm
            self.size = size
        self.extents = None


def _days(y, m, d):
    # Days since 1970-01-01 (proleptic Gregorian), no time module needed.
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


def fat_time(date, time):
    """A FAT date/time pair as seconds since the epoch, UTC (Linux's tz=UTC)."""
    if date == 0:
        return 0
    y, m, d = 1980 + (date >> 9), (date >> 5) & 15, date & 31
    if not (1 <= m <= 12 and 1 <= d <= 31):
        return 0
    return _days(y, m, d) * 86400 + (time >> 11) * 3600 + ((time >> 5) & 63) * 60 + \
        (time & 31) * 2


class FatFS(FileSystem):
    kind = "vfat"

    def __init__(self, dev):
        self.dev = dev
        bs = dev.pread(0, 512)
        if bs[510] != 0x55 or bs[511] != 0xAA:
            raise FormatError("%s: no FAT boot sector" % dev.name)
        (bps, spc, rsvd, nfats, root_ents, tot16, _media, fatsz16) = \
            struct.unpack_from("<HBHBHHBH", bs, 11)
        tot32, fatsz32 = struct.unpack_from("<II", bs, 32)
        if bps not in (512, 1024, 2048, 4096) or spc == 0 or spc & (spc - 1) \
                or rsvd == 0 or nfats == 0:
            raise FormatError("%s: not a FAT file system" % dev.name)
        fatsz = fatsz16 or fatsz32
        total = tot16 or tot32
        root_secs = (root_ents * 32 + bps - 1) // bps
        self.fat_start = rsvd * bps
        self.root_start = (rsvd + nfats * fatsz) * bps
        self.data_start = self.root_start + root_secs * bps
        data_secs = total - (rsvd + nfats * fatsz + root_secs)
        if fatsz == 0 or data_secs <= 0 or \
                (total * bps) > (dev.nr_sectors << 9):
            raise FormatError("%s: FAT geometry outside the device" % dev.name)
        self.clusters = data_secs // spc
        self.cluster_bytes = bps * spc
        self.bps = bps
        if self.clusters < 4085:
            self.bits = 12
        elif self.clusters < 65525:
            self.bits = 16
        else:
            self.bits = 32
        # FAT32 keeps the root in a cluster chain; FAT12/16 in a fixed area.
        self.root_cluster = struct.unpack_from("<I", bs, 44)[0] \
            if self.bits == 32 else 0
        self.root_bytes = root_secs * bps
        self.fat_bytes = fatsz * bps
        self._fat = None
        self._fat_sec = {}
        if self.fat_bytes <= FAT_CACHE_MAX:
            self._fat = dev.pread(self.fat_start, self.fat_bytes)
        self.version = "FAT%d" % self.bits
        self.block_size = bps
        o = 67 if self.bits == 32 else 39
        if bs[o - 1] == 0x29:
            vid = struct.unpack_from("<I", bs, o)[0]
            self.uuid = "%04X-%04X" % (vid >> 16, vid & 0xFFFF)
        self.boot_label = _label(bs[o + 4:o + 15])
        self.label = self.boot_label
        self._root = FatInode("/", ATTR_DIR, self.root_cluster, 0, 1)
        for e in self._dirents(self.root_cluster, True):
            if e is not None:
                self.label = e
                break

    # -- the allocation table
    def _fat_bytes(self, off, n):
        if self._fat is not None:
            if off + n > len(self._fat):
                raise FormatError("%s: FAT entry outside the table" % self.dev.name)
            return self._fat[off:off + n]
        out = b""
        while n:
            sec = off // self.bps
            b = self._fat_sec.get(sec)
            if b is None:
                if len(self._fat_sec) > 64:
                    self._fat_sec = {}
                b = self.dev.pread(self.fat_start + sec * self.bps, self.bps)
                self._fat_sec[sec] = b
            o = off - sec * self.bps
            k = min(n, self.bps - o)
            out += bytes(b[o:o + k])
            off += k
            n -= k
        return out

    def next_cluster(self, c):
        """The next cluster of a chain, or None at its end."""
        if self.bits == 12:
            v = struct.unpack("<H", self._fat_bytes(c + (c >> 1), 2))[0]
            v = v >> 4 if c & 1 else v & 0xFFF
            end = 0xFF8
        elif self.bits == 16:
            v = struct.unpack("<H", self._fat_bytes(c * 2, 2))[0]
            end = 0xFFF8
        else:
            v = struct.unpack("<I", self._fat_bytes(c * 4, 4))[0] & 0x0FFFFFFF
            end = 0x0FFFFFF8
        if v >= end:
            return None
        if v < 2 or v >= self.clusters + 2:
            raise FormatError("%s: broken cluster chain (%d -> %d)"
                              % (self.dev.name, c, v))
        return v

    def runs(self, first, nbytes=None):
        """Contiguous (byte offset, length) extents of a chain, at most
        `nbytes` long in total (a directory: the whole chain)."""
        out = []
        c = first
        left = nbytes
        seen = set()
        while c is not None and (left is None or left > 0):
            if c < 2 or c >= self.clusters + 2:
                raise FormatError("%s: cluster %d out of range" % (self.dev.name, c))
            if c in seen:
                raise FormatError("%s: cluster chain loops" % self.dev.name)
            seen.add(c)
            off = self.data_start + (c - 2) * self.cluster_bytes
            n = self.cluster_bytes if left is None else min(left, self.cluster_bytes)
            if out and out[-1][0] + out[-1][1] == off:
                out[-1] = (out[-1][0], out[-1][1] + n)
            else:
                out.append((off, n))
            if left is not None:
                left -= n
                if left == 0:
                    break
            c = self.next_cluster(c)
        if left:
            raise FormatError("%s: file shorter than its size" % self.dev.name)
        return out

    # -- directories
    def _dir_bytes(self, cluster):
        if cluster == 0:
            return self.dev.pread(self.root_start, self.root_bytes)
        out = bytearray()
        for off, n in self.runs(cluster):
            out += self.dev.pread(off, n)
            if len(out) > 1 << 22:
                raise FormatError("%s: directory too large" % self.dev.name)
        return out

    def _dirents(self, cluster, volume=False):
        """The entries of a directory as FatInodes (or, with `volume`, the root's
        volume label names only)."""
        data = self._dir_bytes(cluster)
        base = self.root_start if cluster == 0 else \
            self.data_start + (cluster - 2) * self.cluster_bytes
        out = []
        lfn = {}
        lfn_sum = None
        for o in range(0, len(data) - 31, 32):
            e = data[o:o + 32]
            first = e[0]
            if first == 0:
                break
            if first == 0xE5:
                lfn = {}
                continue
            attr = e[11]
            if attr & 0x3F == ATTR_LFN:
                seq = first & 0x1F
                if first & 0x40:
                    lfn = {}
                    lfn_sum = e[13]
                if e[13] != lfn_sum or seq == 0:
                    lfn = {}
                    continue
                lfn[seq] = bytes(e[1:11]) + bytes(e[14:26]) + bytes(e[28:32])
                continue
            if attr & ATTR_VOLUME:
                lfn = {}
                if volume:
                    out.append(_label(e[0:11]))
                continue
            if volume:
                continue
            short = bytes(e[0:11])
            name = None
            if lfn and _checksum(short) == lfn_sum and \
                    sorted(lfn) == list(range(1, len(lfn) + 1)):
                from dmfw.disk.gpt import utf16le_name
                raw = b"".join(lfn[i] for i in range(1, len(lfn) + 1))
                name = utf16le_name(raw.split(b"\xff\xff")[0] + b"\0\0")
            lfn = {}
            if not name:
                name = _short_name(short, e[12])
            if name in (".", ".."):
                continue
            cl = struct.unpack_from("<H", e, 26)[0]
            if self.bits == 32:
                cl |= struct.unpack_from("<H", e, 20)[0] << 16
            if attr & ATTR_DIR and cl == 0:
                cl = self.root_cluster
            t, d = struct.unpack_from("<HH", e, 22)
            ino = FatInode(name, attr, cl, struct.unpack_from("<I", e, 28)[0],
                           (base + o) // 32, fat_time(d, t))
            ino.blocks = -(-ino.size // self.cluster_bytes) * (self.cluster_bytes >> 9)
            out.append(ino)
        return out

    # --- the file system contract
    def io_block(self):
        return self.cluster_bytes      # Linux's vfat: stat->blksize = cluster size

    def root(self):
        return self.inode(self._root)

    def entries(self, d):
        return [(e.name.encode(), e) for e in self._dirents(d.cluster)]

    def inode(self, e):
        if e.attr & ATTR_DIR and not e.nlink:
            # As Linux's vfat: 2 + subdirectories; the size is the chain's length.
            e.nlink = 2 + sum(1 for x in self._dirents(e.cluster) if x.attr & ATTR_DIR)
            if e.cluster == 0:
                e.size = self.root_bytes
            else:
                e.size = sum(n for _o, n in self.runs(e.cluster))
            e.blocks = e.size >> 9
        return e

    def lookup_child(self, d, name):
        want = name.decode().lower()
        for e in self._dirents(d.cluster):
            if e.name.lower() == want:
                return self.inode(e)
        return None

    def readinto(self, ino, pos, mv):
        if ino.extents is None:
            ino.extents = self.runs(ino.cluster, ino.size) if ino.size else []
        got = 0
        n = len(mv)
        skip = pos
        for off, length in ino.extents:
            if got >= n:
                break
            if skip >= length:
                skip -= length
                continue
            k = min(n - got, length - skip)
            start = off + skip
            self.dev.readblocks(start >> 9, mv[got:got + k], start & 511)
            got += k
            skip = 0
        return got

    def read(self, ino, pos, n):
        buf = bytearray(max(0, min(n, ino.size - pos)))
        k = self.readinto(ino, pos, memoryview(buf))
        return bytes(buf[:k])


def _label(raw):
    name = "".join(chr(b) for b in raw).rstrip(" ")
    return name if name and name != "NO NAME" else None


def _checksum(short):
    s = 0
    for b in short:
        s = (((s & 1) << 7) + (s >> 1) + b) & 0xFF
    return s


def _short_name(raw, case):
    # OEM code page bytes shown as Latin-1: names made by Linux tools are
    # ASCII here (anything else gets a long name).
    base = "".join([chr(b) for b in raw[0:8]])
    if raw[0] == 0x05:
        base = "\xe5" + base[1:]
    base = base.rstrip()
    ext = "".join([chr(b) for b in raw[8:11]]).rstrip()
    if case & 0x08:
        base = base.lower()
    if case & 0x10:
        ext = ext.lower()
    return base + "." + ext if ext else base
