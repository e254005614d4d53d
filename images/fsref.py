"""File system images on dm-verity for the guest's differential tests and benchmarks.

Each variant is a file system made by the real tool from an images/fstree.py tree, with
a dm-verity hash tree appended by the real veritysetup (`format IMG IMG --hash-offset`),
so one disk carries both: the kernel opens it with veritysetup + mount, dmfw with its
own veritysetup + mount, and the two must read the same files.

EROFS images come from Debian trixie's mkfs.erofs, run in the guest's debootstrapped
root (chroot), which has every compressor (lz4, lz4hc, lzma, deflate, zstd); the host's
1.5 has only lz4 and fails on 255-byte names.

    python3 -m images.fsref VARIANT [TREE]     # build, print the JSON description
"""
import json
import os
import shutil
import subprocess
import sys

from images.fstree import cached_image, tree

# name -> (tool, arguments). The tree is small unless the caller asks for another.
VARIANTS = {
    "squashfs-gzip": ("mksquashfs", ["-comp", "gzip"]),
    "squashfs-xz": ("mksquashfs", ["-comp", "xz"]),
    "squashfs-lzma": ("mksquashfs", ["-comp", "lzma"]),
    "squashfs-lzo": ("mksquashfs", ["-comp", "lzo"]),
    "squashfs-lz4": ("mksquashfs", ["-comp", "lz4", "-Xhc"]),
    "squashfs-zstd": ("mksquashfs", ["-comp", "zstd"]),
    "squashfs-gzip-4k": ("mksquashfs", ["-comp", "gzip", "-b", "4K"]),
    "erofs-plain": ("mkfs.erofs", []),
    "erofs-lz4hc": ("mkfs.erofs", ["-zlz4hc"]),
    "erofs-lzma": ("mkfs.erofs", ["-zlzma", "-Eztailpacking"]),
    "erofs-deflate": ("mkfs.erofs", ["-zdeflate"]),
    "erofs-zstd": ("mkfs.erofs", ["-zzstd", "-Efragments,dedupe"]),
    "ext4": ("mke2fs", ["-t", "ext4", "-b", "4096"]),
    "ext4-inline": ("mke2fs", ["-t", "ext4", "-b", "4096", "-O", "inline_data"]),
    "ext2-1k": ("mke2fs", ["-t", "ext2", "-b", "1024"]),
    "ext3": ("mke2fs", ["-t", "ext3", "-b", "1024"]),
}
# Linux mounts a file system only on a device whose logical block is no larger than
# the file system's block, and dm-verity's logical block is its data block.
VERITY_BLOCK = {"ext2-1k": 1024, "ext3": 1024}
UUID = "5e2b9b47-8a3c-4d7e-9f10-2a6b3c4d5e6f"


def _run(argv, **kw):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)
    if p.returncode:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(argv), p.returncode,
                                                    p.stdout.decode(errors="replace")[-2000:]))
    return p.stdout.decode(errors="replace")


def _du(path):
    total = 0
    for dirpath, dirnames, files in os.walk(path):
        for f in files:
            total += os.lstat(os.path.join(dirpath, f)).st_size
    return total


def guest_rootfs():
    """Trixie's root (built with the guest image), for its newer tools."""
    from images import guest
    g = guest.ensure()
    return g.rootfs


def chroot_tool(argv, src, out, files=None, root=None):
    """Run a trixie tool on `src` (a host folder) writing `out`: the tree is copied into
    the guest's root, since a chroot sees nothing else. In `argv`, @TREE@, @OUT@ and
    @DIR@ name the tree, the output and the work folder inside the chroot, where
    `files` ({name: text}, e.g. erofs compress hints) are written first."""
    root = root or guest_rootfs()
    work = os.path.join(root, "tmp", "dmfw-fsref-%d" % os.getpid())
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    try:
        # cp -a keeps owners, modes, times, devices, fifos and sockets.
        _run(["cp", "-a", src, os.path.join(work, "tree")])
        for name, text in (files or {}).items():
            with open(os.path.join(work, name), "w") as f:
                f.write(text)
        inner = "/" + os.path.relpath(work, root)
        _run(["chroot", root] + [a.replace("@OUT@", inner + "/out.img")
                                 .replace("@TREE@", inner + "/tree")
                                 .replace("@DIR@", inner) for a in argv])
        shutil.move(os.path.join(work, "out.img"), out)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def build_fs(variant, tree_name="small"):
    """The bare file system image of `variant` (cached)."""
    tool, args = VARIANTS[variant]
    src = tree(tree_name)

    def build(out):
        if tool == "mksquashfs":
            _run(["mksquashfs", src, out, "-noappend", "-quiet", "-no-progress",
                  "-processors", "2"] + args)
        elif tool == "mkfs.erofs":
            chroot_tool(["mkfs.erofs", "--quiet", "-U", UUID, "-L", "dmfw-" + variant[6:],
                         "-T", "1700000000"] + args + ["@OUT@", "@TREE@"], src, out)
        else:
            size_kb = (_du(src) * 3 // 2 + (8 << 20)) >> 10
            _run(["mke2fs", "-q", "-F", "-U", UUID, "-L", variant, "-E",
                  "hash_seed=%s" % UUID, "-d", src] + args + [out, "%dk" % size_kb],
                 env=dict(os.environ, E2FSPROGS_FAKE_TIME="1700000000"))
    return cached_image("fs-" + variant, {"tool": tool, "args": args, "tree": tree_name},
                        build)


def verity(variant, tree_name="small"):
    """{image, fs_size, root_hash, hash_offset, tree}: the file system with its hash
    tree appended (sha256, fixed salt, 4096-byte data blocks unless VERITY_BLOCK says
    otherwise)."""
    fs = build_fs(variant, tree_name)
    vbs = VERITY_BLOCK.get(variant, 4096)

    def build(out):
        shutil.copyfile(fs, out)
        size = os.path.getsize(out)
        pad = -size % 4096
        with open(out, "ab") as f:
            f.write(bytes(pad))
        size += pad
        text = _run(["veritysetup", "format", out, out, "--hash-offset", str(size),
                     "--data-blocks", str(size // vbs), "--data-block-size", str(vbs),
                     "--salt", "00" * 32, "--uuid", UUID])
        rh = [l.split(":", 1)[1].strip() for l in text.splitlines()
              if l.startswith("Root hash:")][0]
        # cached_image builds into PATH.tmp and renames it; the facts go beside PATH.
        with open(out[:-len(".tmp")] + ".json", "w") as f:
            json.dump({"fs_size": size, "root_hash": rh, "hash_offset": size}, f)
    path = cached_image("verity-" + variant, {"fs": os.path.basename(fs), "block": vbs},
                        build)
    with open(path + ".json") as f:
        meta = json.load(f)
    meta["image"] = path
    meta["tree"] = tree(tree_name)
    meta["variant"] = variant
    return meta


if __name__ == "__main__":
    print(json.dumps(verity(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "small"),
                     indent=1))
