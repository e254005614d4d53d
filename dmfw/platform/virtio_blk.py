# virtio-blk over virtio-mmio, polled: the block-I/O shim of the bare-metal
# firmware (QEMU's RISC-V `virt` machine; images/baremetal.py). One split
# virtqueue, one request in flight, no interrupts. Both transport versions:
# the legacy one (version 1, what QEMU 7.2 presents by default; virtio 1.2
# section 4.2.4) and the modern one (version 2, `-global
# virtio-mmio.force-legacy=false`). Data moves straight between the device and
# the caller's buffer (its address from uctypes), so a read costs one request
# and no copy. Registers through machine.mem32; the rings live in a bytearray
# (MicroPython's heap does not move objects).

import struct

from dmfw.blockdev import BlockDevice, SECTOR_SHIFT
from dmfw.errors import IOFailure, DMError, ENODEV

# QEMU virt: eight transports from 0x10001000, 0x1000 apart. The first
# -device on QEMU's command line takes the LAST slot, so command-line order
# (vda, vdb, ...) is descending slot order.
MMIO_BASE = 0x10001000
MMIO_STRIDE = 0x1000
MMIO_SLOTS = 8

MAGIC = 0x74726976              # "virt"
DEVICE_BLK = 2

# Register offsets (virtio 1.2, 4.2.2; legacy-only ones 4.2.4).
R_MAGIC = 0x000
R_VERSION = 0x004
R_DEVICE_ID = 0x008
R_DEVICE_FEATURES = 0x010
R_DEVICE_FEATURES_SEL = 0x014
R_DRIVER_FEATURES = 0x020
R_DRIVER_FEATURES_SEL = 0x024
R_GUEST_PAGE_SIZE = 0x028       # legacy
R_QUEUE_SEL = 0x030
R_QUEUE_NUM_MAX = 0x034
R_QUEUE_NUM = 0x038
R_QUEUE_ALIGN = 0x03c           # legacy
R_QUEUE_PFN = 0x040             # legacy
R_QUEUE_READY = 0x044
R_QUEUE_NOTIFY = 0x050
R_INTERRUPT_STATUS = 0x060
R_INTERRUPT_ACK = 0x064
R_STATUS = 0x070
R_QUEUE_DESC = 0x080            # low, high at +4
R_QUEUE_DRIVER = 0x090
R_QUEUE_DEVICE = 0x0a0
R_CONFIG = 0x100

S_ACKNOWLEDGE = 1
S_DRIVER = 2
S_DRIVER_OK = 4
S_FEATURES_OK = 8
S_FAILED = 128

# Feature bits (virtio-blk 5.2.3 and the transport's VERSION_1).
F_SIZE_MAX = 1
F_SEG_MAX = 2
F_RO = 5
F_BLK_SIZE = 6
F_FLUSH = 9
F_VERSION_1 = 32
WANTED = (1 << F_SIZE_MAX) | (1 << F_SEG_MAX) | (1 << F_RO) | (1 << F_BLK_SIZE) | \
    (1 << F_FLUSH)

T_IN = 0
T_OUT = 1
T_FLUSH = 4
S_OK = 0
S_IOERR = 1
S_UNSUPP = 2

DESC_NEXT = 1
DESC_WRITE = 2
AVAIL_NO_INTERRUPT = 1

PAGE = 4096
QUEUE_SIZE = 16                 # descriptors: header + data segments + status
MAX_REQUEST = 1 << 20           # bytes per request; larger I/O is split

_mem32 = None
_addressof = None


def _hw():
    global _mem32, _addressof
    if _mem32 is None:
        import machine
        import uctypes
        _mem32 = machine.mem32
        _addressof = uctypes.addressof
    return _mem32


def probe(base=MMIO_BASE, slots=MMIO_SLOTS):
    """[(transport address, version)] of the block devices, in QEMU command-line
    order (vda first)."""
    m = _hw()
    found = []
    for i in range(slots - 1, -1, -1):
        a = base + MMIO_STRIDE * i
        if m[a + R_MAGIC] == MAGIC and m[a + R_DEVICE_ID] == DEVICE_BLK:
            found.append((a, m[a + R_VERSION] & 0xffffffff))
    return found


