# dmfw's FAT reader (the same on CPython and MicroPython, behind dmfw/fs/base.py)
# against file systems made by mkfs.vfat and filled by mtools, for each FAT
# width; and under MicroPython against the port's own FatFs (vfs.VfsFat).

import hashlib
import os
import shutil
import subprocess

import pytest

from dmfw.blockdev import FileDevice, MemoryDevice
from dmfw.errors import DMError, FormatError
from dmfw.fs.fat import FatFS
from images.fat import make_fat, mtools_env
from images.ddi import content_stream

if not (shutil.which("mkfs.vfat") and shutil.which("mcopy")):
    pytest.skip("needs dosfstools and mtools", allow_module_level=True)

ENV = mtools_env()


_blob = content_stream


FILES = {
    "README": b"plain 8.3 upper-case name\n",
    "lower.txt": b"lower-case 8.3 name (NT case bits)\n",
    "Mixed Case Long Name.Data": _blob("mixed", 5000),
    "dir/sub dir/deep-file.bin": _blob("deep", 70000),
    "dir/empty": b"",
    "many/" + "f%03d.txt" % 0: b"0",
}
# Enough entries to spill a directory over several clusters.
for _i in range(1, 90):
    FILES["many/f%03d-with-a-long-name.txt" % _i] = ("%d\n" % _i).encode()


def mtools_tree(path):
    """name -> size for every file, as mtools lists it."""
    out = subprocess.run(["mdir", "-/", "-b", "-i", path, "::/"], check=True,
                         capture_output=True, text=True, env=ENV).stdout
    return sorted(l[2:] for l in out.splitlines() if not l.endswith("/"))


def walk(fs, path="/"):
    out = []
    for name, ino in fs.scandir(path):
        p = path.rstrip("/") + "/" + name
        if ino.is_dir():
            out.append(p + "/")
            out.extend(walk(fs, p))
        else:
            out.append(p)
    return out


@pytest.fixture(scope="module", params=[(12, 4096, None), (16, 20480, 1),
                                        (32, 40960, 1), (32, 307200, 8)])
def fat(request, tmp_path_factory):
    bits, kb, cl = request.param
    path = str(tmp_path_factory.mktemp("fat") / ("fat%d.img" % bits))
    make_fat(path, kb, FILES, bits=bits, label="T%d" % bits, cluster=cl)
    return bits, path


def test_kind_and_tree(fat):
    bits, path = fat
    fs = FatFS(FileDevice(path, readonly=True))
    assert fs.kind == "vfat" and fs.version == "FAT%d" % bits
    assert fs.label == "T%d" % bits
    mine = sorted(p for p in walk(fs) if not p.endswith("/"))
    assert mine == mtools_tree(path)
    assert sorted(p[1:] for p in mine) == sorted(FILES)


def test_content_and_case(fat):
    bits, path = fat
    fs = FatFS(FileDevice(path, readonly=True))
    for name, data in FILES.items():
        with fs.open(name) as f:
            assert f.read() == data
        assert fs.open(name.upper()).read() == data
    f = fs.open("dir/sub dir/deep-file.bin")
    buf = bytearray(3000)
    got = b""
    while True:
        n = f.readinto(buf)
        if not n:
            break
        got += bytes(buf[:n])
    assert got == FILES["dir/sub dir/deep-file.bin"]


def test_errors(fat):
    bits, path = fat
    fs = FatFS(FileDevice(path, readonly=True))
    assert fs.stat("dir").is_dir() and fs.stat("README").size == len(FILES["README"])
    with pytest.raises(DMError, match="no such file"):
        fs.open("nope")
    with pytest.raises(DMError, match="is a directory"):
        fs.open("dir")
    with pytest.raises(DMError, match="not a directory"):
        fs.listdir("README")
    with pytest.raises(DMError, match="not a directory"):
        fs.open("README/x")


def test_not_fat():
    with pytest.raises(FormatError):
        FatFS(MemoryDevice(1 << 20))


def test_loop_in_chain(tmp_path):
    # A FAT entry pointing back at itself: reported, not followed forever.
    path = str(tmp_path / "f.img")
    make_fat(path, 4096, {"big.bin": _blob("x", 20000)}, bits=12, label="T12")
    fs = FatFS(FileDevice(path))
    e = fs.stat("big.bin")
    c = e.cluster
    off = fs.fat_start + c + (c >> 1)
    with open(path, "r+b") as f:
        f.seek(off)
        v = int.from_bytes(f.read(2), "little")
        v = (v & 0x000F) | (c << 4) if c & 1 else (v & 0xF000) | c
        f.seek(off)
        f.write(v.to_bytes(2, "little"))
    with pytest.raises(FormatError, match="loops|shorter"):
        FatFS(FileDevice(path, readonly=True)).open("big.bin").read()


@pytest.mark.micropython
def test_micropython_reader_agrees_with_vfsfat(fat):
    # Under MicroPython, dmfw's reader and the port's own FatFs (vfs.VfsFat, the
    # oracle) list the same tree with the same checksums.
    from shellrun import micropython, ROOT
    if micropython() is None:
        pytest.skip("no micropython")
    bits, path = fat
    prog = ("from dmfw.blockdev import FileDevice\nfrom dmfw.fs import open_fs\n"
            "import hashlib, binascii, vfs\n"
            "dev = FileDevice(%r, readonly=True)\n"
            "fs = open_fs(dev)\nref = vfs.VfsFat(dev)\n"
            "def walk(p, ls, isdir, opener, tag):\n"
            "    for n, d in sorted(ls(p)):\n"
            "        q = p.rstrip('/') + '/' + n\n"
            "        if d:\n            walk(q, ls, isdir, opener, tag)\n"
            "        else:\n"
            "            h = hashlib.sha256(opener(q).read()).digest()\n"
            "            print(tag, q, binascii.hexlify(h).decode())\n"
            "walk('/', lambda p: [(n, i.is_dir()) for n, i in fs.scandir(p)], None,\n"
            "     lambda q: fs.open(q), 'dmfw')\n"
            "walk('/', lambda p: [(e[0], e[1] == 0x4000) for e in ref.ilistdir(p)], None,\n"
            "     lambda q: ref.open(q, 'rb'), 'vfat')\n") % path
    p = subprocess.run([micropython(), "-c", prog], capture_output=True, text=True,
                       env=dict(os.environ, MICROPYPATH=ROOT), cwd=ROOT, timeout=120)
    lines = p.stdout.splitlines()
    want = sorted("/%s %s" % (n, hashlib.sha256(d).hexdigest()) for n, d in FILES.items())
    mine = sorted(l.split(" ", 1)[1] for l in lines if l.startswith("dmfw "))
    ref = sorted(l.split(" ", 1)[1] for l in lines if l.startswith("vfat "))
    assert mine == want, p.stdout + p.stderr
    assert ref == want
