# The device-mapper core, with the semantics of Linux drivers/md/dm.c and
# dm-ioctl.c: named devices with a live and an inactive table, load goes to
# the inactive slot, resume swaps it in, suspend stops I/O (firmware cannot
# queue it, so I/O on a suspended device fails), busy devices cannot go.

from dmfw.blockdev import BlockDevice, SECTOR_SHIFT
from dmfw.errors import DMError, EBUSY, EINVAL, ENXIO, EIO
from dmfw import table as tables
from dmfw.devices import DM_MAJOR

DM_NAME_LEN = 128
DM_UUID_LEN = 129
VM_READAHEAD_SECTORS = 256      # 128 KiB, the kernel's default read-ahead


class Platform:
    """Hooks the firmware decides: what restart and panic mean, and where a boot
    payload is loaded."""

    def load_buffers(self, sizes):
        """Writable buffers of these sizes (kernel, initrds, device tree), in order;
        MemoryError when they do not fit. Here from the heap, largest first (a heap
        that does not compact gives a large block most easily before the smaller);
        a firmware with a load region outside its heap (U-Boot's kernel_addr_r)
        returns memory there."""
        out = [None] * len(sizes)
        for i in sorted(range(len(sizes)), key=lambda i: -sizes[i]):
            out[i] = bytearray(sizes[i])
        return out

    def restart(self, reason):
        raise DMError(EIO, "restart requested: %s" % reason)

    def panic(self, reason):
        raise DMError(EIO, "panic requested: %s" % reason)


class MappedDevice(BlockDevice):
    def __init__(self, mapper, name, uuid, minor):
        self.mapper = mapper
        self.dm_name = name
        self.uuid = uuid or ""
        self.major = DM_MAJOR
        self.minor = minor
        self.name = "dm-%d" % minor
        self.live = None
        self.inactive = None
        self.suspended = False
        self.readonly = False
        self.event_nr = 0
        self.nr_sectors = 0
        self.immutable_type = None

    # -- I/O: split the request over the targets it spans.
    def _io(self, sector, mv, write):
        if self.suspended:
            raise DMError(EIO, "%s: device is suspended" % self.dm_name)
        t = self.live
        i = t.find(sector)
        targets = t.targets
        n = len(mv) >> SECTOR_SHIFT
        done = 0
        while done < n:
            tg = targets[i]
            rel = sector + done - tg.begin
            cnt = tg.length - rel
            if cnt > n - done:
                cnt = n - done
            part = mv[done << SECTOR_SHIFT:(done + cnt) << SECTOR_SHIFT]
            if write:
                tg.write(rel, part)
            else:
                tg.read(rel, part)
            done += cnt
            i += 1

    def _read(self, sector, mv):
        # A read within one target of a one-target table (a linear LV, verity) goes
        # straight to it: on a firmware the Python calls per request are what a
        # mapping costs over the raw disk.
        t = self.live
        if t is not None and not self.suspended:
            targets = t.targets
            if len(targets) == 1:
                targets[0].read(sector, mv)
                return
        self._io(sector, mv, False)

    def _write(self, sector, mv):
        self._io(sector, mv, True)

    def sync(self):
        if self.live:
            for d in self.live.used:
                d.sync()

    def io_opt(self):
        return self.live.io_opt() if self.live else 0

    @property
    def logical_block_size(self):
        return self.live.logical_block_size() if self.live else 512

    def table_event(self):
        # dm_table_event(): waiters are woken only through a live table, so
        # the event number moves only when there is one (rename does this).
        if self.live is not None:
            self.event_nr += 1

    def open_count(self):
        return self.opens + len(self.mapper.holders(self))

    def read_ahead(self):
        # blk_apply_bdi_limits(): max(io_opt * 2 / PAGE_SIZE, 32 pages).
        pages = (self.io_opt() * 2) // 4096
        ra = pages * 8
        return ra if ra > VM_READAHEAD_SECTORS else VM_READAHEAD_SECTORS


