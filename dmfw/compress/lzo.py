# LZO1X decoding in pure Python, as Linux's lzo1x_decompress_safe (what squashfs
# calls with the block size as the output capacity), and the lzop CLI's file format
# for tests.
#
# decompress(data, max_out): every input read, output write and look-behind is
# checked (the kernel's NEED_IP/NEED_OP/TEST_LB); the stream must end with the
# end-of-stream marker and exactly at the end of `data` (squashfs accepts only
# LZO_E_OK, so trailing bytes are corrupt, as is input left before the marker).
# A stream starting 17, v (and at least 5 bytes long) is the kernel's bitstream
# version v ("lzo-rle", zram's); its zero runs are decoded too, as the kernel does.
#
# decompress_lzop(data, max_out): an .lzo file (magic \x89LZO\0\r\n\x1a\n), its
# header checksum and every block's Adler-32/CRC-32 (of the decoded and of the
# compressed data, whichever the flags say) verified; several concatenated files
# are decoded one after the other.
#
# Memory: one output buffer of min(max_out, 520 * len(data) + 64) bytes (no LZO1X
# instruction expands more); lzop adds one block at a time. No cache.

from dmfw.compress import CorruptData


def _err(why):
    return CorruptData("lzo", why)


class _Over(Exception):
    """Output capacity reached (LZO_E_OUTPUT_OVERRUN)."""


def _copy_match(ov, op, m, t):
    e = op + t
    if op - m >= t:
        ov[op:e] = ov[m:m + t]
    elif op - m == 1:
        ov[op:e] = bytes((ov[m],)) * t
    else:
        while op < e:
            n = op - m
            if n > e - op:
                n = e - op
            ov[op:op + n] = ov[m:m + n]
            op += n
    return e


def _ext(s, ip, n):
    """Count zero bytes of a length extension; returns (255 * zeros + next byte,
    position after it)."""
    z = ip
    while s[ip] == 0:
        ip += 1
        if ip >= n:
            raise _err("input overrun")
    return 255 * (ip - z) + s[ip], ip + 1


def _decode(s, sv, n, ov, cap):
    if n < 3:
        raise _err("input overrun")
    ip = 0
    op = 0
    state = 0
    bsv = 0
    if n >= 5 and s[0] == 17:
        bsv = s[1]
        ip = 2
    t = s[ip]
    nxt = -1
    if t > 17:
        ip += 1
        t -= 17
        if t < 4:
            nxt = t           # straight to the trailing-literals step
        else:
            if op + t > cap:
                raise _Over()
            if ip + t + 3 > n:
                raise _err("input overrun")
            ov[op:op + t] = sv[ip:ip + t]
            op += t
            ip += t
            state = 4
    while True:
        if nxt < 0:
            t = s[ip]
            ip += 1
            if t < 16:
                if state == 0:
                    # Literal run.
                    if t == 0:
                        x, ip = _ext(s, ip, n)
                        t = 15 + x
                    t += 3
                    if op + t > cap:
                        raise _Over()
                    if ip + t + 3 > n:
                        raise _err("input overrun")
                    ov[op:op + t] = sv[ip:ip + t]
                    op += t
                    ip += t
                    state = 4
                    continue
                nxt = t & 3
                if state != 4:
                    # M1: a 2-byte match just after a match's trailing literals.
                    m = op - 1 - (t >> 2) - (s[ip] << 2)
                    ip += 1
                    if m < 0:
                        raise _err("look-behind overrun")
                    if op + 2 > cap:
                        raise _Over()
                    ov[op] = ov[m]
                    ov[op + 1] = ov[m + 1]
                    op += 2
                    t = -1
                else:
                    # M1 after a literal run: 3 bytes from 2049..3072 back.
                    m = op - 0x801 - (t >> 2) - (s[ip] << 2)
                    ip += 1
                    t = 3
            elif t >= 64:
                nxt = t & 3
                m = op - 1 - ((t >> 2) & 7) - (s[ip] << 3)
                ip += 1
                t = (t >> 5) + 1
            elif t >= 32:
                t = (t & 31) + 2
                if t == 2:
                    x, ip = _ext(s, ip, n)
                    t += 31 + x
                    if ip + 2 > n:
                        raise _err("input overrun")
                v = s[ip] | (s[ip + 1] << 8)
                ip += 2
                m = op - 1 - (v >> 2)
                nxt = v & 3
            else:
                if ip + 2 > n:
                    raise _err("input overrun")
                v = s[ip] | (s[ip + 1] << 8)
                if bsv and (v & 0xFFFC) == 0xFFFC and (t & 0xF8) == 0x18:
                    # lzo-rle zero run.
                    if ip + 3 > n:
                        raise _err("input overrun")
                    t = ((t & 7) | (s[ip + 2] << 3)) + 4
                    if op + t > cap:
                        raise _Over()
                    ov[op:op + t] = bytes(t)
                    op += t
                    nxt = v & 3
                    ip += 3
                    t = -1
                else:
                    m = op - ((t & 8) << 11)
                    t = (t & 7) + 2
                    if t == 2:
                        x, ip = _ext(s, ip, n)
                        t += 7 + x
                        if ip + 2 > n:
                            raise _err("input overrun")
                        v = s[ip] | (s[ip + 1] << 8)
                    ip += 2
                    m -= v >> 2
                    nxt = v & 3
                    if m == op:
                        # End-of-stream marker.
                        if t != 3:
                            raise _err("bad end-of-stream marker")
                        if ip != n:
                            raise _err("%d bytes after the end of the stream" % (n - ip))
                        return op
                    m -= 0x4000
            if t > 0:
                if m < 0:
                    raise _err("look-behind overrun")
                e = op + t
                if e > cap:
                    raise _Over()
                if op - m >= t:
                    ov[op:e] = ov[m:m + t]
                    op = e
                else:
                    op = _copy_match(ov, op, m, t)
        # Up to 3 literals follow every match (the low 2 bits of its last byte).
        state = t = nxt
        nxt = -1
        if ip + t + 3 > n:
            raise _err("input overrun")
        if t:
            if op + t > cap:
                raise _Over()
            if t == 1:
                ov[op] = s[ip]
            else:
                ov[op:op + t] = sv[ip:ip + t]
            op += t
            ip += t


