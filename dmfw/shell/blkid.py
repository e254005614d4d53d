# blkid [DEV...]: util-linux's default output, one line per device that carries a
# known signature; exit 2 when none of the named devices has one (blkid's rule).

from dmfw.errors import DMError


def main(sh, argv):
    from dmfw.blkid import probe, line
    args = [a for a in argv[1:] if a not in ("-c", "/dev/null")]
    if any(a.startswith("-") for a in args):
        sh.error("blkid: only the default output is supported")
        return 4
    found = 0
    st = 0
    if args:
        devs = []
        for a in args:
            try:
                devs.append((a, sh.resolve(a, image="file")))
            except DMError:
                sh.error("blkid: error: %s: No such file or directory" % a)
                st = 2
    else:
        devs = [(_name(sh, d), d) for d in [sh.devices.by_name[n] for n in sh.devices.names()]]
    for name, dev in devs:
        tags = probe(dev)
        if tags:
            found += 1
            sh.write(line(name, tags) + "\n")
    return 0 if found else (st or 2)


def _name(sh, dev):
    for md in sh.dm.list():
        if md is dev:
            return "/dev/mapper/" + md.dm_name
    return "/dev/" + dev.name
