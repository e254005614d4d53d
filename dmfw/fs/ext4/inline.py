# inline_data: small files, directories and symlinks kept in the inode itself:
# the first 60 bytes in i_block, the rest in the in-inode attribute "system.data".
# An inline directory starts with the parent's inode number (4 bytes) instead of
# "." and "..", then dirents fill i_block and, separately, the attribute value.

from dmfw.errors import FormatError
from dmfw.fs.ext4.inode import XATTR_INDEX_SYSTEM


def _extra(dino):
    v = dino.xattr(XATTR_INDEX_SYSTEM, b"data")
    if v is None:
        raise FormatError("ext4: inode %d: inline data without system.data" % dino.ino)
    return v


def inline_bytes(dino):
    """The stored content of an inline inode (at most an inode's size). A file may
    be longer than that (mke2fs keeps an all-zero file inline): the rest reads as
    zeros, as the kernel's ext4_readpage_inline does."""
    data = bytes(dino.iblock) + _extra(dino)
    return data[:dino.size]


def inline_dir_parts(fs, dino):
    yield dino.iblock, 4, 60, "inline"
    v = _extra(dino)
    if v:
        yield v, 0, len(v), "inline attribute"
