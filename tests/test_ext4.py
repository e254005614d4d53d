# The ext2/ext3/ext4 reader against images made by the real mke2fs (-d from the
# images/fstree.py trees; e2fsck -D turns the big directories into htrees): every
# path's bytes and metadata equal the source tree's, blkid's TYPE/UUID/LABEL/
# BLOCK_SIZE, debugfs's inode numbers and hashes, the checksum and recovery
# images, and the same walk under the real MicroPython.

import hashlib
import os
import shutil
import stat
import subprocess

import pytest

from images import ext4 as img
from images.fstree import cached_image, expected, tree, walk
from shellrun import ROOT, micropython

from dmfw.blockdev import FileDevice
from dmfw.errors import DMError, FormatError

pytestmark = pytest.mark.skipif(shutil.which("mke2fs") is None, reason="no e2fsprogs")

# Full tree (12 MiB file, 3000-entry htree directory) for the main variants, the
# small tree for the feature variants (keeps the run short).
FULL = ("ext4-4k", "ext2-1k", "ext4-inline")
SMALL = tuple(v for v in img.VARIANTS if v not in FULL)


def open_fs(path):
    from dmfw.fs.ext4 import ExtFS
    return ExtFS(FileDevice(path, readonly=True))


def read_all(fs, path):
    from dmfw.fs.base import File
    h = hashlib.sha256()
    with (fs.open(path) if isinstance(path, str) else File(fs, path)) as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def check_tree(fs, root):
    n = 0
    for rel in walk(root):
        st, data, target = expected(root, rel)
        ino = fs.lstat(rel)
        assert ino.mode == st.st_mode, rel
        assert (ino.uid, ino.gid) == (st.st_uid, st.st_gid), rel
        assert ino.mtime == int(st.st_mtime), rel
        nlink = st.st_nlink + (1 if rel == "/" else 0)  # lost+found
        assert ino.nlink == nlink, rel
        if data is not None:
            assert ino.size == len(data), rel
            assert read_all(fs, ino) == hashlib.sha256(data).hexdigest(), rel
            n += 1
        elif target is not None:
            assert fs.read_link(ino) == target.encode(), rel
            assert ino.size == len(target.encode()), rel
        elif stat.S_ISDIR(st.st_mode):
            names = set(n.decode() for n, _ in fs.entries(ino))
            want = set(os.listdir(os.path.join(root, rel.lstrip("/"))))
            if rel == "/":
                want.add("lost+found")
            assert names == want, rel
        else:
            if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                assert (ino.rdev_major, ino.rdev_minor) == (os.major(st.st_rdev),
                                                            os.minor(st.st_rdev)), rel
            with pytest.raises(DMError):
                fs.read(ino, 0, 1)
    assert n > 20
    with pytest.raises(DMError):
        fs.open("/dev/fifo")
    assert fs.readlink("/links/dangling") == "nowhere/at/all"
    assert "entry-00007" in fs.listdir("/many")


def check_errors(fs, root):
    with pytest.raises(DMError) as e:
        fs.stat("/nonexistent/x")
    assert e.value.errno == 2
    with pytest.raises(DMError) as e:
        fs.stat("/links/loop-a")
    assert e.value.errno == 40
    with pytest.raises(DMError) as e:
        fs.listdir("/one")
    assert e.value.errno == 20
    with pytest.raises(DMError) as e:
        fs.open("/sub")
    assert e.value.errno == 21
    assert fs.lookup_child(fs.stat("/many"), b"entry-99999") is None
    assert fs.readlink("/links/short") == "../one"
    assert fs.open("/links/short").read() == b"x"
    assert fs.stat("/links/dir/d/e/f/g/h/file").size == 10
    # mke2fs -d keeps hard links as one inode.
    h = fs.stat("/hard/h1")
    assert h.ino == fs.stat("/hard/h2").ino == fs.stat("/sub/h3").ino and h.nlink == 3
    f = fs.open("/text.txt")
    f.seek(-10, 2)
    text = expected(root, "/text.txt")[1]
    assert f.read() == text[-10:]
    f.seek(1000)
    buf = bytearray(5000)
    assert f.readinto(buf) == 5000 and buf == text[1000:6000]


def blkid(path):
    out = subprocess.run(["blkid", "-p", "-o", "export", path], stdout=subprocess.PIPE,
                         text=True).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


