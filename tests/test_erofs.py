# The EROFS reader against images made by the real mkfs.erofs (host 1.5, and the guest
# rootfs' 1.8 when it exists) from the images/fstree.py trees: every path's bytes,
# attributes, links and listings; blkid, dump.erofs and fsck.erofs agree; crafted and
# fuzzed corruptions give only DMError; MicroPython reads the same bytes.

import hashlib
import os
import random
import shutil
import stat
import struct
import subprocess
import time

import pytest

from images import erofs as E
from images.fstree import tree, walk, expected
from dmfw.blockdev import FileDevice, MemoryDevice
from dmfw.errors import DMError, FormatError

# mkfs.erofs -z names -> the dmfw.compress module decoding them.
MODULES = {"lz4": "lz4", "lz4hc": "lz4", "lzma": "xz", "deflate": "deflate", "zstd": "zstd"}


def needs(name):
    mods = set()
    for a in E.RECIPES[name][1]:
        if a.startswith("-z"):
            for alg in a[2:].split(":"):
                mods.add(MODULES[alg.split(",")[0]])
    return sorted(mods)


def image(name, tree_name="small"):
    if not E.available(name):
        pytest.skip("%s: mkfs.erofs for it is missing" % name)
    for m in needs(name):
        pytest.importorskip("dmfw.compress." + m)
    return E.image(name, tree_name)


def open_fs(path):
    from dmfw.fs.erofs import ErofsFS
    return ErofsFS(FileDevice(path, readonly=True))


def sha(b):
    return hashlib.sha256(b).hexdigest()


def check_tree(fs, name, tree_name):
    root = tree(tree_name)
    skip = E.missing(name)
    seen = 0
    compact = [0, 0]
    for rel in walk(root):
        if rel.lstrip("/") in skip:
            with pytest.raises(DMError) as ei:
                fs.lstat(rel)
            assert ei.value.errno == 2
            continue
        st, data, target = expected(root, rel)
        ino = fs.lstat(rel)
        what = (name, rel)
        assert ino.mode == st.st_mode, what
        assert (ino.uid, ino.gid) == (st.st_uid, st.st_gid), what
        assert ino.nlink == st.st_nlink, what
        # Compact inodes keep no time of their own: the build time (the tree's MTIME,
        # SOURCE_DATE_EPOCH / -T) stands in; mkfs.erofs keeps others extended.
        assert ino.mtime == E.mtime_of(name, st.st_mtime), what
        compact[ino.isize == 32] += 1
        if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            assert (ino.rdev_major, ino.rdev_minor) == \
                (os.major(st.st_rdev), os.minor(st.st_rdev)), what
        if data is not None:
            assert ino.size == len(data), what
            with fs.open(rel) as f:
                assert sha(f.read()) == sha(data), what
            seen += 1
        if target is not None:
            assert fs.readlink(rel) == target, what
            assert ino.size == len(target.encode()), what
        if stat.S_ISDIR(st.st_mode):
            want = set(os.listdir(os.path.join(root, rel.lstrip("/"))))
            want -= set(p.split("/")[-1] for p in skip if "/" + p.rsplit("/", 1)[0] == rel)
            assert set(fs.listdir(rel)) == want, what
    assert seen > 50
    return compact


@pytest.mark.parametrize("name", sorted(E.RECIPES))
def test_tree(name):
    fs = open_fs(image(name))
    assert fs.kind == "erofs"
    extended, compact = check_tree(fs, name, "small")
    if name in E.ALL_COMPACT:
        assert extended == 0
    if name == "extended":
        assert compact == 0


@pytest.mark.parametrize("name", ["plain", "chunk16k-index"])
def test_full_tree(name):
    fs = open_fs(image(name, "full"))
    check_tree(fs, name, "full")


