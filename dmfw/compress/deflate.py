# DEFLATE in its three wrappings: zlib (RFC 1950, squashfs "gzip"), raw (RFC 1951,
# erofs DEFLATE) and gzip members (RFC 1952, the gzip CLI). The inflating itself is
# native on both runtimes: MicroPython's built-in `deflate` module (uzlib) and
# CPython's zlib; this module only bounds the output and maps every failure to
# CorruptData.
#
# Bounds: at most max_out + 1 bytes are ever inflated, so a bomb is seen without
# inflating (or allocating) past it. No state is kept between calls (no cache).
#
# Trailing bytes: zlib and raw streams stop at their final block and ignore what
# follows (Linux squashfs's zlib_uncompress stops at Z_STREAM_END and never looks
# at the rest -- kernels before the bio rework failed only when whole buffer heads
# were left over; erofs pads its clusters). gzip decodes concatenated
# members as the gzip CLI does and ignores anything after the last member that does
# not start with the gzip magic (gzip itself only warns "trailing garbage ignored").
#
# Checks: zlib's Adler-32, gzip's CRC-32 and ISIZE are verified on both runtimes
# (uzlib checks the CRC but not ISIZE, so that is compared here).

import sys

from dmfw.compress import CorruptData

_MP = sys.implementation.name == "micropython"
_BIG = 1 << 20      # above this max_out, MicroPython reads in chunks (no up-front alloc)


def _too_big(algo, max_out):
    return CorruptData(algo, "output larger than %d" % max_out)


def _inflate_mp(algo, fmt, wbits, data, max_out):
    """(output, bytes of `data` consumed) through uzlib."""
    import io
    import deflate
    src = io.BytesIO(data)
    try:
        d = deflate.DeflateIO(src, getattr(deflate, fmt), wbits)
        if max_out < _BIG:
            # One buffer of the bound, filled in place: a squashfs data block is
            # exactly the bound, so no copy; one more byte means a bomb.
            out = bytearray(max_out)
            got = d.readinto(out) if max_out else 0
            if got == max_out:
                if d.read(1):
                    raise _too_big(algo, max_out)
                return out, src.tell()
            return out[:got], src.tell()
        parts = []
        got = 0
        while got <= max_out:
            b = d.read(min(65536, max_out + 1 - got))
            if not b:
                break
            parts.append(b)
            got += len(b)
    except EOFError:
        raise CorruptData(algo, "truncated stream")
    except (OSError, ValueError) as e:
        raise CorruptData(algo, "invalid stream (%s)" % (e,))
    if got > max_out:
        raise _too_big(algo, max_out)
    out = parts[0] if len(parts) == 1 else b"".join(parts)
    return out, src.tell()


def _inflate_cp(algo, wbits, data, max_out):
    import zlib
    d = zlib.decompressobj(wbits)
    try:
        out = d.decompress(data, min(max_out + 1, sys.maxsize))
    except zlib.error as e:
        raise CorruptData(algo, "invalid stream (%s)" % (e,))
    if len(out) > max_out:
        raise _too_big(algo, max_out)
    if not d.eof:
        raise CorruptData(algo, "truncated stream")
    return out, len(data) - len(d.unused_data)


def _inflate(algo, fmt, data, max_out):
    if max_out < 0:
        max_out = 0
    if not isinstance(data, (bytes, bytearray)):
        data = bytes(data)
    if _MP:
        # wbits 0 takes the window from the zlib header; raw and gzip carry none, and
        # uzlib's default for them is too small for what zlib writes, so say 15.
        return _inflate_mp(algo, fmt, 0 if fmt == "ZLIB" else 15, data, max_out)
    wbits = 15 if fmt == "ZLIB" else (-15 if fmt == "RAW" else 31)
    return _inflate_cp(algo, wbits, data, max_out)


def decompress_zlib(data, max_out):
    """RFC 1950 zlib stream (squashfs's "gzip" blocks) -> bytes, at most max_out."""
    return _inflate("zlib", "ZLIB", data, max_out)[0]


def decompress_raw(data, max_out):
    """RFC 1951 raw DEFLATE (erofs's DEFLATE clusters) -> bytes, at most max_out."""
    return _inflate("deflate", "RAW", data, max_out)[0]


def decompress_gzip(data, max_out):
    """One or more concatenated RFC 1952 gzip members -> bytes, at most max_out."""
    if not isinstance(data, (bytes, bytearray)):
        data = bytes(data)
    if data[:2] != b"\x1f\x8b":
        raise CorruptData("gzip", "not in gzip format")
    parts = []
    total = 0
    pos = 0
    while True:
        out, used = _inflate("gzip", "GZIP", data[pos:] if pos else data, max_out - total)
        pos += used
        if _MP:
            isize = int.from_bytes(data[pos - 4:pos], "little")
            if isize != len(out) & 0xFFFFFFFF:
                raise CorruptData("gzip", "length check failed")
        parts.append(out)
        total += len(out)
        if data[pos:pos + 2] != b"\x1f\x8b":
            break
    return parts[0] if len(parts) == 1 else b"".join(parts)
