"""Source trees for the file system reference images, and the cache they are built in.

A tree is generated deterministically (seeded PRNG, fixed mtimes and owners) into
${XDG_CACHE_HOME:-~/.cache}/dmfw/fs-<recipe>/tree-<name>/, once; the per-format builders
(images/squashfs.py, images/erofs.py, images/ext4.py) make images from it with the real
tools and cache them beside it with `cached_image()`. Tests compare what dmfw reads
with the tree on disk (`os.lstat`, file bytes).

Trees:
  full   every case the filesystem issue names: nested directories, empty and 1-byte
         files, files of common block sizes +-1, a 12 MiB random file, long zero runs,
         duplicates, a 3000-entry directory, 255-byte and UTF-8 names, short, long,
         absolute, dangling and looping symlinks, hard links, fifo, device nodes, a
         socket, modes and owners.
  small  the same kinds of entries, small sizes (for MicroPython runs and fuzzing).

    python3 -m images.fstree full    # build if missing, print the folder
"""
import fcntl
import hashlib
import json
import os
import random
import shutil
import socket
import stat
import sys

# Bump when the generator changes.
TREE_VERSION = 2
MTIME = 1700000000  # 2023-11-14 22:13:20 UTC

WORDS = (b"the quick brown fox jumps over lazy dog kernel verity squashfs erofs ext4 "
         b"block device mapper firmware boot loader image root hash signature").split()


def cache_root():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(base, "dmfw", "fs-v%d" % TREE_VERSION)


def _text(rng, n):
    out = bytearray()
    while len(out) < n:
        out += rng.choice(WORDS) + (b"\n" if rng.random() < 0.1 else b" ")
    return bytes(out[:n])