def test_algorithm_per_file_by_hints():
    # erofs-utils puts a file's own algorithm in the header's first nibble (HEAD1
    # lclusters); the superblock lists both.
    from dmfw.fs.erofs.zmap import ZMap, HEAD1
    fs = open_fs(image("g-lz4-lzma-hints"))
    assert fs.sb.available_algs == 3
    z = ZMap(fs, fs.lstat("/text.txt"))
    assert z.algs[0] == 1 and z.map(0).fmt == 1           # lzma
    rec = type("R", (), {})()
    z._load(rec, 0)
    assert rec.type == HEAD1
    assert ZMap(fs, fs.lstat("/dup1.txt")).map(0).fmt == 1
    assert ZMap(fs, fs.lstat("/sparse.img")).map(0).fmt == 0  # lz4


def test_max_extent_bytes():
    from dmfw.fs.erofs.zmap import ZMap
    fs = open_fs(image("lz4-maxext"))
    longest = 0
    for rel in ("/sparse.img", "/zeros", "/text.txt"):
        ino = fs.lstat(rel)
        z = ZMap(fs, ino)
        pos = 0
        while pos < ino.size:
            e = z.map(pos)
            longest = max(longest, e.llen)
            pos = e.la + e.llen
    assert 32768 < longest <= 65536


def blkid(path):
    out = subprocess.run(["blkid", "-p", "-o", "export", path], capture_output=True,
                         text=True).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


@pytest.mark.parametrize("name", ["plain", "lz4", "g-label", "g-b512", "g-b1024-lz4"])
def test_blkid(name):
    if not shutil.which("blkid"):
        pytest.skip("no blkid")
    path = image(name)
    fs = open_fs(path)
    b = blkid(path)
    assert b["TYPE"] == fs.kind
    assert b["UUID"] == fs.uuid == E.UUID
    assert int(b["BLOCK_SIZE"]) == fs.block_size
    assert b.get("LABEL") == fs.label
    if name.startswith("g-b"):
        assert fs.block_size == int(name[3:].split("-")[0])


@pytest.mark.parametrize("name", ["plain", "lz4-ztail", "lz4-legacy", "chunk"])
def test_dump_erofs_agrees(name):
    if not shutil.which("dump.erofs"):
        pytest.skip("no dump.erofs")
    path = image(name)
    fs = open_fs(path)
    compressed = 0
    for rel in ("/text.txt", "/big.bin", "/hard/h1", "/links/long", "/many", "/dev/null"):
        out = subprocess.run(["dump.erofs", "--path=" + rel, path], capture_output=True,
                             text=True).stdout
        ino = fs.lstat(rel)
        nid = int(out.split("NID:")[1].split()[0])
        links = int(out.split("Links:")[1].split()[0])
        size = int(out.split("Size:")[1].split()[0])
        assert (nid, links, size) == (ino.nid, ino.nlink, ino.size), rel
        if ino.is_compressed():
            # st_blocks: the compressed blocks, which dump.erofs shows as on-disk size.
            ondisk = int(out.split("On-disk size:")[1].split()[0])
            assert ino.blocks << 9 == ondisk, rel
            compressed += 1
    assert compressed or not name.startswith("lz4")


def test_fsck_extract_agrees(tmp_path):
    if not shutil.which("fsck.erofs"):
        pytest.skip("no fsck.erofs")
    path = image("lz4-big-ztail")
    fs = open_fs(path)
    out = tmp_path / "x"
    r = subprocess.run(["fsck.erofs", "--extract=%s" % out, path], capture_output=True)
    assert r.returncode == 0, r.stderr
    n = 0
    for dirpath, dirnames, files in os.walk(out):
        for f in files:
            p = os.path.join(dirpath, f)
            rel = p[len(str(out)):]
            if stat.S_ISREG(os.lstat(p).st_mode):
                with open(p, "rb") as fh:
                    assert sha(fs.open(rel).read()) == sha(fh.read()), rel
                n += 1
    assert n > 50


