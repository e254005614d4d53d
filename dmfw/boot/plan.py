# One boot attempt for one version, decided before anything is handed off:
#   trust     the verity root hash, from a signature the keyring trusts (or, when the
#             firmware was told so, a given hash or an unchecked one)
#   stack     the dm devices Linux will be told to build: the LV, its partitions as
#             dm-linear windows, verity over them
#   files     the entry's kernel, initrds and device tree, each read once through
#             verity into memory and hashed as it is read; these bytes are the ones
#             handed off, never re-read from the disk
#   cmdline   the entry's options + dm-mod.create= + root=
# Anything that fails raises Skip with one line saying why, after removing every dm
# device the attempt made, so the next version starts from the same state.

from dmfw.errors import DMError, EINVAL

# What the x86 and arm64 kernels take (COMMAND_LINE_SIZE, the NUL included).
COMMAND_LINE_SIZE = 2048


class Skip(DMError):
    """A version passed over; `kind` says why for `boot -l` ("untrusted" for a
    signature that did not verify, None otherwise)."""

    def __init__(self, msg, kind=None):
        DMError.__init__(self, EINVAL, msg)
        self.kind = kind


class Loaded:
    """A file of the entry, in memory: name as `boot -n` prints it, bytes, sha256."""

    def __init__(self, name, data, sha256):
        self.name = name
        self.data = data
        self.sha256 = sha256


class Plan:
    def __init__(self, version, entry, root, made):
        self.version = version
        self.name = version.name    # as chosen: boot counting renames the version
        self.entry = entry
        self.root = root            # the verity MappedDevice
        self.made = made            # dm names this plan created, in creation order
        self.kernel = None
        self.initrds = []
        self.devicetree = None
        self.cmdline = None
        self.trust = None           # one line: how the root hash was trusted

    def lines(self):
        """What `boot -n` prints."""
        out = ["entry: %s" % self.name, "source: %s" % self.version.where]
        for what, f in [("kernel", self.kernel)] + [("initrd", i) for i in self.initrds] \
                + [("devicetree", self.devicetree)]:
            if f is not None:
                out.append("%s: %s %d%s" % (what, f.name, len(f.data),
                                            " sha256=" + f.sha256 if f.sha256 else ""))
        out.append("cmdline: %s" % self.cmdline)
        return out

    def make_cmdline(self):
        """(Re)build the command line from the dm devices as they are now: boot
        counting renames the LV's devices after the files were read."""
        from dmfw.boot import cmdline
        line = cmdline.build(self.entry.options or "", self.root)
        if len(line) >= COMMAND_LINE_SIZE:
            raise Skip("kernel command line is %d bytes, more than the kernel's %d"
                       % (len(line), COMMAND_LINE_SIZE - 1))
        self.cmdline = line


def root_hash_of(v, verify, insecure=False, given=None):
    """(root hash hex, how) for version v, or Skip. `verify(content, der, fpr)` is
    dmfw.disk.verify's checker over the trusted certificates."""
    from dmfw.disk.ddi import check_root_hash
    if v.verity is None:
        raise Skip("no verity partition pairs with %s" % v.data.dev.name)
    if given is not None:
        given = check_root_hash(given)
    if v.sig is None:
        if given is not None:
            return given, "root hash given on the command line"
        if insecure:
            # DPS: the partition UUIDs are the root hash's first and last 128 bits.
            h = (v.data.part.uuid + v.verity.part.uuid).replace("-", "").lower()
            return h, "unsigned, root hash from the partition UUIDs (--insecure)"
        raise Skip("not signed")
    try:
        rh, fpr, der = v.sig.signature()
    except DMError as e:
        raise Skip("signature partition %s: %s" % (v.sig.dev.name, e.msg))
    if given is not None and given != rh:
        raise Skip("root hash %s does not match the signed %s" % (given, rh))
    try:
        verify(rh.encode(), der, fpr)
    except DMError as e:
        if not insecure:
            raise Skip("signature rejected: %s" % e.msg, "untrusted")
        return rh, "signature NOT trusted (%s), booted anyway (--insecure)" % e.msg
    return rh, "root hash signed by a trusted certificate"


def kpartx_name(name, partno):
    # kpartx's default delimiter: "p" after a name ending in a digit.
    return "%s%s%d" % (name, "p" if name[-1:].isdigit() else "", partno)


def _window(dm, made, lvdev, found):
    """A partition of the DDI inside an LV as a dm-linear device (Linux makes no
    partitions on dm devices; this is what kpartx would create)."""
    p = found.part
    name = kpartx_name(lvdev.dm_name, p.partno)
    if dm.find(name) is not None:
        raise Skip("/dev/mapper/%s already exists" % name)
    uuid = "part%d-%s" % (p.partno, lvdev.uuid) if lvdev.uuid else None
    md = dm.create(name, uuid, "0 %d linear %s %d" % (p.nr_sectors, lvdev.devno(),
                                                     p.start), readonly=True)
    made.append(name)
    return md


