"""EROFS images made by the real mkfs.erofs from images/fstree.py trees (CPython only).

Two tools: the host's mkfs.erofs (erofs-utils 1.5: lz4/lz4hc, legacy/compact indexes,
big pclusters, ztailpacking, chunks) and, when the guest rootfs exists, trixie's
(erofs-utils 1.8: lzma, deflate, zstd, fragments, dedupe, block sizes, labels), run in
a chroot over a copy of the tree.

    image(name, tree="small") -> path of a cached image (RECIPES[name])
    available(name)           -> False when the recipe's tool is missing
    missing(name)             -> tree paths the image leaves out (tool limits)

    python3 -m images.erofs [name [tree]]     # build, print the path
"""
import os
import shutil
import subprocess
import sys

from images.fstree import cached_image, tree, MTIME

UUID = "6b1f5e2a-93c4-4d7e-8a21-0f3c5d9e7b10"
LONG = "names/" + "n" * 255

# name -> (tool, mkfs arguments). Host images leave out the 255-byte name: mkfs.erofs
# 1.5 fails on it ("Could not format the device").
RECIPES = {
    "plain": ("host", []),
    "noinline": ("host", ["-Enoinline_data"]),
    "compact": ("host", ["-T%d" % MTIME, "-Eforce-inode-compact"]),
    "extended": ("host", ["-Eforce-inode-extended"]),
    "nosbcrc": ("host", ["-Enosbcrc"]),
    "chunk": ("host", ["--chunksize=4096"]),
    "chunk16k-index": ("host", ["--chunksize=16384", "-Eforce-chunk-indexes"]),
    "chunk-blockmap": ("host", ["--chunksize=8192", "-Eforce-inode-blockmap"]),
    "lz4": ("host", ["-zlz4"]),
    "lz4hc": ("host", ["-zlz4hc,9"]),
    "lz4hc-big": ("host", ["-zlz4hc", "-C65536"]),
    "lz4-ztail": ("host", ["-zlz4", "-Eztailpacking"]),
    # Extents of at most 64 KiB: what MicroPython's heap wants.
    "lz4-maxext": ("host", ["-zlz4hc", "--max-extent-bytes=65536"]),
    "lz4-legacy": ("host", ["-zlz4", "-Elegacy-compress"]),
    "lz4-legacy-big": ("host", ["-zlz4hc", "-C16384", "-Elegacy-compress"]),
    "lz4-compact": ("host", ["-T%d" % MTIME, "-zlz4hc", "-Eforce-inode-compact"]),
    "lz4-big-ztail": ("host", ["-zlz4hc", "-C32768", "-Eztailpacking"]),
    # trixie's erofs-utils in the guest rootfs
    "g-lzma": ("guest", ["-zlzma"]),
    "g-lzma-big": ("guest", ["-zlzma,level=6", "-C131072", "-Eztailpacking"]),
    "g-deflate": ("guest", ["-zdeflate"]),
    "g-deflate-big": ("guest", ["-zdeflate,level=9", "-C65536", "-Elegacy-compress"]),
    "g-zstd": ("guest", ["-zzstd"]),
    "g-lz4-fragments": ("guest", ["-zlz4hc", "-Efragments"]),
    "g-lz4-all-fragments": ("guest", ["-zlz4", "-Eall-fragments"]),
    "g-lz4-dedupe": ("guest", ["-zlz4hc", "-C16384", "-Ededupe"]),
    "g-lz4-dedupe-frag": ("guest", ["-zlz4", "-Ededupe,fragments,ztailpacking"]),
    "g-deflate-dedupe": ("guest", ["-zdeflate", "-C16384", "-Ededupe"]),
    "g-lzma-dedupe": ("guest", ["-zlzma", "-C16384", "-Ededupe"]),
    "g-lz4-mixed": ("guest", ["-zlz4hc:lzma", "-C65536"]),
    # *.txt with the second algorithm through --compress-hints.
    "g-lz4-lzma-hints": ("guest", ["-zlz4hc:lzma", "-C65536", "--compress-hints=HINTS"]),
    "g-b512": ("guest", ["-b512"]),
    "g-b1024-lz4": ("guest", ["-b1024", "-zlz4", "-Eztailpacking", "-Lsmall-label"]),
    "g-label": ("guest", ["-Lerofs-label"]),
    "g-chunk": ("guest", ["--chunksize=65536"]),
}

