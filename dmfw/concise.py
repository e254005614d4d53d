# The concise device syntax shared by `dmsetup table --concise`, `dmsetup create
# --concise` and the kernel's dm-mod.create= (Documentation/admin-guide/
# device-mapper/dm-init.rst):
#   <name>,<uuid>,<minor>,<flags>,<table>[,<table>...][;<name>,...]
# with `,`, `;` and `\` escaped by a backslash inside the fields.


def quote(s):
    out = ""
    for c in s:
        if c in ",;\\":
            out += "\\"
        out += c
    return out


def split_escaped(s, sep):
    out = []
    cur = ""
    esc = False
    for c in s:
        if esc:
            cur += c
            esc = False
        elif c == "\\":
            esc = True
        elif c == sep:
            out.append(cur)
            cur = ""
        else:
            cur += c
    out.append(cur)
    return out


def device(md, showkeys=False, params=None):
    """One device of the list. `params(target)` may rewrite a target's parameters
    (dm-mod.create names devices as the booted kernel will)."""
    s = quote(md.dm_name) + "," + quote(md.uuid) + ",%d,%s" % (
        md.minor, "ro" if md.readonly else "rw")
    t = md.live
    if t is not None:
        for tg in t.targets:
            p = params(tg) if params else tg.params(showkeys)
            s += ",%d %d %s %s" % (tg.begin, tg.length, tg.name, quote(p))
    return s


def devices(mds, showkeys=False, params=None):
    return ";".join([device(md, showkeys, params) for md in mds])