def decompress(data, max_out):
    """One LZO1X stream (a squashfs lzo block) -> bytes of at most max_out."""
    n = len(data)
    room = 520 * n + 64
    if room > max_out:
        room = max_out if max_out > 0 else 0
    out = bytearray(room)
    try:
        op = _decode(data, memoryview(data), n, memoryview(out), max_out)
    except _Over:
        raise CorruptData("lzo", "output larger than %d" % max_out)
    except IndexError:
        # Defensive: the explicit checks keep every index in range.
        raise _err("input overrun")
    return out if op == room else out[:op]


# lzop's file format (lzop.c / lzop's doc/LZOP.TXT).
_LZOP_MAGIC = b"\x89LZO\x00\r\n\x1a\n"
_F_ADLER32_D = 0x1
_F_ADLER32_C = 0x2
_F_H_EXTRA_FIELD = 0x40
_F_CRC32_D = 0x100
_F_CRC32_C = 0x200
_F_MULTIPART = 0x400
_F_H_FILTER = 0x800
_F_H_CRC32 = 0x1000
_MAX_BLOCK = 64 << 20


def adler32(data, a=1):
    try:
        import zlib
        return zlib.adler32(data, a)
    except (ImportError, AttributeError):
        return _adler32_py(data, a)


def _adler32_py(data, a=1):
    b = a >> 16
    a &= 0xFFFF
    n = len(data)
    p = 0
    while p < n:
        # 5552 bytes keep both sums below 2**32 before the modulo (zlib's NMAX).
        e = p + 5552 if p + 5552 < n else n
        while p < e:
            a += data[p]
            b += a
            p += 1
        a %= 65521
        b %= 65521
    return (b << 16) | a


def _sum_ok(adler, data, want):
    """Does `data` have this Adler-32 (adler true) or CRC-32? On MicroPython,
    without zlib.adler32, the check is uzlib's: `data` wrapped as stored blocks in a
    zlib stream ending in `want` inflates only if the sum matches (native speed,
    where a Python loop over every byte runs at a few MB/s)."""
    if not adler:
        return crc32(data) == want
    try:
        import zlib
        return zlib.adler32(data) == want
    except (ImportError, AttributeError):
        pass
    try:
        import io
        import deflate
    except ImportError:
        return _adler32_py(data) == want
    n = len(data)
    parts = [b"\x78\x01"]
    p = 0
    while True:
        k = n - p if n - p < 65535 else 65535
        parts.append(bytes((1 if p + k >= n else 0, k & 0xFF, k >> 8,
                            ~k & 0xFF, (~k >> 8) & 0xFF)))
        parts.append(bytes(data[p:p + k]))
        p += k
        if p >= n:
            break
    parts.append(want.to_bytes(4, "big"))
    try:
        deflate.DeflateIO(io.BytesIO(b"".join(parts)), deflate.ZLIB).read(n + 1)
    except (OSError, EOFError, ValueError):
        return False
    return True