@pytest.mark.parametrize("variant", FULL + SMALL)
def test_variant_equals_tree(variant):
    name = "full" if variant in FULL else "small"
    path = img.image(variant, name)
    fs = open_fs(path)
    b = blkid(path)
    assert fs.kind == b["TYPE"] == img.VARIANTS[variant][0]
    assert fs.uuid == b["UUID"] == img.UUID
    assert fs.label == b["LABEL"] == img.LABEL
    assert fs.block_size == int(b["BLOCK_SIZE"]) == img.VARIANTS[variant][1]
    assert fs.warning is None
    check_tree(fs, tree(name))
    check_errors(fs, tree(name))
    for d in ("/", "/dev", "/perms", "/hard"):
        assert debugfs_ls(path, d) == set(
            (n, i.ino, i.mode, i.uid, i.gid, i.size if not i.is_dir() else 0)
            for n, i in fs.scandir(d)), d


def debugfs_ls(path, d):
    """{(name, ino, mode, uid, gid, size)} from `debugfs -R "ls -l DIR"` (directory
    sizes left out: they are block counts, not comparable across tools)."""
    out = set()
    for line in img.debugfs(path, "ls -l " + d).splitlines():
        p = line.split()
        if len(p) < 9 or p[-1] in (".", ".."):
            continue
        mode = int(p[1], 8)
        size = 0 if stat.S_ISDIR(mode) else int(p[5].rstrip(","))
        out.add((p[-1], int(p[0]), mode, int(p[3]), int(p[4]), size))
    return out


def inode_tables(path):
    """[inode table block of each group] as dumpe2fs prints them."""
    out = subprocess.run(["dumpe2fs", path], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True).stdout
    return [int(line.split("Inode table at ")[1].split("-")[0])
            for line in out.splitlines() if "Inode table at " in line]


@pytest.mark.parametrize("variant", ["ext4-metabg", "ext2-groups", "ext4-no64", "ext4-4k"])
def test_group_descriptors_match_dumpe2fs(variant):
    path = img.image(variant, "small")
    fs = open_fs(path)
    want = inode_tables(path)
    assert fs.sb.groups == len(want)
    assert [fs.sb.group_desc(g)[0] for g in range(fs.sb.groups)] == want
    if variant == "ext4-metabg":
        assert fs.sb.groups > 2 * fs.sb.descs_per_block and fs.sb.first_meta_bg == 0
        assert fs.sb._desc_block(2) != fs.sb.first_data_block + 3


def test_htree_lookups_match_debugfs():
    """/many is an htree (e2fsck -D): every name resolves through the index to the
    inode number debugfs lists, including after hash collisions across leaves."""
    path = img.image("ext4-1k", "full")
    fs = open_fs(path)
    d = fs.stat("/many")
    assert d.flags & 0x1000
    out = img.debugfs(path, "ls -l /many")
    want = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 9 and parts[-1].startswith("entry-"):
            want[parts[-1]] = int(parts[0])
    assert len(want) == 3000
    for name, ino in want.items():
        assert fs.lookup_child(d, name.encode()).ino == ino
    assert dict((n, i.ino) for n, i in fs.scandir("/many")) == want


