# The squashfs reader against images made by the host's mksquashfs from the
# images/fstree.py trees: every path's metadata, bytes, link target and listing
# equal the source tree's; lookups (with the directory index), symlinks through
# the base's path walk, refusals; compressor options; bad input made by hand
# (the fuzzing is in test_squashfs_fuzz.py); the reader under MicroPython.

import hashlib
import os
import shutil
import stat
import struct
import subprocess

import pytest

from dmfw.blockdev import FileDevice, MemoryDevice
from dmfw.errors import DMError, FormatError
from dmfw.fs.base import decode_name
from dmfw.fs.squashfs import SquashFS
from dmfw.fs.squashfs import inode as sqinode
from images import fstree
from images import squashfs as sqimg
from shellrun import ROOT, micropython

pytestmark = pytest.mark.skipif(shutil.which("mksquashfs") is None, reason="no mksquashfs")

# mksquashfs -comp name -> dmfw.compress module that decodes it
MODULE = {"gzip": "deflate", "lzma": "xz", "xz": "xz", "lzo": "lzo", "lz4": "lz4",
          "zstd": "zstd"}


def comp_of(name):
    args = sqimg.IMAGES[name][1]
    return args[args.index("-comp") + 1]


def image(name):
    pytest.importorskip("dmfw.compress." + MODULE[comp_of(name)])
    return sqimg.build(name)


def open_fs(name):
    return SquashFS(FileDevice(image(name), readonly=True))


_trees = {}


def tree_info(tree_name):
    """path -> (lstat, sha256 hex or None, link target or None) of a source tree."""
    info = _trees.get(tree_name)
    if info is None:
        root = fstree.tree(tree_name)
        info = {}
        for p in fstree.walk(root):
            st, data, target = fstree.expected(root, p)
            info[p] = (st, hashlib.sha256(data).hexdigest() if data is not None else None,
                       target)
        _trees[tree_name] = info
    return info


def walk_image(fs):
    """path -> Inode for every entry, and path -> [names in stored order] for every
    directory; iterative, and a directory met twice is an error (no loops)."""
    paths = {"/": fs.root()}
    listings = {}
    seen = set()
    todo = ["/"]
    while todo:
        p = todo.pop()
        d = paths[p]
        assert d.ref not in seen, "directory %s met twice" % p
        seen.add(d.ref)
        names = []
        for raw, ref in fs.entries(d):
            child = fs.inode(ref)
            name = decode_name(raw)
            names.append(raw)
            cp = p.rstrip("/") + "/" + name
            paths[cp] = child
            if child.is_dir():
                todo.append(cp)
        listings[p] = names
    return paths, listings


def sha256_of(fs, ino, chunk=1 << 20):
    h = hashlib.sha256()
    pos = 0
    while True:
        b = fs.read(ino, pos, chunk)
        if not b:
            break
        h.update(b)
        pos += len(b)
    assert pos == ino.size
    return h.hexdigest()


def check_against_tree(fs, tree_name):
    info = tree_info(tree_name)
    paths, listings = walk_image(fs)
    assert sorted(paths) == sorted(info)
    root = fstree.tree(tree_name)
    for p, names in listings.items():
        # squashfs stores a directory sorted by strcmp (bytes).
        assert names == sorted(names), p
        assert set(decode_name(n) for n in names) == set(os.listdir(root + p))
    for p, ino in paths.items():
        st, digest, target = info[p]
        got = (ino.mode, ino.uid, ino.gid, ino.mtime, ino.nlink)
        assert got == (st.st_mode, st.st_uid, st.st_gid, int(st.st_mtime), st.st_nlink), p
        if stat.S_ISREG(st.st_mode):
            assert ino.size == st.st_size, p
            assert sha256_of(fs, ino) == digest, p
        elif stat.S_ISLNK(st.st_mode):
            assert ino.size == len(target.encode())
            assert fs.read_link(ino) == target.encode(), p
        elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            assert (ino.rdev_major, ino.rdev_minor) == (os.major(st.st_rdev),
                                                         os.minor(st.st_rdev)), p
    # Hard links share one inode.
    assert paths["/hard/h1"].ino == paths["/hard/h2"].ino == paths["/sub/h3"].ino
    return paths


