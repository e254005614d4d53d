# Metadata blocks: a 2-byte header (length | 0x8000 when stored uncompressed,
# as -noI/-noId/-noX write them) and at most 8 KiB of data once decompressed.
# Inodes, directories and the lookup tables are byte streams running across
# consecutive blocks. Decompressed blocks are kept in an LRU of SLOTS entries
# keyed by disk position: at most SLOTS x 8 KiB (128 KiB) per file system.

from dmfw.errors import DMError, FormatError
from dmfw.compress import decompress

METADATA_SIZE = 8192
SLOTS = 16


class Meta:
    def __init__(self, dev, decoder, slots=SLOTS):
        self.dev = dev
        self.decoder = decoder
        self.slots = slots
        self.cache = {}
        self.order = []
        self.misses = 0  # blocks read from the device (tests check the index saves some)

    def block(self, pos, lo, hi, who):
        """(data, next position) of the block at `pos`, which must lie in the
        table [lo, hi)."""
        hit = self.cache.get(pos)
        if hit is not None:
            order = self.order
            if order[-1] != pos:
                order.remove(pos)
                order.append(pos)
            return hit
        if pos < lo or pos + 2 > hi:
            raise FormatError("squashfs: %s: metadata block at %d outside its table [%d, %d)"
                              % (who, pos, lo, hi))
        self.misses += 1
        raw = self.dev.pread(pos, min(METADATA_SIZE + 2, hi - pos))
        hdr = raw[0] | raw[1] << 8
        n = hdr & 0x7FFF
        if n == 0 or n > METADATA_SIZE or n + 2 > len(raw):
            raise FormatError("squashfs: %s: bad metadata block header 0x%04x at %d"
                              % (who, hdr, pos))
        data = bytes(raw[2:2 + n])
        if not (hdr & 0x8000):
            try:
                data = decompress(self.decoder, data, METADATA_SIZE)
            except DMError as e:
                raise FormatError("squashfs: %s: metadata block at %d: %s" % (who, pos, e),
                                  e.errno)
            if not data:
                raise FormatError("squashfs: %s: empty metadata block at %d" % (who, pos))
            if type(data) is not bytes:
                # Decoders may hand back their bytearray; names and link targets
                # sliced from a block must be immutable bytes.
                data = bytes(data)
        hit = (data, pos + 2 + n)
        if len(self.order) >= self.slots:
            del self.cache[self.order.pop(0)]
        self.cache[pos] = hit
        self.order.append(pos)
        return hit

    def stream(self, pos, off, lo, hi, who):
        return Stream(self, pos, off, lo, hi, who)


class Stream:
    """Bytes from offset `off` of the block at `pos` on, across blocks of one
    table; `where()` is the (block, offset) a later stream can resume from."""

    def __init__(self, meta, pos, off, lo, hi, who):
        self.meta = meta
        self.lo = lo
        self.hi = hi
        self.who = who
        self.pos = pos
        self.data, self.next = meta.block(pos, lo, hi, who)
        # off == len(data): the bytes start in the next block (a position saved
        # by where() at a block's end); references are checked < 8 KiB by callers.
        if off > len(self.data):
            raise FormatError("squashfs: %s: offset %d past its metadata block at %d"
                              % (who, off, pos))
        self.off = off

    def where(self):
        return self.pos, self.off

    def _advance(self):
        self.pos = self.next
        self.data, self.next = self.meta.block(self.pos, self.lo, self.hi, self.who)
        self.off = 0

    def take(self, n):
        d = self.data
        o = self.off
        if o + n <= len(d):
            self.off = o + n
            return d[o:o + n]
        out = bytearray(d[o:])
        n -= len(d) - o
        while n > 0:
            self._advance()
            d = self.data
            t = n if n < len(d) else len(d)
            out += d[:t]
            self.off = t
            n -= t
        return bytes(out)