def _mixed(rng, n):
    """Compressible but not trivially: text with random bytes sprinkled in."""
    out = bytearray(_text(rng, n))
    for _ in range(n // 64):
        out[rng.randrange(n)] = rng.randrange(256)
    return bytes(out)


def _write(path, data, mode=0o644, uid=0, gid=0, mtime=MTIME):
    with open(path, "wb") as f:
        f.write(data)
    # chown before chmod: chown clears the set-user-ID bit.
    os.chown(path, uid, gid)
    os.chmod(path, mode)
    os.utime(path, (mtime, mtime))


def _symlink(target, path, mtime=MTIME):
    os.symlink(target, path)
    os.utime(path, (mtime, mtime), follow_symlinks=False)


SIZES_FULL = (1023, 1024, 1025, 4095, 4096, 4097, 65535, 65536, 65537,
              131071, 131072, 131073, 262143, 262144, 262145, 1048575, 1048576, 1048577)
SIZES_SMALL = (1023, 1024, 1025, 4095, 4096, 4097, 8191, 8192, 8193)


def generate(root, name):
    full = name == "full"
    rng = random.Random("dmfw-fstree-%s-%d" % (name, TREE_VERSION))
    os.makedirs(root)
    j = os.path.join
    _write(j(root, "empty"), b"")
    _write(j(root, "one"), b"x")
    text = _text(rng, 300000 if full else 20000)
    _write(j(root, "text.txt"), text, mtime=1234567890)
    big = rng.randbytes(12 << 20 if full else 300000)
    _write(j(root, "big.bin"), big, 0o600)
    # Long zero runs around a little data: sparse blocks / holes in every format.
    z = 1 << 20 if full else 65536
    _write(j(root, "sparse.img"), bytes(z) + rng.randbytes(z // 16) + bytes(3 * z) + b"end")
    _write(j(root, "zeros"), bytes(2 * z))
    _write(j(root, "dup1.txt"), text[:50000])
    os.makedirs(j(root, "sub"))
    _write(j(root, "sub", "dup2.txt"), text[:50000])
    os.makedirs(j(root, "sizes"))
    for n in (SIZES_FULL if full else SIZES_SMALL):
        _write(j(root, "sizes", "m%d" % n), _mixed(rng, n))
        _write(j(root, "sizes", "r%d" % n), rng.randbytes(n))
    d = j(root, "deep")
    for part in "abcdefgh":
        d = j(d, part)
    os.makedirs(d)
    _write(j(d, "file"), b"deep file\n")
    many = j(root, "many")
    os.makedirs(many)
    for i in range(3000 if full else 300):
        _write(j(many, "entry-%05d" % i), _text(rng, rng.randrange(0, 200)))
    names = j(root, "names")
    os.makedirs(names)
    _write(j(names, "n" * 255), b"longest name\n")
    _write(j(names, "\u00fcn\u00efc\u00f8d\u00e9-\u540d\u524d.txt"), "utf-8 \u540d\n".encode())
    _write(j(names, "with space"), b"space\n")
    _write(j(names, ".hidden"), b"hidden\n")
    links = j(root, "links")
    os.makedirs(links)
    _symlink("../one", j(links, "short"))
    _symlink("/text.txt", j(links, "absolute"))
    _symlink("../deep/a/b/c", j(links, "dir"))
    _symlink("nowhere/at/all", j(links, "dangling"))
    _symlink("/".join(["..", "deep"] + list("abcdefgh")) + "/" + "x" * 200, j(links, "long"))
    _symlink("loop-b", j(links, "loop-a"))
    _symlink("loop-a", j(links, "loop-b"))
    _symlink("../" + "n" * 60 + "/" * 3 + "one", j(links, "slashes"))
    hard = j(root, "hard")
    os.makedirs(hard)
    _write(j(hard, "h1"), b"hard linked\n")
    os.link(j(hard, "h1"), j(hard, "h2"))
    os.link(j(hard, "h1"), j(root, "sub", "h3"))
    dev = j(root, "dev")
    os.makedirs(dev)
    os.mkfifo(j(dev, "fifo"))
    os.mknod(j(dev, "null"), 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    os.mknod(j(dev, "sda1"), 0o660 | stat.S_IFBLK, os.makedev(8, 1))
    os.mknod(j(dev, "big-minor"), 0o600 | stat.S_IFCHR, os.makedev(254, 300000))
    s = socket.socket(socket.AF_UNIX)
    s.bind(j(dev, "socket"))
    s.close()
    perms = j(root, "perms")
    os.makedirs(perms)
    _write(j(perms, "user"), b"u\n", 0o600, 1000, 1000)
    _write(j(perms, "suid"), b"s\n", 0o4755, 0, 0)
    _write(j(perms, "nobody"), b"n\n", 0o640, 65534, 65534)
    _write(j(perms, "exec"), b"#!/bin/sh\n", 0o755, 0, 100)
    os.makedirs(j(perms, "private"))
    os.chown(j(perms, "private"), 1000, 1000)
    os.chmod(j(perms, "private"), 0o2750)
    # Creating entries touched the directories: one fixed mtime for everything but
    # text.txt, which keeps its own so readers are seen to report per-inode times.
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for n in filenames + dirnames:
            if n != "text.txt" or dirpath != root:
                os.utime(j(dirpath, n), (MTIME, MTIME), follow_symlinks=False)
    os.utime(root, (MTIME, MTIME))


def tree(name="full"):
    """The folder of tree `name`, generated on first use (one builder at a time)."""
    path = os.path.join(cache_root(), "tree-" + name)
    if os.path.exists(path + ".done"):
        return path
    with _lock():
        if not os.path.exists(path + ".done"):
            shutil.rmtree(path, ignore_errors=True)
            generate(path, name)
            open(path + ".done", "w").close()
    return path


class _lock:
    """The cache's build lock across processes; re-entrant within one, so a builder
    may ask for a tree (or another image) while it holds the lock."""
    depth = 0
    f = None

    def __enter__(self):
        if _lock.depth == 0:
            os.makedirs(cache_root(), exist_ok=True)
            _lock.f = open(os.path.join(cache_root(), "build.lock"), "w")
            fcntl.flock(_lock.f, fcntl.LOCK_EX)
        _lock.depth += 1

    def __exit__(self, *exc):
        _lock.depth -= 1
        if _lock.depth == 0:
            _lock.f.close()
            _lock.f = None


def cached_image(kind, recipe, build):
    """The path of image `kind` made by `build(path)` from a JSON-able `recipe` (tool
    arguments, tree name); built once, atomically, under the cache lock."""
    key = hashlib.sha256(json.dumps([kind, recipe], sort_keys=True).encode()).hexdigest()[:12]
    path = os.path.join(cache_root(), "%s-%s.img" % (kind, key))
    if os.path.exists(path):
        return path
    with _lock():
        if not os.path.exists(path):
            tmp = path + ".tmp"
            if os.path.exists(tmp):
                os.unlink(tmp)
            build(tmp)
            os.rename(tmp, path)
    return path


def expected(root, rel):
    """(lstat, bytes or None, link target or None) of `rel` in a tree: what a reader
    must report."""
    p = os.path.join(root, rel.lstrip("/"))
    st = os.lstat(p)
    data = None
    target = None
    if stat.S_ISREG(st.st_mode):
        with open(p, "rb") as f:
            data = f.read()
    elif stat.S_ISLNK(st.st_mode):
        target = os.readlink(p)
    return st, data, target


def walk(root):
    """Every path in a tree, relative with a leading '/', directories included."""
    out = ["/"]
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel = dirpath[len(root):] or "/"
        for n in sorted(dirnames + filenames):
            out.append((rel.rstrip("/") + "/" + n))
    return out


if __name__ == "__main__":
    print(tree(sys.argv[1] if len(sys.argv) > 1 else "full"))
