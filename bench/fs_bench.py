"""File systems (issue 10), against references measured in the same run.

Host, CPython:
- extracting every file of a 64 MiB gzip squashfs (an Infix-like root: a 16 MiB
  kernel, modules, binaries) into tmpfs: dmfw vs `unsquashfs -p 1` (C, one thread);
- the 16 MiB kernel read out of squashfs with each compressor, EROFS (lz4hc, lzma,
  deflate) and ext4: MB/s of file data, on CPython and (first 4 MiB) on MicroPython.
Guest (unless --no-guest): the kernel file from the gzip squashfs on a verity device,
page cache dropped: the firmware (MicroPython dmfw: veritysetup open + mount +
sha256sum) vs the kernel (veritysetup open + mount + sha256sum of its own mount).

    python3 -m bench.fs_bench [--quick] [--no-guest]
"""
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

from bench.common import ROOT, best
from harness.tools import micropython

KERNEL = "/boot/Image"
KERNEL_MB = 16


def _kernel_like(rng, n):
    # An uncompressed arm64 Image compresses about 2.5:1 with gzip: runs of text and
    # tables between incompressible stretches.
    from images.fstree import _mixed
    out = bytearray()
    while len(out) < n:
        out += _mixed(rng, 48 << 10) + rng.randbytes(16 << 10)
    return bytes(out[:n])


def boot_tree():
    from images.fstree import cache_root, _lock
    path = os.path.join(cache_root(), "tree-boot")
    if os.path.exists(path + ".done"):
        return path
    with _lock():
        if not os.path.exists(path + ".done"):
            shutil.rmtree(path, ignore_errors=True)
            rng = random.Random("dmfw-boot-tree")
            for d in ("boot/syslinux", "boot/dtb/vendor", "usr/lib/modules", "usr/bin", "etc"):
                os.makedirs(os.path.join(path, d))
            with open(os.path.join(path, KERNEL[1:]), "wb") as f:
                f.write(_kernel_like(rng, KERNEL_MB << 20))
            with open(os.path.join(path, "boot/syslinux/syslinux.conf"), "w") as f:
                f.write("DEFAULT infix\nLABEL infix\n  KERNEL /boot/Image\n")
            for i in range(8):
                with open(os.path.join(path, "boot/dtb/vendor/board%d.dtb" % i), "wb") as f:
                    f.write(_kernel_like(rng, 40000))
            for i in range(200):
                with open(os.path.join(path, "usr/lib/modules/m%03d.ko" % i), "wb") as f:
                    f.write(_kernel_like(rng, 200 << 10))
            for i in range(16):
                with open(os.path.join(path, "usr/bin/b%02d" % i), "wb") as f:
                    f.write(rng.randbytes(512 << 10))
            open(path + ".done", "w").close()
    return path


SQUASHFS = ["gzip", "xz", "lzma", "lzo", "lz4", "zstd"]
EROFS = [("lz4hc", ["-zlz4hc"]), ("lzma", ["-zlzma"]), ("deflate", ["-zdeflate"])]


def squashfs_image(comp):
    from images.fstree import cached_image
    src = boot_tree()
    return cached_image("bench-squashfs-" + comp, {"comp": comp}, lambda out: subprocess.run(
        ["mksquashfs", src, out, "-noappend", "-quiet", "-no-progress", "-comp", comp],
        check=True, stdout=subprocess.DEVNULL))


def erofs_image(name, args):
    from images.fstree import cached_image
    from images.fsref import chroot_tool
    src = boot_tree()
    return cached_image("bench-erofs-" + name, {"args": args}, lambda out: chroot_tool(
        ["mkfs.erofs", "--quiet"] + args + ["@OUT@", "@TREE@"], src, out))


def ext4_image():
    from images.fstree import cached_image
    src = boot_tree()
    return cached_image("bench-ext4", {}, lambda out: subprocess.run(
        ["mke2fs", "-q", "-F", "-t", "ext4", "-d", src, out, "100M"], check=True))


def _extract_all(img, dest):
    from dmfw.blockdev import FileDevice
    from dmfw.fs import open_fs
    fs = open_fs(FileDevice(img, readonly=True))
    buf = bytearray(1 << 20)
    total = 0
    stack = ["/"]
    while stack:
        d = stack.pop()
        os.makedirs(dest + d, exist_ok=True)
        for name, ino in fs.scandir(d):
            p = d.rstrip("/") + "/" + name
            if ino.is_dir():
                stack.append(p)
            elif ino.is_reg():
                with fs.open(p) as f, open(dest + p, "wb") as out:
                    while True:
                        n = f.readinto(buf)
                        if not n:
                            break
                        out.write(memoryview(buf)[:n])
                        total += n
    return total


def _read_mbs(img, limit=None):
    from dmfw.blockdev import FileDevice
    from dmfw.fs import open_fs
    fs = open_fs(FileDevice(img, readonly=True))
    t0 = time.perf_counter()
    with fs.open(KERNEL) as f:
        buf = bytearray(1 << 20)
        n = 0
        while limit is None or n < limit:
            k = f.readinto(buf)
            if not k:
                break
            n += k
    return n / (time.perf_counter() - t0) / 1e6


MP_PROG = r"""
import time
from dmfw.blockdev import FileDevice
from dmfw.fs import open_fs
fs = open_fs(FileDevice(%r, readonly=True))
f = fs.open(%r)
buf = bytearray(65536)
n = 0
t0 = time.ticks_us()
while n < %d:
    k = f.readinto(buf)
    if not k:
        break
    n += k
dt = time.ticks_diff(time.ticks_us(), t0)
print("MBS", n / dt)
"""


