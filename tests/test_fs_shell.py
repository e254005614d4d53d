# The file commands every reader shares (mount, umount, ls -l, cat, stat, readlink,
# find, sha256sum on files, blkid) and the MicroPython VFS mount, on images the real
# tools made. The byte-for-byte comparison with the kernel and busybox is the guest's
# (tests/guest/test_guest_fs.py); here: the tree's own metadata, util-linux blkid
# (trixie's, from the guest's root, when it is built) and the error paths.

import hashlib
import os
import shutil
import stat
import subprocess

import pytest

from shellrun import ROOT, micropython, run
from images import fstree

fsref = pytest.importorskip("images.fsref")

READERS = {"squashfs": "dmfw.fs.squashfs", "erofs": "dmfw.fs.erofs", "ext4": "dmfw.fs.ext4",
           "ext2": "dmfw.fs.ext4", "ext3": "dmfw.fs.ext4"}
HOST_VARIANTS = ["squashfs-gzip", "squashfs-xz", "ext4", "ext2-1k", "ext3"]


def _image(variant):
    pytest.importorskip(READERS[variant.split("-")[0]])
    if variant.startswith("squashfs") and not shutil.which("mksquashfs"):
        pytest.skip("needs squashfs-tools")
    return fsref.build_fs(variant)


def test_mount_ls_cat_stat_find_on_the_tree():
    img = _image("squashfs-gzip")
    src = fstree.tree("small")
    r = run("mount %s /m; mount; ls /m; ls -ln /m/perms; cat /m/one /m/links/short; echo; "
            "readlink /m/links/dir; readlink -f /m/links/dir; find /m/deep -type f; "
            "sha256sum /m/text.txt /m/nope; echo $?; stat /m/perms/suid" % img)
    out = r.out.splitlines()
    assert out[0] == "/dev/loop0 on /m type squashfs (ro)"
    names = sorted(n for n in os.listdir(src) if not n.startswith("."))
    assert out[1:1 + len(names)] == names
    perms = out[1 + len(names):1 + len(names) + 1 + len(os.listdir(os.path.join(src, "perms")))]
    assert perms[0].startswith("total ")
    by_name = {l.split()[-1]: l for l in perms[1:]}
    assert by_name["suid"].startswith("-rwsr-xr-x    1 0        0                2 Nov 14  2023")
    assert by_name["private"].startswith("drwxr-s---    2 1000     1000 ")
    assert by_name["nobody"].split()[2:4] == ["65534", "65534"]
    rest = out[1 + len(names) + len(perms):]
    assert rest[0] == "xx"
    assert rest[1:3] == ["../deep/a/b/c", "/m/deep/a/b/c"]
    assert rest[3] == "/m/deep/a/b/c/d/e/f/g/h/file"
    with open(os.path.join(src, "text.txt"), "rb") as f:
        assert rest[4] == "%s  /m/text.txt" % hashlib.sha256(f.read()).hexdigest()
    assert rest[5] == "1" and "sha256sum: /m/nope: No such file or directory" in r.err
    assert rest[6:10] == ["  File: /m/perms/suid",
                          rest[7], rest[8],
                          "Access: (4755/-rwsr-xr-x)  Uid: (    0/    root)   "
                          "Gid: (    0/    root)"]
    assert rest[10] == "Access: 2023-11-14 22:13:20.000000000 +0000"


def test_mount_errors_change_nothing(tmp_path):
    img = _image("squashfs-gzip")
    junk = tmp_path / "junk.img"
    junk.write_bytes(bytes(1 << 20))
    r = run("mount %s /a; echo $?; mount -t ext4 %s /a; echo $?; mount -t btrfs %s /a; "
            "echo $?; mount %s /a; mount %s /a; echo $?; mount %s /b; echo $?; mount; "
            "umount /b; echo $?; umount /a; umount /a; echo $?; ls /a; echo $?"
            % (junk, img, img, img, img, img))
    assert r.out.split("\n")[:4] == ["1", "1", "1", "1"]
    assert "no known filesystem" in r.err and "wrong fs type" in r.err
    assert "unknown filesystem type 'btrfs'" in r.err
    assert "mount point busy" in r.err or "already mounted" in r.err


