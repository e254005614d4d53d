# The one block-I/O shim. Every disk, partition and dm device speaks
# MicroPython's block-device protocol (readblocks/writeblocks/ioctl) with
# 512-byte blocks, so dm devices stack and can be handed to vfs.VfsFat.
# Sizes are always in 512-byte sectors, as in the Linux block layer; a disk's
# logical block size (4096 for some DDIs) is only reported, never used to
# address it.

from dmfw.errors import DMError, IOFailure, EIO, EROFS, EINVAL, ENOENT, EACCES
from dmfw.compat import is_micropython

SECTOR_SHIFT = 9
SECTOR_SIZE = 512

IOCTL_INIT = 1
IOCTL_DEINIT = 2
IOCTL_SYNC = 3
IOCTL_BLK_COUNT = 4
IOCTL_BLK_SIZE = 5
IOCTL_BLK_ERASE = 6


class BlockDevice:
    """Base class. Subclasses implement _read/_write of whole sectors that
    are already known to be in range; the public protocol checks ranges,
    read-only state and the byte-offset form of the extended protocol."""

    name = "?"          # kernel name: vda, vda1, dm-0
    major = 0
    minor = 0
    nr_sectors = 0
    readonly = False
    logical_block_size = SECTOR_SIZE
    opens = 0           # holders (dm tables) that use this device

    def devno(self):
        return "%d:%d" % (self.major, self.minor)

    def io_opt(self):
        """Optimal I/O size in bytes (0: none), stacked as the kernel does."""
        return 0

    def size_bytes(self):
        return self.nr_sectors << SECTOR_SHIFT

    def _check(self, sector, nbytes):
        end = (nbytes + SECTOR_SIZE - 1) >> SECTOR_SHIFT
        if sector < 0 or sector + end > self.nr_sectors:
            raise IOFailure("%s: access beyond end of device: sector %d+%d > %d"
                            % (self.name, sector, end, self.nr_sectors))

    def readblocks(self, block_num, buf, offset=0):
        n = len(buf)
        if offset == 0 and not (n & 511):
            # _check inline: every layer of a stack pays this per request.
            if block_num < 0 or block_num + (n >> SECTOR_SHIFT) > self.nr_sectors:
                self._check(block_num, n)
            if n:
                self._read(block_num, memoryview(buf))
            return 0
        first, skip, tmp = self._covering(block_num, offset, n)
        memoryview(buf)[:] = memoryview(tmp)[skip:skip + n]
        return 0

    def writeblocks(self, block_num, buf, offset=0):
        if self.readonly:
            raise DMError(EROFS, "%s: device is read-only" % self.name)
        n = len(buf)
        if offset == 0 and not (n & 511):
            self._check(block_num, n)
            if n:
                self._write(block_num, memoryview(buf))
            return 0
        first, skip, tmp = self._covering(block_num, offset, n)
        tmp[skip:skip + n] = buf
        self._write(first, memoryview(tmp))
        return 0

    def _covering(self, block_num, offset, n):
        """The byte-granular form of the protocol: the whole sectors that
        cover `n` bytes at `offset` into `block_num`, read into a new buffer;
        returns (first sector, offset of the bytes in it, buffer)."""
        # Whole logical blocks, as the page cache reads them: a crypt device with
        # 4096-byte crypto sectors (or verity's data blocks) takes nothing smaller.
        lbs = self.logical_block_size
        start = (block_num << SECTOR_SHIFT) + offset
        first = (start - start % lbs) >> SECTOR_SHIFT
        skip = start - (first << SECTOR_SHIFT)
        span = skip + n
        span += -span % lbs
        self._check(first, span)
        tmp = bytearray(span)
        self._read(first, memoryview(tmp))
        return first, skip, tmp

    def readv(self, sector, parts):
        """Read consecutive sectors into several buffers (whole sectors
        each): one request to the device, not one per buffer."""
        if len(parts) == 1 or not _SPAN_IO:
            for mv in parts:
                self.readblocks(sector, mv)
                sector += len(mv) >> SECTOR_SHIFT
            return
        span = self._span(parts)
        self.readblocks(sector, span)
        o = 0
        for mv in parts:
            k = len(mv)
            mv[:] = span[o:o + k]
            o += k

    def writev(self, sector, parts):
        if len(parts) == 1 or not _SPAN_IO:
            for mv in parts:
                self.writeblocks(sector, mv)
                sector += len(mv) >> SECTOR_SHIFT
            return
        span = self._span(parts)
        o = 0
        for mv in parts:
            k = len(mv)
            span[o:o + k] = mv
            o += k
        self.writeblocks(sector, span)

    def _span(self, parts):
        # Firmware has no preadv: one large request into a buffer kept per
        # device, then copies, beats a request per chunk (virtio, SD, NVMe
        # all pay per request). Single-threaded, so the buffer can be reused.
        n = 0
        for mv in parts:
            n += len(mv)
        buf = getattr(self, "_spanbuf", None)
        if buf is None or len(buf) < n:
            buf = self._spanbuf = bytearray(n)
        return memoryview(buf)[:n]

    def ioctl(self, op, arg):
        if op == IOCTL_BLK_COUNT:
            return self.nr_sectors
        if op == IOCTL_BLK_SIZE:
            return SECTOR_SIZE
        if op == IOCTL_SYNC:
            self.sync()
        return 0

    def read(self, sector, count):
        """Convenience: return `count` sectors as a new bytearray."""
        buf = bytearray(count << SECTOR_SHIFT)
        self.readblocks(sector, buf)
        return buf

    def pread(self, offset, length):
        """Convenience for header parsers: `length` bytes at byte `offset`."""
        buf = bytearray(length)
        if length:
            self.readblocks(offset >> SECTOR_SHIFT, buf, offset & 511)
        return buf

    def sync(self):
        pass

    def close(self):
        pass

    def _read(self, sector, mv):
        raise IOFailure("%s: read not supported" % self.name)

    def _write(self, sector, mv):
        raise DMError(EROFS, "%s: write not supported" % self.name)


