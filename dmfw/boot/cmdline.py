# The kernel command line that makes Linux map the root the firmware verified:
# dm-mod.create= for the whole dm stack under it (LV segments, partition windows,
# verity with its options), in the concise syntax `dmsetup table --concise` prints
# (dmfw.concise: one source for both), and root=/dev/dm-N.
#
# Each device keeps the firmware's minor, so /dev/dm-N and the tables the booted
# kernel prints are the firmware's own; a reference to another dm device is written
# as /dev/dm-N, which dm-init (early_lookup_bdev) and dmsetup in an initrd both take
# whatever major the booted kernel gives device-mapper. Disks stay major:minor.


def stack(md):
    """md and every dm device under it, each after the ones it is built on."""
    out = []

    def visit(d):
        if d in out:
            return
        t = getattr(d, "live", None)
        if t is None:
            return
        for u in t.used:
            if getattr(u, "mapper", None) is not None:
                visit(u)
        out.append(d)
    visit(md)
    return out


def _params(mds):
    names = {}
    for d in mds:
        names["%d:%d" % (d.major, d.minor)] = "/dev/dm-%d" % d.minor

    def params(tg):
        return " ".join([names.get(w, w) for w in tg.params(False).split(" ")])
    return params


def dm_create(md):
    """The value of dm-mod.create= for the stack ending in md."""
    from dmfw.concise import devices
    mds = stack(md)
    return devices(mds, params=_params(mds))


def build(options, md):
    """options (the entry's) + dm-mod.create="..." + root=/dev/dm-N. A root= or
    dm-mod.create= among the entry's options is dropped: the firmware decides the
    root it verified."""
    kept = [w for w in _words(options)
            if not w.startswith(("root=", "dm-mod.create=", "dm_mod.create="))]
    kept.append('dm-mod.create="%s"' % dm_create(md))
    kept.append("root=/dev/dm-%d" % md.minor)
    return " ".join(kept)


def _words(s):
    # Split as the kernel's next_arg(): spaces outside double quotes.
    out = []
    cur = ""
    quoted = False
    for c in s:
        if c == '"':
            quoted = not quoted
        if c in " \t\n" and not quoted:
            if cur:
                out.append(cur)
            cur = ""
        else:
            cur += c
    if cur:
        out.append(cur)
    return out
