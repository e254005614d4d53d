# .xz, .lzma ("lzma_alone") and erofs MicroLZMA decoders over the LZMA core in lzma1.
#
# decompress_xz(data, max_out): one or more .xz streams with stream padding. The
# stream footers and indexes are read first (from the end, as `xz --list` does), so
# the total output is known, checked against max_out and allocated once; then every
# block is decoded (LZMA2 with BCJ x86/PowerPC/IA-64/ARM/ARM-Thumb/SPARC/ARM64 and
# delta filters before it) and its size, its check (none, CRC32, CRC64, SHA-256), the
# index records and CRC32s must all agree.
# decompress_lzma_alone(data, max_out): 13-byte header (props, dict size, size or -1
# with end marker), as squashfs's "lzma" compressor and `xz --format=lzma` write.
# decompress_microlzma(data, out_size): erofs MicroLZMA (Linux lib/xz
# xz_dec_microlzma_run): the first byte is the negated properties byte and also the
# range coder's first byte; exactly out_size bytes come out. Leading zero bytes (erofs
# 0padding puts the stream at the end of its block) are skipped, bytes after what the
# range coder consumed are ignored; with exact (the default, as a full erofs
# decompression) the range coder must end finished (code 0) on a symbol boundary.
#
# Memory: the output (at most max_out) is the dictionary and is returned as it is (a
# bytearray, no final copy: on MicroPython a 1 MiB block then needs 1 MiB, not 2); the
# stdlib path returns bytes. No allocation follows a size from the input before it is
# checked against max_out; running out of memory is FormatError(ENOMEM). No caches.
# On CPython the stdlib lzma module (liblzma) decodes .xz and .lzma when USE_STDLIB is
# set (default); `pure=True` or USE_STDLIB = False forces this module's decoder, which
# gives the same bytes. MicroLZMA is always pure unless MICROLZMA_STDLIB is set: liblzma
# can decode it as raw LZMA1 with a fixed-up first byte, but cannot check the end.

from dmfw.compress import CorruptData
from dmfw.errors import ENOMEM, FormatError
from dmfw.compress.lzma1 import LzmaState
from dmfw.compress import xzfilter
from dmfw.crc32 import crc32

USE_STDLIB = True
MICROLZMA_STDLIB = False

_MAGIC = b"\xfd7zXZ\x00"
_CHECK_SIZE = (0, 4, 4, 4, 8, 8, 8, 16, 16, 16, 32, 32, 32, 64, 64, 64)


def _stdlib():
    try:
        import lzma
        return lzma
    except ImportError:
        return None


def _le(b, a, n):
    return int.from_bytes(bytes(b[a:a + n]), "little")


def _err(why):
    return CorruptData("xz", why)


def _nomem(algo):
    # the output buffer (bounded by the caller's max_out) did not fit in memory
    return FormatError("%s: cannot allocate the output buffer" % algo, ENOMEM)


# CRC-64/XZ (ECMA-182 polynomial, reflected). MicroPython's small integers end at
# 2**62, so there the CRC runs in two 32-bit halves (two tables); CPython uses one
# table of 64-bit values.
_crc64_tab = []


def _crc64_init():
    import sys
    halves = sys.implementation.name == "micropython"
    full, hi, lo = [], [], []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0xC96C5795D7870F42 if c & 1 else c >> 1
        full.append(c)
        hi.append(c >> 32)
        lo.append(c & 0xFFFFFFFF)
    _crc64_tab.append((hi, lo) if halves else full)


def crc64(data, crc=0):
    if not _crc64_tab:
        _crc64_init()
    t = _crc64_tab[0]
    crc ^= 0xFFFFFFFFFFFFFFFF
    if isinstance(t, list):
        for b in data:
            crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8)
        return crc ^ 0xFFFFFFFFFFFFFFFF
    th, tl = t
    hi = crc >> 32
    lo = crc & 0xFFFFFFFF
    for b in data:
        i = (lo ^ b) & 0xFF
        lo = ((lo >> 8) | ((hi & 0xFF) << 24)) ^ tl[i]
        hi = (hi >> 8) ^ th[i]
    return ((hi << 32) | lo) ^ 0xFFFFFFFFFFFFFFFF


def _vli(b, p, end):
    """xz multibyte integer at b[p:end] (at most 9 bytes, no redundant 0 byte)."""
    v = 0
    for n in range(9):
        if p >= end:
            raise _err("truncated integer")
        c = b[p]
        p += 1
        v |= (c & 0x7F) << (7 * n)
        if c < 0x80:
            if c == 0 and n:
                raise _err("non-minimal integer")
            return v, p
    raise _err("integer too long")