FULL = ["gzip", "lzma", "lzo", "lz4", "xz", "zstd", "gzip-4k", "gzip-8k", "gzip-64k",
        "gzip-1m", "gzip-uncompressed", "gzip-no-fragments", "gzip-always-fragments",
        "gzip-tailends", "gzip-no-duplicates", "xz-bcj"]
SMALL = ["lz4-hc", "gzip-options", "lzo-options", "zstd-options", "gzip-xattrs", "gzip-small",
         "lz4-small", "xz-small", "gzip-small-raw"]


@pytest.mark.parametrize("name", FULL + SMALL)
def test_image_equals_tree(name):
    fs = open_fs(name)
    assert fs.kind == "squashfs"
    assert fs.uuid is None and fs.label is None
    assert fs.sb.comp_name == comp_of(name)
    args = sqimg.IMAGES[name][1]
    bs = 128 << 10
    if "-b" in args:
        v = args[args.index("-b") + 1]
        bs = int(v[:-1]) << (10 if v[-1] == "K" else 20)
    assert fs.block_size == bs
    paths = check_against_tree(fs, sqimg.IMAGES[name][0])
    many = paths["/many"]
    assert many.itype == sqinode.LDIR and many.idx_count > 0 or sqimg.IMAGES[name][0] == "small"


def lookup_paths(fs, tree_name):
    """Path lookups (the base's walk over lookup_child) of every path but most
    of /many, compared with the inode the listing gives."""
    info = tree_info(tree_name)
    paths, _ = walk_image(fs)
    for i, p in enumerate(sorted(info)):
        if p.startswith("/many/") and i % 41:
            continue
        ino = fs.lstat(p)
        assert (ino.ino, ino.mode, ino.ref) == (paths[p].ino, paths[p].mode, paths[p].ref), p


