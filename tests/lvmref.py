# Helpers for the LVM tests: the reference PVs made by the real lvm2
# (images/lvm.py), devices that stamp their data sectors so a read through
# an LV shows where each sector came from, and a copy-on-write overlay for
# damaging PVs without touching the cached images.

import os
import struct

import pytest

from dmfw.blockdev import FileDevice, BlockDevice


def load(name):
    """The manifest of reference set `name`, or skip when lvm2/loop devices
    are truly unavailable here."""
    from images import lvm as recipe
    why = recipe.missing_tools()
    d = os.path.join(recipe.cache_root(), recipe.recipe_key(name))
    if why and not os.path.exists(os.path.join(d, "manifest.json")):
        pytest.skip("reference PVs need the real lvm2: " + why)
    return recipe.load(name)


def devno(loop):
    return 7, int(loop[4:])


def file_devices(m, skip=()):
    out = []
    for p, l in zip(m["paths"], m["loops"]):
        if l in skip:
            continue
        ma, mi = devno(l)
        out.append(FileDevice(p, readonly=True, name=l, major=ma, minor=mi))
    return out


def stamp(name, sector):
    return struct.pack("<8sQ", name.encode(), sector) * 32


class StampDevice(FileDevice):
    """A reference PV whose sectors from `data_start` on read as a stamp of
    (device, sector) instead of the (empty) file content."""

    def __init__(self, path, name, data_start, data_end):
        ma, mi = devno(name)
        FileDevice.__init__(self, path, readonly=True, name=name, major=ma, minor=mi)
        self.data_start = data_start
        self.data_end = data_end

    def readv(self, sector, parts):
        BlockDevice.readv(self, sector, parts)

    def _read(self, sector, mv):
        FileDevice._read(self, sector, mv)
        n = len(mv) >> 9
        for i in range(n):
            s = sector + i
            if self.data_start <= s < self.data_end:
                mv[i * 512:(i + 1) * 512] = stamp(self.name, s)


class Overlay(BlockDevice):
    """Copy-on-write view of a device: writes (and `poke`) land in memory."""

    def __init__(self, base, name=None, nr_sectors=None, major=None, minor=None):
        self.base = base
        self.name = name or base.name
        self.major = base.major if major is None else major
        self.minor = base.minor if minor is None else minor
        self.nr_sectors = base.nr_sectors if nr_sectors is None else nr_sectors
        self.readonly = False
        self.cow = {}

    def _read(self, sector, mv):
        self.base.readblocks(sector, mv)
        for i in range(len(mv) >> 9):
            b = self.cow.get(sector + i)
            if b is not None:
                mv[i * 512:(i + 1) * 512] = b

    def _write(self, sector, mv):
        for i in range(len(mv) >> 9):
            self.cow[sector + i] = bytes(mv[i * 512:(i + 1) * 512])

    def poke(self, offset, data):
        self.writeblocks(offset >> 9, data, offset & 511)


def rewrite_metadata(dev, mda_offset, text, seal=True):
    """Put `text` as the committed metadata of the area at `mda_offset`
    (bytes), fixing the CRCs as lvm2 would unless `seal` is False."""
    from dmfw.lvm.crc import calc_crc
    h = bytearray(dev.pread(mda_offset, 512))
    off = struct.unpack_from("<Q", h, 40)[0]
    if isinstance(text, str):
        text = text.encode()
    dev.poke(mda_offset + off, text)
    struct.pack_into("<QI", h, 48, len(text), calc_crc(text) if seal else 0)
    struct.pack_into("<I", h, 0, calc_crc(bytes(h[4:])))
    dev.poke(mda_offset, bytes(h))


def committed_text(dev, mda_offset=4096):
    h = dev.pread(mda_offset, 512)
    off, size = struct.unpack_from("<QQ", h, 40)
    return bytes(dev.pread(mda_offset + off, size))


def text_offset(dev, mda_offset=4096):
    """Absolute byte offset of the committed metadata text."""
    h = dev.pread(mda_offset, 512)
    return mda_offset + struct.unpack_from("<Q", h, 40)[0]


class Faulty(Overlay):
    """An overlay whose reads fail inside [lo, hi) (sectors)."""

    def __init__(self, base, lo, hi, **kw):
        Overlay.__init__(self, base, **kw)
        self.lo = lo
        self.hi = hi

    def readv(self, sector, parts):
        BlockDevice.readv(self, sector, parts)

    def _read(self, sector, mv):
        from dmfw.errors import IOFailure
        if sector < self.hi and sector + (len(mv) >> 9) > self.lo:
            raise IOFailure("%s: injected read error at sector %d" % (self.name, sector))
        Overlay._read(self, sector, mv)
