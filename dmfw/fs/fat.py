# A small read-only FAT12/16/32 reader over the block protocol. MicroPython
# firmware uses its own vfs.VfsFat; this exists so CPython (host tests,
# benchmarks) reads files out of a verified device through the same dmfw
# calls. Long file names (VFAT) and the NT lower-case bits are honoured;
# lookups are case-insensitive, as FAT is. Anything malformed is a
# FormatError, never an exception of another kind.

import struct
from dmfw.errors import DMError, FormatError, ENOENT

ENOTDIR = 20
EISDIR = 21

ATTR_DIR = 0x10
ATTR_VOLUME = 0x08
ATTR_LFN = 0x0F
# Whole FATs up to this size are cached; larger ones a sector at a time.
FAT_CACHE_MAX = 1 << 20


class Entry:
    def __init__(self, name, attr, cluster, size):
        self.name = name
        self.attr = attr
        self.cluster = cluster
        self.size = size

    def is_dir(self):
        return bool(self.attr & ATTR_DIR)


class FatFS:
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
        self.kind = "FAT%d" % self.bits

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

    def entries(self, cluster):
        data = self._dir_bytes(cluster)
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
            out.append(Entry(name, attr, cl, struct.unpack_from("<I", e, 28)[0]))
        return out

    def lookup(self, path):
        """Path (/-separated, case-insensitive) -> Entry; the root is a
        directory Entry with cluster = root cluster."""
        cur = Entry("/", ATTR_DIR, self.root_cluster, 0)
        for part in [p for p in path.split("/") if p]:
            if not cur.is_dir():
                raise DMError(ENOTDIR, "%s: not a directory" % path)
            want = part.lower()
            nxt = None
            for e in self.entries(cur.cluster):
                if e.name.lower() == want:
                    nxt = e
                    break
            if nxt is None:
                raise DMError(ENOENT, "%s: no such file or directory" % path)
            cur = nxt
            if cur.is_dir() and cur.cluster == 0:
                cur.cluster = self.root_cluster     # ".." style root links
        return cur

    def listdir(self, path="/"):
        e = self.lookup(path)
        if not e.is_dir():
            raise DMError(ENOTDIR, "%s: not a directory" % path)
        return self.entries(e.cluster)

    def open(self, path):
        e = self.lookup(path)
        if e.is_dir():
            raise DMError(EISDIR, "%s: is a directory" % path)
        return FatFile(self, e)


class FatFile:
    def __init__(self, fs, entry):
        self.fs = fs
        self.size = entry.size
        self.extents = fs.runs(entry.cluster, entry.size) if entry.size else []
        self.pos = 0
        self.ext = 0            # current extent and offset in it
        self.ext_off = 0

    def readinto(self, buf):
        mv = memoryview(buf)
        got = 0
        while got < len(mv) and self.ext < len(self.extents):
            off, n = self.extents[self.ext]
            k = min(len(mv) - got, n - self.ext_off)
            start = off + self.ext_off
            self.fs.dev.readblocks(start >> 9, mv[got:got + k], start & 511)
            got += k
            self.ext_off += k
            if self.ext_off == n:
                self.ext += 1
                self.ext_off = 0
        self.pos += got
        return got

    def read(self, n=-1):
        if n < 0:
            n = self.size - self.pos
        buf = bytearray(min(n, self.size - self.pos))
        k = self.readinto(buf)
        return bytes(buf[:k])

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        pass


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