@pytest.mark.parametrize("name", ["gzip", "gzip-4k", "gzip-small"])
def test_lookups(name):
    fs = open_fs(name)
    tree_name = sqimg.IMAGES[name][0]
    lookup_paths(fs, tree_name)
    n = 3000 if tree_name == "full" else 300
    for missing in ["/nope", "/many/entry-%05d" % n, "/many/entry-00000x", "/many/a",
                    "/many/zzzz", "/many/entry-", "/names/" + "n" * 254, "/sub/nope/x"]:
        with pytest.raises(DMError) as e:
            fs.lstat(missing)
        assert e.value.errno == 2, missing
    for name_ in ("entry-00000", "entry-%05d" % (n - 1), "entry-%05d" % (n // 2)):
        assert fs.lstat("/many/" + name_).is_reg()
    with pytest.raises(DMError) as e:
        fs.lstat("/one/x")
    assert e.value.errno == 20
    # Symlinks in the middle of a path, and `..` after one (the walked parent).
    with fs.open("/links/dir/d/e/f/g/h/file") as f:
        assert f.read() == b"deep file\n"
    with fs.open("/links/dir/../c/d/e/f/g/h/file") as f:
        assert f.read() == b"deep file\n"
    assert fs.stat("/links/absolute").size == os.path.getsize(fstree.tree(tree_name)
                                                              + "/text.txt")
    assert fs.readlink("/links/short") == "../one"
    with pytest.raises(DMError) as e:
        fs.stat("/links/loop-a")
    assert e.value.errno == 40
    with pytest.raises(DMError) as e:
        fs.stat("/links/dangling")
    assert e.value.errno == 2
    for p, errno in (("/sub", 21), ("/dev/fifo", 22), ("/dev/null", 22), ("/dev/socket", 22)):
        with pytest.raises(DMError) as e:
            fs.open(p)
        assert e.value.errno == errno, p
        with pytest.raises(DMError):
            fs.read(fs.lstat(p), 0, 1)
    with pytest.raises(DMError):
        fs.listdir("/one")


def test_directory_index_saves_reads():
    """A lookup in the 3000-entry directory starts at the index entry for the name:
    it reads fewer directory blocks than scanning the listing."""
    def fresh():
        fs = open_fs("gzip")
        many = fs.lstat("/many")
        fs.meta.cache.clear()
        fs.meta.order[:] = []
        return fs, many, fs.meta.misses
    fs, many, before = fresh()
    assert many.itype == sqinode.LDIR and many.idx_count >= 3
    last = fs.lookup_child(many, b"entry-02999")
    indexed = fs.meta.misses - before
    fs2, many2, before = fresh()
    scan = [ref for raw, ref in fs2.entries(many2) if raw == b"entry-02999"][0]
    scanned = fs2.meta.misses - before
    assert last.ref == scan[0]
    assert indexed < scanned, (indexed, scanned)
    # Every name (and the gaps between them) through the index equals the scan.
    refs = dict((raw, ref[0]) for raw, ref in fs2.entries(many2))
    for i in range(0, 3000, 7):
        name = b"entry-%05d" % i
        assert fs.lookup_child(many, name).ref == refs[name], name
        assert fs.lookup_child(many, name + b"0") is None


def test_listing_equals_unsquashfs():
    """unsquashfs -lln lists the image depth first in stored order, with numeric
    owners, sizes (major, minor for devices), UTC mtimes and link targets."""
    import re
    import time
    path = image("gzip-small")
    fs = open_fs("gzip-small")
    out = subprocess.run(["unsquashfs", "-lln", "-d", "", path], capture_output=True,
                         check=True, env=dict(os.environ, TZ="UTC")).stdout.decode()
    row = re.compile(r"^(\S+) (\d+)/(\d+) +(.+?) (\d{4}-\d\d-\d\d \d\d:\d\d) (.*)$")
    tool = [row.match(ln).groups() for ln in out.splitlines() if row.match(ln)]
    ours = []

    def visit(p, d):
        for raw, ref in fs.entries(d):
            c = fs.inode(ref)
            cp = p + "/" + decode_name(raw)
            if c.is_lnk():
                size, shown = str(c.size), cp + " -> " + decode_name(fs.read_link(c))
            elif c.mode & 0o170000 in (0o020000, 0o060000):
                # unsquashfs prints the stored word as (word >> 8, word & 0xff): the
                # same as major, minor for minors below 256 only.
                word = (c.rdev_major << 8) | (c.rdev_minor & 0xFF) | (
                    (c.rdev_minor & ~0xFF) << 12)
                size, shown = "%d,%d" % (word >> 8, word & 0xFF), cp
            else:
                size, shown = str(c.size), cp
            ours.append((stat.filemode(c.mode), str(c.uid), str(c.gid), size,
                         time.strftime("%Y-%m-%d %H:%M", time.gmtime(c.mtime)), shown))
            if c.is_dir():
                visit(cp, c)
    visit("", fs.root())
    assert tool[0][5] == ""
    tool = [(m, u, g, "".join(sz.split()), t, p) for m, u, g, sz, t, p in tool[1:]]
    assert len(ours) > 300
    assert ours == tool


def test_extended_inodes_with_xattrs():
    fs = open_fs("gzip-xattrs")
    want = {"/one": sqinode.LREG, "/big.bin": sqinode.LREG, "/sub": sqinode.LDIR,
            "/links/short": sqinode.LSYMLINK, "/links/long": sqinode.LSYMLINK,
            "/dev/fifo": sqinode.LFIFO, "/dev/null": sqinode.LCHRDEV,
            "/dev/sda1": sqinode.LBLKDEV, "/dev/socket": sqinode.LSOCKET}
    for p, t in want.items():
        ino = fs.lstat(p)
        assert ino.itype == t, p
        assert ino.xattr != 0xFFFFFFFF and ino.xattr < fs.xattr_ids, p
    assert fs.xattr_ids > 0
    # Without xattrs the same entries are basic inodes.
    fs2 = open_fs("gzip-small")
    assert fs2.lstat("/one").itype == sqinode.REG
    assert fs2.lstat("/sub").itype == sqinode.DIR
    assert fs2.lstat("/links/short").itype == sqinode.SYMLINK
    assert fs2.lstat("/dev/null").itype == sqinode.CHRDEV
    assert fs2.lstat("/hard/h1").itype == sqinode.LREG  # nlink > 1
    assert fs2.lstat("/sparse.img").itype == sqinode.REG  # holes alone keep it basic


@pytest.mark.parametrize("name, options", [
    ("gzip-options", {"compression-level": 6, "window-size": 12,
                      "strategies": ["filtered", "huffman"]}),
    ("xz-bcj", {"dict-size": 65536, "filters": ["x86"]}),
    ("lz4", {"version": 1, "hc": False}),
    ("lz4-hc", {"version": 1, "hc": True}),
    ("lzo-options", {"algorithm": "lzo1x_1", "compression-level": 0}),
    ("zstd-options", {"compression-level": 3}),
    ("gzip", {}),
])
def test_compressor_options(name, options):
    # Options are checked before anything is decompressed: no decoder needed.
    path = sqimg.build(name)
    with open(path, "rb") as f:
        head = f.read(4096)
    from dmfw.fs.squashfs.super import Super, check_options
    sb = Super(head, 1 << 40)
    got = {}
    if sb.flags & 0x400:
        hdr = head[96] | head[97] << 8
        assert hdr & 0x8000  # squashfs-tools stores them uncompressed
        got = check_options(sb.comp_name, head[98:98 + (hdr & 0x7FFF)], sb.block_size)
    assert got == options


def patched(name, edits):
    with open(sqimg.build(name), "rb") as f:
        data = bytearray(f.read())
    for off, raw in edits:
        data[off:off + len(raw)] = raw
    return MemoryDevice(data, name="sq")


@pytest.mark.parametrize("name, edits, errno, words", [
    ("gzip-small", [(28, struct.pack("<H", 3))], 95, "version 3.0"),
    ("gzip-small", [(30, struct.pack("<H", 1))], 95, "version 4.1"),
    ("gzip-small", [(20, struct.pack("<H", 7))], 95, "compressor id 7"),
    ("gzip-small", [(22, struct.pack("<H", 16))], 22, "block_log"),
    ("gzip-small", [(12, struct.pack("<I", 2 << 20)), (22, struct.pack("<H", 21))], 22,
     "block size"),
    ("gzip-small", [(0, b"sqsh")], 95, "big-endian"),
    ("gzip-small", [(0, b"xxxx")], 22, "magic"),
    ("gzip-small", [(40, struct.pack("<Q", 1 << 40))], 22, "past the end of the device"),
    ("gzip-small", [(4, struct.pack("<I", 0))], 22, "no inodes"),
    ("gzip-options", [(104, struct.pack("<H", 0x40))], 95, "strategy"),
    ("gzip-options", [(98, struct.pack("<I", 10))], 95, "compression level 10"),
    ("gzip-options", [(102, struct.pack("<H", 16))], 95, "window size 16"),
    ("lz4-small", [(98, struct.pack("<I", 2))], 95, "version 2"),
    ("lz4-small", [(102, struct.pack("<I", 2))], 95, "unknown flags"),
    ("xz-bcj", [(98, struct.pack("<I", 65536 + 4096))], 95, "dictionary size"),
    ("xz-bcj", [(102, struct.pack("<I", 64))], 95, "filter bits"),
    ("lzo-options", [(98, struct.pack("<I", 5))], 95, "algorithm 5"),
    ("zstd-options", [(98, struct.pack("<I", 23))], 95, "compression level 23"),
])
def test_superblock_refusals(name, edits, errno, words):
    with pytest.raises(FormatError) as e:
        SquashFS(patched(name, edits))
    assert e.value.errno == errno
    assert words in str(e.value) and str(e.value).startswith("squashfs: ")


def test_truncated_image():
    with open(image("gzip-small"), "rb") as f:
        data = f.read()
    for n in (0, 512, 4096, len(data) // 2 & ~511):
        with pytest.raises(FormatError):
            SquashFS(MemoryDevice(bytearray(data[:n])))


def raw_fs():
    # Stored uncompressed throughout (-noI -noD -noF -noX): no decoder needed.
    path = sqimg.build("gzip-small-raw")
    with open(path, "rb") as f:
        data = bytearray(f.read())
    return data, SquashFS(MemoryDevice(bytearray(data)))


def inode_pos(fs, ino):
    """Disk position of an inode in an uncompressed inode table (one block per 8 KiB)."""
    blk, off = ino.ref >> 16, ino.ref & 0xFFFF
    return fs.sb.inode_table_start + blk + 2 + off


def reread(data, path, chunk=1 << 16, limit=1 << 22):
    fs = SquashFS(MemoryDevice(bytearray(data)))
    ino = fs.lstat(path)
    pos = 0
    while pos < limit:
        b = fs.read(ino, pos, chunk)
        if not b:
            break
        pos += len(b)
    return pos


def test_file_claiming_petabytes():
    data, fs = raw_fs()
    big = fs.lstat("/big.bin")          # basic reg: 300000 bytes, 3 blocks
    p = inode_pos(fs, big) + 16 + 12
    d = bytearray(data)
    d[p:p + 4] = struct.pack("<I", 0xFFFFFFFF)
    with pytest.raises(FormatError) as e:
        reread(d, "/big.bin")
    assert "inode %d" % big.ino in str(e.value)
    h1 = fs.lstat("/hard/h1")           # extended reg (hard linked): 64-bit size
    assert h1.itype == sqinode.LREG
    p = inode_pos(fs, h1) + 16 + 8
    d = bytearray(data)
    d[p:p + 8] = struct.pack("<Q", 1 << 50)
    with pytest.raises(FormatError) as e:
        reread(d, "/hard/h1")
    assert "inode %d" % h1.ino in str(e.value)


def test_data_block_past_the_device_and_bomb():
    data, fs = raw_fs()
    big = fs.lstat("/big.bin")
    p = inode_pos(fs, big) + 16     # start_block
    d = bytearray(data)
    d[p:p + 4] = struct.pack("<I", len(data) - 1000)
    with pytest.raises(FormatError):
        reread(d, "/big.bin")
    # A block stored with a size word above the block size.
    d = bytearray(data)
    d[p + 16:p + 20] = struct.pack("<I", (1 << 17) + 1)
    with pytest.raises(FormatError) as e:
        reread(d, "/big.bin")
    assert "inode %d" % big.ino in str(e.value)
    # Decompression past the block size: halve the block size of a compressed image,
    # its 128 KiB blocks then inflate past it.
    with open(image("gzip-small"), "rb") as f:
        g = bytearray(f.read())  # (skips without the zlib decoder)
    g[12:16] = struct.pack("<I", 65536)
    g[22:24] = struct.pack("<H", 16)
    fs = SquashFS(MemoryDevice(g))
    with pytest.raises(FormatError) as e:
        sha256_of(fs, fs.lstat("/text.txt"))
    assert "inode %d" % fs.lstat("/text.txt").ino in str(e.value)


def test_directory_loop_and_bad_refs():
    data, fs = raw_fs()
    # Point the listing entry "c" of /deep/a/b at /deep/a: a loop. Lookups stay
    # finite, listings are one level, an iterative walk sees the loop.
    a = fs.lstat("/deep/a")
    b = fs.lstat("/deep/a/b")
    c = fs.lstat("/deep/a/b/c")
    pos = fs.sb.directory_table_start + b.dir_block + 2 + b.dir_off
    # one header (12 bytes) then entry "c": offset u16 (inode offset), delta s16
    hdr = struct.unpack("<III", data[pos:pos + 12])
    assert hdr[1] == c.ref >> 16 == a.ref >> 16
    d = bytearray(data)
    d[pos + 12:pos + 14] = struct.pack("<H", a.ref & 0xFFFF)
    fs2 = SquashFS(MemoryDevice(d))
    assert fs2.listdir("/deep/a/b/c") == ["b"]
    assert fs2.lstat("/deep/a/b/c/b/c/b/c/b").ino == b.ino
    with pytest.raises(AssertionError):
        walk_image(fs2)
    # The same entry pointing outside the inode table, or at an inode of another type.
    for ref_off, words in ((0x7FFF, "offset"), (fs.lstat("/one").ref & 0xFFFF, "type")):
        d = bytearray(data)
        d[pos + 12:pos + 14] = struct.pack("<H", ref_off)
        fs3 = SquashFS(MemoryDevice(d))
        with pytest.raises(FormatError):
            fs3.lstat("/deep/a/b/c")


def test_sparse_blocks_are_holes():
    """mksquashfs stores all-zero blocks as holes (size word 0): /zeros has only holes,
    /sparse.img some; both read back as zeros."""
    fs = open_fs("gzip")
    for p, holes in (("/zeros", 16), ("/sparse.img", 31)):
        ino = fs.lstat(p)
        fs.read(ino, 0, 1)
        words = []
        for k in range(ino.nblocks):
            words.append(fs.data.blist.locate(k)[1])
        assert words.count(0) == holes, (p, words)
    assert fs.read(fs.lstat("/zeros"), 12345, 200000) == bytes(200000)


def test_block_list_checkpoints():
    """Reads at every position of a multi-window file (4 KiB blocks, 12 MiB: 3072
    blocks, 6 windows), in random order, equal the source bytes."""
    import random
    fs = open_fs("gzip-4k")
    ino = fs.lstat("/big.bin")
    with open(fstree.tree("full") + "/big.bin", "rb") as f:
        src = f.read()
    rng = random.Random(1)
    for _ in range(300):
        pos = rng.randrange(len(src))
        n = rng.choice((1, 100, 4096, 5000, 70000))
        assert fs.read(ino, pos, n) == src[pos:pos + n]
        buf = bytearray(n)
        got = fs.readinto(ino, pos, memoryview(buf))
        assert got == min(n, len(src) - pos) and buf[:got] == src[pos:pos + n]
    assert fs.read(ino, len(src), 10) == b""
    assert fs.read(ino, len(src) + 5, 10) == b""
    assert len(fs.data.blist.checkpoints) == 6
    assert fs.readinto(ino, len(src), memoryview(bytearray(4))) == 0


def test_st_blocks_as_linux():
    """Linux: ((size - 1) >> 9) + 1 for basic files, (size - sparse + 511) >> 9 for
    extended ones, 0 for everything else."""
    fs = open_fs("gzip")
    for p, blocks in (("/one", 1), ("/empty", 0), ("/big.bin", 24576), ("/hard/h1", 1),
                      ("/sizes/m1025", 3), ("/zeros", 4096), ("/sub", 0), ("/links/short", 0),
                      ("/dev/null", 0)):
        assert fs.lstat(p).blocks == blocks, p


MP_SCRIPT = r"""
import sys, hashlib
from dmfw.blockdev import FileDevice
from dmfw.fs.squashfs import SquashFS
fs = SquashFS(FileDevice(sys.argv[1], True))
mv = memoryview(bytearray(65536))
todo = [("", fs.root())]
while todo:
    p, d = todo.pop()
    for raw, ref in fs.entries(d):
        c = fs.inode(ref)
        cp = p + "/" + raw.decode()
        if c.is_dir():
            todo.append((cp, c))
        elif c.is_reg():
            h = hashlib.sha256()
            pos = 0
            while True:
                n = fs.readinto(c, pos, mv)
                if not n:
                    break
                h.update(mv[:n])
                pos += n
            print(cp, "%o" % c.mode, c.uid, c.gid, c.mtime, c.nlink, h.digest().hex())
        else:
            print(cp, "%o" % c.mode, c.uid, c.gid, c.mtime, c.nlink,
                  fs.read_link(c).decode() if c.is_lnk() else "%d:%d" % (c.rdev_major,
                                                                          c.rdev_minor))
f = fs.open("/links/dir/../c/d/e/f/g/h/file")
print("via link", f.read())
"""


@pytest.mark.micropython
@pytest.mark.skipif(micropython() is None and not os.environ.get("CI"), reason="no micropython")
@pytest.mark.parametrize("name, heap", [("gzip-small", None), ("lz4-small", None),
                                        ("gzip-1m", "4M")])
def test_micropython_reads_like_cpython(name, heap, tmp_path):
    """The reader under the MicroPython unix port (default 2 MiB heap; 1 MiB blocks
    need 4 MiB) prints the same walk as CPython."""
    path = image(name)
    script = tmp_path / "walk.py"
    script.write_text(MP_SCRIPT)
    env = dict(os.environ, MICROPYPATH=ROOT)
    args = [micropython()] + (["-X", "heapsize=" + heap] if heap else [])
    mp = subprocess.run(args + [str(script), path], capture_output=True, text=True,
                        env=env, timeout=120)
    assert mp.returncode == 0, mp.stderr + mp.stdout[-2000:]
    import sys
    cp = subprocess.run([sys.executable, str(script), path], capture_output=True, text=True,
                        env=dict(os.environ, PYTHONPATH=ROOT), timeout=120)
    assert cp.returncode == 0, cp.stderr
    assert mp.stdout == cp.stdout
    assert len(mp.stdout.splitlines()) > 300
    # and CPython's lines agree with the tree
    info = tree_info(sqimg.IMAGES[name][0])
    for line in cp.stdout.splitlines():
        f = line.split(" ")
        if f[0] in info and info[f[0]][1]:
            assert f[-1] == info[f[0]][1], f[0]


def test_metadata_bomb():
    """A metadata block inflating past 8 KiB is refused, naming the table it was in."""
    pytest.importorskip("dmfw.compress.deflate")
    import zlib
    data = bytearray(open(sqimg.build("gzip-small-raw"), "rb").read())
    it = struct.unpack("<Q", data[64:72])[0]
    z = zlib.compress(bytes(20000))
    data[it:it + 2 + len(z)] = struct.pack("<H", len(z)) + z
    with pytest.raises(FormatError) as e:
        fs = SquashFS(MemoryDevice(data))
        walk_image(fs)
    assert "metadata block at %d" % it in str(e.value) and "inode" in str(e.value)


def test_layouts_of_the_variants():
    """The images differ the way their options say: uncompressed flags and size bits,
    tails in fragments, duplicates sharing blocks."""
    def fs_of(n):
        return open_fs(n)
    raw = fs_of("gzip-uncompressed")
    assert raw.sb.flags & 0x10B == 0x10B          # NOI NOD NOF NOX
    ino = raw.lstat("/text.txt")
    raw.read(ino, 0, 1)
    assert all(raw.data.blist.locate(k)[1] & (1 << 24) for k in range(ino.nblocks))
    default = fs_of("gzip")
    big = "/sizes/m131073"                       # one block and a 1-byte tail
    assert default.lstat(big).frag == sqinode.FRAG_NONE
    for n in ("gzip-tailends", "gzip-always-fragments"):
        t = fs_of(n).lstat(big)
        assert t.frag != sqinode.FRAG_NONE and t.nblocks == 1, n
    nofrag = fs_of("gzip-no-fragments")
    assert nofrag.sb.fragments == 0 and nofrag.lstat("/one").nblocks == 1
    # Duplicates share their data (here: the fragment); -no-duplicates stores twice.
    a, b = default.lstat("/dup1.txt"), default.lstat("/sub/dup2.txt")
    assert (a.start, a.frag, a.frag_off) == (b.start, b.frag, b.frag_off)
    nd = fs_of("gzip-no-duplicates")
    a, b = nd.lstat("/dup1.txt"), nd.lstat("/sub/dup2.txt")
    assert (a.start, a.frag, a.frag_off) != (b.start, b.frag, b.frag_off)
    assert nd.sb.lookup_table_start == 0xFFFFFFFFFFFFFFFF  # -no-exports


@pytest.mark.skipif(shutil.which("blkid") is None, reason="no blkid")
@pytest.mark.parametrize("name", ["gzip-4k", "gzip-small", "gzip-1m"])
def test_blkid_agrees(name):
    """blkid -p: TYPE=squashfs, VERSION=4.0; util-linux >= 2.39 also prints
    BLOCK_SIZE (the superblock's block_size), 2.38 does not."""
    fs = open_fs(name)
    out = subprocess.run(["blkid", "-p", "-o", "export", image(name)], capture_output=True,
                         text=True, check=True).stdout
    tags = dict(ln.split("=", 1) for ln in out.splitlines() if "=" in ln)
    assert tags["TYPE"] == fs.kind
    assert tags["VERSION"] == "4.0"
    assert tags.get("BLOCK_SIZE", str(fs.block_size)) == str(fs.block_size)
    assert "UUID" not in tags and "LABEL" not in tags


def test_stream_resumes_at_a_block_end():
    """A position saved at the very end of a metadata block (an inode body ending
    on the 8 KiB boundary, its block list in the next block) resumes there."""
    from dmfw.fs.squashfs.meta import Meta
    blocks = struct.pack("<H", 0x8000 | 8192) + bytes(range(256)) * 32 + \
        struct.pack("<H", 0x8000 | 4) + b"next"
    dev = MemoryDevice(bytearray(blocks + bytes(-len(blocks) % 512)))
    meta = Meta(dev, "zlib")
    s = meta.stream(0, 8190, 0, len(blocks), "test")
    assert s.take(2) == bytes([254, 255])
    pos, off = s.where()
    assert (pos, off) == (0, 8192)
    assert meta.stream(pos, off, 0, len(blocks), "test").take(4) == b"next"
    with pytest.raises(FormatError):
        meta.stream(0, 8193, 0, len(blocks), "test")
    with pytest.raises(FormatError):
        meta.stream(pos, off, 0, len(blocks), "test").take(5)


def test_file_objects_across_blocks():
    """open/seek/readinto/readline/iteration through the base's File over 4 KiB blocks
    and a fragment tail."""
    fs = open_fs("gzip-4k")
    with open(fstree.tree("full") + "/text.txt", "rb") as f:
        src = f.read()
    with fs.open("/text.txt") as f:
        assert f.seek(4090) == 4090
        buf = bytearray(20)
        assert f.readinto(buf) == 20 and bytes(buf) == src[4090:4110]
        f.seek(-5, 2)
        assert f.read() == src[-5:]
    with open(fstree.tree("full") + "/sizes/m65537", "rb") as f:
        src = f.read()
    with fs.open("/sizes/m65537") as f:       # 16 blocks of 4 KiB and a 1-byte tail
        lines = list(f)
    assert b"".join(lines) == src and len(lines) == src.count(b"\n") + 1
    small = fs.lstat("/sizes/m4095")            # below the block size: a fragment
    assert small.frag != sqinode.FRAG_NONE and small.nblocks == 0
    with open(fstree.tree("full") + "/sizes/m4095", "rb") as f:
        want = f.read()
    with fs.open("/sizes/m4095") as f:
        f.seek(100)
        assert f.readline() + f.read() == want[100:]
