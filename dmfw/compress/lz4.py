# LZ4 decoding in pure Python: raw blocks (what squashfs and erofs store) and the
# frame formats the lz4 CLI writes (tests, kernel images packed with `lz4 -l`).
#
# decompress_block(data, max_out) is LZ4_decompress_safe(data, dst, len, max_out):
# max_out is the destination capacity and the end-of-block rules are checked
# against it (the last sequence must end the input exactly; a match may not end
# within the last 5 bytes of the capacity; length bytes may not run into the last
# 15 resp. 4 input bytes). Which malformed blocks pass is what liblz4 1.9.4's
# x86-64 build decides -- its fast loop and shortcut skip some of those rules far
# from the ends -- so the same loops are followed here (the tests compare with the
# host's liblz4). One deliberate difference: offset 0 is refused (the format calls
# it invalid; lz4 copies undefined bytes). A block that would need more room than
# max_out to be valid is "output larger than max_out".
#
# decompress_block_partial(data, out_size) is LZ4_decompress_safe_partial with
# targetOutputSize == dstCapacity == out_size, what erofs uses: decoding stops as
# soon as out_size bytes exist, so input after that point (erofs's trailing zero
# padding, the rest of a cluster) is never looked at. Producing fewer than
# out_size bytes is CorruptData (erofs returns -EFSCORRUPTED then).
#
# decompress_frame(data, max_out): LZ4 frames (magic 0x184D2204) with independent
# or linked blocks, block and content checksums (xxHash32, verified), content size
# (verified), skippable frames (0x184D2A50..5F) and the legacy format (0x184C2102,
# 8 MiB independent blocks) in any concatenation. Frames with a dictionary ID are
# refused (no dictionary to give them). Bytes that are not a frame -> CorruptData
# (the lz4 CLI fails on trailing garbage too).
#
# Memory: the output buffer of a block is min(max_out, 255 * len(data)) bytes (no
# LZ4 sequence expands more than 255:1). Frames decode into one output buffer that
# grows a block at a time by min(block max, what is left of max_out, 16 * the
# block's length + 64 KiB) -- up to 255 * its length for a block that needs it --
# and is cut to the output at the end. Nothing is cached between calls.

from dmfw.compress import CorruptData

_M32 = 0xFFFFFFFF


def _err(why):
    return CorruptData("lz4", why)


class _TooBig(Exception):
    """The block does not fit the capacity (more output, or end-of-block rules
    that only more room would satisfy)."""


def _overlap(ov, op, m, cpy):
    """Copy a match that overlaps its own output: out[m:op] repeats with period
    op - m, so copy it in doubling chunks (a forward byte copy, as lz4 does)."""
    if op - m == 1:
        ov[op:cpy] = bytes((ov[m],)) * (cpy - op)
        return
    while op < cpy:
        n = op - m
        if n > cpy - op:
            n = cpy - op
        ov[op:op + n] = ov[m:m + n]
        op += n


# Where the reference loop jumps into its careful ("safe") loop.
_LIT = 1            # safe_literal_copy: literals (lit, cpy) not yet copied
_COPY_MATCH = 2     # _copy_match: offset read, match length not yet extended
_MATCH = 3          # safe_match_copy: match (m, ml) ready


