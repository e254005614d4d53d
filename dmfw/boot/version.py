# systemd's version order and boot-counter names, rule for rule:
#   vercmp          strverscmp_improved (src/fundamental/string-util-fundamental.c),
#                   the UAPI Version Format Specification
#   parse_counter   systemd-boot's boot_entry_parse_tries (src/boot/boot.c)
#   split_version   systemd-sysupdate's `<os>_@v` names
#   sort_versions   systemd-boot's boot_entry_compare

INT_MAX = 0x7FFFFFFF


def _digit(c):
    return "0" <= c <= "9"


def _alpha(c):
    return "a" <= c <= "z" or "A" <= c <= "Z"


def _valid(c):
    return _digit(c) or _alpha(c) or c in "~-^."


def _cmp(x, y):
    return (x > y) - (x < y)


def vercmp(a, b):
    """-1, 0 or 1 as `a` is older than, equal to or newer than `b`. Segments are
    numeric or alphabetic runs; '~' (pre-release) sorts before everything, even the
    end; '-' (release) before '^' (patch) before '.' (point) before no prefix;
    numbers compare by value, leading zeros dropped; characters that are not
    [0-9A-Za-z~^.-] only separate segments. None is the empty string."""
    a = a or ""
    b = b or ""
    i = j = 0
    na, nb = len(a), len(b)
    while True:
        while i < na and not _valid(a[i]):
            i += 1
        while j < nb and not _valid(b[j]):
            j += 1
        ca = a[i] if i < na else ""
        cb = b[j] if j < nb else ""
        # Each prefix, when only one side has it, decides; when both do, it is
        # skipped on both and the next rule looks at what follows.
        for p in "~":
            if ca == p or cb == p:
                r = _cmp(ca != p, cb != p)
                if r:
                    return r
                i += 1
                j += 1
                ca = a[i] if i < na else ""
                cb = b[j] if j < nb else ""
        # The end of either string: the longer is newer (a '~' was handled above).
        if not ca or not cb:
            return _cmp(ca, cb)
        for p in "-^.":
            if ca == p or cb == p:
                r = _cmp(ca != p, cb != p)
                if r:
                    return r
                i += 1
                j += 1
                ca = a[i] if i < na else ""
                cb = b[j] if j < nb else ""
        if _digit(ca) or _digit(cb):
            ii, jj = i, j
            while ii < na and _digit(a[ii]):
                ii += 1
            while jj < nb and _digit(b[jj]):
                jj += 1
            # A number is newer than a non-number.
            r = _cmp(ii != i, jj != j)
            if r:
                return r
            while i < ii and a[i] == "0":
                i += 1
            while j < jj and b[j] == "0":
                j += 1
            r = _cmp(ii - i, jj - j) or _cmp(a[i:ii], b[j:jj])
            if r:
                return r
        else:
            ii, jj = i, j
            while ii < na and _alpha(a[ii]):
                ii += 1
            while jj < nb and _alpha(b[jj]):
                jj += 1
            n = min(ii - i, jj - j)
            # strncmp over the common length, then the longer is newer.
            r = _cmp(a[i:i + n], b[j:j + n]) or _cmp(ii - i, jj - j)
            if r:
                return r
        i, j = ii, jj


def _number(s, k):
    # systemd's parse_number16: at least one digit, no overflow -> (value, end) or None.
    e = k
    while e < len(s) and _digit(s[e]):
        e += 1
    if e == k:
        return None
    z = k
    while z < e - 1 and s[z] == "0":
        z += 1
    if e - z > 20:
        return None             # more than uint64: parse_number16 refuses it
    return int(s[z:e]), e


def parse_counter(name):
    """(base, left, done) of `name` ending in systemd's boot counter `+LEFT[-DONE]`
    (the last '+'); (name, None, None) when there is none or it is malformed (not
    digits, above INT_MAX, anything after it), as systemd-boot ignores such a
    counter. DONE absent is None (systemd reads it as 0)."""
    k = name.rfind("+")
    if k < 0:
        return name, None, None
    got = _number(name, k + 1)
    if got is None or got[0] > INT_MAX:
        return name, None, None
    left, e = got
    done = None
    if e < len(name) and name[e] == "-":
        got = _number(name, e + 1)
        if got is None or got[0] > INT_MAX:
            return name, None, None
        done, e = got
    if e != len(name):
        return name, None, None
    return name[:k], left, done


def format_counter(base, left, done):
    """The inverse of parse_counter."""
    if left is None:
        return base
    if done is None:
        return "%s+%d" % (base, left)
    return "%s+%d-%d" % (base, left, done)


def next_try(left, done):
    """The counter after one more attempt, as systemd-boot renames: LEFT never goes
    below 0 (LESS_BY), DONE stops at INT_MAX; a missing DONE counts as 0."""
    return (left - 1 if left > 0 else 0), min((done or 0) + 1, INT_MAX)


def split_version(base):
    """(os, version) of a systemd-sysupdate name `<os>_<version>`, split at the
    first '_'; (base, None) when there is no '_' or either side is empty."""
    k = base.find("_")
    if k <= 0 or k == len(base) - 1:
        return base, None
    return base[:k], base[k + 1:]


def _strcmp(x, y):
    # strcmp_ptr: NULL before any string.
    if x is None or y is None:
        return _cmp(x is not None, y is not None)
    return _cmp(x, y)


def compare_keys(a, b):
    """systemd-boot's boot_entry_compare on keys (left, done, sort_key, machine_id,
    version, id): < 0 when `a` goes first. Entries with no tries left go last; a
    sort-key beats none; with sort-keys on both: sort-key ascending, machine-id,
    then version newest first; then id newest first; then more tries left, fewer
    tries done."""
    la, da, ska, ma, va, ia = a
    lb, db, skb, mb, vb, ib = b
    r = _cmp(la == 0, lb == 0)
    if r:
        return r
    r = _cmp(ska is None, skb is None)
    if r:
        return r
    if ska is not None:
        r = _strcmp(ska, skb) or _strcmp(ma, mb) or -vercmp(va, vb)
        if r:
            return r
    r = -vercmp(ia, ib)
    if r or la is None or lb is None:
        return r
    return -_cmp(la, lb) or _cmp(da or 0, db or 0)


def sort_versions(items, key):
    """`items` in systemd-boot's order; key(item) -> (left, done, sort_key,
    machine_id, version, id) as compare_keys takes. For BLS entries the id is
    systemd-boot's: the file name without the counter, with ".conf", lower case.
    For LV / partition versions (os + version + name) give the same non-None
    sort_key to all (e.g. "") and version or name as the version, so that the
    version decides before the name, as boot/scan.py orders them. Stable: equal
    items keep their order."""
    keyed = [(key(it), it) for it in items]
    out = []
    # Insertion sort with a three-way compare: MicroPython's sort has no cmp_to_key.
    for k, it in keyed:
        n = len(out)
        while n > 0 and compare_keys(out[n - 1][0], k) > 0:
            n -= 1
        out.insert(n, (k, it))
    return [it for _, it in out]


compare = compare_keys