def _mp_mbs(img, limit):
    mp = micropython()
    if mp is None:
        return None
    p = subprocess.run([mp, "-X", "heapsize=8M", "-c", MP_PROG % (img, KERNEL, limit)],
                       capture_output=True, text=True, env=dict(os.environ, MICROPYPATH=ROOT),
                       timeout=1800)
    for line in p.stdout.splitlines():
        if line.startswith("MBS "):
            return float(line.split()[1])
    return "failed: " + (p.stderr.strip().splitlines() or ["?"])[-1]


def host_rows(quick):
    rows = []
    if not shutil.which("mksquashfs") or not shutil.which("unsquashfs"):
        return ["fs_bench: needs squashfs-tools"]
    img = squashfs_image("gzip")
    tmp = tempfile.mkdtemp(prefix="fs-bench-", dir="/dev/shm" if os.path.isdir("/dev/shm")
                           else None)
    try:
        def ref():
            shutil.rmtree(os.path.join(tmp, "u"), ignore_errors=True)
            subprocess.run(["unsquashfs", "-p", "1", "-q", "-n", "-d", os.path.join(tmp, "u"),
                            img], check=True, stdout=subprocess.DEVNULL)

        def mine():
            shutil.rmtree(os.path.join(tmp, "d"), ignore_errors=True)
            return _extract_all(img, os.path.join(tmp, "d"))
        reps = 1 if quick else 3
        t_ref, _ = best(ref, reps)
        t_mine, total = best(mine, reps)
        rows.append("host        extract all of a %d MiB gzip squashfs (%d MiB of files): dmfw "
                    "%.2f s, unsquashfs -p 1 %.2f s: %.2f of its speed"
                    % (os.path.getsize(img) >> 20, total >> 20, t_mine, t_ref, t_ref / t_mine))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    images = [("squashfs " + c, lambda c=c: squashfs_image(c)) for c in SQUASHFS]
    images += [("erofs " + n, lambda n=n, a=a: erofs_image(n, a)) for n, a in EROFS]
    images += [("ext4", ext4_image)]
    limit = (1 if quick else 4) << 20
    for name, make in images:
        try:
            path = make()
        except Exception as e:          # a tool missing here: the other rows stand
            rows.append("host        %-16s cannot build (%s)" % (name, e))
            continue
        try:
            cp = _read_mbs(path)
        except Exception as e:
            rows.append("host        %-16s read failed (%s)" % (name, e))
            continue
        mp = _mp_mbs(path, limit)
        rows.append("host        %-16s %d MiB kernel: CPython %6.1f MB/s, MicroPython %s" % (
            name, KERNEL_MB, cp, ("%.2f MB/s (first %d MiB)" % (mp, limit >> 20))
            if isinstance(mp, float) else mp))
    return rows


def guest_rows(reps):
    try:
        from harness.guest import boot, Disk
        from images.fsref import _run
    except ImportError as e:
        return ["fs_bench: no guest harness (%s)" % e]
    img = squashfs_image("gzip")
    tmp = tempfile.mkdtemp(prefix="fs-bench-")
    rows = []
    try:
        v = os.path.join(tmp, "v.img")
        shutil.copyfile(img, v)
        size = os.path.getsize(v)
        size += -size % 4096
        os.truncate(v, size)
        out = _run(["veritysetup", "format", v, v, "--hash-offset", str(size),
                    "--data-blocks", str(size // 4096)])
        rh = [l.split(":", 1)[1].strip() for l in out.splitlines()
              if l.startswith("Root hash:")][0]
        try:
            g = boot([Disk(v, readonly=True)])
        except Exception as e:
            return ["fs_bench: guest did not boot (%s)" % e]
        try:
            from bench.ddi_bench import _fw_secs, _linux_secs
            fw, lx = g.fw, g.linux
            drop = "sync; echo 3 > /proc/sys/vm/drop_caches"
            opener = "veritysetup open /dev/vda r /dev/vda %s --hash-offset=%d" % (rh, size)
            lx.run("modprobe squashfs; mkdir -p /mnt/b")
            t_fw = t_k = None
            for _ in range(reps):
                fw.run("umount /mnt/b; veritysetup close r")
                lx.run(drop)
                t1, _ = _fw_secs(fw, opener)
                t2, _ = _fw_secs(fw, "mount /dev/mapper/r /mnt/b")
                t3, _ = _fw_secs(fw, "sha256sum /mnt/b%s" % KERNEL)
                t = t1 + t2 + t3
                t_fw = t if t_fw is None else min(t_fw, t)
                lx.run("umount /mnt/b 2>/dev/null; veritysetup close r 2>/dev/null; " + drop)
                t = 0.0
                for cmd in (opener, "mount -t squashfs -o ro /dev/mapper/r /mnt/b",
                            "sha256sum /mnt/b%s >/dev/null" % KERNEL):
                    dt, _ = _linux_secs(lx, cmd)
                    t += dt
                t_k = t if t_k is None else min(t_k, t)
            lx.run("umount /mnt/b; veritysetup close r")
            rows.append("guest       %d MiB kernel from gzip squashfs on verity, caches dropped: "
                        "firmware %.2f s (%.1f MiB/s), kernel %.2f s (%.1f MiB/s): %.2f of the "
                        "kernel's speed" % (KERNEL_MB, t_fw, KERNEL_MB / t_fw, t_k,
                                            KERNEL_MB / t_k, t_k / t_fw))
        finally:
            g.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


def main(flags=()):
    quick = "--quick" in flags
    for r in host_rows(quick):
        print(r, flush=True)
    if "--no-guest" not in flags:
        for r in guest_rows(2 if quick else 3):
            print(r, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
