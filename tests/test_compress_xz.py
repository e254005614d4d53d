# dmfw.compress.xz against the real xz CLI (liblzma 5.4): every preset, check type,
# BCJ filter, delta, multi-block and multi-stream files, .lzma, MicroLZMA made by
# liblzma's own MicroLZMA encoder (ctypes; erofs-utils calls the same function), and
# squashfs images from mksquashfs -comp xz/lzma. The pure decoder and the stdlib path
# must give the same bytes; corrupt input only ever raises CorruptData.

import ctypes
import ctypes.util
import glob
import hashlib
import os
import random
import shutil
import struct
import subprocess

import pytest
from hypothesis import given, settings, strategies as st

from dmfw.compress import CorruptData, decompress
from dmfw.compress import xz, xzfilter
from shellrun import ROOT, micropython

XZ = shutil.which("xz")
pytestmark = pytest.mark.skipif(XZ is None, reason="no xz CLI")


def _inputs():
    rnd = random.Random(10)
    text = b"".join(open(f, "rb").read() for f in sorted(glob.glob("/usr/share/common-licenses/*"))[:6])
    if len(text) < 20000:
        text = (b"The quick brown fox jumps over the lazy dog %d.\n" * 2000) % tuple(range(2000))
    binary = open("/bin/ls", "rb").read()
    mix = bytearray()
    while len(mix) < 1 << 20:
        r = rnd.random()
        if r < 0.5:
            a = rnd.randrange(len(text))
            mix += text[a:a + rnd.randint(200, 8000)]
        elif r < 0.9:
            a = rnd.randrange(len(binary))
            mix += binary[a:a + rnd.randint(200, 16000)]
        else:
            mix += bytes(rnd.getrandbits(8) for _ in range(rnd.randint(10, 1000)))
    return {
        "empty": b"",
        "one": b"x",
        "random": bytes(rnd.getrandbits(8) for _ in range(30000)),
        "repetitive": b"abcabcabd" * 5000 + b"\0" * 40000,
        "text": text[:40000],
        "binary": binary[:65536],
        "mix": bytes(mix[:1 << 20]),
    }


INPUTS = _inputs()


def cli(data, *args):
    p = subprocess.run([XZ, "-c", "-T1"] + list(args), input=data, capture_output=True,
                       check=True)
    return p.stdout


def both(fn, data, *a, **kw):
    """fn through the pure decoder and the stdlib one; they must agree."""
    r = fn(data, *a, pure=True, **kw)
    if xz._stdlib() is not None:
        assert fn(data, *a, pure=False, **kw) == r
    return r


def supported(args):
    try:
        cli(b"probe", *args)
        return True
    except subprocess.CalledProcessError:
        return False


@pytest.mark.parametrize("name", sorted(set(INPUTS) - {"mix"}))
def test_xz_default_and_lzma_alone(name):
    data = INPUTS[name]
    assert both(xz.decompress_xz, cli(data), len(data)) == data
    assert both(xz.decompress_lzma_alone, cli(data, "--format=lzma"), len(data)) == data
    assert decompress("xz", cli(data), len(data)) == data


@pytest.mark.parametrize("opt", ["-0", "-1", "-3", "-6", "-9", "-9e", "-0e", "-4e"])
def test_xz_presets(opt):
    data = INPUTS["text"][:15000] + INPUTS["binary"][:15000]
    assert both(xz.decompress_xz, cli(data, opt), len(data)) == data
    assert both(xz.decompress_lzma_alone, cli(data, opt, "--format=lzma"), len(data)) == data


@pytest.mark.parametrize("check", ["none", "crc32", "crc64", "sha256"])
def test_xz_checks(check):
    data = INPUTS["text"][:10000]
    c = cli(data, "--check=" + check)
    assert c[7] == {"none": 0, "crc32": 1, "crc64": 4, "sha256": 10}[check]
    assert both(xz.decompress_xz, c, len(data)) == data


BCJ = ["x86", "arm", "armthumb", "powerpc", "sparc", "ia64", "arm64"]


@pytest.mark.parametrize("flt", BCJ + ["x86=start=4096", "arm64=start=8192",
                                       "powerpc=start=256", "delta=dist=4", "delta=dist=256"])
