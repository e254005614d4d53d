"""Fuzzing what dmfw.boot.entries reads from an untrusted OS image: BLS entry text,
extlinux configs (INCLUDE loops), UKI PE headers and device trees. Only warnings or
dmfw's FormatError may come out, in bounded time; deterministic seeds."""
import os
import random
import shutil
import struct
import subprocess
import time

import pytest

from dmfw.boot import fdt
from dmfw.boot.entries import find_entries, uki, Blob
from dmfw.errors import DMError, FormatError
from dmfw.fs.base import FileSystem, Inode, S_IFDIR, S_IFREG

STUB = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub"


class MemFS(FileSystem):
    """A read-only file system over {"/path": bytes}; directories are implied."""
    kind = "mem"

    def __init__(self, files):
        self.files = files
        self.nodes = {}

    def _node(self, path):
        ino = self.nodes.get(path)
        if ino is None:
            ino = Inode()
            ino.path = path
            if path in self.files:
                ino.mode = S_IFREG | 0o644
                ino.size = len(self.files[path])
            else:
                ino.mode = S_IFDIR | 0o755
            self.nodes[path] = ino
        return ino

    def root(self):
        return self._node("")

    def entries(self, d):
        pre = d.path + "/"
        seen = []
        for p in self.files:
            if p.startswith(pre):
                name = p[len(pre):].split("/")[0]
                if name not in seen:
                    seen.append(name)
                    yield name.encode(), self._node(pre + name)

    def read(self, ino, pos, n):
        return self.files[ino.path][pos:pos + n]


def _mutate(rng, data, n=None):
    b = bytearray(data)
    for _ in range(n or rng.randint(1, 8)):
        op = rng.randint(0, 3)
        i = rng.randrange(len(b) + 1)
        if op == 0 and b:
            b[min(i, len(b) - 1)] = rng.randrange(256)
        elif op == 1:
            b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 6)))
        elif op == 2:
            del b[i:i + rng.randint(1, 16)]
        else:
            b[i:i] = rng.choice([b"\n", b" ", b"+", b"-", b"#", b",", b"\0", b"\"",
                                 b"INCLUDE x.conf\n", b"LABEL ", b"linux ", b"efi "])
    return bytes(b)


def _run(files, compatible=("vendor,b",)):
    warns = []
    out = find_entries(MemFS(files), "x86-64", list(compatible), warns.append)
    for e in out:
        assert e.kernel is not None and isinstance(e.kernel, Blob)
        assert isinstance(e.options, str)
    return out, warns


BLS = (b"title T\nversion 1.2~rc1\nsort-key os\nlinux /k\ninitrd /i\ninitrd /i2\n"
       b"options a=b\noptions c\ndevicetree /d\ndevicetree-overlay /o1 /o2\n"
       b"architecture x64\nmachine-id 00\n")
BASE = {"/k": b"kernel", "/i": b"initrd", "/i2": b"x", "/d": b"dtb"}


def test_bls_text():
    rng = random.Random(1401)
    t = time.time()
    found = warned = 0
    for n in range(300):
        files = dict(BASE)
        files["/loader/entries/e%d+%d-%d.conf" % (n, n % 3, n % 2)] = _mutate(rng, BLS)
        files["/loader/entries/z.conf"] = _mutate(rng, BLS, 20)
        out, warns = _run(files)
        found += len(out)
        warned += len(warns)
    assert found > 30 and warned > 30       # both paths were taken
    assert time.time() - t < 5


EXT = (b"DEFAULT b\nINCLUDE inc.conf\nLABEL a\n KERNEL /k\n INITRD /i,/i2\n"
       b" APPEND initrd=/i x=y\n FDTDIR /dtbs\nLABEL b\n MENU LABEL B\n MENU DEFAULT\n"
       b" LINUX k\n FDT /d\n FDTOVERLAYS /o1 /o2\n")


def test_extlinux_text_and_include_loops():
    rng = random.Random(1402)
    t = time.time()
    found = loops = 0
    for n in range(200):
        files = dict(BASE)
        files["/boot/extlinux/k"] = b"k"
        files["/boot/extlinux/extlinux.conf"] = _mutate(rng, EXT)
        files["/boot/extlinux/inc.conf"] = _mutate(rng, b"INCLUDE x.conf\nLABEL c\nKERNEL /k\n")
        files["/boot/extlinux/x.conf"] = _mutate(rng, b"INCLUDE inc.conf\nINCLUDE x.conf\n")
        files["/boot/syslinux/syslinux.conf"] = b"INCLUDE syslinux.conf\n" * 4
        out, warns = _run(files)
        found += len([e for e in out if e.kind == "extlinux"])
        loops += len([w for w in warns if "nesting" in w or "INCLUDEs" in w])
    assert found > 3 and loops >= 200
    assert time.time() - t < 10