def _run(s, sv, ip, iend, ov, op, oend, low, partial):
    """Decode the block s[ip:iend] into ov[op:...] (a memoryview over a bytearray
    long enough for any output the input can make, up to oend), as lz4 1.9.4's
    LZ4_decompress_generic (x86-64 build: fast loop, then the safe loop with its
    shortcut); match sources may not precede `low`. Returns the output end.
    sv is a memoryview of s."""
    if ip >= iend:
        raise _err("empty block")
    lit_lim = iend - 15         # literal length bytes stop here (RUN_MASK)
    ml_lim = iend - 4           # match length bytes stop here (LASTLITERALS - 1)
    entry = 0
    lit = cpy = off = m = ml = token = 0
    if oend - op >= 64:
        # Fast loop: far from the output end, no end-of-block rule can apply.
        in17 = iend - 17
        in32 = iend - 32
        o32 = oend - 32
        o64 = oend - 64
        while True:
            token = s[ip]
            ip += 1
            lit = token >> 4
            if lit == 15:
                if ip >= lit_lim:
                    raise _err("literal length runs past the input")
                while True:
                    b = s[ip]
                    ip += 1
                    lit += b
                    if ip > lit_lim:
                        raise _err("literal length runs past the input")
                    if b != 255:
                        break
                cpy = op + lit
                if cpy > o32 or ip + lit > in32:
                    entry = _LIT
                    break
            else:
                cpy = op + lit
                if ip > in17:
                    entry = _LIT
                    break
            if lit:
                ov[op:cpy] = sv[ip:ip + lit]
                ip += lit
                op = cpy
            off = s[ip] | (s[ip + 1] << 8)
            ip += 2
            m = op - off
            ml = token & 15
            if ml == 15:
                while True:
                    b = s[ip]
                    ip += 1
                    ml += b
                    if ip > ml_lim:
                        raise _err("match length runs past the input")
                    if b != 255:
                        break
            ml += 4
            cpy = op + ml
            if cpy >= o64:
                entry = _MATCH
                break
            if m < low or off == 0:
                raise _bad_offset(off)
            if off >= ml:
                ov[op:cpy] = ov[m:cpy - off]
            else:
                _overlap(ov, op, m, cpy)
            op = cpy
    # Safe loop: every end-of-block rule checked.
    sh_in = iend - 16
    sh_out = oend - 32
    o_mf = oend - 12            # MFLIMIT
    o_ll = oend - 5             # LASTLITERALS
    in_last = iend - 8          # offset + token + LASTLITERALS
    while True:
        if not entry:
            token = s[ip]
            ip += 1
            lit = token >> 4
            if lit != 15 and ip < sh_in and op <= sh_out:
                # The shortcut: short literals and a short match, room for both.
                if lit:
                    ov[op:op + lit] = sv[ip:ip + lit]
                    op += lit
                    ip += lit
                ml = token & 15
                off = s[ip] | (s[ip + 1] << 8)
                ip += 2
                m = op - off
                if ml != 15 and off >= 8 and m >= low:
                    ml += 4
                    cpy = op + ml
                    if off >= ml:
                        ov[op:cpy] = ov[m:cpy - off]
                    else:
                        _overlap(ov, op, m, cpy)
                    op = cpy
                    continue
                entry = _COPY_MATCH
            else:
                if lit == 15:
                    if ip >= lit_lim:
                        raise _err("literal length runs past the input")
                    while True:
                        b = s[ip]
                        ip += 1
                        lit += b
                        if ip > lit_lim:
                            raise _err("literal length runs past the input")
                        if b != 255:
                            break
                cpy = op + lit
                entry = _LIT
        if entry == _LIT:
            ie = ip + lit
            if cpy > o_mf or ie > in_last:
                # Only the last sequence may come this close to either end.
                if partial:
                    if ie > iend:
                        ie = iend
                        cpy = op + iend - ip
                    if cpy > oend:
                        cpy = oend
                        ie = ip + oend - op
                else:
                    if ie != iend:
                        if ie <= in_last:
                            raise _TooBig()     # more sequences follow: no room for them
                        raise _err("last literals do not end the input")
                    if cpy > oend:
                        raise _TooBig()
                ov[op:cpy] = sv[ip:ie]
                ip = ie
                op = cpy
                if not partial or op == oend or ip >= iend - 2:
                    return op
            elif lit:
                ov[op:cpy] = sv[ip:ie]
                ip = ie
                op = cpy
            off = s[ip] | (s[ip + 1] << 8)
            ip += 2
            m = op - off
            ml = token & 15
            entry = _COPY_MATCH
        if entry == _COPY_MATCH:
            if ml == 15:
                while True:
                    b = s[ip]
                    ip += 1
                    ml += b
                    if ip > ml_lim:
                        raise _err("match length runs past the input")
                    if b != 255:
                        break
            ml += 4
        entry = 0
        if m < low or off == 0:
            raise _bad_offset(off)
        cpy = op + ml
        if cpy > o_mf:
            if partial:
                if cpy > oend:
                    cpy = oend
                    ml = oend - op
            elif cpy > o_ll:
                # Into the last 5 bytes: a valid block needs more room than this.
                raise _TooBig()
        if off >= ml:
            ov[op:cpy] = ov[m:m + ml]
        else:
            _overlap(ov, op, m, cpy)
        op = cpy
        if partial and op == oend:
            return op


