"""File systems in the guest: each reference image (images/fsref.py: squashfs with every
compressor, EROFS from trixie's mkfs.erofs, ext2/3/4 from mke2fs), verity-protected on
one disk, is opened and mounted by the kernel (veritysetup + mount) and by dmfw (its own
veritysetup + mount) under the same names, and the two must agree: `find`, `ls -ln` of
every directory kind, the checksum of every regular file, symlink targets, `stat`, and
util-linux's `blkid` of the verity device.

The firmware is MicroPython 1.25 (the guest's), so this is also where the pure decoders
run on the firmware's interpreter.
"""
import re

import pytest

from sides import plug, q

pytestmark = [pytest.mark.guest, pytest.mark.qemu_only]

fsref = pytest.importorskip("images.fsref")

KERNEL_TYPE = {"squashfs": "squashfs", "erofs": "erofs", "ext4": "ext4", "ext2": "ext2",
               "ext3": "ext3"}
# One guest variant per reader path that matters (the host tests cover every variant
# against the source tree): squashfs's decoders and a small block size, EROFS's
# compressed layouts and decoders, ext4 with inline data (extents, htree), ext3 on
# 1 KiB blocks (block maps, the journal, SEC_TYPE).
PICK = ["squashfs-gzip", "squashfs-xz", "squashfs-lz4", "squashfs-zstd", "squashfs-gzip-4k",
        "erofs-lz4hc", "erofs-lzma", "erofs-deflate", "ext4-inline", "ext3"]
LS_DIRS = ["", "/dev", "/links", "/perms", "/hard", "/sizes", "/sub", "/deep/a"]
MNT = "/mnt/x"


def _both(g, cmd, timeout=300):
    # dmfw prints names as the UTF-8 they are, as busybox does in a UTF-8 locale (in
    # the C locale it shows each byte above 0x7e as '?').
    k, ks = g.linux.run("LANG=C.UTF-8 " + cmd if cmd.startswith("ls ") else cmd,
                        timeout=timeout)
    f, fs = g.fw.run(cmd, timeout=timeout)
    return (k, ks), (f, fs)


def _same(g, cmd, timeout=300):
    (k, ks), (f, fs) = _both(g, cmd, timeout)
    assert (f, fs) == (k, ks), "%s\n--- kernel (%d)\n%s\n--- dmfw (%d)\n%s" % (
        cmd, ks, k, fs, f)
    return k


def _stat_view(text):
    # The device numbers differ by construction (the kernel's dm minor vs dmfw's), and
    # Birth is the kernel's statx field that no on-disk format here has for dmfw.
    text = re.sub(r"Device: \S+", "Device: X", text)
    return "\n".join(l for l in text.splitlines() if not l.startswith(" Birth:"))


@pytest.mark.parametrize("variant", PICK)
def test_fs_on_verity_matches_kernel(qemu_guest, variant):
    g = qemu_guest
    meta = fsref.verity(variant)
    kind = variant.split("-")[0]
    plugged = []
    try:
        disk = plug(g, meta["image"], plugged)
        g.linux.run("modprobe %s" % ("ext4" if kind.startswith("ext") else kind))
        opener = "veritysetup open /dev/%s fsv /dev/%s %s --hash-offset=%d" % (
            disk, disk, meta["root_hash"], meta["hash_offset"])
        _same(g, opener)
        g.linux.run("mkdir -p %s" % MNT)
        out, st = g.linux.run("mount -o ro -t %s /dev/mapper/fsv %s" % (KERNEL_TYPE[kind], MNT))
        assert st == 0, out
        out, st = g.fw.run("mount -o ro /dev/mapper/fsv %s" % MNT)
        assert st == 0, out
        _compare(g, meta)
    finally:
        g.fw.run("umount %s; veritysetup close fsv" % MNT)
        g.linux.run("umount %s; veritysetup close fsv" % MNT)
        for node in plugged:
            g.qemu.unplug(node)


def _compare(g, meta):
    # The same names (find lists in directory order, which is each side's own).
    (k, ks), (f, fs) = _both(g, "find %s" % MNT)
    assert ks == fs == 0, (k, f)
    kern = sorted(k.splitlines())
    assert sorted(f.splitlines()) == kern
    for d in LS_DIRS:
        _same(g, "ls -ln %s%s" % (MNT, d))
    _same(g, "ls -lna %s/names" % MNT)
    # Every regular file's bytes, many per command line.
    (k, _), _ = _both(g, "find %s -type f" % MNT)
    files = sorted(k.splitlines())
    assert len(files) > 20
    line = []
    for p in files + [None]:
        if p is not None:
            line.append(q(p))
        if p is None or sum(len(x) + 1 for x in line) > 2500:
            if line:
                _same(g, "sha256sum " + " ".join(line), timeout=600)
            line = []
    (k, _), _ = _both(g, "find %s -type l" % MNT)
    links = sorted(k.splitlines())
    _same(g, "; ".join("readlink %s" % q(p) for p in links))
    for p in ("/one", "/empty", "/big.bin", "/dev/null", "/dev/sda1", "/links/short",
              "/perms/suid", "/perms/private", "/hard/h1", "/sizes"):
        (k, ks), (f, fs) = _both(g, "stat %s%s" % (MNT, p))
        assert ks == fs == 0 and _stat_view(f) == _stat_view(k), (k, f)
    # cat through a symlink, and a missing path, on both.
    _same(g, "cat %s/links/short; cat %s/sub/h3" % (MNT, MNT))
    (k, ks), (f, fs) = _both(g, "cat %s/nope" % MNT)
    assert ks != 0 and fs != 0
    _same(g, "blkid /dev/mapper/fsv")