@pytest.mark.parametrize("name", ["plain", "chunk16k-index", "lz4", "lz4-ztail", "lz4-legacy",
                                  "lz4hc-big", "g-lz4-fragments", "g-lz4-dedupe",
                                  "g-lzma-big", "g-deflate"])
def test_random_reads(name):
    fs = open_fs(image(name))
    root = tree("small")
    rng = random.Random(name)
    for rel in ("/big.bin", "/sparse.img", "/text.txt", "/sizes/m8193"):
        data = expected(root, rel)[1]
        with fs.open(rel) as f:
            for _ in range(30):
                pos = rng.randrange(len(data) + 10)
                n = rng.choice((1, 7, 4095, 4096, 4097, 70000))
                f.seek(pos)
                assert f.read(n) == data[pos:pos + n], (rel, pos, n)
        ino = fs.lstat(rel)
        assert fs.read(ino, len(data), 10) == b""
        assert fs.read(ino, len(data) + 100, 10) == b""


def errno_of(fn, *args):
    with pytest.raises(DMError) as ei:
        fn(*args)
    return ei.value.errno


def test_lookup_errors():
    fs = open_fs(image("plain"))
    assert errno_of(fs.lstat, "/nonexistent") == 2
    assert errno_of(fs.lstat, "/many/entry-99999") == 2
    assert errno_of(fs.lstat, "/many/entry-0015") == 2
    assert errno_of(fs.lstat, "/one/x") == 20
    assert errno_of(fs.stat, "/links/loop-a") == 40
    assert fs.lstat("/links/loop-a").is_lnk()
    assert errno_of(fs.open, "/sub") == 21
    assert errno_of(fs.open, "/dev/fifo") == 22
    assert errno_of(fs.open, "/dev/null") == 22
    assert errno_of(fs.open, "/one", "wb") == 30
    assert errno_of(fs.readlink, "/one") == 22
    assert errno_of(fs.listdir, "/one") == 20
    assert fs.open("/links/short").read() == b"x"
    assert fs.open("/links/dir/d/e/f/g/h/file").read() == b"deep file\n"
    assert fs.lookup("/deep/a/../../one").size == 1
    # Binary search finds every name of a multi-block directory, and only those.
    names = sorted(fs.listdir("/many"))
    assert len(names) == 300 and fs.lstat("/many").size > fs.block_size
    for n in names[::7] + names[-3:]:
        assert fs.lstat("/many/" + n).is_reg()
    for n in ("entry-", "entry-000000", "entry-00299x", "zzz", "!", ".."):
        assert fs.lookup_child(fs.lstat("/many"), n.encode()) is None or n == ".."


# --- crafted corruptions (the superblock checksum is recomputed so they get past it)

def load(name):
    with open(image(name), "rb") as f:
        return bytearray(f.read())


def fix_csum(img):
    from dmfw.fs.erofs.super import crc32c
    if struct.unpack_from("<I", img, 1032)[0] & 1:
        bs = 1 << img[1036]
        n = bs - 1024 if bs > 1024 else bs
        struct.pack_into("<I", img, 1028, 0)
        struct.pack_into("<I", img, 1028, crc32c(bytes(img[1024:1024 + n])))
    return img


def mem_fs(img):
    from dmfw.fs.erofs import ErofsFS
    if len(img) % 512:
        img = img + bytearray(512 - len(img) % 512)
    return ErofsFS(MemoryDevice(img, readonly=True))


def inode_at(fs, rel):
    return fs.lstat(rel).iloc