@pytest.mark.parametrize("name", ["binary", "random"])
def test_xz_filters(flt, name):
    args = ["--" + flt, "--lzma2=preset=6"]
    if not supported(args):
        pytest.skip("this xz lacks --%s" % flt)
    data = INPUTS[name][:20000]
    c = cli(data, *args)
    assert both(xz.decompress_xz, c, len(data)) == data


def test_bcj_filters_change_data():
    # Decoding the LZMA2 layer alone (filter chain stripped) must differ from the
    # input for every BCJ filter on random data: the filters converted something.
    data = INPUTS["random"][:12345]
    import lzma
    for flt in BCJ:
        fid = getattr(lzma, "FILTER_" + flt.upper(), None)
        if fid is None:
            continue
        raw = lzma.compress(data, lzma.FORMAT_RAW, filters=[{"id": fid}, {"id": lzma.FILTER_LZMA2}])
        lz2 = lzma.decompress(raw, lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA2}])
        assert lz2 != data, flt
        seg = bytearray(lz2)
        xzfilter.apply(fid, b"", seg, 0, len(seg))
        assert bytes(seg) == data, flt


def test_xz_multiblock_and_streams():
    data = INPUTS["text"]
    c = cli(data, "--block-size=1000")
    streams, total = xz._streams(c, len(data))
    assert total == len(data) and len(streams[0][2]) == 40
    assert both(xz.decompress_xz, c, len(data)) == data
    c2 = cli(b"second stream", "--check=sha256")
    e = cli(b"")
    cat = c + b"\0" * 8 + c2 + e + b"\0" * 4
    want = data + b"second stream"
    assert both(xz.decompress_xz, cat, len(want)) == want
    for bad in (c + b"\0" * 3, b"\0" * 4 + c, c + b"\0\0\0\0junk"):
        for pure in (True, False):
            with pytest.raises(CorruptData):
                xz.decompress_xz(bad, len(data), pure=pure)
    # uncompressed LZMA2 chunks (incompressible data) and lzma2 with lc/lp/pb
    for args in (["--lzma2=preset=0"], ["--lzma2=lc=0,lp=4,pb=0"], ["--lzma2=lc=4,lp=0,pb=4"],
                 ["--lzma2=dict=4KiB"]):
        d = INPUTS["random"] + INPUTS["text"][:5000]
        assert both(xz.decompress_xz, cli(d, *args), len(d)) == d


def test_mix_1mib():
    data = INPUTS["mix"]
    c = cli(data, "-6")
    assert both(xz.decompress_xz, c, len(data)) == data


def test_max_out():
    data = INPUTS["repetitive"]
    for fn, c in ((xz.decompress_xz, cli(data)),
                  (xz.decompress_lzma_alone, cli(data, "--format=lzma"))):
        for pure in (True, False):
            assert fn(c, len(data), pure=pure) == data
            with pytest.raises(CorruptData):
                fn(c, len(data) - 1, pure=pure)


def test_bombs():
    zeros = b"\0" * (8 << 20)
    for fn, c in ((xz.decompress_xz, cli(zeros, "-9")),
                  (xz.decompress_lzma_alone, cli(zeros, "-9", "--format=lzma"))):
        for pure in (True, False):
            with pytest.raises(CorruptData):
                fn(c, 1 << 16, pure=pure)
    # a header claiming 1 TiB is refused before any allocation
    c = bytearray(cli(b"abc", "--format=lzma"))
    c[5:13] = struct.pack("<Q", 1 << 40)
    with pytest.raises(CorruptData):
        xz.decompress_lzma_alone(bytes(c), 1 << 20, pure=True)


def test_lzma_alone_known_size():
    # squashfs's lzma writes the size into the header; liblzma's end marker may follow
    data = INPUTS["text"][:7000]
    c = bytearray(cli(data, "--format=lzma"))
    assert c[5:13] == b"\xff" * 8
    c[5:13] = struct.pack("<Q", len(data))
    assert both(xz.decompress_lzma_alone, bytes(c), len(data)) == data
    c[5:13] = struct.pack("<Q", len(data) - 1)
    for pure in (True, False):
        with pytest.raises(CorruptData):
            xz.decompress_lzma_alone(bytes(c), len(data), pure=pure)


