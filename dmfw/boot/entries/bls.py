# Boot Loader Specification type #1 entries, read as systemd-boot reads them
# (src/boot/boot.c: boot_entry_add_type1, line_get_key_value, valid_type1_filename,
# boot_entry_parse_tries, boot_entry_compare).

from dmfw.boot import version as vmod
from dmfw.boot.entries import Entry, Blob, names, read_text, is_file

# (directory, prefix its paths are relative to): /loader/entries/ sits at the root
# of the partition that holds the files; /boot/loader/entries/ is an XBOOTLDR-style
# /boot inside the image, whose paths are relative to /boot (tried first, then as
# given, since images often write the full path anyway).
DIRS = (("/loader/entries", ""), ("/boot/loader/entries", "/boot"))


def _valid_name(n):
    # valid_type1_filename: no dot files, *.conf (any case), not auto-*.
    low = n.lower()
    return n[:1] not in (".", "") and low.endswith(".conf") and not low.startswith("auto-")


def _pairs(text):
    # line_get_key_value(content, " \t", ...): leading blanks and '#' lines skipped,
    # key up to the first blank, value after the blanks, trailing blanks dropped and
    # one pair of surrounding double quotes removed; a key without value is skipped.
    n = 0
    for line in text.split("\n"):
        n += 1
        line = line.strip(" \t\r")
        if not line or line[0] == "#":
            continue
        i = 0
        while i < len(line) and line[i] not in " \t":
            i += 1
        key = line[:i]
        value = line[i:].strip(" \t")
        if not value:
            continue
        if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
            value = value[1:-1]
        yield n, key, value


def _path(fs, prefix, p):
    if not p.startswith("/"):
        p = "/" + p
    if prefix and is_file(fs, prefix + p):
        return prefix + p
    return p


def parse(fs, directory, prefix, fname, text, arch, warn):
    """The Entry of one .conf file, or None (warned about, or not for this arch)."""
    src = directory + "/" + fname
    base, left, done = vmod.parse_counter(fname[:-5])
    e = Entry("bls", base, src)
    e.left, e.done = left, done
    opts = []
    kind = None
    for n, key, value in _pairs(text):
        if key == "title":
            e.title = value
        elif key == "version":
            e.version = value
        elif key == "machine-id":
            e.machine_id = value
        elif key == "sort-key":
            e.sort_key = value
        elif key in ("linux", "efi", "uki"):
            if kind not in (None, key):
                warn("%s:%d: '%s' after '%s': not a valid entry" % (src, n, key, kind))
                return None
            kind = key
            e.kernel = value
        elif key == "architecture":
            e.architecture = value
            if arch is not None and value.lower() != arch:
                return None
        elif key == "devicetree":
            e.devicetree = value
        elif key == "devicetree-overlay":
            e.overlays = value.split()
        elif key == "initrd":
            e.initrds.append(value)
        elif key == "options":
            opts.append(value)
    if kind is None:
        warn("%s: no 'linux' line: not a bootable entry" % src)
        return None
    if kind != "linux":
        warn("%s: '%s' entries are not booted by dmfw (only 'linux')" % (src, kind))
        return None
    e.options = " ".join(opts)
    # systemd-boot drops an entry whose loader file is missing.
    k = _path(fs, prefix, e.kernel)
    if not is_file(fs, k):
        warn("%s: linux %s: no such file" % (src, e.kernel))
        return None
    e.kernel = Blob(k)
    e.initrds = [Blob(_path(fs, prefix, p)) for p in e.initrds]
    if e.devicetree is not None:
        e.devicetree = Blob(_path(fs, prefix, e.devicetree))
    e.overlays = [Blob(_path(fs, prefix, p)) for p in e.overlays]
    return e


def _key(e):
    # systemd-boot's id, compared last, is the file name without the counter but
    # with ".conf", in lower case (strtolower16): "old.conf" is newer than
    # "old-1.conf" ('-' sorts before '.'), while "old" would be older than "old-1".
    return (e.left, e.done, e.sort_key, e.machine_id, e.version, (e.id + ".conf").lower())


def find(fs, arch, warn):
    out = []
    for d, prefix in DIRS:
        for fname in names(fs, d):
            if not _valid_name(fname):
                continue
            src = d + "/" + fname
            try:
                text = read_text(fs, src)
            except ValueError as err:
                warn(str(err))
                continue
            if text is None:
                continue
            e = parse(fs, d, prefix, fname, text, arch, warn)
            if e is not None:
                out.append(e)
    return vmod.sort_versions(out, _key)
