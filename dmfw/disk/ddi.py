# Discoverable Disk Images: classify a GPT disk's partitions by the
# Discoverable Partitions Specification, pair root/usr data partitions with
# their verity hash and signature partitions, and turn a verified root hash
# into dm-verity tables. Everything that can refuse (signature, pairing,
# ambiguity, superblock) is decided before any device is created, so a
# refusal leaves nothing opened.

import binascii
from dmfw.errors import DMError, FormatError, EINVAL, EKEYREJECTED, ENOKEY, ENODEV
from dmfw.disk import dps

# The signature partition holds a small JSON object; more than this is not a
# signature partition DPS describes, and firmware should not allocate it.
MAX_SIG_BYTES = 1 << 20
DATA_DESIGNATORS = ("root", "usr")
_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="


class Refused(DMError):
    """ddi open declined the image: nothing was opened."""

    def __init__(self, msg, errno=EINVAL):
        DMError.__init__(self, errno, msg)


class Found:
    """One partition with its DPS meaning."""

    def __init__(self, dev, part, designator, arch):
        self.dev = dev              # the partition's block device (vda1)
        self.part = part            # dmfw.disk.gpt.Partition
        self.designator = designator
        self.arch = arch
        self.flags = dps.flag_names(part.attrs)
        self.no_auto = bool(part.attrs & dps.FLAG_NO_AUTO)
        self.read_only = bool(part.attrs & dps.FLAG_READ_ONLY)
        self.paired = []            # partitions this one pairs with
        self._sig = None

    def signature(self):
        """read_signature() of a verity-sig partition, read once per dissection
        (listing, pairing and opening all need it)."""
        if self._sig is None:
            self._sig = read_signature(self.dev)
        return self._sig


def uuid_from_hex(h):
    """32 hex digits -> 8-4-4-4-12 text, as partition UUIDs are printed."""
    return "%s-%s-%s-%s-%s" % (h[0:8], h[8:12], h[12:16], h[16:20], h[20:32])


def pairing_uuids(root_hash_hex):
    """DPS: the data partition's UUID is the first 128 bits of the root hash,
    the verity partition's the last 128 bits."""
    h = root_hash_hex.lower()
    return uuid_from_hex(h[:32]), uuid_from_hex(h[-32:])


def check_root_hash(h, what="root hash"):
    """Validate hex text; returns it lower-cased (the form veritysetup and
    the kernel print, and the one the signature covers)."""
    if not isinstance(h, str) or len(h) < 64 or len(h) % 2 or len(h) > 128:
        raise FormatError("%s: expected 64-128 hex digits" % what)
    try:
        binascii.unhexlify(h)
    except (ValueError, TypeError):
        raise FormatError("%s: not hexadecimal" % what)
    return h.lower()


def parse_signature(raw):
    """Contents of a verity-sig partition -> (rootHash, fingerprint or None,
    signature DER). NUL padding is allowed after the JSON, nothing else."""
    import json
    raw = bytes(raw)
    end = raw.find(b"\0")
    if end >= 0:
        if raw[end:].count(b"\0") != len(raw) - end:
            raise FormatError("signature partition: data after the NUL padding")
        raw = raw[:end]
    if not raw.strip():
        raise FormatError("signature partition is empty")
    try:
        obj = json.loads(raw.decode())
    except (ValueError, UnicodeError):
        raise FormatError("signature partition: invalid JSON")
    if not isinstance(obj, dict):
        raise FormatError("signature partition: JSON is not an object")
    rh = check_root_hash(obj.get("rootHash"), "signature partition rootHash")
    fpr = obj.get("certificateFingerprint")
    if fpr is not None:
        if not isinstance(fpr, str) or len(fpr) != 64:
            raise FormatError("signature partition: bad certificateFingerprint")
        try:
            binascii.unhexlify(fpr)
        except (ValueError, TypeError):
            raise FormatError("signature partition: bad certificateFingerprint")
        fpr = fpr.lower()
    sig = obj.get("signature")
    if not isinstance(sig, str) or not sig:
        raise FormatError("signature partition: no signature")
    # Checked by hand: CPython and MicroPython differ in what a2b_base64
    # silently skips.
    sig = "".join(sig.split())
    if len(sig) % 4 or [c for c in sig if c not in _B64]:
        raise FormatError("signature partition: signature is not base64")
    try:
        der = binascii.a2b_base64(sig)
    except (ValueError, TypeError):
        raise FormatError("signature partition: signature is not base64")
    if not der:
        raise FormatError("signature partition: no signature")
    return rh, fpr, bytes(der)