def _stream_flags(b, a):
    if b[a] != 0 or b[a + 1] & 0xF0:
        raise _err("unsupported stream flags")
    return b[a + 1]


def _streams(data, max_out):
    """[(start, check, records)] from the end of data; records are (unpadded,
    uncompressed) as each stream's index lists them."""
    end = len(data)
    if end == 0:
        raise _err("no stream")
    if end % 4:
        raise _err("size is not a multiple of four")
    streams = []
    total = 0
    while end:
        while end >= 4 and data[end - 4] == 0 and data[end - 3] == 0 and \
                data[end - 2] == 0 and data[end - 1] == 0:
            end -= 4
        if end < 24:
            raise _err("no stream" if not streams and not end else "truncated stream")
        f = end - 12
        if bytes(data[end - 2:end]) != b"YZ":
            raise _err("bad stream footer magic")
        if crc32(data[f + 4:f + 10]) != _le(data, f, 4):
            raise _err("stream footer CRC32 mismatch")
        check = _stream_flags(data, f + 8)
        isize = (_le(data, f + 4, 4) + 1) * 4
        ix = f - isize
        if ix < 12:
            raise _err("index size past the start")
        if data[ix] != 0:
            raise _err("bad index indicator")
        if crc32(data[ix:f - 4]) != _le(data, f - 4, 4):
            raise _err("index CRC32 mismatch")
        count, p = _vli(data, ix + 1, f - 4)
        if count > (f - 4 - p) // 2:
            raise _err("index record count past the index")
        recs = []
        blocks = 0
        for _ in range(count):
            unp, p = _vli(data, p, f - 4)
            unc, p = _vli(data, p, f - 4)
            if unp < 5 or unp > (1 << 63) - 4:
                raise _err("bad index record")
            recs.append((unp, unc))
            blocks += (unp + 3) & ~3
            total += unc
            if total > max_out:
                raise _err("output beyond %d bytes" % max_out)
        if (p + 3) & ~3 != f - 4 or any(data[p:f - 4]):
            raise _err("bad index padding")
        s = ix - blocks - 12
        if s < 0:
            raise _err("blocks past the start")
        if bytes(data[s:s + 6]) != _MAGIC:
            raise _err("bad stream header magic")
        if crc32(data[s + 6:s + 8]) != _le(data, s + 8, 4):
            raise _err("stream header CRC32 mismatch")
        if _stream_flags(data, s + 6) != check:
            raise _err("stream header and footer flags differ")
        if check and check not in (1, 4, 10):
            raise _err("unsupported check type %d" % check)
        streams.append((s, check, recs))
        end = s
    streams.reverse()
    return streams, total


def _lzma2(data, p, end, out, o, oend, dsz):
    """LZMA2 chunks from data[p:end] into out[o:oend]; returns (p, o) after the end
    byte. Chunk rules as liblzma's lzma2_decoder: a dictionary reset first, new
    properties after every dictionary reset, each chunk ends on a finished coder."""
    st = LzmaState("xz", dsz)
    need_dict = True
    need_props = True
    while True:
        if p >= end:
            raise _err("truncated LZMA2 data")
        c = data[p]
        p += 1
        if c == 0:
            return p, o
        if c >= 0xE0 or c == 1:
            need_props = True
            need_dict = False
            st.base = o
        elif need_dict:
            raise _err("LZMA2 data does not start with a dictionary reset")
        if c >= 0x80:
            if p + 4 > end:
                raise _err("truncated LZMA2 chunk header")
            us = ((c & 0x1F) << 16) + (data[p] << 8) + data[p + 1] + 1
            cs = (data[p + 2] << 8) + data[p + 3] + 1
            p += 4
            if c >= 0xC0:
                if p >= end:
                    raise _err("truncated LZMA2 chunk header")
                st.set_props(data[p])
                p += 1
                need_props = False
            elif need_props:
                raise _err("LZMA2 chunk without properties")
            if c >= 0xA0:
                st.reset()
            if p + cs > end:
                raise _err("truncated LZMA2 chunk")
            if o + us > oend:
                raise _err("block larger than its index record")
            chunk = data[p:p + cs]
            q = st.init_rc(chunk, 0)
            q, o = st.run(chunk, q, out, o, o + us)
            if st.pending:
                raise _err("match past the LZMA2 chunk")
            q, done = st.finish(chunk, q)
            if q != cs or not done:
                raise _err("LZMA2 chunk does not end its range coder")
            p += cs
        else:
            if c > 2:
                raise _err("bad LZMA2 control byte 0x%02x" % c)
            if p + 2 > end:
                raise _err("truncated LZMA2 chunk header")
            us = (data[p] << 8) + data[p + 1] + 1
            p += 2
            if p + us > end:
                raise _err("truncated LZMA2 chunk")
            if o + us > oend:
                raise _err("block larger than its index record")
            out[o:o + us] = data[p:p + us]
            o += us
            p += us


