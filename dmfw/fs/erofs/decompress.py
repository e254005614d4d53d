# Decoding one extent's pcluster (Linux fs/erofs/decompressor*.c). The output size is
# always known (the logical extent's length), so decoders run with it as their bound:
#   lz4        LZ4 block; with the 0padding feature the stream ends at the pcluster's
#              end and leading zeros are skipped, without it the stream starts at the
#              front and trailing bytes are junk (partial decoding to the known size)
#   lzma       MicroLZMA (erofs-utils' raw LZMA1 with the output size known)
#   deflate    raw DEFLATE
#   zstd       a Zstandard frame
#   lzma/deflate/zstd pclusters are always zero-padded at the front.
#   SHIFTED    stored bytes; INTERLACED stored bytes rotated by la's offset in a block
# An extent with PARTIAL_REF (dedupe) uses only a prefix of what its pcluster decodes to.

from dmfw.errors import FormatError, EOPNOTSUPP, ENOMEM
from dmfw.fs.erofs.zmap import SHIFTED, INTERLACED, MAX_DSIZE

NAMES = ("lz4", "microlzma", "deflate", "zstd")

_lz4_partial = []


def _lz4(data, out):
    if not _lz4_partial:
        try:
            mod = __import__("dmfw.compress.lz4", None, None, ["decompress_block_partial"])
        except ImportError as e:
            raise FormatError("compressor lz4 is not available (%s)" % e, EOPNOTSUPP)
        _lz4_partial.append(mod.decompress_block_partial)
    return _lz4_partial[0](data, out)


def _strip_padding(nid, raw, bs):
    """The stream without the zeros in front of it (z_erofs_fixup_insize): they may
    fill at most the first block short of one byte."""
    n = len(raw)
    lim = min(n, bs)
    i = 0
    while i < lim and raw[i] == 0:
        i += 1
    if i == lim:
        raise FormatError("erofs: nid %d: compressed data is all padding" % nid)
    return memoryview(raw)[i:] if i else raw


def decode(fs, ino, ext, raw):
    """The ext.llen bytes of extent `ext` from its pcluster bytes `raw`. An extent too
    big for the heap (MicroPython: a few MiB; mkfs.erofs --max-extent-bytes keeps
    them small) is a FormatError(ENOMEM), not a MemoryError."""
    try:
        return _decode(fs, ino, ext, raw)
    except MemoryError:
        raise FormatError("erofs: nid %d: extent at %d of %d bytes: out of memory"
                          % (ino.nid, ext.la, ext.llen), ENOMEM)


def _decode(fs, ino, ext, raw):
    nid = ino.nid
    out = ext.llen
    fmt = ext.fmt
    if fmt == SHIFTED:
        if out > len(raw):
            raise FormatError("erofs: nid %d: stored extent longer than its pcluster" % nid)
        return bytes(raw[:out])
    bs = fs.sb.block_size
    if fmt == INTERLACED:
        if out > len(raw) or len(raw) < bs:
            raise FormatError("erofs: nid %d: interlaced extent longer than its pcluster"
                              % nid)
        skip = ext.la & (bs - 1)
        right = min(bs - skip, out)
        return bytes(raw[skip:skip + right]) + bytes(raw[:out - right])
    from dmfw.compress import CorruptData, decompress
    try:
        if fmt == 0:
            if fs.sb.zero_padding:
                raw = _strip_padding(nid, raw, bs)
            data = _lz4(bytes(raw), out)
        elif fmt == 1 and ext.partial:
            # MicroLZMA knows no end: the first `out` bytes, without the exact-end check.
            from dmfw.compress import decoder
            data = decoder("microlzma")(bytes(_strip_padding(nid, raw, bs)), out, False)
        else:
            raw = _strip_padding(nid, raw, bs)
            # A partial reference wants a prefix; deflate and zstd refuse output past
            # their bound, so decode within the kernel's limit on one pcluster's output
            # and keep the prefix.
            data = decompress(NAMES[fmt], bytes(raw), MAX_DSIZE if ext.partial else out)
            if ext.partial and len(data) > out:
                data = data[:out]
    except CorruptData as e:
        raise FormatError("erofs: nid %d: extent at %d: %s" % (nid, ext.la, e), e.errno)
    if len(data) != out:
        raise FormatError("erofs: nid %d: extent at %d decodes to %d bytes, not %d"
                          % (nid, ext.la, len(data), out))
    return data