def read_signature(dev):
    """The signature partition's JSON, read a block at a time: only the text up to
    the NUL padding is kept (a firmware heap need not hold the whole partition), the
    padding is checked to be NULs to the end."""
    size = dev.size_bytes()
    if size > MAX_SIG_BYTES:
        raise FormatError("%s: signature partition too large" % dev.name)
    text = b""
    pos = 0
    step = 4096
    zero = bytes(step)
    while pos < size:
        chunk = dev.pread(pos, min(step, size - pos))
        pos += len(chunk)
        end = chunk.find(b"\0")
        if end < 0:
            text += chunk
            continue
        text += chunk[:end]
        if chunk[end:].count(b"\0") != len(chunk) - end:
            raise FormatError("signature partition: data after the NUL padding")
        while pos < size:
            chunk = dev.pread(pos, min(step, size - pos))
            pos += len(chunk)
            if chunk != zero[:len(chunk)]:
                raise FormatError("signature partition: data after the NUL padding")
        break
    return parse_signature(text)


class Image:
    """A dissected disk: .found is every partition DPS names, in table
    order; .other the rest."""

    def __init__(self, disk, gpt, parts):
        self.disk = disk
        self.gpt = gpt
        self.found = []
        self.other = []
        for dev in parts:
            p = dev.part if hasattr(dev, "part") else None
            if p is None:
                continue
            t = dps.lookup(p.type_uuid)
            if t is None:
                self.other.append(dev)
            else:
                self.found.append(Found(dev, p, t[0], t[1]))
        self._pair_by_signature()

    def candidates(self, designator, arch, include_no_auto=False):
        return [f for f in self.found if f.designator == designator and
                f.arch == arch and (include_no_auto or not f.no_auto)]

    def architectures(self):
        out = []
        for f in self.found:
            if f.arch is not None and f.arch not in out:
                out.append(f.arch)
        return out

    def _pair_by_signature(self):
        # For the listing: a signature names its root hash, which names the
        # data and verity partitions by UUID. Unreadable signatures are
        # reported by open, not here.
        for s in self.found:
            if not s.designator.endswith("-verity-sig"):
                continue
            try:
                rh = s.signature()[0]
            except DMError:
                continue
            du, vu = pairing_uuids(rh)
            base = s.designator[:-len("-verity-sig")]
            for f in self.found:
                if f.arch == s.arch and (
                        (f.designator == base and f.part.uuid == du) or
                        (f.designator == base + "-verity" and f.part.uuid == vu)):
                    s.paired.append(f)
                    f.paired.append(s)
        for d in self.found:
            if d.designator not in DATA_DESIGNATORS:
                continue
            for v in self.found:
                if v.designator == d.designator + "-verity" and v.arch == d.arch \
                        and _same_sig(d, v):
                    d.paired.append(v)
                    v.paired.append(d)


def _same_sig(d, v):
    for s in d.paired:
        if s in v.paired:
            return True
    return False


def dissect(devices, disk):
    """Block device `disk` (a whole disk in `devices`) -> Image. Scans the
    partition table first if the shell has not."""
    from dmfw.disk.partitions import scan, partition_name
    from dmfw.disk.gpt import read_gpt
    gpt = getattr(disk, "gpt", None)
    if gpt is None:
        gpt = read_gpt(disk)
        scan(devices, disk)
        gpt = getattr(disk, "gpt", gpt)
    parts = []
    for p in gpt.partitions:
        dev = devices.find(partition_name(disk.name, p.partno))
        if dev is None:
            raise DMError(ENODEV, "%s: partition %d has no device"
                          % (disk.name, p.partno))
        if not hasattr(dev, "part"):
            # The guest's own /dev/vdaN: attach the table's view of it.
            dev.part = p
        parts.append(dev)
    return Image(disk, gpt, parts)


class Plan:
    """What `ddi open` will create for one designator."""

    def __init__(self, designator, data, verity, sig, root_hash, table, name,
                 uuid):
        self.uuid = uuid            # dm UUID, as veritysetup sets it
        self.designator = designator
        self.data = data
        self.verity = verity
        self.sig = sig
        self.root_hash = root_hash
        self.table = table
        self.name = name