# --- MicroLZMA, made by liblzma's lzma_microlzma_encoder (what mkfs.erofs -zlzma uses)

class _Stream(ctypes.Structure):
    _fields_ = [("next_in", ctypes.c_void_p), ("avail_in", ctypes.c_size_t),
                ("total_in", ctypes.c_uint64), ("next_out", ctypes.c_void_p),
                ("avail_out", ctypes.c_size_t), ("total_out", ctypes.c_uint64),
                ("allocator", ctypes.c_void_p), ("internal", ctypes.c_void_p),
                ("rp", ctypes.c_void_p * 4), ("ri", ctypes.c_uint64 * 2),
                ("rs", ctypes.c_size_t * 2), ("re", ctypes.c_int * 2)]


class _Options(ctypes.Structure):
    _fields_ = [("dict_size", ctypes.c_uint32), ("preset_dict", ctypes.c_void_p),
                ("preset_dict_size", ctypes.c_uint32), ("lc", ctypes.c_uint32),
                ("lp", ctypes.c_uint32), ("pb", ctypes.c_uint32), ("mode", ctypes.c_int),
                ("nice_len", ctypes.c_uint32), ("mf", ctypes.c_int), ("depth", ctypes.c_uint32),
                ("pad", ctypes.c_uint8 * 128)]


def _liblzma():
    name = ctypes.util.find_library("lzma")
    if not name:
        return None
    lib = ctypes.CDLL(name)
    return lib if hasattr(lib, "lzma_microlzma_encoder") else None


def microlzma(data, out_limit, preset=6, lc=3, lp=0, pb=2):
    """(stream, how much of data it holds): liblzma fills out_limit bytes at most,
    as erofs fills a physical cluster."""
    lib = _liblzma()
    if lib is None:
        pytest.skip("no liblzma with lzma_microlzma_encoder")
    opt = _Options()
    assert lib.lzma_lzma_preset(ctypes.byref(opt), preset) == 0
    opt.lc, opt.lp, opt.pb = lc, lp, pb
    opt.dict_size = 1 << 16
    s = _Stream()
    assert lib.lzma_microlzma_encoder(ctypes.byref(s), ctypes.byref(opt)) == 0
    inb = ctypes.create_string_buffer(bytes(data), len(data) + 1)
    outb = ctypes.create_string_buffer(out_limit)
    s.next_in = ctypes.cast(inb, ctypes.c_void_p)
    s.avail_in = len(data)
    s.next_out = ctypes.cast(outb, ctypes.c_void_p)
    s.avail_out = out_limit
    r = lib.lzma_code(ctypes.byref(s), 3)  # LZMA_FINISH
    n_in, n_out = s.total_in, s.total_out
    lib.lzma_end(ctypes.byref(s))
    assert r == 1  # LZMA_STREAM_END
    return outb.raw[:n_out], n_in


@pytest.mark.parametrize("name,lclppb,limit", [
    ("text", (3, 0, 2), 16384), ("text", (0, 2, 0), 4096), ("binary", (4, 0, 4), 4096),
    ("binary", (1, 3, 1), 4096), ("random", (3, 0, 2), 4096), ("repetitive", (0, 4, 2), 2048),
    ("mix", (2, 2, 3), 4096)])
