# Fuzzing the squashfs reader with mutations of real mksquashfs images (the small
# tree): bit flips and byte stores aimed at each region (superblock, data and
# fragment blocks, inode table, directory table, lookup tables) and truncations.
# Opening, walking every directory, stat of every entry, reading every file and
# link: only DMError may escape, within bounded time and reads.

import shutil
import struct
import time

import pytest
from hypothesis import given, settings, strategies as st, HealthCheck

from dmfw.blockdev import MemoryDevice
from dmfw.errors import DMError
from images import squashfs as sqimg

pytestmark = pytest.mark.skipif(shutil.which("mksquashfs") is None, reason="no mksquashfs")

_images = {}


def load(name):
    if name not in _images:
        if name != "gzip-small-raw":
            pytest.importorskip("dmfw.compress.deflate")
        with open(sqimg.build(name), "rb") as f:
            data = f.read()
        sb = struct.unpack("<IIIIIHHHHHHQQQQQQQQ", data[:96])
        regions = {
            "super": (0, 96),
            "data": (96, sb[15]),
            "inodes": (sb[15], sb[16]),
            "dirs": (sb[16], sb[17] if sb[4] else sb[13]),
            "tables": (sb[16], sb[12]),
        }
        _images[name] = (data, regions)
    return _images[name]


def exercise(data):
    """Everything a user can do with the image; returns the number of steps."""
    from dmfw.fs.squashfs import SquashFS
    fs = SquashFS(MemoryDevice(bytearray(data)))
    steps = 0
    seen = set()
    todo = [fs.root()]
    while todo and steps < 5000:
        d = todo.pop()
        if d.ref in seen:
            continue
        seen.add(d.ref)
        try:
            for raw, ref in fs.entries(d):
                steps += 1
                try:
                    c = fs.inode(ref)
                    if c.is_dir():
                        todo.append(c)
                        fs.lookup_child(d, raw)
                    elif c.is_reg():
                        pos = 0
                        while pos < min(c.size, 1 << 20):
                            b = fs.read(c, pos, 65536)
                            if not b:
                                break
                            pos += len(b)
                    elif c.is_lnk():
                        fs.read_link(c)
                except DMError:
                    pass
        except DMError:
            pass
    for p in ("/many/entry-00150", "/links/dir/d/e/f/g/h/file", "/hard/h2", "/nope"):
        try:
            fs.stat(p)
        except DMError:
            pass
    return steps


def run(data):
    t = time.time()
    try:
        exercise(data)
    except DMError:
        pass
    assert time.time() - t < 10


def mutate(name, region, edits):
    data, regions = load(name)
    lo, hi = regions[region]
    d = bytearray(data)
    for where, bit, byte, flip in edits:
        off = lo + where % max(1, hi - lo)
        if flip:
            d[off] ^= 1 << bit
        else:
            d[off] = byte
    return d


EDITS = st.lists(st.tuples(st.integers(0, 1 << 30), st.integers(0, 7), st.integers(0, 255),
                           st.booleans()), min_size=1, max_size=6)
FUZZ = settings(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("region", ["super", "data", "inodes", "dirs", "tables"])
@pytest.mark.parametrize("name", ["gzip-small", "gzip-small-raw"])
def test_mutations(name, region):
    load(name)

    @FUZZ
    @given(EDITS)
    def check(edits):
        run(mutate(name, region, edits))
    check()


@pytest.mark.parametrize("name", ["gzip-small", "gzip-small-raw"])
def test_truncations(name):
    data, _ = load(name)

    @settings(max_examples=40, deadline=None)
    @given(st.integers(0, len(data) // 512))
    def check(n):
        run(data[:n * 512])
    check()


def test_unmutated_images_walk_fully():
    """The exercise reaches the whole image, so the mutations above are seen."""
    for name in ("gzip-small", "gzip-small-raw"):
        data, _ = load(name)
        assert exercise(data) > 300


def test_corrupt_fragment_decoded_once():
    """Files sharing a corrupt fragment each get the error; it is decoded once."""
    from dmfw.fs.squashfs import SquashFS
    import dmfw.fs.squashfs.file as sqfile
    data, _ = load("gzip-small")
    fs = SquashFS(MemoryDevice(bytearray(data)))
    many = [fs.inode(ref) for raw, ref in fs.entries(fs.lstat("/many"))]
    frag = many[5].frag
    start, word = struct.unpack("<QI", fs.frags.entry(frag, "test")[:12])
    d = bytearray(data)
    for i in range(8):
        d[start + 20 + i] ^= 0xFF
    fs = SquashFS(MemoryDevice(d))
    calls = []
    real = sqfile.decompress

    def counting(name, raw, max_out):
        calls.append(len(raw))
        return real(name, raw, max_out)
    sqfile.decompress = counting
    try:
        failed = 0
        for raw, ref in fs.entries(fs.lstat("/many")):
            ino = fs.inode(ref)
            if ino.frag == frag and ino.size:
                with pytest.raises(DMError) as e:
                    fs.read(ino, 0, ino.size)
                assert "inode %d" % ino.ino in str(e.value)
                failed += 1
    finally:
        sqfile.decompress = real
    assert failed > 10 and len(calls) == 1
