"""Faults: a disk that fails (QEMU blkdebug) fails dmfw where it fails the kernel,
with a clean error, and the firmware shell keeps working; disks come and go (hot-plug).

vde (4 MiB) returns EIO on reads touching FAULT_READ sectors and on writes touching
FAULT_WRITE sectors (harness/pytest_plugin.py).  Reads are compared per 4 KiB page,
the kernel side with O_DIRECT so that only the page itself is read.
"""
import os
import time

import pytest

from harness.pytest_plugin import FAULT_READ, FAULT_WRITE
from sides import checksum, create, probe_pages

pytestmark = [pytest.mark.guest, pytest.mark.qemu_only]

TABLES = {
    "linear": "0 8192 linear /dev/vde 0",
    "linear-offset": "0 6000 linear /dev/vde 1024",
    "striped": "0 8192 striped 2 64 /dev/vde 0 /dev/vdb 0",
    "stacked": None,  # linear over a dmfw/kernel linear over vde, see below
}


def _fault_pages(length):
    return list(range(0, length - length % 8, 8))


def _setup(console, name):
    if name == "stacked":
        assert create(console, "low", "0 8192 linear /dev/vde 0")[1] == 0
        assert create(console, "e", "0 7168 linear /dev/mapper/low 1024")[1] == 0
        return 7168
    table = TABLES[name]
    assert create(console, "e", table)[1] == 0
    return int(table.split()[1])


@pytest.mark.parametrize("name", list(TABLES))
def test_read_errors_at_the_kernels_sectors(guest, name):
    length = _setup(guest.fw, name)
    pages = _fault_pages(length)
    fw = probe_pages(guest.fw, "/dev/mapper/e", pages)
    guest.fw.check("dmsetup remove_all")
    _setup(guest.linux, name)
    linux = probe_pages(guest.linux, "/dev/mapper/e", pages)
    bad_linux = sorted(p for p, ok in linux.items() if not ok)
    bad_fw = sorted(p for p, ok in fw.items() if not ok)
    assert bad_linux, "the kernel saw no fault: blkdebug is not armed"
    assert bad_fw == bad_linux


def test_read_error_is_clean_and_shell_survives(guest):
    assert create(guest.fw, "e", "0 8192 linear /dev/vde 0")[1] == 0
    bad = FAULT_READ[0]
    out, status = guest.fw.run("sha256sum /dev/mapper/e")
    assert status != 0
    assert "Traceback" not in out and out.count("\n") <= 2, out
    assert "error" in out.lower(), out
    out, status = guest.fw.run("dd if=/dev/mapper/e of=/dev/null bs=4096 skip=%d count=1" % (bad // 8))
    assert status != 0 and "Traceback" not in out
    # Still working: a good range of the same device, another device, dmsetup.
    assert checksum(guest.fw, "/dev/mapper/e", 0, bad)[1] == 0
    assert guest.fw.run("dmsetup ls")[0].startswith("e\t")
    assert checksum(guest.fw, "/dev/vda")[1] == 0


def test_write_errors_at_the_kernels_sectors(guest):
    bad = FAULT_WRITE[0]
    results = {}
    for console, flags in ((guest.fw, ""), (guest.linux, " oflag=direct")):
        assert create(console, "e", "0 8192 linear /dev/vde 0")[1] == 0
        good = console.run("dd if=/dev/vda of=/dev/mapper/e bs=4096 seek=%d count=1%s"
                           % (bad // 8 - 2, flags))
        failed = console.run("dd if=/dev/vda of=/dev/mapper/e bs=4096 seek=%d count=1%s"
                             % (bad // 8, flags))
        results[console.name] = (good[1] == 0, failed[1] == 0)
        assert "Traceback" not in failed[0]
        console.run("dmsetup remove_all")
    assert results["linux"] == (True, False), "blkdebug write fault not armed"
    assert results["fw"] == results["linux"]


def _block_names(linux):
    return set(linux.check("ls /sys/block").split())


def test_hotplug_and_unplug(guest, tmp_path):
    from harness.disks import pattern_disk
    before = _block_names(guest.linux)
    path = pattern_disk(str(tmp_path / "hot.img"), 2 << 20, tag="hot")
    node = guest.qemu.hotplug(path)
    try:
        deadline = time.monotonic() + 30
        while True:
            new = _block_names(guest.linux) - before
            if new or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert len(new) == 1, new
        name = new.pop()
        disk = "/dev/" + name
        assert guest.linux.check("blockdev --getsz %s" % disk).strip() == "4096"
        # Other tests' unplugged disks may go in the same rescan.
        assert "attached %s\n" % name in guest.fw.check("rescan").splitlines(True)
        assert guest.fw.check("blockdev --getsz %s" % disk).strip() == "4096"
        table = "0 4000 linear %s 96" % disk
        assert create(guest.fw, "hp", table)[1] == 0
        fw = checksum(guest.fw, "/dev/mapper/hp")
        guest.fw.check("dmsetup remove hp")
        assert create(guest.linux, "hp", table)[1] == 0
        assert checksum(guest.linux, "/dev/mapper/hp") == fw
        assert fw[1] == 0
        guest.linux.check("dmsetup remove hp")
    finally:
        guest.qemu.unplug(node)
    assert _block_names(guest.linux) == before
    assert guest.fw.check("rescan") == "detached %s\n" % name  # and nothing else
    assert guest.fw.run("blockdev --getsz %s" % disk)[1] != 0
    os.unlink(path)


def test_hotplugged_disk_with_blkdebug_faults(guest, tmp_path):
    from harness.disks import pattern_disk
    from harness.guest import blkdebug_rule
    before = _block_names(guest.linux)
    path = pattern_disk(str(tmp_path / "hotbad.img"), 1 << 20, tag="hb")
    node = guest.qemu.hotplug(path, errors=[blkdebug_rule(16, "read")])
    try:
        deadline = time.monotonic() + 30
        while not (_block_names(guest.linux) - before) and time.monotonic() < deadline:
            time.sleep(0.2)
        disk = "/dev/" + (_block_names(guest.linux) - before).pop()
        pages = probe_pages(guest.linux, disk, [0, 8, 16, 24])
        assert pages == {0: True, 8: True, 16: False, 24: True}
    finally:
        guest.qemu.unplug(node)