def test_microlzma(name, lclppb, limit):
    data = INPUTS[name]
    c, n = microlzma(data, limit, 6, *lclppb)
    assert (~c[0]) & 0xFF == (lclppb[2] * 5 + lclppb[1]) * 9 + lclppb[0]
    want = data[:n]
    assert decompress("microlzma", c, n) == want
    # erofs 0padding (leading zeros) and trailing bytes after the stream
    assert xz.decompress_microlzma(b"\0" * 100 + c + b"\0" * 7, n) == want
    # a prefix (partial decoding) only when not exact
    assert xz.decompress_microlzma(c, n // 2, exact=False) == want[:n // 2]
    if xz._stdlib() is not None:
        assert xz.decompress_microlzma(c, n, pure=False) == want
    with pytest.raises(CorruptData):
        xz.decompress_microlzma(c, n + 1)


def test_microlzma_truncations_and_flips():
    data = INPUTS["text"]
    c, n = microlzma(data, 300)
    for k in range(len(c)):
        with pytest.raises(CorruptData):
            xz.decompress_microlzma(c[:k], n)
    bad = 0
    for k in range(0, len(c) * 8, 7):
        m = bytearray(c)
        m[k >> 3] ^= 1 << (k & 7)
        try:
            r = xz.decompress_microlzma(bytes(m), n)
        except CorruptData:
            bad += 1
            continue
        assert len(r) == n
    assert bad > len(c) * 8 // 7 // 2


# --- squashfs images from mksquashfs

def _squashfs(tmp_path, comp, *extra):
    if shutil.which("mksquashfs") is None:
        pytest.skip("no mksquashfs")
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    for i in range(300):
        (src / ("file-%03d.txt" % i)).write_bytes(INPUTS["text"][i * 37:i * 37 + 500])
    (src / "ls").write_bytes(INPUTS["binary"])
    img = tmp_path / (comp + ".img")
    subprocess.run(["mksquashfs", str(src), str(img), "-comp", comp, "-noappend", "-quiet",
                    "-no-progress"] + list(extra), check=True, capture_output=True)
    return img.read_bytes()


@pytest.mark.parametrize("comp,extra", [("xz", ()), ("lzma", ()), ("xz", ("-Xbcj", "x86"))])
def test_squashfs_metadata_block(tmp_path, comp, extra):
    img = _squashfs(tmp_path, comp, *extra)
    assert img[:4] == b"hsqs"
    algo = {4: "xz", 2: "lzma"}[struct.unpack_from("<H", img, 20)[0]]
    itab = struct.unpack_from("<Q", img, 64)[0]
    dtab = struct.unpack_from("<Q", img, 72)[0]
    h = struct.unpack_from("<H", img, itab)[0]
    assert not h & 0x8000, "first inode block should be compressed"
    blk = img[itab + 2:itab + 2 + (h & 0x7FFF)]
    fn = {"xz": xz.decompress_xz, "lzma": xz.decompress_lzma_alone}[algo]
    meta = both(fn, blk, 8192)
    assert len(meta) == 8192
    # the first inode: a regular file (type 2) or a directory (1), inode number 1..302
    typ, = struct.unpack_from("<H", meta, 0)
    ino, = struct.unpack_from("<I", meta, 12)
    assert typ in (1, 2) and 1 <= ino <= 302
    # the directory table's first block names the files
    h = struct.unpack_from("<H", img, dtab)[0]
    d = img[dtab + 2:dtab + 2 + (h & 0x7FFF)]
    names = both(fn, d, 8192) if not h & 0x8000 else d
    assert b"file-000.txt" in names


# --- corrupt input: only CorruptData, never a hang

SMALL = INPUTS["text"][:300]


def _small_streams():
    return [(xz.decompress_xz, cli(SMALL, "--check=crc32")),
            (xz.decompress_xz, cli(SMALL, "--check=sha256", "--x86", "--lzma2")),
            (xz.decompress_lzma_alone, cli(SMALL, "--format=lzma"))]


def test_every_truncation():
    for fn, c in _small_streams():
        for k in range(len(c)):
            for pure in (True, False):
                with pytest.raises(CorruptData):
                    fn(c[:k], len(SMALL), pure=pure)


def test_every_bit_flip_of_checked_xz():
    # .xz with a check: headers, index and footer are CRC32'ed, the data checked,
    # padding must be zero, so every single bit flip is detected.
    c = cli(SMALL[:120], "--check=crc32")
    for k in range(len(c) * 8):
        m = bytearray(c)
        m[k >> 3] ^= 1 << (k & 7)
        with pytest.raises(CorruptData):
            xz.decompress_xz(bytes(m), 1000, pure=True)


def _mutate(c, ops):
    m = bytearray(c)
    for kind, pos, val in ops:
        if not m:
            break
        pos %= len(m)
        if kind == 0:
            m[pos] ^= 1 << (val & 7)
        elif kind == 1:
            m[pos] = val
        elif kind == 2:
            del m[pos:]
        else:
            m[pos:pos] = bytes([val])
    return bytes(m)


_OPS = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 1 << 16), st.integers(0, 255)),
                min_size=1, max_size=4)


