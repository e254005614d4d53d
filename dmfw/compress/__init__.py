# One decoder per algorithm, each a small module that imports nothing heavy, so a
# firmware freezes only the ones its images use. Every decoder takes the compressed
# bytes and the most output the caller accepts (a file system block): more output, a
# truncated or corrupt stream is a CorruptData (EIO, as Linux's squashfs/erofs return),
# never another exception, a hang or an allocation past `max_out`.
#
#   name        format (what the file systems store)          module
#   zlib        RFC 1950 stream (squashfs "gzip")              deflate
#   deflate     RFC 1951 raw (erofs DEFLATE)                   deflate
#   gzip        RFC 1952 member (the gzip CLI, tests)          deflate
#   xz          .xz container, LZMA2 + BCJ filters             xz
#   lzma        .lzma "lzma_alone" (squashfs lzma)             xz
#   microlzma   erofs MicroLZMA (raw LZMA1, out size known)    xz
#   lz4         LZ4 block (squashfs, erofs)                    lz4
#   lz4frame    LZ4 frame (the lz4 CLI)                        lz4
#   lzo         LZO1X block (squashfs)                         lzo
#   zstd        Zstandard frame(s)                             zstd

from dmfw.errors import FormatError, EIO

# name -> (module, function). Each function is f(data, max_out) -> bytes-like (bytes or
# a bytearray the decoder filled, returned without a copy).
DECODERS = {
    "zlib": ("deflate", "decompress_zlib"),
    "deflate": ("deflate", "decompress_raw"),
    "gzip": ("deflate", "decompress_gzip"),
    "xz": ("xz", "decompress_xz"),
    "lzma": ("xz", "decompress_lzma_alone"),
    "microlzma": ("xz", "decompress_microlzma"),
    "lz4": ("lz4", "decompress_block"),
    "lz4frame": ("lz4", "decompress_frame"),
    "lzo": ("lzo", "decompress"),
    "zstd": ("zstd", "decompress"),
}


class CorruptData(FormatError):
    """A compressed stream that is truncated, corrupt or inflates past its bound."""

    def __init__(self, algo, why):
        FormatError.__init__(self, "%s: corrupt compressed data (%s)" % (algo, why), EIO)
        self.algo = algo


_loaded = {}


def decoder(name):
    """The function decoding `name`; FormatError(EOPNOTSUPP) for an unknown name or a
    decoder this build does not include (a firmware that froze only some)."""
    f = _loaded.get(name)
    if f is not None:
        return f
    entry = DECODERS.get(name)
    if entry is None:
        raise FormatError("unknown compressor %s" % name, 95)
    try:
        mod = __import__("dmfw.compress." + entry[0], None, None, [entry[1]])
    except ImportError as e:
        raise FormatError("compressor %s is not available (%s)" % (name, e), 95)
    f = getattr(mod, entry[1])
    _loaded[name] = f
    return f


def decompress(name, data, max_out):
    try:
        return decoder(name)(data, max_out)
    except MemoryError:
        # A firmware heap too small for the block: the caller's error, not a crash.
        raise FormatError("%s: %d bytes of output do not fit in memory" % (name, max_out),
                          12)