def _bad_offset(off):
    if off == 0:
        # The format calls offset 0 invalid; lz4 would copy undefined bytes.
        return _err("match offset 0")
    return _err("match offset %d before the output start" % off)


def _block(data, cap, partial):
    n = len(data)
    if cap <= 0:
        if partial:
            return bytearray()
        if n == 1 and data[0] == 0:
            return bytearray()
        if n == 0:
            raise _err("empty block")
        raise CorruptData("lz4", "output larger than 0")
    room = 255 * n
    if room > cap:
        room = cap
    out = bytearray(room)
    try:
        op = _run(data, memoryview(data), 0, n, memoryview(out), 0, cap, 0, partial)
    except _TooBig:
        raise CorruptData("lz4", "output larger than %d" % cap)
    except IndexError:
        # Defensive: the checks above keep every read in range.
        raise _err("block runs past the input")
    if op == room:
        return out
    return out[:op]


def decompress_block(data, max_out):
    """One raw LZ4 block -> bytes of at most max_out (LZ4_decompress_safe)."""
    return _block(data, max_out, False)


def decompress_block_partial(data, out_size):
    """The first out_size bytes a raw LZ4 block decodes to; input after them is
    ignored (LZ4_decompress_safe_partial). Fewer than out_size -> CorruptData."""
    out = _block(data, out_size, True)
    if len(out) != out_size:
        raise _err("block decodes to %d bytes, not %d" % (len(out), out_size))
    return out


# xxHash32 (frame header, block and content checksums).
_P1 = 2654435761
_P2 = 2246822519
_P3 = 3266489917
_P4 = 668265263
_P5 = 374761393


def _lanes_cp(w, v1, v2, v3, v4):
    """xxh32's four lanes over the words w (CPython: plain 64-bit products)."""
    P1 = _P1
    P2 = _P2
    M = _M32
    i = 0
    e = len(w)
    while i < e:
        v1 = (v1 + w[i] * P2) & M
        v1 = (((v1 << 13) | (v1 >> 19)) * P1) & M
        v2 = (v2 + w[i + 1] * P2) & M
        v2 = (((v2 << 13) | (v2 >> 19)) * P1) & M
        v3 = (v3 + w[i + 2] * P2) & M
        v3 = (((v3 << 13) | (v3 >> 19)) * P1) & M
        v4 = (v4 + w[i + 3] * P2) & M
        v4 = (((v4 << 13) | (v4 >> 19)) * P1) & M
        i += 4
    return v1, v2, v3, v4


def _lanes_mp(w, v1, v2, v3, v4):
    """The same with the primes split in 16-bit halves: on MicroPython a 32x32-bit
    product leaves the small ints (63 bits) for a bignum, 3x slower than this;
    on CPython this is 2x slower than the plain products."""
    P1L = _P1 & 0xFFFF
    P1H = _P1 >> 16
    P2L = _P2 & 0xFFFF
    P2H = _P2 >> 16
    M = _M32
    i = 0
    e = len(w)
    while i < e:
        x = w[i]
        v1 = (v1 + x * P2L + (((x * P2H) & 0xFFFF) << 16)) & M
        v1 = ((v1 << 13) | (v1 >> 19)) & M
        v1 = (v1 * P1L + (((v1 * P1H) & 0xFFFF) << 16)) & M
        x = w[i + 1]
        v2 = (v2 + x * P2L + (((x * P2H) & 0xFFFF) << 16)) & M
        v2 = ((v2 << 13) | (v2 >> 19)) & M
        v2 = (v2 * P1L + (((v2 * P1H) & 0xFFFF) << 16)) & M
        x = w[i + 2]
        v3 = (v3 + x * P2L + (((x * P2H) & 0xFFFF) << 16)) & M
        v3 = ((v3 << 13) | (v3 >> 19)) & M
        v3 = (v3 * P1L + (((v3 * P1H) & 0xFFFF) << 16)) & M
        x = w[i + 3]
        v4 = (v4 + x * P2L + (((x * P2H) & 0xFFFF) << 16)) & M
        v4 = ((v4 << 13) | (v4 >> 19)) & M
        v4 = (v4 * P1L + (((v4 * P1H) & 0xFFFF) << 16)) & M
        i += 4
    return v1, v2, v3, v4