@settings(max_examples=100, deadline=None)
@given(which=st.integers(0, 2), ops=_OPS)
def test_fuzz_xz_lzma(which, ops):
    fn, c = _small_streams()[which]
    m = _mutate(c, ops)
    out = {}
    for pure in (True, False):
        try:
            out[pure] = fn(m, 4096, pure=pure)
        except CorruptData:
            out[pure] = None
    # valid results agree; a stream one path accepts the other may only refuse
    # when the check cannot tell (none for .lzma)
    if out[True] is not None and out[False] is not None:
        assert out[True] == out[False]


@settings(max_examples=100, deadline=None)
@given(ops=_OPS)
def test_fuzz_microlzma(ops):
    c, n = microlzma(INPUTS["binary"], 2048)
    m = _mutate(c, ops)
    try:
        r = xz.decompress_microlzma(m, n)
    except CorruptData:
        return
    assert len(r) == n


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=64), max_out=st.integers(0, 4096))
def test_fuzz_garbage(data, max_out):
    for fn in (xz.decompress_xz, xz.decompress_lzma_alone, xz.decompress_microlzma):
        try:
            fn(data, max_out, pure=True)
        except CorruptData:
            pass
    for fn in (xz.decompress_xz, xz.decompress_lzma_alone):
        try:
            fn(b"\xfd7zXZ\0" + data, max_out, pure=True)
        except CorruptData:
            pass


def test_crc64():
    assert xz.crc64(b"123456789") == 0x995DC9BBDF1939FA
    assert xz.crc64(b"") == 0


# --- MicroPython: the same decoders, sha256 of the output as CPython computes it

@pytest.mark.micropython
@pytest.mark.skipif(micropython() is None and not os.environ.get("CI"),
                    reason="no micropython binary")
def test_micropython_decoders(tmp_path):
    data = INPUTS["text"] + INPUTS["binary"][:30000]
    cases = [("xz", "crc32.xz", cli(data, "--check=crc32")),
             ("xz", "crc64.xz", cli(data, "--check=crc64")),
             ("xz", "sha256.xz", cli(data, "--check=sha256", "--block-size=20000")),
             ("xz", "x86.xz", cli(data, "--x86", "--lzma2")),
             ("xz", "arm64.xz", cli(data, "--arm64", "--lzma2")
              if supported(["--arm64", "--lzma2"]) else cli(data, "--arm", "--lzma2")),
             ("xz", "delta.xz", cli(data, "--delta=dist=3", "--lzma2")),
             ("lzma", "a.lzma", cli(data, "--format=lzma"))]
    mc, n = microlzma(data, 8192)
    cases.append(("microlzma", "m.mlz", mc))
    # a 1 MiB block fits the unix port's default 2 MiB heap: the output is the
    # dictionary and is returned without a copy
    big = INPUTS["mix"]
    cases.insert(0, ("xz", "big.xz", cli(big, "-6", "--check=crc32")))
    lines = []
    for algo, name, c in cases:
        (tmp_path / name).write_bytes(c)
        size = n if algo == "microlzma" else len(big) if name == "big.xz" else len(data)
        lines.append("run(%r, %r, %d)" % (algo, str(tmp_path / name), size))
    prog = tmp_path / "prog.py"
    prog.write_text(
        "import gc, hashlib, binascii\nfrom dmfw.compress import decompress, CorruptData\n"
        "def run(algo, path, size):\n"
        "    gc.collect()\n"
        "    with open(path, 'rb') as f:\n        c = f.read()\n"
        "    r = decompress(algo, c, size)\n"
        "    print(binascii.hexlify(hashlib.sha256(r).digest()).decode())\n"
        "    r = None\n"
        "    try:\n        decompress(algo, c[:len(c) - 3], size)\n        print('accepted')\n"
        "    except CorruptData:\n        print('refused')\n" + "\n".join(lines) + "\n")
    p = subprocess.run([micropython(), str(prog)], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, MICROPYPATH=ROOT), cwd=ROOT)
    assert p.returncode == 0, p.stderr + p.stdout
    want = []
    for algo, name, c in cases:
        r = data[:n] if algo == "microlzma" else big if name == "big.xz" else data
        want += [hashlib.sha256(r).hexdigest(), "refused"]
    assert p.stdout.split() == want
