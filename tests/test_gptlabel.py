"""GPT partition renames (dmfw.disk.gptlabel, the boot counter on DPS disks) against
sgdisk and sfdisk: the bytes equal `sgdisk -c` on the same disk (512- and 4096-byte
sectors), refusals write nothing, and a power cut at every write leaves a disk that
Linux's reading (sfdisk) and dmfw's agree on, with the old or the new name, which the
next rename turns into a clean GPT again (`sgdisk -v`)."""
import json
import os
import shutil
import subprocess

import pytest

from dmfw.blockdev import FileDevice
from dmfw.disk.gpt import read_gpt
from dmfw.disk.gptlabel import set_partition_name
from dmfw.errors import DMError, IOFailure

pytestmark = pytest.mark.skipif(shutil.which("sgdisk") is None or os.geteuid() != 0,
                                reason="needs sgdisk and root (4K loop devices)")

OLD = "infix_25.01.0+3"


class Loop:
    """A loop device over an image with the given logical sector size, so sgdisk
    and sfdisk see 4096-byte sectors as on a 4Kn disk."""

    def __init__(self, path, ss):
        self.dev = subprocess.check_output(["losetup", "-f", "--show", "-b", str(ss), path],
                                           text=True).strip()

    def __enter__(self):
        return self.dev

    def __exit__(self, *a):
        subprocess.run(["losetup", "-d", self.dev])


def _make(path, ss):
    with open(path, "wb") as f:
        f.truncate(8 << 20 if ss == 512 else 32 << 20)
    with Loop(path, ss) as dev:
        subprocess.run(["sgdisk", "-n", "1:0:+1M", "-c", "1:root-a", "-n", "2:0:+1M",
                        "-c", "2:" + OLD, "-n", "3:0:+1M", dev],
                       check=True, capture_output=True)


def _tool(path, ss, *cmd):
    with Loop(path, ss) as dev:
        return subprocess.run(list(cmd) + [dev], capture_output=True, text=True)


def _names(path, ss):
    # sfdisk reads as Linux does: the primary when valid, else the backup.
    p = _tool(path, ss, "sfdisk", "--json")
    assert p.returncode == 0, p.stderr
    return [e.get("name", "") for e in json.loads(p.stdout)["partitiontable"]["partitions"]]


def _dmfw_names(path, ss):
    d = FileDevice(path, readonly=True, logical_block_size=ss)
    try:
        return [p.name for p in read_gpt(d).partitions]
    finally:
        d.close()


def _rename(path, ss, partno, name, budget=None):
    d = Cut(path, ss, budget)
    try:
        set_partition_name(d, partno, name)
    finally:
        d.close()


class Cut(FileDevice):
    """Writes stop with EIO once `budget` writes are spent (None: never)."""

    def __init__(self, path, ss, budget):
        FileDevice.__init__(self, path, logical_block_size=ss)
        self.budget = budget
        self.writes = 0

    def _write(self, sector, mv):
        if self.budget is not None and self.writes >= self.budget:
            raise IOFailure("%s: power cut" % self.name)
        self.writes += 1
        FileDevice._write(self, sector, mv)


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _clean(path, ss):
    p = _tool(path, ss, "sgdisk", "-v")
    return "No problems found" in p.stdout, p.stdout


@pytest.mark.parametrize("ss", [512, 4096])
@pytest.mark.parametrize("name", ["infix_25.01.0+2-1", "infix_25.01.0", "ä-ü-€-𝄞",
                                  "x" * 36])
def test_rename_equals_sgdisk(tmp_path, ss, name):
    mine, theirs = str(tmp_path / "a.img"), str(tmp_path / "b.img")
    _make(mine, ss)
    shutil.copyfile(mine, theirs)
    _rename(mine, ss, 2, name)
    p = _tool(theirs, ss, "sgdisk", "-c", "2:" + name)
    assert p.returncode == 0, p.stderr
    assert _read(mine) == _read(theirs)
    assert _names(mine, ss) == ["root-a", name, ""]
    assert _dmfw_names(mine, ss) == ["root-a", name, ""]


@pytest.mark.parametrize("partno, name, why", [
    (2, "y" * 37, "longer than 36"), (4, "x", "partition 4 is unused"), (129, "x", "no partition"),
    (0, "x", "no partition"), (2, "bad\ud800", "surrogate")])
def test_refusals_write_nothing(tmp_path, partno, name, why):
    img = str(tmp_path / "a.img")
    _make(img, 512)
    before = _read(img)
    with pytest.raises(DMError) as e:
        _rename(img, 512, partno, name)
    assert why in str(e.value)
    assert _read(img) == before


def test_no_valid_copy(tmp_path):
    img = str(tmp_path / "a.img")
    _make(img, 512)
    before = _read(img)
    # Both copies damaged: nothing to start from, nothing written.
    with open(img, "r+b") as f:
        f.seek(512 + 60)
        f.write(b"\xff")
        f.seek(len(before) - 512 + 60)
        f.write(b"\xff")
    damaged = _read(img)
    with pytest.raises(DMError, match="no valid GPT"):
        _rename(img, 512, 2, "x")
    assert _read(img) == damaged


@pytest.mark.parametrize("ss", [512, 4096])
def test_power_cut_at_every_write(tmp_path, ss):
    base = str(tmp_path / "base.img")
    _make(base, ss)
    probe = str(tmp_path / "probe.img")
    shutil.copyfile(base, probe)
    c = Cut(probe, ss, None)
    set_partition_name(c, 2, "new")
    writes = c.writes
    c.close()
    assert writes == 4          # backup array, backup header, primary array, header
    seen = []
    for k in range(writes):
        img = str(tmp_path / ("cut%d.img" % k))
        shutil.copyfile(base, img)
        with pytest.raises(IOFailure):
            _rename(img, ss, 2, "new", budget=k)
        names = _names(img, ss)
        assert names[1] in (OLD, "new"), (k, names)
        assert _dmfw_names(img, ss) == names, k
        seen.append(names[1])
        # The next rename starts from the copy Linux reads and repairs the other.
        _rename(img, ss, 2, "again")
        ok, out = _clean(img, ss)
        assert ok, (k, out)
        assert _names(img, ss)[1] == "again"
        os.unlink(img)
    # Cut after the backup header: primary (old) still read; after the primary
    # array: the primary is invalid and the backup (new) is read.
    assert seen == [OLD, OLD, OLD, "new"]