def test_superblock_checks():
    img = load("plain")
    with pytest.raises(FormatError, match="not an erofs"):
        mem_fs(bytearray(len(img)))
    bad = bytearray(img)
    bad[1024 + 64] ^= 1                         # volume name: only the checksum sees it
    assert errno_of(mem_fs, bad) == 74
    assert mem_fs(fix_csum(bad)).root().is_dir()
    for bit, word in ((0x80, "48bit"), (0x100, "metabox"), (0x4000, "unknown")):
        bad = bytearray(img)
        struct.pack_into("<I", bad, 1024 + 80, struct.unpack_from("<I", bad, 1104)[0] | bit)
        with pytest.raises(FormatError, match=word) as ei:
            mem_fs(fix_csum(bad))
        assert ei.value.errno == 95
    bad = bytearray(img)
    bad[1024 + 12] = 20                         # 1 MiB blocks
    assert errno_of(mem_fs, fix_csum(bad)) == 22
    bad = bytearray(img)
    struct.pack_into("<H", bad, 1024 + 14, 0xFFFF)     # root nid past the image
    with pytest.raises(FormatError, match="nid 65535"):
        mem_fs(fix_csum(bad))
    with pytest.raises(FormatError):
        mem_fs(bytearray(img[:1024]))


def patch_size(img, iloc, size):
    if img[iloc] & 1:
        struct.pack_into("<Q", img, iloc + 8, size)
    else:
        struct.pack_into("<I", img, iloc + 8, min(size, (1 << 32) - 1))


@pytest.mark.parametrize("name", ["plain", "compact", "chunk", "lz4", "lz4-legacy",
                                  "lz4-compact", "g-lz4-fragments"])