def verity_table(data, hashdev, root_hash):
    """(table, verity UUID text): the table veritysetup loads for `data` +
    `hashdev` (superblock at offset 0, as systemd-repart writes it) and a
    root hash, built by dmfw's veritysetup itself."""
    from dmfw.verity import params
    from dmfw.crypto.hashes import DIGEST_SIZE
    p = params.from_superblock(hashdev)
    if len(root_hash) != 2 * DIGEST_SIZE[p.hash_name]:
        raise Refused("%s: root hash length does not match %s"
                      % (hashdev.name, p.hash_name))
    data_bytes = p.data_blocks * p.data_bs
    if data_bytes == 0 or data_bytes > data.size_bytes():
        raise Refused("%s: verity superblock covers %d bytes, %s has %d"
                      % (hashdev.name, data_bytes, data.name, data.size_bytes()))
    return params.table_line(p, data, hashdev, binascii.unhexlify(root_hash)), p.uuid


def plan_open(img, arch=None, root_hash=None, name=None, verify=None,
              notes=None):
    """Decide everything `ddi open` does, or raise Refused. `verify(content,
    der, fingerprint)` checks a PKCS#7 signature against the trusted
    certificates and raises DMError when it does not verify."""
    arch = arch or dps.native_arch()
    if arch is None:
        raise Refused("cannot tell this machine's architecture: use --arch")
    if arch not in dps.architectures():
        raise Refused("unknown architecture %s" % arch)
    if root_hash is not None:
        root_hash = check_root_hash(root_hash)
    plans = []
    datas = {}
    for d in DATA_DESIGNATORS:
        datas[d] = img.candidates(d, arch)
        for f in img.candidates(d, arch, True):
            if f.no_auto and notes is not None:
                notes.append("%s: %s is marked no-auto, skipped" % (f.dev.name, d))
    if not datas["root"] and not datas["usr"]:
        raise Refused("%s: no root or usr partition for %s" % (img.disk.name, arch),
                      ENODEV)
    # --root-hash names the root (the usr when the image has no root).
    hash_for = "root" if datas["root"] else "usr"
    for d in DATA_DESIGNATORS:
        if not datas[d]:
            continue
        plans.append(_plan_one(img, d, arch, datas[d],
                               root_hash if d == hash_for else None,
                               name, verify))
    return plans


def _plan_one(img, d, arch, data, given_hash, name, verify):
    verity = img.candidates(d + "-verity", arch)
    sigs = img.candidates(d + "-verity-sig", arch)
    for what, lst in ((d, data), (d + "-verity", verity), (d + "-verity-sig", sigs)):
        if len(lst) > 1:
            raise Refused("%s: %d candidates for %s (%s): %s" % (
                img.disk.name, len(lst), what, arch,
                " ".join(f.dev.name for f in lst)))
    if not verity:
        raise Refused("%s: %s partition %s has no verity partition"
                      % (img.disk.name, d, data[0].dev.name))
    sig = sigs[0] if sigs else None
    if sig is None:
        if given_hash is None:
            raise Refused("%s: %s is not signed and no root hash was given"
                          % (img.disk.name, d), ENOKEY)
        rh = given_hash
    else:
        rh, fpr, der = sig.signature()
        if given_hash is not None and given_hash != rh:
            raise Refused("%s: root hash %s does not match the signed %s"
                          % (img.disk.name, given_hash, rh))
        if verify is None:
            raise Refused("no signature verification available", ENOKEY)
        try:
            verify(rh.encode(), der, fpr)
        except DMError as e:
            raise Refused("%s: signature of %s root hash rejected: %s"
                          % (img.disk.name, d, e), EKEYREJECTED)
    du, vu = pairing_uuids(rh)
    if data[0].part.uuid != du:
        raise Refused("%s: %s partition UUID %s does not match root hash (%s)"
                      % (img.disk.name, d, data[0].part.uuid, du))
    if verity[0].part.uuid != vu:
        raise Refused("%s: %s-verity partition UUID %s does not match root hash (%s)"
                      % (img.disk.name, d, verity[0].part.uuid, vu))
    table, vuuid = verity_table(data[0].dev, verity[0].dev, rh)
    dmname = "%s-%s" % (name, d) if name else d
    # As veritysetup names what it opens.
    uuid = "CRYPT-VERITY-%s-%s" % (vuuid.replace("-", ""), dmname)
    return Plan(d, data[0], verity[0], sig, rh, table, dmname, uuid)


def open_plans(mapper, plans):
    """Create the verity devices, read-only. If one fails the ones already
    made are removed again."""
    from dmfw.errors import EBUSY
    for p in plans:
        if mapper.find(p.name) is not None:
            raise Refused("/dev/mapper/%s already exists" % p.name, EBUSY)
    made = []
    try:
        for p in plans:
            mapper.create(p.name, uuid=p.uuid, table=p.table, readonly=True)
            made.append(p.name)
    except DMError:
        for n in made:
            try:
                mapper.remove(n)
            except DMError:
                pass
        raise
    return made
