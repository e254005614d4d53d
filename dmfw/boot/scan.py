# Where installed OS versions live, found by one pass over every disk:
#   1. an LV in any VG whose content is a DDI (one LV per version, named by the LV);
#   2. DPS root sets on a disk's GPT, several side by side (named by partition label);
#   3. a whole-disk DDI (one set).
# A version is `<os>_<version>[+LEFT[-DONE]]` (systemd-sysupdate's `@v`, systemd's
# boot counter). Nothing is trusted here: the signature is read, not checked.

from dmfw.errors import DMError
from dmfw.boot import version as vmod


class Version:
    """One installed version: its name split as systemd does, where it lives and the
    partitions that make it (data, verity, signature or None)."""

    def __init__(self, name, kind, where, image, data, verity, sig, lv=None):
        self.name = name
        base, self.left, self.done = vmod.parse_counter(name)
        self.base = base
        self.os, self.version = vmod.split_version(base)
        self.kind = kind            # "lv", "dps" or "ddi"
        self.where = where          # what `boot -l` prints as the source
        self.image = image          # dmfw.disk.ddi.Image it was found in
        self.data = data            # dmfw.disk.ddi.Found
        self.verity = verity
        self.sig = sig
        self.lv = lv

    def bad(self):
        return self.left == 0

    def state(self):
        if self.left is None:
            return "good"
        if self.left == 0:
            return "bad (tries done %d)" % (self.done or 0)
        return "tries left %d, done %d" % (self.left, self.done or 0)

    def matches(self, spec):
        return spec in (self.name, self.base)


def _key(v):
    # systemd-boot's order through version.sort_versions: one shared sort-key so the
    # version decides before the name; bad (no tries left) last.
    return (v.left, v.done, "", None, v.version or v.base, v.name)


def root_sets(img, arch):
    """[(data, verity, sig)] for every root partition of `arch` in `img`: paired
    through the signature (its root hash names both UUIDs), else by equal label,
    else the only verity partition of an image with one root."""
    datas = img.candidates("root", arch)
    verities = img.candidates("root-verity", arch)
    sets = []
    for d in datas:
        sig = None
        ver = None
        for s in d.paired:
            if s.designator == "root-verity-sig":
                sig = s
            elif s.designator == "root-verity":
                ver = s
        if ver is None:
            same = [v for v in verities if v.part.name == d.part.name and not v.paired]
            if len(same) == 1:
                ver = same[0]
            elif len(datas) == 1 and len(verities) == 1:
                ver = verities[0]
        if sig is None and ver is not None:
            sigs = [s for s in img.candidates("root-verity-sig", arch)
                    if s.part.name == d.part.name and not s.paired]
            sig = sigs[0] if len(sigs) == 1 else None
        sets.append((d, ver, sig))
    return sets


class Scan:
    def __init__(self, sh):
        self.sh = sh
        self.versions = []
        self.notes = []             # one line per thing looked at and passed over
        self._activated = []        # LVs this scan activated (released afterwards)
        self.lvm = None             # the dmfw.lvm.scan.Scan behind the LV versions

    def note(self, line):
        self.notes.append(line)

    def run(self, arch):
        self._lvs(arch)
        self._disks(arch)
        self.versions = vmod.sort_versions(self.versions, _key)
        return self.versions

    def _add_image(self, img, arch, kind, where, lv=None):
        sets = root_sets(img, arch)
        for d, ver, sig in sets:
            name = lv.name if lv is not None else (d.part.name or img.disk.name)
            if kind != "lv" and len(sets) > 1:
                w = "%s (%s)" % (where, d.dev.name)
            else:
                w = where
            k = "dps" if kind == "ddi" and len(sets) > 1 else kind
            self.versions.append(Version(name, k, w, img, d, ver, sig, lv))
        return len(sets)

    def _lvs(self, arch):
        from dmfw.lvm import scan as lvmscan
        from dmfw.lvm.activate import activate, active_device
        devs = [d for d in (self.sh.devices.by_name[n] for n in self.sh.devices.names())
                if getattr(d, "mapper", None) is None]
        sc = self.lvm = lvmscan.scan(devs)
        for w in sc.warnings:
            self.note("lvm: " + w)
        for vg in sc.vgs:
            for lv in vg.visible_lvs():
                where = "lvm %s/%s" % (vg.name, lv.name)
                try:
                    was = active_device(self.sh.dm, lv)
                    md = activate(self.sh.dm, lv)
                except DMError as e:
                    self.note("%s: cannot activate: %s" % (where, e))
                    continue
                if was is None:
                    self._activated.append(lv)
                img = _image_on(md, self.note, where)
                if img is None or not self._add_image(img, arch, "lv", where, lv):
                    if img is not None:
                        self.note("%s: no root partition for %s" % (where, arch))

    def _disks(self, arch):
        from dmfw.disk.partitions import is_whole_disk
        from dmfw.disk.ddi import dissect
        for n in self.sh.devices.names():
            disk = self.sh.devices.by_name[n]
            if not is_whole_disk(disk) or getattr(disk, "gpt", None) is None:
                continue
            try:
                img = dissect(self.sh.devices, disk)
            except DMError as e:
                self.note("%s: %s" % (disk.name, e))
                continue
            self._add_image(img, arch, "ddi", disk.name)

    def release(self, keep=None):
        """Deactivate the LVs the scan activated, except the one `keep` boots from."""
        from dmfw.lvm.activate import deactivate
        for lv in reversed(self._activated):
            if keep is not None and lv is keep:
                continue
            try:
                deactivate(self.sh.dm, lv)
            except DMError as e:
                self.note("lvm %s: %s" % (lv.full_name(), e))
        self._activated = [lv for lv in self._activated if lv is keep]


def _image_on(dev, note, where):
    """The DDI on an LV's dm device (dmfw.disk.ddi.Image), or None without a GPT.
    Its partitions are windows of the LV, not registered: Linux makes no partitions
    on dm devices, so the boot plan maps the ones it uses as dm-linear devices."""
    from dmfw.blockdev import SliceDevice
    from dmfw.disk.gpt import read_gpt
    from dmfw.disk.ddi import Image
    try:
        gpt = read_gpt(dev)
    except DMError:
        return None
    for w in gpt.warnings:
        note("%s: %s" % (where, w))
    parts = []
    for p in gpt.partitions:
        try:
            s = SliceDevice(dev, p.start, p.nr_sectors, "%sp%d" % (dev.name, p.partno))
        except DMError:
            note("%s: partition %d lies outside the LV" % (where, p.partno))
            continue
        s.part = p
        s.partno = p.partno
        parts.append(s)
    return Image(dev, gpt, parts)