def test_huge_sizes(name):
    img = load(name)
    fs = mem_fs(img)
    for rel, size in (("/big.bin", 1 << 40), ("/text.txt", (1 << 32) - 1), ("/one", 1 << 62)):
        iloc = inode_at(fs, rel)
        bad = bytearray(img)
        patch_size(bad, iloc, size)
        if not bad[iloc] & 1:
            size = min(size, (1 << 32) - 1)
        fs2 = mem_fs(fix_csum(bad))
        ino = fs2.lstat(rel)
        assert ino.size == size
        t = time.time()
        for pos in (0, size // 2, size - 5):
            try:
                got = fs2.read(ino, pos, 1 << 16)
                assert len(got) <= 1 << 16
            except DMError:
                pass
        assert time.time() - t < 5


def test_directory_pointing_at_root():
    img = load("plain")
    fs = mem_fs(img)
    deep = fs.lstat("/deep")
    blk = fs.read_data(deep, 0, deep.size)
    n = struct.unpack_from("<H", blk, 8)[0] // 12
    at = None
    for k in range(n):
        nid, off = struct.unpack_from("<QH", blk, 12 * k)
        end = struct.unpack_from("<H", blk, 12 * k + 20)[0] if k + 1 < n else len(blk)
        if blk[off:end].rstrip(b"\0") == b"a":
            at = k
    # /deep's inode is inline: patch its dirent for "a" to the root's nid.
    pos = deep.data_start() + 12 * at
    bad = bytearray(img)
    struct.pack_into("<Q", bad, pos, fs.sb.root_nid)
    fs2 = mem_fs(fix_csum(bad))
    assert set(fs2.listdir("/deep/a")) == set(fs.listdir("/"))
    assert fs2.open("/deep/a/deep/a/deep/a/one").read() == b"x"


# --- fuzzing: mutations of real images; only DMError may escape

FUZZ = ["plain", "chunk", "lz4", "lz4-ztail", "lz4-legacy", "lz4hc-big", "g-lz4-fragments",
        "g-lz4-dedupe"]


def exercise(fs, paths, rng):
    """Touch a sample of the tree through every call; DMError per call is fine."""
    ops = 0
    for rel in rng.sample(paths, min(len(paths), 40)):
        try:
            ino = fs.lstat(rel)
            if ino.is_dir():
                fs.listdir(rel)
            elif ino.is_lnk():
                fs.readlink(rel)
            elif ino.is_reg():
                with fs.open(rel) as f:
                    f.read(70000)
                    f.seek(max(0, ino.size - 5000) if ino.size < 1 << 40 else 123456)
                    f.read(5000)
        except DMError:
            pass
        ops += 1
    return ops


@pytest.mark.parametrize("name", FUZZ)
def test_fuzz(name):
    hyp = pytest.importorskip("hypothesis")
    st = hyp.strategies
    img = bytes(load(name))
    paths = walk(tree("small"))
    meta_end = min(len(img), 96 << 10)

    @hyp.settings(max_examples=int(os.environ.get("DMFW_FUZZ_EXAMPLES", "25")), deadline=None, database=None,
                  suppress_health_check=list(hyp.HealthCheck))
    @hyp.given(st.lists(st.tuples(st.integers(0, meta_end - 1), st.integers(1, 255)),
                        min_size=1, max_size=8),
               st.one_of(st.none(), st.integers(0, len(img))),
               st.booleans(), st.integers(0, 1 << 30))
    def run(flips, cut, csum, seed):
        bad = bytearray(img)
        for off, x in flips:
            bad[off] ^= x
        if csum:
            fix_csum(bad)
        if cut is not None:
            bad = bad[:cut]
        t = time.time()
        try:
            fs = mem_fs(bad)
        except DMError:
            return
        exercise(fs, paths, random.Random(seed))
        assert time.time() - t < 10

    run()


# --- MicroPython: the same bytes from the real interpreter

MP_SCRIPT = r"""
import sys, hashlib, binascii
from dmfw.blockdev import FileDevice
from dmfw.fs.erofs import ErofsFS
from dmfw.errors import DMError
fs = ErofsFS(FileDevice(sys.argv[1], readonly=True))
def walk(d):
    for name, ino in sorted(fs.scandir(d)):
        p = d.rstrip("/") + "/" + name
        if ino.is_dir():
            print("D", p, ino.mode, ino.nlink)
            walk(p)
        elif ino.is_reg():
            h = hashlib.sha256()
            f = fs.open(p)
            while True:
                b = f.read(8192)
                if not b:
                    break
                h.update(b)
            print("F", p, ino.mode, ino.size, binascii.hexlify(h.digest()).decode())
        elif ino.is_lnk():
            print("L", p, fs.readlink(p))
        else:
            print("N", p, ino.mode, ino.rdev_major, ino.rdev_minor)
walk("/")
print("DONE")
"""


def expected_listing(name):
    root = tree("small")
    out = []
    for rel in walk(root)[1:]:
        if rel.lstrip("/") in E.missing(name):
            continue
        st, data, target = expected(root, rel)
        if stat.S_ISDIR(st.st_mode):
            out.append("D %s %d %d" % (rel, st.st_mode, st.st_nlink))
        elif data is not None:
            out.append("F %s %d %d %s" % (rel, st.st_mode, len(data), sha(data)))
        elif target is not None:
            out.append("L %s %s" % (rel, target))
        else:
            out.append("N %s %d %d %d" % (rel, st.st_mode, os.major(st.st_rdev),
                                          os.minor(st.st_rdev)))
    return sorted(out)


@pytest.mark.micropython
@pytest.mark.parametrize("name", ["plain", "lz4-ztail"])
def test_micropython_reads_same(name, tmp_path):
    from shellrun import ROOT, micropython
    exe = micropython()
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("no micropython binary")
        pytest.skip("no micropython binary")
    for m in needs(name):
        # The module itself, not just something CPython can import under that name.
        if not os.path.exists(os.path.join(ROOT, "dmfw", "compress", m + ".py")):
            pytest.skip("dmfw/compress/%s.py is not there yet" % m)
    path = image(name)
    script = tmp_path / "walk.py"
    script.write_text(MP_SCRIPT)
    t = time.time()
    p = subprocess.run([exe, str(script), path], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, MICROPYPATH=ROOT), cwd=ROOT)
    assert p.stdout.endswith("DONE\n"), p.stdout[-2000:] + p.stderr
    lines = p.stdout.splitlines()[:-1]
    assert sorted(lines) == expected_listing(name)
    assert time.time() - t < 60