class FileDevice(BlockDevice):
    """An image file on the host or a real /dev node in the guest."""

    def __init__(self, path, readonly=False, name=None, major=0, minor=0,
                 logical_block_size=SECTOR_SIZE):
        try:
            # Unbuffered: readinto goes straight into the caller's buffer,
            # and preadv/pwritev on the descriptor cannot leave a stale
            # read buffer behind.
            self.f = open(path, "rb" if readonly else "r+b", buffering=0)
        except OSError as e:
            err = e.args[0] if e.args and isinstance(e.args[0], int) else ENOENT
            if err == EACCES and not readonly:
                raise DMError(EROFS, "%s: cannot open read-write" % path)
            raise DMError(err, "%s: cannot open: %s" % (path, _oserr(e)))
        self.path = path
        self.fd = self.f.fileno() if _PREADV is not None else None
        self.readonly = readonly
        self.name = name or path.split("/")[-1]
        self.major = major
        self.minor = minor
        self.logical_block_size = logical_block_size
        self.f.seek(0, 2)
        self.nr_sectors = self.f.tell() >> SECTOR_SHIFT

    def _read(self, sector, mv):
        f = self.f
        try:
            f.seek(sector << SECTOR_SHIFT)
            got = f.readinto(mv)
            n = len(mv)
            while got is not None and got < n:
                more = f.readinto(mv[got:])
                if not more:
                    break
                got += more
        except OSError as e:
            raise IOFailure("%s: I/O error reading sector %d: %s"
                            % (self.name, sector, _oserr(e)))
        if got != n:
            raise IOFailure("%s: short read at sector %d" % (self.name, sector))

    def _write(self, sector, mv):
        f = self.f
        try:
            f.seek(sector << SECTOR_SHIFT)
            put = f.write(mv)
            n = len(mv)
            while put is not None and put < n:
                more = f.write(mv[put:])
                if not more:
                    raise OSError(EIO)
                put += more
        except OSError as e:
            raise IOFailure("%s: I/O error writing sector %d: %s"
                            % (self.name, sector, _oserr(e)))

    def readv(self, sector, parts):
        pv = _PREADV
        if pv is None:
            return BlockDevice.readv(self, sector, parts)
        n = sum(map(len, parts))
        self._check(sector, n)
        try:
            got = pv(self.fd, parts, sector << SECTOR_SHIFT)
        except OSError as e:
            raise IOFailure("%s: I/O error reading sector %d: %s"
                            % (self.name, sector, _oserr(e)))
        if got != n:
            # Short vectored read (a signal, a device boundary): finish
            # it piece by piece so the error, if any, names the sector.
            BlockDevice.readv(self, sector, parts)

    def writev(self, sector, parts):
        pw = _PWRITEV
        if pw is None or self.readonly:
            return BlockDevice.writev(self, sector, parts)
        n = sum(map(len, parts))
        self._check(sector, n)
        try:
            put = pw(self.fd, parts, sector << SECTOR_SHIFT)
        except OSError as e:
            raise IOFailure("%s: I/O error writing sector %d: %s"
                            % (self.name, sector, _oserr(e)))
        if put != n:
            BlockDevice.writev(self, sector, parts)

    def sync(self):
        try:
            self.f.flush()
        except OSError as e:
            raise IOFailure("%s: flush failed: %s" % (self.name, _oserr(e)))

    def close(self):
        try:
            self.f.close()
        except OSError:
            pass