def xxh32(data, seed=0):
    import struct
    import sys
    lanes = _lanes_mp if sys.implementation.name == "micropython" else _lanes_cp
    n = len(data)
    p = 0
    if n >= 16:
        v1 = (seed + _P1 + _P2) & _M32
        v2 = (seed + _P2) & _M32
        v3 = seed
        v4 = (seed - _P1) & _M32
        limit = n - 16
        while p <= limit:
            # Words in batches: one unpack per 4 KiB keeps the loop on ints.
            k = (limit - p) // 16 + 1
            if k > 256:
                k = 256
            w = struct.unpack_from("<%dI" % (4 * k), data, p)
            p += 16 * k
            v1, v2, v3, v4 = lanes(w, v1, v2, v3, v4)
        h = (((v1 << 1) | (v1 >> 31)) + ((v2 << 7) | (v2 >> 25)) +
             ((v3 << 12) | (v3 >> 20)) + ((v4 << 18) | (v4 >> 14))) & _M32
    else:
        h = (seed + _P5) & _M32
    h = (h + n) & _M32
    while p + 4 <= n:
        h = (h + (data[p] | (data[p + 1] << 8) | (data[p + 2] << 16) |
                  (data[p + 3] << 24)) * _P3) & _M32
        h = (((h << 17) | (h >> 15)) * _P4) & _M32
        p += 4
    while p < n:
        h = (h + data[p] * _P5) & _M32
        h = (((h << 11) | (h >> 21)) * _P1) & _M32
        p += 1
    h ^= h >> 15
    h = (h * _P2) & _M32
    h ^= h >> 13
    h = (h * _P3) & _M32
    h ^= h >> 16
    return h


_MAGIC = 0x184D2204
_LEGACY = 0x184C2102
_LEGACY_BLOCK = 8 << 20
_LEGACY_BOUND = _LEGACY_BLOCK + _LEGACY_BLOCK // 255 + 16     # LZ4_compressBound


def _u32(d, p):
    return d[p] | (d[p + 1] << 8) | (d[p + 2] << 16) | (d[p + 3] << 24)


class _Sink:
    """Frame output: one bytearray that blocks decode straight into, so linked
    blocks find their history in it; grown a block at a time (by at most what the
    block's input can expand to), never past max_out."""

    def __init__(self, max_out):
        self.max_out = max_out
        self.out = bytearray()
        self.n = 0

    def reserve(self, k):
        short = self.n + k - len(self.out)
        if short > 0:
            self.out.extend(bytes(short))

    def block(self, s, sv, p, e, bmax, low, stored):
        left = self.max_out - self.n
        cap = bmax if bmax < left else left
        k = e - p
        if stored:
            if k > bmax:
                raise _err("stored block larger than the block size")
            if k > left:
                raise CorruptData("lz4", "output larger than %d" % self.max_out)
            self.reserve(k)
            self.out[self.n:self.n + k] = sv[p:e]
            self.n += k
            return
        # Room for 16:1 first; a block that really expands more (up to LZ4's 255:1)
        # overflows it (ValueError from the slice copy) and is decoded again.
        need = 255 * k if 255 * k < cap else cap
        room = 16 * k + 65536
        if room > need:
            room = need
        while True:
            self.reserve(room)
            ov = memoryview(self.out)
            try:
                self.n = _run(s, sv, p, e, ov, self.n, self.n + cap, low, False)
                return
            except _TooBig:
                if cap < bmax:
                    raise CorruptData("lz4", "output larger than %d" % self.max_out)
                raise _err("block larger than the block size")
            except IndexError:
                raise _err("block runs past the input")
            except ValueError:
                if room >= need:
                    raise _err("block runs past its output")     # cannot happen
            # Out of the except clause (its traceback holds views of the buffer).
            ov = None
            room = need

    def result(self):
        if len(self.out) > self.n:
            self.out[self.n:] = b""
        return self.out