class DeviceMapper:
    def __init__(self, devices):
        self.devices = devices
        self.by_name = {}
        self.platform = Platform()
        self.keyring = None

    # -- lookup
    def get(self, name):
        md = self.by_name.get(name)
        if md is None:
            raise DMError(ENXIO, "%s: no such device" % name)
        return md

    def find(self, name):
        return self.by_name.get(name)

    def list(self):
        return [self.by_name[n] for n in sorted(self.by_name)]

    def find_uuid(self, uuid):
        for md in self.by_name.values():
            if uuid and md.uuid == uuid:
                return md
        return None

    def holders(self, dev):
        """dm devices whose live or inactive table uses `dev`."""
        out = []
        for md in self.by_name.values():
            for t in (md.live, md.inactive):
                if t is not None and dev in t.used and md not in out:
                    out.append(md)
        return out

    def depends_on(self, dev, md):
        """True when dm device `dev` (transitively) uses `md`."""
        if not isinstance(dev, MappedDevice):
            return False
        seen = []
        todo = [dev]
        while todo:
            d = todo.pop()
            if d is md:
                return True
            if d in seen or not isinstance(d, MappedDevice):
                continue
            seen.append(d)
            for t in (d.live, d.inactive):
                if t is not None:
                    todo.extend(t.used)
        return False

    # -- dm-ioctl operations
    def create(self, name, uuid=None, table=None, readonly=False):
        _check_name(name)
        if uuid:
            _check_uuid(uuid)
        if name in self.by_name or (uuid and self.find_uuid(uuid)):
            raise DMError(EBUSY)
        minor = self.devices.free_minor(DM_MAJOR)
        md = MappedDevice(self, name, uuid, minor)
        self.by_name[name] = md
        self.devices.add(md)
        self.devices.alias("/dev/mapper/" + name, md)
        if table is None:
            return md
        try:
            self.load(name, table, readonly)
            self.resume(name)
        except DMError:
            # libdm reverts a failed create by removing the new device.
            self._drop(md)
            raise
        return md

    def load(self, name, table, readonly=False):
        md = self.get(name)
        if isinstance(table, str):
            table = tables.parse_lines(table)
        new = tables.build(self, md, table, readonly)
        # dm-ioctl table_load(): once a device has held an immutable target
        # (verity), only that type or the wildcard error target may follow.
        kinds = [t for t in new.targets if t.immutable]
        kind = kinds[0].name if kinds else None
        wildcard = len(new.targets) == 1 and new.targets[0].wildcard
        if md.immutable_type is not None and kind != md.immutable_type and not wildcard:
            new.destroy()
            raise DMError(EINVAL, "can't replace immutable target type %s"
                          % md.immutable_type)
        if md.live is None and md.inactive is None and md.immutable_type is None:
            md.immutable_type = kind
        if md.inactive is not None:
            md.inactive.destroy()
        md.inactive = new
        return md

    def clear(self, name):
        md = self.get(name)
        if md.inactive is not None:
            md.inactive.destroy()
            md.inactive = None

    def suspend(self, name):
        md = self.get(name)
        md.suspended = True
        if md.live is not None:
            md.sync()

    def resume(self, name):
        md = self.get(name)
        new = md.inactive
        if new is not None:
            md.inactive = None
            try:
                new.check_areas()
            except DMError:
                new.destroy()
                raise
            old = md.live
            md.live = new
            md.nr_sectors = new.end()
            md.readonly = new.readonly
            if old is not None:
                old.destroy()
        md.suspended = False
        return md

    def remove(self, name, force=False):
        md = self.get(name)
        if md.open_count() and force and md.live is not None:
            # dmsetup remove --force: fail all further I/O, then try again.
            self.load(name, [(0, md.nr_sectors, "error", "")], md.readonly)
            self.resume(name)
        if md.open_count():
            raise DMError(EBUSY)
        self._drop(md)

    def shrink(self):
        """Memory pressure: every live target drops what it can rebuild."""
        for md in self.by_name.values():
            if md.live is not None:
                for t in md.live.targets:
                    t.shrink()

    def remove_all(self, force=False):
        # Remove devices nobody holds first, until nothing more can go.
        progress = True
        while progress and self.by_name:
            progress = False
            for md in self.list():
                if not md.open_count():
                    self._drop(md)
                    progress = True
        if self.by_name and force:
            for md in self.list():
                if md.live is not None and md.open_count():
                    self.load(md.dm_name, [(0, md.nr_sectors, "error", "")],
                              md.readonly)
                    self.resume(md.dm_name)
        return [md.dm_name for md in self.list()]

    def rename(self, name, new):
        md = self.get(name)
        _check_name(new)
        if new in self.by_name:
            raise DMError(EBUSY)
        del self.by_name[name]
        self.by_name[new] = md
        self.devices.unalias("/dev/mapper/" + name)
        self.devices.alias("/dev/mapper/" + new, md)
        md.dm_name = new
        md.table_event()

    def set_uuid(self, name, uuid):
        md = self.get(name)
        _check_uuid(uuid)
        if md.uuid:
            # The kernel lets a UUID be set once only.
            raise DMError(EINVAL, "Unable to change uuid of mapped device %s to %s "
                          "because uuid is already set to %s" % (name, uuid, md.uuid))
        if self.find_uuid(uuid):
            raise DMError(EBUSY)
        md.uuid = uuid
        md.table_event()

    def message(self, name, sector, argv):
        md = self.get(name)
        t = md.live
        if t is None:
            raise DMError(EINVAL, "Cannot send message to device %s: no table" % name)
        if sector >= md.nr_sectors:
            raise DMError(EINVAL, "Target message sector outside device.")
        return t.targets[t.find(sector)].message(argv)

    def _drop(self, md):
        for t in (md.live, md.inactive):
            if t is not None:
                t.destroy()
        md.live = md.inactive = None
        self.by_name.pop(md.dm_name, None)
        self.devices.remove(md)


def _check_name(name):
    if not name or len(name) >= DM_NAME_LEN or "/" in name or name in (".", ".."):
        raise DMError(EINVAL, "Invalid device name %r" % name)


def _check_uuid(uuid):
    if len(uuid) >= DM_UUID_LEN:
        raise DMError(EINVAL, "Invalid UUID")