def crc32(data, c=0):
    try:
        import zlib
        return zlib.crc32(data, c)
    except (ImportError, AttributeError):
        import binascii
        return binascii.crc32(data, c)


def _be(d, p, k):
    if p + k > len(d):
        raise _err("truncated lzop file")
    return int.from_bytes(d[p:p + k], "big")


def _lzop_member(d, dv, p, out, max_out):
    """Decode the .lzo file starting at d[p]; appends to out, returns the end."""
    if bytes(d[p:p + 9]) != _LZOP_MAGIC:
        raise _err("not an lzop file")
    h0 = p = p + 9
    ver = _be(d, p, 2)
    p += 4                      # version, library version
    if ver >= 0x0940:
        if _be(d, p, 2) > 0x1040:
            raise _err("lzop file needs version %x" % _be(d, p, 2))
        p += 2
    method = _be(d, p, 1)
    p += 1
    if ver >= 0x0940:
        p += 1                  # level
    flags = _be(d, p, 4)
    p += 4
    if method not in (1, 2, 3):
        raise _err("lzop method %d is not LZO1X" % method)
    if flags & _F_H_FILTER:
        raise _err("lzop filters are not supported")
    if flags & _F_MULTIPART:
        raise _err("multipart lzop files are not supported")
    p += 8 if ver >= 0x0940 else 4          # mode, mtime (low, high)
    p += 4
    p += 1 + _be(d, p, 1)                   # name
    if not _sum_ok(not flags & _F_H_CRC32, dv[h0:p], _be(d, p, 4)):
        raise _err("lzop header checksum mismatch")
    p += 4
    if flags & _F_H_EXTRA_FIELD:
        k = _be(d, p, 4)
        if p + 4 + k + 4 > len(d):
            raise _err("truncated lzop extra field")
        e0 = p
        p += 4 + k
        if not _sum_ok(not flags & _F_H_CRC32, dv[e0:p], _be(d, p, 4)):
            raise _err("lzop extra field checksum mismatch")
        p += 4
    while True:
        dlen = _be(d, p, 4)
        p += 4
        if dlen == 0:
            return p
        clen = _be(d, p, 4)
        p += 4
        if dlen > _MAX_BLOCK or clen > dlen or clen == 0:
            raise _err("lzop block sizes %d/%d" % (clen, dlen))
        if len(out) + dlen > max_out:
            raise CorruptData("lzo", "output larger than %d" % max_out)
        sums = []
        for f in (_F_ADLER32_D, _F_CRC32_D):
            if flags & f:
                sums.append((f, 0, _be(d, p, 4)))
                p += 4
        if clen < dlen:
            for f in (_F_ADLER32_C, _F_CRC32_C):
                if flags & f:
                    sums.append((f, 1, _be(d, p, 4)))
                    p += 4
        if p + clen > len(d):
            raise _err("truncated lzop block")
        c = dv[p:p + clen]
        p += clen
        for f, comp, want in sums:
            if comp and not _sum_ok(f == _F_ADLER32_C, c, want):
                raise _err("lzop compressed block checksum mismatch")
        if clen < dlen:
            blk = decompress(c, dlen)
            if len(blk) != dlen:
                raise _err("lzop block is %d bytes, header says %d" % (len(blk), dlen))
        else:
            blk = c
        for f, comp, want in sums:
            if not comp and not _sum_ok(f == _F_ADLER32_D, blk, want):
                raise _err("lzop block checksum mismatch")
        out += blk


def decompress_lzop(data, max_out):
    """An .lzo file (the lzop CLI's format, concatenations too) -> bytes."""
    out = bytearray()
    dv = memoryview(data)
    p = 0
    n = len(data)
    while True:
        p = _lzop_member(data, dv, p, out, max_out)
        if p >= n:
            return out
