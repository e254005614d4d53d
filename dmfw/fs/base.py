# What every read-only file system reader in dmfw/fs offers, and what it gets
# for free. A reader (squashfs, erofs, ext4, fat) subclasses FileSystem and
# implements five inode-level calls; path walking, symlinks, `..`, loop limits,
# streaming file objects and the MicroPython vfs protocol are done once, here.
#
# Reader contract (all errors are dmfw.errors.DMError subclasses, never others):
#   kind            blkid's TYPE: "squashfs", "erofs", "ext2", "ext3", "ext4", "vfat"
#   dev             the block device (pread(offset, n) -> bytes)
#   block_size      the file system's block size in bytes (blkid's BLOCK_SIZE)
#   uuid, label     str or None, formatted as blkid prints them
#   root()          -> Inode of "/"
#   entries(dir)    -> iterable of (name: bytes, child) for a directory Inode, without
#                      "." and ".."; child is an Inode or anything inode(child) takes
#   inode(ref)      -> Inode for a child reference from entries() (identity if Inode)
#   lookup_child(dir, name: bytes) -> Inode or None; the default scans entries(),
#                      readers with indexes (htree, squashfs dir index) may override
#   read_link(ino)  -> bytes, the target of a symlink Inode
#   read(ino, pos, n) -> bytes: up to n bytes at pos of a regular file (0 <= pos);
#                      fewer at end of file or past the reader's per-call cap (File
#                      loops); b"" at or past the end. Must stream:
#                      memory bounded by a block (and the reader's stated caches).
#   readinto(ino, pos, mv) -> int (optional): the same into a memoryview, for readers
#                      that can fill the caller's buffer without a copy (FAT).
#
# Inode attributes a reader fills in: ino, mode (st_mode with S_IFMT bits), nlink, uid,
# gid, size, mtime (seconds since the epoch, UTC; atime/ctime default to it), for
# device nodes rdev_major/rdev_minor, and blocks (st_blocks, 512-byte units, as the
# Linux driver computes it; None means ceil(size / 512)).

from dmfw.errors import DMError, ENOENT, EINVAL

ENOTDIR = 20
EISDIR = 21
ELOOP = 40
ENAMETOOLONG = 36

S_IFMT = 0o170000
S_IFSOCK = 0o140000
S_IFLNK = 0o120000
S_IFREG = 0o100000
S_IFBLK = 0o060000
S_IFDIR = 0o040000
S_IFCHR = 0o020000
S_IFIFO = 0o010000

# Linux's limits: 40 symlinks per path walk (MAXSYMLINKS), 4095-byte paths.
MAXSYMLINKS = 40
PATH_MAX = 4096


def s_isdir(mode):
    return (mode & S_IFMT) == S_IFDIR


def s_isreg(mode):
    return (mode & S_IFMT) == S_IFREG


def s_islnk(mode):
    return (mode & S_IFMT) == S_IFLNK


class Inode:
    ino = 0
    mode = 0
    nlink = 1
    uid = 0
    gid = 0
    size = 0
    mtime = 0
    atime = None
    ctime = None
    rdev_major = 0
    rdev_minor = 0
    blocks = None

    def st_blocks(self):
        return self.blocks if self.blocks is not None else (self.size + 511) >> 9

    def is_dir(self):
        return s_isdir(self.mode)

    def is_reg(self):
        return s_isreg(self.mode)

    def is_lnk(self):
        return s_islnk(self.mode)


def decode_name(raw):
    """A directory entry's bytes as str. Linux names are bytes; names that are not
    UTF-8 keep their bytes visible as \\xNN escapes instead of failing the listing."""
    try:
        return raw.decode("utf-8")
    except UnicodeError:
        return "".join(chr(b) if b < 0x80 else "\\x%02x" % b for b in raw)


def split_path(path):
    if len(path) >= PATH_MAX:
        raise DMError(ENAMETOOLONG, "%s: file name too long" % path[:64])
    return [p for p in path.split("/") if p and p != "."]