# erofs-utils' --compress-hints lines: pcluster size, algorithm index, path regex.
HINTS = "4096 1 .*\\.txt$\n"

# Host recipes with -T: 1.5 applies it to every file (text.txt loses its own mtime),
# and makes compact inodes (with SOURCE_DATE_EPOCH it keeps them all extended).
ALL_COMPACT = ("compact", "lz4-compact")


def mtime_of(name, st_mtime):
    """The mtime image `name` stores for a tree file of mtime st_mtime."""
    return MTIME if name in ALL_COMPACT else int(st_mtime)


def guest_rootfs():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    d = os.path.join(base, "dmfw")
    if not os.path.isdir(d):
        return None
    for n in sorted(os.listdir(d)):
        p = os.path.join(d, n, "rootfs")
        if n.startswith("guest-") and os.path.exists(os.path.join(p, "usr/bin/mkfs.erofs")):
            return p
    # The guest is built under the real home even when XDG_CACHE_HOME moves the trees.
    home = os.path.expanduser("~/.cache/dmfw")
    if home != d and os.path.isdir(home):
        for n in sorted(os.listdir(home)):
            p = os.path.join(home, n, "rootfs")
            if n.startswith("guest-") and os.path.exists(os.path.join(p, "usr/bin/mkfs.erofs")):
                return p
    return None


def available(name):
    tool = RECIPES[name][0]
    if tool == "host":
        return shutil.which("mkfs.erofs") is not None
    return guest_rootfs() is not None and os.geteuid() == 0


def missing(name):
    return [LONG] if RECIPES[name][0] == "host" else []


def _run(cmd, env=None):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    if r.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(cmd), r.returncode,
                                                   r.stderr.decode(errors="replace")))


def _build_host(out, src, args):
    # 1.5's -T would also overwrite every file's mtime; SOURCE_DATE_EPOCH sets only the
    # build time (compact inodes' time) and clamps newer mtimes (the tree has none).
    # With SOURCE_DATE_EPOCH set, 1.5 makes every inode extended; -T recipes go without.
    env = dict(os.environ)
    env.pop("SOURCE_DATE_EPOCH", None)
    if not any(a.startswith("-T") for a in args):
        env["SOURCE_DATE_EPOCH"] = str(MTIME)
    _run(["mkfs.erofs", "--quiet", "-U" + UUID, "--exclude-path=" + LONG] + args
         + [out, src], env=env)


def _build_guest(out, src, args):
    from images.fsref import chroot_tool
    args = [a.replace("=HINTS", "=@DIR@/hints") for a in args]
    chroot_tool(["mkfs.erofs", "--quiet", "-U" + UUID, "-T%d" % MTIME, "--mkfs-time"] + args
                + ["@OUT@", "@TREE@"], src, out, files={"hints": HINTS}, root=guest_rootfs())


def image(name, tree_name="small"):
    tool, args = RECIPES[name]
    recipe = {"tool": tool, "args": args, "tree": tree_name, "v": 2}

    # The tree first: cached_image holds the cache lock while building, and tree()
    # takes it too.
    src = tree(tree_name)

    def build(out):
        if tool == "host":
            _build_host(out, src, args)
        else:
            _build_guest(out, src, args)
    return cached_image("erofs", recipe, build)


if __name__ == "__main__":
    names = sys.argv[1:2] or sorted(RECIPES)
    for n in names:
        if available(n):
            print(n, image(n, sys.argv[2] if len(sys.argv) > 2 else "small"))
        else:
            print(n, "(tool missing)")
