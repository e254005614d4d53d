"""ext2/ext3/ext4 reference images made by the real mke2fs (e2fsprogs 1.47) from the
images/fstree.py trees, cached with fstree.cached_image (CPython only).

    image(variant, tree="full")   -> path of a cached image
    VARIANTS                      -> {variant: (fs type, block size, extra mke2fs args)}
    recover_image()               -> an ext4 image flagged needs_recovery

Extra args are mke2fs options, plus two pseudo-options: "hash_alg=legacy|tea" (a
mke2fs.conf setting, written to a private config) and "size=NNNk" (the image
size; default 1.5x the tree plus 4 MiB; the file is sparse).

mke2fs -d copies regular files (all-zero blocks become holes; an all-zero file
stays inline with inline_data), directories, symlinks (fast, slow and inline),
hard links (one inode), fifos, sockets and device nodes (old and new rdev
encodings), keeping mode, uid, gid and mtime: tests/test_ext4.py checks every one
against the tree (the tree has no setuid bit left: its chown clears it). mke2fs -d
writes every directory linearly, so each image then goes through `e2fsck -fyD`,
which rebuilds directories of more than one block as htrees. The UUID, label, hash
seed and E2FSPROGS_FAKE_TIME are fixed; inode ctimes are still the build time, so
images are equal in what a reader reports, not byte for byte.
"""
import os
import subprocess

from images.fstree import cached_image, tree

UUID = "01234567-89ab-cdef-0123-456789abcdef"
HASH_SEED = "11111111-2222-3333-4444-555555555555"
LABEL = "dmfw-ext"
TOOLS = ("mke2fs", "debugfs")

VARIANTS = {
    "ext4-4k": ("ext4", 4096, []),
    "ext4-1k": ("ext4", 1024, []),
    "ext2-1k": ("ext2", 1024, []),
    "ext2-4k": ("ext2", 4096, []),
    "ext3-1k": ("ext3", 1024, []),
    "ext3-4k": ("ext3", 4096, []),
    "ext4-inline": ("ext4", 4096, ["-O", "inline_data"]),
    "ext4-nocsum": ("ext4", 4096, ["-O", "^metadata_csum"]),
    "ext4-no64": ("ext4", 4096, ["-O", "^64bit"]),
    "ext4-noflex": ("ext4", 1024, ["-O", "^flex_bg"]),
    "ext4-noextent": ("ext4", 4096, ["-O", "^extent,^64bit"]),
    "ext4-nodx": ("ext4", 4096, ["-O", "^dir_index"]),
    "ext4-i128": ("ext4", 4096, ["-I", "128"]),
    # 40 groups of 8 MiB (a sparse file): descriptor blocks in meta groups 0, 16, 32.
    "ext4-metabg": ("ext4", 1024, ["-O", "meta_bg,^resize_inode", "size=327680k"]),
    "ext2-groups": ("ext2", 1024, ["size=131072k"]),
    "ext4-seed": ("ext4", 4096, ["-O", "metadata_csum_seed"]),
    # The features only (mke2fs -d sets no +F/+E directories): still readable.
    "ext4-casefold": ("ext4", 4096, ["-O", "casefold"]),
    "ext4-encrypt": ("ext4", 4096, ["-O", "encrypt"]),
    "ext4-64k": ("ext4", 65536, ["size=65536k"]),
    "ext4-tea": ("ext4", 4096, ["hash_alg=tea"]),
    "ext4-legacy": ("ext4", 1024, ["hash_alg=legacy"]),
}


def run(cmd, env=None):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    if r.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(cmd), r.returncode,
                                                   r.stderr.decode(errors="replace")))
    return r.stdout.decode(errors="replace")


def tree_kb(root):
    total = 0
    for dirpath, dirnames, filenames in os.walk(root):
        for n in filenames + dirnames:
            st = os.lstat(os.path.join(dirpath, n))
            total += (st.st_size + 4095) // 4096 * 4 + 4
    return total


def mke2fs(path, src, fstype, bs, extra, size_kb=None, label=LABEL):
    size_kb = size_kb or max(8192, tree_kb(src) * 3 // 2 + 4096)
    env = dict(os.environ, E2FSPROGS_FAKE_TIME="1700000000")
    # "hash_alg=X" is not an mke2fs option but a mke2fs.conf setting: a private
    # config file selects the htree hash (legacy, half_md4, tea).
    algs = [a for a in extra if a.startswith("hash_alg=")]
    for a in extra:
        if a.startswith("size="):
            size_kb = int(a[5:-1])
    extra = [a for a in extra if not a.startswith("hash_alg=") and not a.startswith("size=")]
    if algs:
        with open("/etc/mke2fs.conf") as f:
            conf = f.read()
        conf = conf.replace("[defaults]\n", "[defaults]\n\t%s\n" % algs[0], 1)
        with open(path + ".conf", "w") as f:
            f.write(conf)
        env["MKE2FS_CONFIG"] = path + ".conf"
    ext = "root_owner=0:0,hash_seed=" + HASH_SEED
    with open(path, "wb") as f:
        f.truncate(size_kb * 1024)  # sparse: large geometries cost no disk space
    cmd = ["mke2fs", "-q", "-F", "-t", fstype, "-b", str(bs), "-d", src, "-U", UUID,
           "-L", label, "-E", ext] + extra + [path, "%dk" % size_kb]
    try:
        run(cmd, env)
    finally:
        if algs:
            os.unlink(path + ".conf")
    if "^dir_index" not in " ".join(extra):
        # mke2fs -d writes every directory linearly; e2fsck -D rebuilds the large
        # ones as htrees (as a kernel-grown directory would be), so lookups in
        # /many go through dx_root/dx_node blocks. Exit 1 = "fixed", expected.
        r = subprocess.run(["e2fsck", "-fyD", path], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=env)
        if r.returncode not in (0, 1):
            raise RuntimeError("e2fsck -fyD %s failed (%d): %s"
                               % (path, r.returncode, r.stdout.decode(errors="replace")))


def image(variant, tree_name="full"):
    fstype, bs, extra = VARIANTS[variant]
    src = tree(tree_name)
    recipe = {"tree": tree_name, "type": fstype, "bs": bs, "extra": extra, "v": 2}
    return cached_image("ext-" + variant, recipe, lambda p: mke2fs(p, src, fstype, bs, extra))


def recover_image(tree_name="small"):
    """An ext4 image whose superblock says the journal needs recovery."""
    src = tree(tree_name)

    def build(p):
        mke2fs(p, src, "ext4", 4096, [])
        run(["debugfs", "-w", "-R", "feature needs_recovery", p])
    return cached_image("ext-recover", {"tree": tree_name, "v": 1}, build)


def inode_of(path, fspath):
    """The inode number debugfs reports for fspath."""
    out = run(["debugfs", "-R", "stat " + fspath, path])
    return int(out.split()[1])


def debugfs(path, req):
    return subprocess.run(["debugfs", "-R", req, path], stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL).stdout.decode(errors="replace")