class FileSystem:
    kind = "?"
    block_size = 0
    uuid = None
    label = None
    dev = None

    # --- what readers implement (see the contract above) ---
    def root(self):
        raise DMError(EINVAL, "no root")

    def entries(self, dir_inode):
        return ()

    def inode(self, ref):
        return ref

    def lookup_child(self, dir_inode, name):
        for raw, ref in self.entries(dir_inode):
            if raw == name:
                return self.inode(ref)
        return None

    def read_link(self, inode):
        raise DMError(EINVAL, "not a symlink")

    def read(self, inode, pos, n):
        return b""

    def readinto(self, inode, pos, mv):
        chunk = self.read(inode, pos, len(mv))
        mv[:len(chunk)] = chunk
        return len(chunk)

    def io_block(self):
        """st_blksize as Linux reports it (stat's "IO Block"): the block size by
        default; readers whose driver says otherwise override it. squashfs is the
        odd one: Linux sizes its buffers with sb_min_blocksize(sb, 1024), so it is
        the device's logical block size if larger (4096 on a dm-verity device)."""
        if self.kind == "squashfs":
            lbs = getattr(self.dev, "logical_block_size", 512) if self.dev else 512
            return max(1024, lbs)
        return self.block_size or 4096

    # --- what every reader gets ---
    def lookup(self, path, follow=True):
        """The Inode at `path` (absolute, or relative to the root). Symlinks in the
        middle are always followed, the last one only when `follow`; `..` goes to the
        walked parent, never above the root, as in a chroot."""
        return self._walk(path, follow)[0][-1]

    def realpath(self, path):
        """`path` with every symlink, `.` and `..` resolved (readlink -f); it must exist."""
        return "/" + "/".join(self._walk(path, True)[1])

    def _walk(self, path, follow):
        # The inodes from the root down, and the names that lead to them.
        stack = [self.root()]
        names = []
        todo = split_path(path)
        todo.reverse()
        links = 0
        while todo:
            part = todo.pop()
            if part == "..":
                if len(stack) > 1:
                    stack.pop()
                    names.pop()
                continue
            cur = stack[-1]
            if not cur.is_dir():
                raise DMError(ENOTDIR, "%s: not a directory" % path)
            child = self.lookup_child(cur, part.encode())
            if child is None:
                raise DMError(ENOENT, "%s: no such file or directory" % path)
            if child.is_lnk() and (todo or follow):
                links += 1
                if links > MAXSYMLINKS:
                    raise DMError(ELOOP, "%s: too many levels of symbolic links" % path)
                target = decode_name(self.read_link(child))
                if target.startswith("/"):
                    stack = stack[:1]
                    names = []
                parts = split_path(target)
                parts.reverse()
                todo.extend(parts)
                continue
            stack.append(child)
            names.append(part)
        return stack, names

    def stat(self, path):
        return self.lookup(path, True)

    def lstat(self, path):
        return self.lookup(path, False)

    def scandir(self, path="/"):
        """[(name, Inode)] of a directory, in the file system's own order."""
        d = self.lookup(path)
        if not d.is_dir():
            raise DMError(ENOTDIR, "%s: not a directory" % path)
        return [(decode_name(raw), self.inode(ref)) for raw, ref in self.entries(d)]

    def listdir(self, path="/"):
        # Names only: no inode per entry (a 3000-entry directory on a small heap).
        d = self.lookup(path)
        if not d.is_dir():
            raise DMError(ENOTDIR, "%s: not a directory" % path)
        return [decode_name(raw) for raw, _ in self.entries(d)]

    def readlink(self, path):
        ino = self.lookup(path, False)
        if not ino.is_lnk():
            raise DMError(EINVAL, "%s: not a symbolic link" % path)
        return decode_name(self.read_link(ino))

    def open(self, path, mode="rb"):
        if "w" in mode or "a" in mode or "+" in mode or "x" in mode:
            raise DMError(30, "%s: read-only file system" % path)
        ino = self.lookup(path)
        if ino.is_dir():
            raise DMError(EISDIR, "%s: is a directory" % path)
        if not ino.is_reg():
            raise DMError(EINVAL, "%s: not a regular file" % path)
        return File(self, ino, path, "b" not in mode)


SEEK_SET, SEEK_CUR, SEEK_END = 0, 1, 2


class File:
    """A read-only stream over one regular file; reads go straight to the reader's
    read(), so memory stays bounded by the caller's request and the reader's caches."""

    def __init__(self, fs, inode, path="", text=False):
        self.fs = fs
        self.inode = inode
        self.name = path
        self.pos = 0
        self.text = text
        self.closed = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.closed = True

    def tell(self):
        return self.pos

    def seek(self, off, whence=SEEK_SET):
        if whence == SEEK_CUR:
            off += self.pos
        elif whence == SEEK_END:
            off += self.inode.size
        elif whence != SEEK_SET:
            raise DMError(EINVAL, "seek: bad whence")
        if off < 0:
            raise DMError(EINVAL, "%s: seek before the start" % self.name)
        self.pos = off
        return off

    def readinto(self, buf, n=-1):
        want = len(buf) if n < 0 else min(n, len(buf))
        mv = memoryview(buf)
        got = 0
        while got < want:
            k = self.fs.readinto(self.inode, self.pos, mv[got:want])
            if not k:
                break
            got += k
            self.pos += k
        return got

    def read(self, n=-1):
        """Up to n bytes (all to the end with n < 0), in one buffer sized once: a
        firmware heap holds a kernel image once, not in pieces and then joined. The
        result is a bytearray (bytes-like, what hashlib and struct take)."""
        left = max(0, self.inode.size - self.pos)
        if n is None or n < 0 or n > left:
            n = left
        buf = bytearray(n)
        k = self.readinto(buf)
        if k < n:
            buf = buf[:k]
        return buf.decode() if self.text else buf

    def readline(self):
        out = bytearray()
        while True:
            c = self.fs.read(self.inode, self.pos, 1)
            if not c:
                break
            self.pos += 1
            out += c
            if c == b"\n":
                break
        return out.decode() if self.text else bytes(out)

    def __iter__(self):
        return self

    def __next__(self):
        line = self.readline()
        if not line:
            raise StopIteration
        return line
