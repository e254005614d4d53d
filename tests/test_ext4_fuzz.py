# Fuzzing the ext2/3/4 reader with mutations of mke2fs-made images of the small
# tree: bit flips aimed at the superblock, group descriptors, the inode table,
# directory blocks (linear and htree) and extent tree blocks, and truncations.
# Opening and walking the result may fail only with dmfw.errors.DMError.

import os
import shutil

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from images import ext4 as img
from images.fstree import cached_image

from dmfw.blockdev import FileDevice, MemoryDevice
from dmfw.errors import DMError

pytestmark = pytest.mark.skipif(shutil.which("mke2fs") is None, reason="no e2fsprogs")

# EXT4_FUZZ_EXAMPLES=N runs a longer, randomised fuzz (the default is short and fixed).
LONG = os.environ.get("EXT4_FUZZ_EXAMPLES")
SETTINGS = settings(max_examples=int(LONG or 30), deadline=None, derandomize=not LONG,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])


def _with_etb(variant):
    """The small-tree image of `variant` with /sparse.img's holes fallocated: its
    extents no longer fit in the inode, so it gets an extent tree block."""
    src = img.image(variant, "small")

    def build(p):
        shutil.copy(src, p)
        # Separate unwritten ranges inside the holes: more extents than i_block holds.
        for a in (0, 10, 20, 30, 40, 100, 130, 160, 190, 220):
            img.run(["debugfs", "-w", "-R", "fallocate /sparse.img %d %d" % (a, a + 4), p])
    return cached_image("ext-fuzz-" + variant, {"src": os.path.basename(src), "v": 3}, build)


def regions(path):
    """{name: (offset, length)} of the metadata worth hitting, found with the reader
    itself on the clean image (and debugfs for the extent block)."""
    from dmfw.fs.ext4 import ExtFS
    fs = ExtFS(FileDevice(path, readonly=True))
    bs = fs.block_size
    sb = fs.sb
    itab = sb.group_desc(0)[0]
    out = {"super": (1024, 1024), "gdt": ((sb.first_data_block + 1) * bs, bs),
           "itable": (itab * bs, 4 * bs)}
    for name, p in (("rootdir", "/"), ("many", "/many"), ("names", "/names")):
        d = fs.stat(p)
        if not fs.inline(d):
            pblk, run = fs.mapper(d).map(0)
            out[name] = (pblk * bs, min(run, 4) * bs)
    st_ = img.debugfs(path, "stat /sparse.img")
    if "(ETB0):" in st_:
        out["etb"] = (int(st_.split("(ETB0):")[1].split(",")[0]) * bs, bs)
    return out


def walk(fs, budget):
    """Everything reachable through the inode-level calls, bounded: at most `budget`
    entries, 8 KiB per file, each directory once (a loop is not followed)."""
    todo = [fs.root()]
    dirs = set()
    seen = 0
    while todo and seen < budget:
        d = todo.pop()
        if d.ino in dirs:
            continue
        dirs.add(d.ino)
        try:
            for name, ref in fs.entries(d):
                seen += 1
                if seen > budget:
                    break
                try:
                    ino = fs.inode(ref)
                    if ino.is_dir():
                        todo.append(ino)
                    elif ino.is_lnk():
                        fs.read_link(ino)
                    elif ino.is_reg():
                        fs.read(ino, 0, 4096)
                        fs.read(ino, max(0, ino.size - 4096), 4096)
                except DMError:
                    pass
        except DMError:
            pass
    return seen


def run_mutated(data, budget=150):
    from dmfw.fs.ext4 import ExtFS
    try:
        fs = ExtFS(MemoryDevice(data, readonly=True))
        walk(fs, budget)
        fs.lookup_child(fs.root(), b"many")
        fs.stat("/many/entry-00042")
        fs.open("/sparse.img").read()
    except DMError:
        pass


def _case(variant):
    path = _with_etb(variant)
    with open(path, "rb") as f:
        clean = f.read()
    return clean, regions(path)


CASES = {}


def case(variant):
    if variant not in CASES:
        CASES[variant] = _case(variant)
    return CASES[variant]


flips = st.lists(st.tuples(st.integers(0, 1 << 30), st.integers(0, 7)), min_size=1,
                 max_size=8)


@pytest.mark.parametrize("variant", ["ext4-1k", "ext4-nocsum", "ext2-1k", "ext4-inline"])
@SETTINGS
@given(region=st.integers(0, 100), where=flips)
def test_bit_flips(variant, region, where):
    clean, regs = case(variant)
    names = sorted(regs)
    off, ln = regs[names[region % len(names)]]
    data = bytearray(clean)
    for pos, bit in where:
        data[off + pos % ln] ^= 1 << bit
    run_mutated(data)


@pytest.mark.parametrize("variant", ["ext4-1k", "ext2-1k"])
@settings(max_examples=20, deadline=None, derandomize=True)
@given(cut=st.integers(0, 1 << 30))
def test_truncation(variant, cut):
    clean, _ = case(variant)
    n = (cut % len(clean)) & ~511
    run_mutated(bytearray(clean[:n]))


def test_regions_found():
    _, regs = case("ext4-1k")
    assert {"super", "gdt", "itable", "rootdir", "many", "etb"} <= set(regs)
    clean, _ = case("ext2-1k")
    from dmfw.fs.ext4 import ExtFS
    fs = ExtFS(MemoryDevice(bytearray(clean), readonly=True))
    assert walk(fs, 10000) > 300


def test_mutations_reach_the_walk():
    """The fuzz is not all rejected at mount: flips in directory and extent blocks of
    the checksum-less image leave a file system that opens and is walked."""
    from dmfw.fs.ext4 import ExtFS
    clean, regs = case("ext4-nocsum")
    opened = 0
    for k, name in enumerate(("many", "etb", "itable", "rootdir")):
        off, ln = regs[name]
        data = bytearray(clean)
        data[off + (k * 97) % ln] ^= 0x10
        try:
            fs = ExtFS(MemoryDevice(data, readonly=True))
        except DMError:
            continue
        opened += 1
        walk(fs, 100)
    assert opened == 4


def test_label_not_utf8():
    from dmfw.fs.ext4 import ExtFS
    clean, _ = case("ext4-nocsum")
    data = bytearray(clean)
    data[1024 + 0x78:1024 + 0x7C] = b"\xff\xfeab"
    assert ExtFS(MemoryDevice(data, readonly=True)).label == "\\xff\\xfeab-ext"
