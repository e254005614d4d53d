"""squashfs reference images made by the host's mksquashfs (squashfs-tools 4.5.1) from
the images/fstree.py trees, cached with fstree.cached_image.

Owners, modes and mtimes are the tree's (no -all-root / -all-time); -mkfs-time is fixed
so the same recipe gives the same image. IMAGES names every variant the tests read:

    python3 -m images.squashfs            # build all, print name and path
    python3 -m images.squashfs gzip-small # one
"""
import os
import shutil
import subprocess
import sys

from images import fstree

MKFS_TIME = "1700000000"

# name -> (tree, mksquashfs arguments)
IMAGES = {
    "gzip": ("full", ["-comp", "gzip"]),
    "lzma": ("full", ["-comp", "lzma"]),
    "lzo": ("full", ["-comp", "lzo"]),
    "lz4": ("full", ["-comp", "lz4"]),
    "xz": ("full", ["-comp", "xz"]),
    "zstd": ("full", ["-comp", "zstd"]),
    "gzip-4k": ("full", ["-comp", "gzip", "-b", "4K"]),
    "gzip-8k": ("full", ["-comp", "gzip", "-b", "8K"]),
    "gzip-64k": ("full", ["-comp", "gzip", "-b", "64K"]),
    "gzip-1m": ("full", ["-comp", "gzip", "-b", "1M"]),
    "gzip-uncompressed": ("full", ["-comp", "gzip", "-noI", "-noD", "-noF", "-noX"]),
    "gzip-no-fragments": ("full", ["-comp", "gzip", "-no-fragments"]),
    "gzip-always-fragments": ("full", ["-comp", "gzip", "-always-use-fragments"]),
    "gzip-tailends": ("full", ["-comp", "gzip", "-tailends"]),
    "gzip-no-duplicates": ("full", ["-comp", "gzip", "-no-duplicates", "-no-exports"]),
    # compressor options blocks (COMPRESSOR_OPTIONS flag)
    "gzip-options": ("small", ["-comp", "gzip", "-Xcompression-level", "6",
                               "-Xwindow-size", "12", "-Xstrategy", "filtered,huffman_only"]),
    "xz-bcj": ("full", ["-comp", "xz", "-Xbcj", "x86", "-Xdict-size", "64K"]),
    "lz4-hc": ("small", ["-comp", "lz4", "-Xhc"]),
    "lzo-options": ("small", ["-comp", "lzo", "-Xalgorithm", "lzo1x_1"]),
    "zstd-options": ("small", ["-comp", "zstd", "-Xcompression-level", "3"]),
    # extended inodes of every type: the tree copied with an xattr on each kind
    "gzip-xattrs": ("small", ["-comp", "gzip", "+xattrs"]),
    "gzip-small": ("small", ["-comp", "gzip"]),
    "lz4-small": ("small", ["-comp", "lz4"]),
    "xz-small": ("small", ["-comp", "xz"]),
    # everything stored uncompressed: tests patch inodes and listings in place
    "gzip-small-raw": ("small", ["-comp", "gzip", "-noI", "-noD", "-noF", "-noX"]),
}

# Paths of the small tree given a trusted.* xattr (user.* is refused on links and
# device nodes) for the "+xattrs" recipes.
XATTR_PATHS = ("one", "big.bin", "sub", "links/short", "links/long", "dev/fifo",
               "dev/null", "dev/sda1", "dev/socket", "hard/h1", "sparse.img")


def _with_xattrs(src, dst):
    subprocess.run(["cp", "-a", src, dst], check=True)
    for rel in XATTR_PATHS:
        os.setxattr(os.path.join(dst, rel), "trusted.dmfw", b"xattr of " + rel.encode(),
                    follow_symlinks=False)


def build(name):
    """The path of image `name` (built on first use)."""
    tree_name, args = IMAGES[name]
    src = fstree.tree(tree_name)

    def make(out):
        tool_args = [a for a in args if not a.startswith("+")]
        source = src
        tmp = None
        if "+xattrs" in args:
            tmp = out + ".tree"
            shutil.rmtree(tmp, ignore_errors=True)
            _with_xattrs(src, tmp)
            source = tmp
        try:
            subprocess.run(["mksquashfs", source, out, "-noappend", "-processors", "2",
                            "-mkfs-time", MKFS_TIME, "-quiet", "-no-progress"] + tool_args,
                           check=True, stdout=subprocess.DEVNULL)
        finally:
            if tmp:
                shutil.rmtree(tmp, ignore_errors=True)

    return fstree.cached_image("squashfs", {"tree": tree_name, "args": args}, make)


def source(name):
    return fstree.tree(IMAGES[name][0])


if __name__ == "__main__":
    for n in sys.argv[1:] or sorted(IMAGES):
        print(n, build(n))