def _uki_bytes(tmp_path):
    if not (shutil.which("objcopy") and os.path.exists(STUB)):
        pytest.skip("needs objcopy and systemd-boot-efi")
    for name, data in (("osrel", b"ID=x\nVERSION_ID=1\n"), ("cmdline", b"quiet\n"),
                       ("k", b"K" * 700), ("i", b"I" * 300)):
        (tmp_path / name).write_bytes(data)
    out = tmp_path / "u.efi"
    subprocess.run(["objcopy",
                    "--add-section", ".osrel=%s" % (tmp_path / "osrel"),
                    "--change-section-vma", ".osrel=0x20000",
                    "--add-section", ".cmdline=%s" % (tmp_path / "cmdline"),
                    "--change-section-vma", ".cmdline=0x30000",
                    "--add-section", ".linux=%s" % (tmp_path / "k"),
                    "--change-section-vma", ".linux=0x2000000",
                    "--add-section", ".initrd=%s" % (tmp_path / "i"),
                    "--change-section-vma", ".initrd=0x3000000", STUB, str(out)], check=True)
    return out.read_bytes()


def _parse_uki(data):
    fs = MemFS({"/EFI/Linux/u.efi": data})
    try:
        e = uki.parse(fs, "/EFI/Linux/u.efi", "x64")
    except FormatError:
        return None
    if e is not None:
        for b in [e.kernel] + e.initrds:
            assert b.offset + b.size <= len(data)
    return e


def test_uki_headers(tmp_path):
    data = _uki_bytes(tmp_path)
    assert _parse_uki(data).kernel.read(MemFS({"/EFI/Linux/u.efi": data}), 1000) == b"K" * 700
    lfanew = struct.unpack_from("<I", data, 0x3C)[0]
    nsect = struct.unpack_from("<H", data, lfanew + 6)[0]
    table = lfanew + 24 + struct.unpack_from("<H", data, lfanew + 20)[0]
    hdr_end = table + 40 * nsect
    rng = random.Random(1403)
    ok = 0
    for n in range(400):
        b = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(hdr_end)
            b[i] = rng.randrange(256)
        ok += _parse_uki(bytes(b)) is not None
    assert 20 < ok < 400
    # every truncation of the headers
    for cut in range(0, hdr_end + 64, 7):
        _parse_uki(data[:cut])
    # lying headers: thousands of sections; a section past EOF; overlapping sections
    b = bytearray(data)
    struct.pack_into("<H", b, lfanew + 6, 5000)
    with pytest.raises(FormatError, match="5000 sections"):
        uki.parse(MemFS({"/u": bytes(b)}), "/u")
    sec = {bytes(data[table + 40 * i:table + 40 * i + 8]).rstrip(b"\0"): table + 40 * i
           for i in range(nsect)}
    b = bytearray(data)
    struct.pack_into("<I", b, sec[b".linux"] + 20, len(data) - 10)
    with pytest.raises(FormatError, match="past the end"):
        uki.parse(MemFS({"/u": bytes(b)}), "/u")
    b = bytearray(data)
    roff = struct.unpack_from("<I", data, sec[b".linux"] + 20)[0]
    struct.pack_into("<I", b, sec[b".initrd"] + 20, roff + 8)
    with pytest.raises(FormatError, match="overlap"):
        uki.parse(MemFS({"/u": bytes(b)}), "/u")
    # through find_entries: one warning, no entry
    out, warns = _run({"/EFI/Linux/u.efi": bytes(b)})
    assert out == [] and len(warns) == 1 and "overlap" in warns[0]


def _dtb(tmp_path):
    if not shutil.which("dtc"):
        pytest.skip("needs dtc")
    src = tmp_path / "t.dts"
    src.write_text('/dts-v1/;\n/ { model = "M"; compatible = "vendor,b", "vendor,soc";\n'
                   '  chosen { bootargs = "x"; }; };\n')
    out = tmp_path / "t.dtb"
    subprocess.run(["dtc", "-q", "-O", "dtb", "-o", str(out), str(src)], check=True)
    return out.read_bytes()


def test_device_trees(tmp_path):
    data = _dtb(tmp_path)
    assert fdt.parse(data) == (["vendor,b", "vendor,soc"], "M")
    rng = random.Random(1404)
    t = time.time()
    for n in range(500):
        m = _mutate(rng, data) if n % 2 else bytearray(data)
        if not n % 2:
            for _ in range(rng.randint(1, 4)):
                m[rng.randrange(len(m))] = rng.randrange(256)
        try:
            c, model = fdt.parse(bytes(m))
            assert c and all(isinstance(s, str) for s in c)
        except FormatError:
            pass
        # and through FDTDIR: warnings only
        _run({"/k": b"k", "/dtbs/v/t.dtb": bytes(m),
              "/boot/extlinux/extlinux.conf": b"LABEL a\nKERNEL /k\nFDTDIR /dtbs\n"})
    for cut in range(0, len(data), 5):
        with pytest.raises(FormatError):
            fdt.parse(data[:cut])
    assert time.time() - t < 10


def test_io_errors_of_the_device_propagate():
    class Failing(MemFS):
        def read(self, ino, pos, n):
            raise DMError(5, "I/O error")
    fs = Failing({"/loader/entries/a.conf": BLS, "/k": b"k"})
    with pytest.raises(DMError, match="I/O error"):
        find_entries(fs, "x86-64")