class VirtioBlk(BlockDevice):
    """One virtio-blk disk: capacity and read-only state from its config space."""

    whole_disk = True       # a disk, not a partition (dmfw.disk.partitions)

    def __init__(self, base, name, major=0, minor=0):
        m = _hw()
        self.base = base
        self.name = name
        self.major = major
        self.minor = minor
        self.version = m[base + R_VERSION]
        if m[base + R_MAGIC] != MAGIC or m[base + R_DEVICE_ID] != DEVICE_BLK or \
                self.version not in (1, 2):
            raise DMError(ENODEV, "%s: no virtio-blk device at 0x%x" % (name, base))
        self.features = self._negotiate()
        self._setup_queue()
        self._status(S_DRIVER_OK)
        cfg = base + R_CONFIG
        self.nr_sectors = (m[cfg] & 0xffffffff) | ((m[cfg + 4] & 0xffffffff) << 32)
        self.readonly = bool(self.features & (1 << F_RO))
        if self.features & (1 << F_BLK_SIZE):
            self.logical_block_size = self._reg(R_CONFIG + 0x14) or 512
        self.size_max = self._reg(R_CONFIG + 0x08) if self.features & (1 << F_SIZE_MAX) else 0
        self.seg_max = self._reg(R_CONFIG + 0x0c) if self.features & (1 << F_SEG_MAX) else 0

    # -- bring-up (virtio 1.2, 3.1.1)
    def _reg(self, off, value=None):
        if value is None:
            return _mem32[self.base + off] & 0xffffffff     # mem32 reads signed
        _mem32[self.base + off] = value

    def _status(self, bit):
        self._reg(R_STATUS, self._reg(R_STATUS) | bit)

    def _negotiate(self):
        self._reg(R_STATUS, 0)                      # reset
        self._status(S_ACKNOWLEDGE)
        self._status(S_DRIVER)
        self._reg(R_DEVICE_FEATURES_SEL, 0)
        low = self._reg(R_DEVICE_FEATURES) & WANTED
        self._reg(R_DRIVER_FEATURES_SEL, 0)
        self._reg(R_DRIVER_FEATURES, low)
        if self.version == 1:
            return low
        self._reg(R_DEVICE_FEATURES_SEL, 1)
        high = self._reg(R_DEVICE_FEATURES) & (1 << (F_VERSION_1 - 32))
        self._reg(R_DRIVER_FEATURES_SEL, 1)
        self._reg(R_DRIVER_FEATURES, high)
        self._status(S_FEATURES_OK)
        if not self._reg(R_STATUS) & S_FEATURES_OK or not high:
            self._status(S_FAILED)
            raise DMError(ENODEV, "%s: device refused the features" % self.name)
        return low | (high << 32)

    def _setup_queue(self):
        self._reg(R_QUEUE_SEL, 0)
        if self.version == 1 and self._reg(R_QUEUE_PFN) or \
                self.version == 2 and self._reg(R_QUEUE_READY):
            raise DMError(ENODEV, "%s: queue 0 already in use" % self.name)
        qmax = self._reg(R_QUEUE_NUM_MAX)
        if qmax == 0:
            raise DMError(ENODEV, "%s: no queue 0" % self.name)
        n = self.qsize = min(QUEUE_SIZE, qmax)
        # Legacy layout (2.7.2): descriptors, then the available ring, the used
        # ring on the next page; the request header and status byte after it.
        self.avail_off = 16 * n
        self.used_off = (self.avail_off + 6 + 2 * n + PAGE - 1) & ~(PAGE - 1)
        self.hdr_off = self.used_off + ((6 + 8 * n + 15) & ~15)
        self.status_off = self.hdr_off + 16
        size = self.status_off + 16
        raw = self._ring_mem = bytearray(size + PAGE)
        addr = _addressof(raw)
        skip = -addr % PAGE
        self.ring = memoryview(raw)[skip:skip + size]
        self.ring_addr = addr + skip
        self.hdr_addr = self.ring_addr + self.hdr_off
        self.status_addr = self.ring_addr + self.status_off
        self._reg(R_QUEUE_NUM, n)
        if self.version == 1:
            self._reg(R_GUEST_PAGE_SIZE, PAGE)
            self._reg(R_QUEUE_ALIGN, PAGE)
            self._reg(R_QUEUE_PFN, self.ring_addr // PAGE)
        else:
            for reg, off in ((R_QUEUE_DESC, 0), (R_QUEUE_DRIVER, self.avail_off),
                             (R_QUEUE_DEVICE, self.used_off)):
                self._reg(reg, self.ring_addr + off)
                self._reg(reg + 4, 0)
            self._reg(R_QUEUE_READY, 1)
        struct.pack_into("<H", self.ring, self.avail_off, AVAIL_NO_INTERRUPT)
        struct.pack_into("<QIHH", self.ring, 0, self.hdr_addr, 16, DESC_NEXT, 1)
        self._status_desc = 0
        self.avail_idx = 0
        self.used_idx = 0
        self.notify = self.base + R_QUEUE_NOTIFY
        self.isr = self.base + R_INTERRUPT_STATUS
        self.isr_ack = self.base + R_INTERRUPT_ACK

    # -- requests
    def _request(self, kind, sector, mv):
        """One request: header, the data in segments of at most size_max bytes,
        status. Waits for the device (polled). Returns the status byte.

        Every request is chain 0: descriptor 0 (the header) and the available
        ring's entries (all 0) never change; the status descriptor is rewritten
        only when the number of data segments does."""
        ring = self.ring
        struct.pack_into("<IIQ", ring, self.hdr_off, kind, 0, sector)
        d = 1
        n = len(mv) if mv is not None else 0
        if n:
            flags = DESC_NEXT | (DESC_WRITE if kind == T_IN else 0)
            addr = _addressof(mv)
            seg = self.size_max or n
            o = 0
            while o < n:
                k = min(seg, n - o)
                struct.pack_into("<QIHH", ring, 16 * d, addr + o, k, flags, d + 1)
                d += 1
                o += k
        if d != self._status_desc:
            struct.pack_into("<QIHH", ring, 16 * d, self.status_addr, 1, DESC_WRITE, 0)
            self._status_desc = d
        ring[self.status_off] = 0xff
        idx = self.avail_idx = (self.avail_idx + 1) & 0xffff
        lo = idx & 0xff
        hi = idx >> 8
        a = self.avail_off + 2
        ring[a] = lo
        ring[a + 1] = hi
        _mem32[self.notify] = 0
        u = self.used_off + 2
        while ring[u] != lo or ring[u + 1] != hi:
            pass
        self.used_idx = idx
        # No interrupt is wanted, but the device may still raise one: ack it.
        isr = _mem32[self.isr] & 3
        if isr:
            _mem32[self.isr_ack] = isr
        return ring[self.status_off]

    def _max_bytes(self):
        # Descriptors left for data after header and status; segments of size_max.
        segs = self.qsize - 2
        if self.seg_max:
            segs = min(segs, self.seg_max)
        if self.size_max:
            return min(MAX_REQUEST, segs * self.size_max) & ~511
        return MAX_REQUEST

    def _io(self, kind, sector, mv):
        step = self._max_bytes()
        n = len(mv)
        o = 0
        while o < n:
            k = min(step, n - o)
            st = self._request(kind, sector + (o >> SECTOR_SHIFT),
                               mv if k == n else mv[o:o + k])
            if st != S_OK:
                what = "reading" if kind == T_IN else "writing"
                why = "I/O error" if st == S_IOERR else "request not supported"
                raise IOFailure("%s: %s %s sector %d"
                                % (self.name, why, what, sector + (o >> SECTOR_SHIFT)))
            o += k

    def _read(self, sector, mv):
        self._io(T_IN, sector, mv)

    def _write(self, sector, mv):
        self._io(T_OUT, sector, mv)

    def sync(self):
        if self.features & (1 << F_FLUSH):
            if self._request(T_FLUSH, 0, None) != S_OK:
                raise IOFailure("%s: flush failed" % self.name)


def attach_all(registry, warn=None):
    """Every virtio-blk disk as vda, vdb, ... (QEMU command-line order) with the
    numbers Linux gives them (254:0, 254:16, ...), partitions scanned. Returns
    the devices."""
    from dmfw.devnames import disk_devno
    devs = []
    for i, (base, _version) in enumerate(probe()):
        name = "vd" + chr(ord("a") + i)
        major, minor = disk_devno(name)
        try:
            dev = VirtioBlk(base, name, major, minor)
        except DMError as e:
            if warn is not None:
                warn(str(e))
            continue
        registry.add(dev)
        registry.scan_partitions(dev, warn)
        devs.append(dev)
    return devs