def _block(data, p, end, out, o, unp, unc, check):
    """One block at data[p:end] (end: its padded end from the index) decoding to
    out[o:o+unc]; unp is the index's unpadded size."""
    start = p
    hs = (data[p] + 1) * 4
    if data[p] == 0 or p + hs > end:
        raise _err("bad block header size")
    if crc32(data[p:p + hs - 4]) != _le(data, p + hs - 4, 4):
        raise _err("block header CRC32 mismatch")
    flags = data[p + 1]
    if flags & 0x3C:
        raise _err("unsupported block flags")
    q = p + 2
    he = p + hs - 4
    csize = usize = -1
    if flags & 0x40:
        csize, q = _vli(data, q, he)
    if flags & 0x80:
        usize, q = _vli(data, q, he)
    filters = []
    for _ in range((flags & 3) + 1):
        fid, q = _vli(data, q, he)
        n, q = _vli(data, q, he)
        if q + n > he:
            raise _err("filter properties past the block header")
        filters.append((fid, bytes(data[q:q + n])))
        q += n
    if any(data[q:he]):
        raise _err("bad block header padding")
    fid, props = filters[-1]
    if fid != 0x21 or len(props) != 1 or props[0] > 40:
        raise _err("unsupported filter chain (last filter 0x%x)" % fid)
    b = props[0]
    dsz = 0xFFFFFFFF if b == 40 else (2 | (b & 1)) << (b // 2 + 11)
    for fid, props in filters[:-1]:
        xzfilter.check(fid, props)
    cs = _CHECK_SIZE[check]
    cend = end - cs
    p += hs
    if usize >= 0 and usize != unc:
        raise _err("block header and index sizes differ")
    q, o2 = _lzma2(data, p, cend, out, o, o + unc, dsz)
    if o2 != o + unc:
        raise _err("block smaller than its index record")
    if csize >= 0 and q - p != csize:
        raise _err("block compressed size differs from its header")
    if q - start + cs != unp or (q + 3) & ~3 != cend or any(data[q:cend]):
        raise _err("block size differs from its index record")
    for fid, props in reversed(filters[:-1]):
        xzfilter.apply(fid, props, out, o, o2)
    if check:
        seg = memoryview(out)[o:o2]
        if check == 1:
            ok = crc32(seg) == _le(data, cend, 4)
        elif check == 4:
            ok = crc64(seg) == _le(data, cend, 8)
        else:
            import hashlib
            ok = hashlib.sha256(bytes(seg)).digest() == bytes(data[cend:end])
        if not ok:
            raise _err("block check mismatch")


def _xz_pure(data, max_out):
    streams, total = _streams(data, max_out)
    out = bytearray(total)
    o = 0
    for s, check, recs in streams:
        p = s + 12
        for unp, unc in recs:
            end = p + ((unp + 3) & ~3)
            _block(data, p, end, out, o, unp, unc, check)
            o += unc
            p = end
    return out


def _xz_stdlib(lzma, data, max_out):
    data = bytes(data)
    if not data:
        raise _err("no stream")
    parts = []
    left = max_out
    try:
        while data:
            d = lzma.LZMADecompressor(lzma.FORMAT_XZ)
            r = d.decompress(data, left + 1)
            if len(r) > left:
                raise _err("output beyond %d bytes" % max_out)
            if not d.eof:
                raise _err("truncated stream")
            parts.append(r)
            left -= len(r)
            data = d.unused_data
            n = len(data) - len(data.lstrip(b"\0"))
            if n % 4:
                raise _err("stream padding not a multiple of four")
            data = data[n:]
    except (lzma.LZMAError, MemoryError) as e:
        raise _err(str(e))
    return b"".join(parts)


def decompress_xz(data, max_out, pure=None):
    max_out = max(max_out, 0)
    lz = None if pure or (pure is None and not USE_STDLIB) else _stdlib()
    if lz is not None:
        return _xz_stdlib(lz, data, max_out)
    if not isinstance(data, (bytes, bytearray)):
        data = bytes(data)
    try:
        return _xz_pure(data, max_out)
    except MemoryError:
        raise _nomem("xz")


def _alone_pure(data, max_out):
    if len(data) < 18:
        raise CorruptData("lzma", "truncated header")
    dsz = _le(data, 1, 4)
    dsz = (max(dsz, 4096) + 15) & ~15
    size = _le(data, 5, 8)
    st = LzmaState("lzma", dsz)
    st.set_props(data[0])
    st.reset()
    p = st.init_rc(data, 13)
    if size != 0xFFFFFFFFFFFFFFFF:
        if size > max_out:
            raise CorruptData("lzma", "output beyond %d bytes" % max_out)
        out = bytearray(size)
        p, o = st.run(data, p, out, 0, size, True)
        if st.eopm or st.pending:
            raise CorruptData("lzma", "size differs from the header")
        p, done = st.finish(data, p)
        if not done:
            # an end marker may still follow the declared size (decoded with one
            # byte of room; anything but the marker is corruption)
            out.append(0)
            p, o = st.run(data, p, out, o, o + 1, True)
            if not st.eopm:
                raise CorruptData("lzma", "size differs from the header")
            p, done = st.finish(data, p)
            if not done:
                raise CorruptData("lzma", "range coder not finished")
            out[size:] = b""
        return out
    # unknown size: one buffer of max_out + 1 (up to a 1 MiB block plus the byte
    # that tells an end marker from more data), grown only for larger bounds and
    # trimmed in place, so a 1 MiB block needs 1 MiB
    out = bytearray(min(max_out + 1, (1 << 20) + 16))
    o = 0
    while True:
        p, o = st.run(data, p, out, o, len(out), True)
        if st.eopm:
            break
        if len(out) > max_out:
            raise CorruptData("lzma", "output beyond %d bytes" % max_out)
        out.extend(bytes(min(len(out), max_out + 1 - len(out))))
    p, done = st.finish(data, p)
    if not done:
        raise CorruptData("lzma", "range coder not finished")
    out[o:] = b""
    return out


def decompress_lzma_alone(data, max_out, pure=None):
    max_out = max(max_out, 0)
    lz = None if pure or (pure is None and not USE_STDLIB) else _stdlib()
    if lz is None:
        try:
            return _alone_pure(data, max_out)
        except MemoryError:
            raise _nomem("lzma")
    try:
        d = lz.LZMADecompressor(lz.FORMAT_ALONE)
        r = d.decompress(bytes(data), max_out + 1)
    except (lz.LZMAError, MemoryError) as e:
        raise CorruptData("lzma", str(e))
    if len(r) > max_out:
        raise CorruptData("lzma", "output beyond %d bytes" % max_out)
    if not d.eof:
        raise CorruptData("lzma", "truncated stream")
    return r


def decompress_microlzma(data, out_size, exact=True, pure=None):
    out_size = max(out_size, 0)
    p = 0
    n = len(data)
    while p < n and data[p] == 0:
        p += 1
    if n - p < 5:
        raise CorruptData("microlzma", "truncated stream")
    st = LzmaState("microlzma", max(out_size, 4096))
    st.set_props(data[p] ^ 0xFF)
    lz = None if not (pure is False or (pure is None and MICROLZMA_STDLIB)) else _stdlib()
    if lz is not None:
        f = {"id": lz.FILTER_LZMA1, "lc": st.lc, "lp": st.lp, "pb": st.pb,
             "dict_size": max(out_size, 4096)}
        try:
            d = lz.LZMADecompressor(lz.FORMAT_RAW, filters=[f])
            r = d.decompress(b"\0" + bytes(data[p + 1:]), out_size)
        except (lz.LZMAError, MemoryError) as e:
            raise CorruptData("microlzma", str(e))
        if len(r) != out_size:
            raise CorruptData("microlzma", "truncated stream")
        return r
    st.reset()
    inp = data if p == 0 else data[p:]
    q = st.init_rc(inp, 0, True)
    try:
        out = bytearray(out_size)
    except MemoryError:
        raise _nomem("microlzma")
    q, o = st.run(inp, q, out, 0, out_size)
    if exact:
        if st.pending:
            raise CorruptData("microlzma", "match past the output size")
        q, done = st.finish(inp, q)
        if not done:
            raise CorruptData("microlzma", "range coder not finished")
    return out