def test_blkid_matches_util_linux():
    # util-linux 2.41's blkid (the guest's root, on the host through chroot) on the
    # same image files.
    from images import guest
    g = guest.cached()
    if g is None or os.geteuid() != 0:
        pytest.skip("needs the guest's root (images.guest build) and root")
    imgs = []
    for v in HOST_VARIANTS + ["erofs-lz4hc"]:
        try:
            imgs.append(_image(v))
        except pytest.skip.Exception:
            pass
    if not imgs:
        pytest.skip("no reader yet")
    work = os.path.join(g.rootfs, "tmp", "blkid-%d" % os.getpid())
    os.makedirs(work)
    try:
        inner = []
        for i, p in enumerate(imgs):
            shutil.copyfile(p, os.path.join(work, "%d.img" % i))
            inner.append("/tmp/%s/%d.img" % (os.path.basename(work), i))
        ref = subprocess.run(["chroot", g.rootfs, "blkid", "-c", "/dev/null"] + inner,
                             capture_output=True, text=True).stdout
        mine = run("blkid " + " ".join(os.path.join(g.rootfs, p[1:]) for p in inner))
        assert mine.out.replace(g.rootfs, "") == ref
    finally:
        shutil.rmtree(work)


@pytest.mark.micropython
def test_micropython_vfs_mount_and_open():
    # The firmware's use: mount, then plain open()/os.listdir()/os.stat() through the
    # port's VFS; umount makes the path disappear again.
    if micropython() is None:
        pytest.skip("no micropython")
    img = _image("squashfs-gzip")
    src = fstree.tree("small")
    prog = ("import os, hashlib, binascii\nfrom dmfw.shell import Shell\nsh = Shell()\n"
            "sh.run_line('mount %s /sq')\n"
            "print(binascii.hexlify(hashlib.sha256(open('/sq/text.txt', 'rb').read())"
            ".digest()).decode())\n"
            "print(sorted(os.listdir('/sq/perms')))\n"
            "print(oct(os.stat('/sq/perms/suid')[0]), os.stat('/sq/big.bin')[6])\n"
            "try:\n    open('/sq/nope')\nexcept OSError as e:\n    print('ENOENT', e.errno)\n"
            "try:\n    open('/sq/one', 'w')\nexcept OSError as e:\n    print('EROFS', e.errno)\n"
            "sh.run_line('umount /sq')\n"
            "try:\n    open('/sq/one')\nexcept OSError as e:\n    print('gone', e.errno)\n"
            % img)
    p = subprocess.run([micropython(), "-c", prog], capture_output=True, text=True,
                       env=dict(os.environ, MICROPYPATH=ROOT), cwd=ROOT, timeout=120)
    lines = p.stdout.splitlines()
    with open(os.path.join(src, "text.txt"), "rb") as f:
        assert lines[0] == hashlib.sha256(f.read()).hexdigest(), p.stdout + p.stderr
    assert lines[1] == str(sorted(os.listdir(os.path.join(src, "perms"))))
    st = os.lstat(os.path.join(src, "big.bin"))
    assert lines[2] == "%s %d" % (oct(stat.S_IFREG | 0o4755), st.st_size)
    assert lines[3:] == ["ENOENT 2", "EROFS 30", "gone 2"]


def test_mount_refuses_blocks_below_the_device_block():
    # As Linux's sb_set_blocksize(): a 1 KiB ext2 on a 4 KiB-sector device does not
    # mount (the kernel says "bad block size 1024"); squashfs sizes its own buffers.
    from dmfw.blockdev import FileDevice
    from shellrun import new_shell
    img = _image("ext2-1k")
    sh = new_shell()
    sh.devices.add(FileDevice(img, readonly=True, name="sda", major=8, minor=0,
                              logical_block_size=4096))
    r = run("mount /dev/sda /m; echo $?; ls /m; echo $?", sh=sh)
    assert r.out.startswith("255\n") and r.out.endswith("1\n")
    assert "mount: mounting /dev/sda on /m failed: Invalid argument" in r.err


def test_dotdot_after_a_symlink_is_the_targets_parent():
    # As Linux walks a path: links/dir -> ../deep/a/b/c, so links/dir/.. is deep/a/b
    # (a lexical `..` would have made it links/). Outside mounts `..` is lexical.
    img = _image("squashfs-gzip")
    r = run("mount %s /m; readlink -f /m/deep/../links/dir/..; ls /m/links/dir/..; "
            "cat /m/links/dir/../../../../one; echo; ls /x/../m/deep; readlink -f /m"
            % img)
    assert r.out == "/m/deep/a/b\nc\nx\na\n/m\n", r