def test_hashes_match_debugfs():
    from dmfw.fs.ext4.dirhash import dirhash
    import struct
    import uuid
    path = img.image("ext4-4k", "small")
    seed = struct.unpack("<4I", uuid.UUID(img.HASH_SEED).bytes)
    names = [b"a", b"entry-00123", "h\u00e9llo-\u540d\u524d".encode(), b"y" * 32,
             b"z" * 33, b"n" * 255, bytes(range(128, 160))]
    for alg in range(6):
        for n in names:
            for s, words in ((img.HASH_SEED, seed), (None, None)):
                arg = b"dx_hash -h %d %s %s" % (alg, b"-s " + s.encode() if s else b"", n)
                out = subprocess.run([b"debugfs", b"-R", arg, path.encode()],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
                want = int(out.stdout.split(b"is 0x")[1].split()[0], 16)
                assert dirhash(n, alg, words) == want, (alg, n)


def _deep_htree(p):
    """A 1 KiB-block directory with 1500 200-byte names: a two-level htree."""
    src = p + ".tree"
    shutil.rmtree(src, ignore_errors=True)
    os.makedirs(os.path.join(src, "big"))
    for i in range(1500):
        with open(os.path.join(src, "big", "%04d-%s" % (i, "x" * 195)), "wb") as f:
            f.write(b"%d\n" % i)
    try:
        img.mke2fs(p, src, "ext4", 1024, [], size_kb=16384)
    finally:
        shutil.rmtree(src)


def test_two_level_htree():
    path = cached_image("ext-deepdx", {"n": 1500, "v": 1}, _deep_htree)
    out = img.debugfs(path, "htree /big")
    assert "Indirect levels: 1" in out
    fs = open_fs(path)
    d = fs.stat("/big")
    for i in range(0, 1500, 7):
        name = "%04d-%s" % (i, "x" * 195)
        assert fs.open("/big/" + name).read() == b"%d\n" % i
        assert fs.lookup_child(d, (name + "y").encode()) is None
    assert len(fs.listdir("/big")) == 1500


def _sparse_tree_image(p):
    """ext2, 1 KiB blocks: a sparse file whose data sits in the triple-indirect range
    (past 12 + 256 + 65536 blocks), plus unwritten extents on ext4 (debugfs fallocate)."""
    src = p + ".tree"
    shutil.rmtree(src, ignore_errors=True)
    os.makedirs(src)
    with open(os.path.join(src, "far"), "wb") as f:
        f.seek(80 << 20)
        f.write(b"far away\n" * 300)
        f.seek(3 << 20)
        f.write(b"middle")
    try:
        img.mke2fs(p, src, "ext2", 1024, [], size_kb=8192)
    finally:
        shutil.rmtree(src)


def test_triple_indirect_and_holes():
    path = cached_image("ext-triple", {"v": 1}, _sparse_tree_image)
    fs = open_fs(path)
    assert fs.kind == "ext2"
    f = fs.open("/far")
    assert fs.stat("/far").size == (80 << 20) + 2700
    f.seek(80 << 20)
    assert f.read() == b"far away\n" * 300
    f.seek((3 << 20) - 2)
    assert f.read(10) == b"\0\0middle\0\0"
    f.seek(1000)
    assert f.read(5000) == bytes(5000)


def test_unwritten_extents_read_as_zeros(tmp_path):
    src = img.image("ext4-4k", "small")
    p = str(tmp_path / "u.img")
    shutil.copy(src, p)
    # Allocate unwritten blocks over sparse.img's holes and past its end.
    img.run(["debugfs", "-w", "-R", "fallocate /sparse.img 0 100", p])
    st = img.debugfs(p, "stat /sparse.img")
    # "(ETB0):1737, (0-15[u]):1638-1653, (16):1624, ...": garbage in an unwritten
    # extent's blocks must still read as zeros.
    assert "[u]):" in st and "(ETB0)" in st
    phys = int(st.split("[u]):")[1].split("-")[0])
    with open(p, "r+b") as f:
        f.seek(phys * 4096)
        f.write(b"\xff" * 4096)
    fs = open_fs(p)
    root = tree("small")
    assert read_all(fs, "/sparse.img") == hashlib.sha256(
        expected(root, "/sparse.img")[1]).hexdigest()


def test_huge_sizes_and_high_ids(tmp_path):
    src = img.image("ext4-4k", "small")
    p = str(tmp_path / "h.img")
    shutil.copy(src, p)
    img.run(["debugfs", "-w", "-R", "sif /one size 0x10000000000", p])
    img.run(["debugfs", "-w", "-R", "sif /text.txt size 0xffffffffffffff", p])
    img.run(["debugfs", "-w", "-R", "sif /perms/user uid_hi 2", p])
    img.run(["debugfs", "-w", "-R", "sif /perms/user gid_hi 3", p])
    fs = open_fs(p)
    u = fs.stat("/perms/user")
    assert (u.uid, u.gid) == (2 * 65536 + 1000, 3 * 65536 + 1000)
    assert "User: 132072   Group: 197608" in img.debugfs(p, "stat /perms/user")
    f = fs.open("/one")
    assert f.read(3) == b"x\0\0"
    f.seek((1 << 40) - 4)
    assert f.read(100) == bytes(4)
    with pytest.raises(FormatError) as e:
        fs.stat("/text.txt")
    assert "inode" in str(e.value)


def test_needs_recovery_warning():
    path = img.recover_image()
    fs = open_fs(path)
    assert fs.warning == "ext4: needs journal recovery; reading without replaying it"
    assert "needs_recovery" in subprocess.run(["dumpe2fs", "-h", path],
                                              stdout=subprocess.PIPE,
                                              stderr=subprocess.DEVNULL, text=True).stdout
    check_tree(fs, tree("small"))


def _imap(path, fspath):
    out = img.debugfs(path, "imap " + fspath)
    # "Inode 12 is part of block group 0\n\tlocated at block 1058, offset 0x0b00"
    blk = int(out.split("located at block")[1].split(",")[0])
    off = int(out.split("offset")[1].split()[0], 16)
    return blk, off


@pytest.mark.parametrize("variant", ["ext4-4k", "ext4-1k"])
def test_bad_inode_checksum_names_inode(tmp_path, variant):
    src = img.image(variant, "small")
    p = str(tmp_path / "c.img")
    shutil.copy(src, p)
    ino = img.inode_of(p, "/text.txt")
    blk, off = _imap(p, "/text.txt")
    bs = img.VARIANTS[variant][1]
    with open(p, "r+b") as f:
        f.seek(blk * bs + off + 0x10)  # i_mtime
        b = f.read(1)
        f.seek(blk * bs + off + 0x10)
        f.write(bytes([b[0] ^ 1]))
    fs = open_fs(p)
    with pytest.raises(FormatError) as e:
        fs.open("/text.txt")
    assert str(e.value) == "ext4: inode %d: checksum mismatch" % ino
    assert fs.open("/one").read() == b"x"
    # Without metadata_csum the same flip is just another mtime.
    src = img.image("ext4-nocsum", "small")
    shutil.copy(src, p)
    blk, off = _imap(p, "/text.txt")
    with open(p, "r+b") as f:
        f.seek(blk * 4096 + off + 0x10)
        f.write(b"\1\0\0\0")
    assert open_fs(p).stat("/text.txt").mtime & 0xFF == 1


def test_bad_superblock_and_features(tmp_path):
    src = img.image("ext4-1k", "small")
    p = str(tmp_path / "b.img")
    shutil.copy(src, p)
    with open(p, "r+b") as f:
        data = bytearray(f.read(4096))
    import struct
    from dmfw.fs.ext4.csum import crc32c
    sb = data[1024:2048]
    inc = struct.unpack_from("<I", sb, 0x60)[0]
    struct.pack_into("<I", sb, 0x60, inc | 0x800000)
    struct.pack_into("<I", sb, 0x3FC, crc32c(bytes(sb[:0x3FC])))
    with open(p, "r+b") as f:
        f.seek(1024)
        f.write(sb)
    with pytest.raises(FormatError) as e:
        open_fs(p)
    assert "0x800000" in str(e.value)
    with open(p, "r+b") as f:
        f.seek(1024 + 0x3FC)
        f.write(b"\0\0\0\0")
    with pytest.raises(FormatError) as e:
        open_fs(p)
    assert "superblock checksum" in str(e.value)
    with open(p, "r+b") as f:
        f.truncate(100000)
    with pytest.raises(FormatError):
        open_fs(p)


def test_kind_rules():
    from dmfw.fs.ext4.super import Super

    class S(Super):
        def __init__(self, compat, incompat, ro, flags=0):
            self.compat, self.incompat, self.ro_compat, self.flags = compat, incompat, ro, flags
    assert S(0, 0x2, 0x3).kind() == "ext2"
    assert S(0x4, 0x2, 0x3).kind() == "ext3"
    assert S(0x4, 0x6, 0x3).kind() == "ext3"
    assert S(0x4, 0x42, 0x3).kind() == "ext4"
    assert S(0, 0x2, 0x8).kind() == "ext4"
    assert S(0x4, 0x2, 0x3, 0x4).kind() == "ext4dev"


MP_WALK = r"""
import sys, hashlib, binascii
from dmfw.blockdev import FileDevice
from dmfw.fs.ext4 import ExtFS
fs = ExtFS(FileDevice(sys.argv[1], readonly=True))
print(fs.kind, fs.uuid, fs.label, fs.block_size)
def walk(p):
    for name, ino in fs.scandir(p):
        q = p.rstrip("/") + "/" + name
        if ino.is_dir():
            print(q, "d", ino.mode, ino.nlink)
            walk(q)
        elif ino.is_reg():
            f = fs.open(q)
            h = hashlib.sha256()
            while True:
                b = f.read(65536)
                if not b:
                    break
                h.update(b)
            print(q, ino.mode, ino.size, ino.uid, ino.gid, ino.mtime,
                  binascii.hexlify(h.digest()).decode())
        elif ino.is_lnk():
            print(q, "->", fs.readlink(q))
        else:
            print(q, ino.mode, ino.rdev_major, ino.rdev_minor)
walk("/")
print(fs.stat("/many/entry-00123").size)
f = fs.open("/text.txt")
f.seek(1001)
a = f.read(5003)
f.seek(4095)
print(len(a), a[-20:], f.read(3), fs.warning)
"""


@pytest.mark.micropython
@pytest.mark.skipif(micropython() is None and not os.environ.get("CI"),
                    reason="no micropython binary")
@pytest.mark.parametrize("variant", ["ext4-4k", "ext2-1k", "ext4-inline"])
def test_micropython_walk_equals_cpython(tmp_path, variant):
    import sys
    path = img.image(variant, "small")
    script = str(tmp_path / "walk.py")
    with open(script, "w") as f:
        f.write(MP_WALK)
    env = dict(os.environ, MICROPYPATH=ROOT, PYTHONPATH=ROOT)
    cp = subprocess.run([sys.executable, script, path], capture_output=True, text=True,
                        env=env, timeout=120)
    mp = subprocess.run([micropython(), script, path], capture_output=True, text=True,
                        env=env, timeout=120)
    assert cp.returncode == 0, cp.stderr
    assert mp.returncode == 0, mp.stderr
    assert cp.stdout.count("\n") > 300
    assert mp.stdout == cp.stdout


def test_encrypted_refused_casefold_scanned(tmp_path):
    src = img.image("ext4-casefold", "full")
    p = str(tmp_path / "e.img")
    shutil.copy(src, p)
    fs = open_fs(p)
    flags_one = fs.stat("/one").flags
    flags_many = fs.stat("/many").flags
    assert flags_many & 0x1000
    img.run(["debugfs", "-w", "-R", "sif /one flags 0x%x" % (flags_one | 0x800), p])
    img.run(["debugfs", "-w", "-R", "sif /many flags 0x%x" % (flags_many | 0x40000000), p])
    fs = open_fs(p)
    with pytest.raises(DMError) as e:
        fs.open("/one").read()
    assert e.value.errno == 95 and "inode %d: encrypted" % fs.lstat("/one").ino in str(e.value)
    # A casefolded htree is hashed with the folded name: looked up by scanning.
    assert fs.open("/many/entry-02999").read() == expected(tree("full"),
                                                           "/many/entry-02999")[1]
    assert fs.lookup_child(fs.stat("/many"), b"ENTRY-02999") is None


def test_one_read_is_bounded(tmp_path):
    """A file claiming 16 TiB of holes: read(ino, 0, size) returns a bounded chunk,
    the stream goes on from there."""
    from dmfw.fs.ext4 import MAX_READ
    src = img.image("ext4-4k", "small")
    p = str(tmp_path / "h.img")
    shutil.copy(src, p)
    img.run(["debugfs", "-w", "-R", "sif /one size 0xfffffff0000", p])
    fs = open_fs(p)
    ino = fs.stat("/one")
    assert ino.size == 0xfffffff0000
    b = fs.read(ino, 0, ino.size)
    assert len(b) == MAX_READ and b[:2] == b"x\0" and not any(b[1:])
    f = fs.open("/one")
    buf = bytearray(MAX_READ + 100)
    assert f.readinto(buf) == len(buf) and f.tell() == len(buf)


@pytest.mark.parametrize("variant", ["ext4-4k", "ext2-1k", "ext4-inline"])
def test_blocks_and_readinto(variant):
    """st_blocks as debugfs's Blockcount (plus, for inline-data files, their bytes in
    sectors, as ext4_file_getattr() reports them: the guest's kernel agrees); readinto
    fills holes of a dirty buffer."""
    path = img.image(variant, "small")
    fs = open_fs(path)
    for p in ("/big.bin", "/sparse.img", "/one", "/zeros", "/links/long", "/many"):
        ino = fs.lstat(p)
        got = ino.blocks if ino.blocks is not None else (ino.size + 511) >> 9
        want = int(img.debugfs(path, "stat " + p).split("Blockcount: ")[1].split()[0])
        if ino.is_reg() and ino.flags & 0x10000000:         # EXT4_INLINE_DATA_FL
            want += (ino.size + 511) >> 9
        assert got == want, p
    data = expected(tree("small"), "/sparse.img")[1]
    ino = fs.stat("/sparse.img")
    buf = bytearray(b"\xa5" * (len(data) + 10))
    assert fs.readinto(ino, 0, memoryview(buf)) == len(data)
    assert buf[:len(data)] == data and buf[len(data):] == b"\xa5" * 10
    buf = bytearray(b"\xa5" * 100)
    assert fs.readinto(fs.stat("/one"), 0, memoryview(buf)) == 1 and buf[:2] == b"x\xa5"