def _stack(dm, v, rh, made):
    from dmfw.disk.ddi import pairing_uuids, verity_table
    du, vu = pairing_uuids(rh)
    if v.data.part.uuid != du:
        raise Skip("%s partition UUID %s does not match the root hash (%s)"
                   % (v.data.dev.name, v.data.part.uuid, du))
    if v.verity.part.uuid != vu:
        raise Skip("%s partition UUID %s does not match the root hash (%s)"
                   % (v.verity.dev.name, v.verity.part.uuid, vu))
    data, hashdev = v.data.dev, v.verity.dev
    if v.kind == "lv":
        data = _window(dm, made, v.image.disk, v.data)
        hashdev = _window(dm, made, v.image.disk, v.verity)
    try:
        table, vuuid = verity_table(data, hashdev, rh)
    except DMError as e:
        raise Skip("verity: %s" % e.msg)
    name = "root"
    if dm.find(name) is not None:
        raise Skip("/dev/mapper/root already exists")
    md = dm.create(name, "CRYPT-VERITY-%s-%s" % (vuuid.replace("-", ""), name),
                   table, readonly=True)
    made.append(name)
    return md


def _size(f, blob, limit):
    fsize = f.inode.size
    size = fsize - blob.offset if blob.size is None else blob.size
    if blob.offset + size > fsize:
        raise Skip("%s: section past the end of the file" % blob.name())
    if size > limit:
        raise Skip("%s: %d bytes, more than the %d this firmware loads"
                   % (blob.name(), size, limit))
    return size


def load_all(fs, blobs, limit, dm, digest=True):
    """Read each dmfw.boot.entries.Blob through the file system into a buffer of its
    size -> [Loaded], hashing on the way when `digest` (what `boot -n` prints; a real
    boot skips it: verity has checked every block, and a second hash of the kernel
    costs as much again). Each bounded by `limit` bytes. The buffers come from the
    mapper's platform (dmfw.mapper.Platform.load_buffers), all before any is read;
    when they do not fit, the mapper's targets drop their caches once and it is
    tried again."""
    files = []
    try:
        for b in blobs:
            files.append(fs.open(b.path))
        sizes = [_size(f, b, limit) for f, b in zip(files, blobs)]
        bufs = _buffers(dm, blobs, sizes)
        return [_fill(f, b, buf, digest) for f, b, buf in zip(files, blobs, bufs)]
    finally:
        for f in files:
            f.close()


def _buffers(dm, blobs, sizes):
    from dmfw.errors import ENOMEM
    import gc
    for attempt in (0, 1):
        gc.collect()
        try:
            return dm.platform.load_buffers(sizes)
        except MemoryError:
            if attempt:
                big = max(range(len(sizes)), key=lambda i: sizes[i])
                raise DMError(ENOMEM, "%s: no memory for %d bytes (%d in all)"
                              % (blobs[big].name(), sizes[big], sum(sizes)))
        dm.shrink()


def _fill(f, blob, buf, digest):
    import hashlib
    size = len(buf)
    f.seek(blob.offset)
    mv = memoryview(buf)
    got = 0
    h = hashlib.sha256() if digest else None
    step = 1 << 20
    while got < size:
        n = f.readinto(mv[got:got + step if got + step < size else size])
        if not n:
            raise Skip("%s: file ended after %d of %d bytes" % (blob.name(), got, size))
        if h is not None:
            h.update(mv[got:got + n])
        got += n
    from binascii import hexlify
    return Loaded(blob.name(), buf, hexlify(h.digest()).decode() if h else None)


def prepare(sh, v, verify, opts):
    """Everything up to the hand-off for version v -> Plan, or Skip (nothing left
    behind). opts: insecure, root_hash, arch, compatible, limit, entry_id, digest."""
    from dmfw.fs import open_fs
    from dmfw.boot.entries import find_entries
    rh, how = root_hash_of(v, verify, opts.get("insecure"), opts.get("root_hash"))
    made = []
    try:
        root = _stack(sh.dm, v, rh, made)
        try:
            fs = open_fs(root)
        except DMError as e:
            raise Skip("root file system: %s" % e.msg)
        warns = []
        entries = find_entries(fs, opts.get("arch"), opts.get("compatible"),
                               warn=warns.append)
        for w in warns:
            sh.error("boot: %s: %s" % (v.name, w))
        want = opts.get("entry_id")
        if want is not None:
            entries = [e for e in entries if e.id == want]
        if not entries:
            raise Skip("no boot entry%s in the root file system"
                       % (" " + want if want else ""))
        e = entries[0]
        plan = Plan(v, e, root, made)
        plan.trust = how
        limit = opts.get("limit") or (1 << 30)
        dg = opts.get("digest", True)
        try:
            blobs = [e.kernel] + list(e.initrds)
            if e.devicetree is not None:
                blobs.append(e.devicetree)
            got = load_all(fs, blobs, limit, sh.dm, dg)
            plan.kernel = got[0]
            plan.initrds = got[1:1 + len(e.initrds)]
            if e.devicetree is not None:
                plan.devicetree = got[-1]
        except Skip:
            raise
        except DMError as e2:
            # Verity's EIO for a block that does not hash to the tree lands here.
            raise Skip("reading the entry's files: %s" % e2)
        plan.make_cmdline()
        return plan
    except BaseException:
        teardown(sh.dm, made)
        raise


def teardown(dm, made):
    for name in reversed(made):
        try:
            dm.remove(name)
        except DMError:
            pass
    del made[:]