def _frame(d, dv, p, n, sink):
    """Decode the frame whose descriptor starts at d[p] (after the magic)."""
    if p + 3 > n:
        raise _err("truncated frame header")
    flg = d[p]
    bd = d[p + 1]
    if flg >> 6 != 1:
        raise _err("frame version %d" % (flg >> 6))
    if flg & 2 or bd & 0x8F:
        raise _err("reserved frame header bits set")
    bsid = (bd >> 4) & 7
    if bsid < 4:
        raise _err("block size id %d" % bsid)
    bmax = 1 << (8 + 2 * bsid)
    linked = not (flg & 0x20)
    bsum = flg & 0x10
    csum = flg & 4
    hl = 2 + (8 if flg & 8 else 0) + (4 if flg & 1 else 0)
    if p + hl + 1 > n:
        raise _err("truncated frame header")
    if (xxh32(dv[p:p + hl]) >> 8) & 0xFF != d[p + hl]:
        raise _err("frame header checksum mismatch")
    if flg & 1:
        raise _err("frames with a dictionary are not supported")
    size = -1
    if flg & 8:
        size = _u32(d, p + 2) | (_u32(d, p + 6) << 32)
        if size > sink.max_out - sink.n:
            raise CorruptData("lz4", "output larger than %d" % sink.max_out)
    p += hl + 1
    start = sink.n
    if size >= 0:
        # Not more than the rest of the input can expand to: the field is on disk.
        sink.reserve(min(size, 255 * (n - p)))
    while True:
        if p + 4 > n:
            raise _err("truncated frame")
        bs = _u32(d, p)
        p += 4
        if bs == 0:
            break
        stored = bs >> 31
        bs &= 0x7FFFFFFF
        if bs > bmax:
            raise _err("block of %d bytes in a frame of %d byte blocks" % (bs, bmax))
        e = p + bs
        if e + (4 if bsum else 0) > n:
            raise _err("truncated block")
        if bsum and xxh32(dv[p:e]) != _u32(d, e):
            raise _err("block checksum mismatch")
        sink.block(d, dv, p, e, bmax, start if linked else sink.n, stored)
        p = e + (4 if bsum else 0)
    got = sink.n - start
    if size >= 0 and got != size:
        raise _err("frame content is %d bytes, header says %d" % (got, size))
    if csum:
        if p + 4 > n:
            raise _err("truncated content checksum")
        if xxh32(memoryview(sink.out)[start:sink.n]) != _u32(d, p):
            raise _err("content checksum mismatch")
        p += 4
    return p


def _legacy(d, dv, p, n, sink):
    while p < n:
        if p + 4 > n:
            raise _err("truncated legacy block size")
        bs = _u32(d, p)
        if bs > _LEGACY_BOUND:
            break           # the magic of the next frame
        p += 4
        if bs == 0 or p + bs > n:
            raise _err("truncated legacy block")
        sink.block(d, dv, p, p + bs, _LEGACY_BLOCK, sink.n, False)
        p += bs
    return p


def decompress_frame(data, max_out):
    """LZ4 frame(s) as the lz4 CLI writes them -> bytes of at most max_out."""
    n = len(data)
    dv = memoryview(data)
    sink = _Sink(max_out)
    p = 0
    frames = 0
    while p < n or not frames:
        if p + 4 > n:
            raise _err("truncated frame magic" if n else "empty input")
        magic = _u32(data, p)
        if magic == _MAGIC:
            p = _frame(data, dv, p + 4, n, sink)
        elif magic & 0xFFFFFFF0 == 0x184D2A50:
            if p + 8 > n:
                raise _err("truncated skippable frame")
            p += 8 + _u32(data, p + 4)
            if p > n:
                raise _err("truncated skippable frame")
        elif magic == _LEGACY:
            p = _legacy(data, dv, p + 4, n, sink)
        else:
            raise _err("unknown frame magic 0x%08x" % magic)
        frames += 1
    return sink.result()