class MemoryDevice(BlockDevice):
    """A RAM disk; used by tests and by the firmware for scratch devices."""

    def __init__(self, data, name="ram0", major=1, minor=0, readonly=False):
        if isinstance(data, int):
            data = bytearray(data)
        if len(data) & 511:
            raise DMError(EINVAL, "%s: size is not a multiple of 512" % name)
        self.data = data
        self.mv = memoryview(data)
        self.name = name
        self.major = major
        self.minor = minor
        self.readonly = readonly
        self.nr_sectors = len(data) >> SECTOR_SHIFT

    def _read(self, sector, mv):
        o = sector << SECTOR_SHIFT
        mv[:] = self.mv[o:o + len(mv)]

    def _write(self, sector, mv):
        o = sector << SECTOR_SHIFT
        self.mv[o:o + len(mv)] = mv


class SliceDevice(BlockDevice):
    """A window of another device: partitions (vda1) are these."""

    def __init__(self, parent, start, nr_sectors, name, major=0, minor=0,
                 readonly=False):
        if start < 0 or nr_sectors < 0 or start + nr_sectors > parent.nr_sectors:
            raise DMError(EINVAL, "%s: outside %s" % (name, parent.name))
        self.parent = parent
        self.start = start
        self.nr_sectors = nr_sectors
        self.name = name
        self.major = major
        self.minor = minor
        self.readonly = readonly or parent.readonly
        self.logical_block_size = parent.logical_block_size

    def io_opt(self):
        return self.parent.io_opt()

    def _read(self, sector, mv):
        self.parent.readblocks(self.start + sector, mv)

    def _write(self, sector, mv):
        self.parent.writeblocks(self.start + sector, mv)


# Gather/scatter through one buffer where there is no vectored I/O. CPython
# has preadv for files and may run verity's checks on two threads, so it
# keeps the plain loop for other devices.
_SPAN_IO = is_micropython()


def _vectored(name):
    # CPython's os.preadv/pwritev: one syscall for all chunks of a stripe.
    # MicroPython has none; callers then fall back to a loop. Looked up
    # once, not on every request.
    try:
        import os
        return getattr(os, name, None)
    except ImportError:
        return None


_PREADV = _vectored("preadv")
_PWRITEV = _vectored("pwritev")


def _oserr(e):
    if e.args and isinstance(e.args[0], int):
        from dmfw.errors import strerror
        return strerror(e.args[0])
    return str(e)
