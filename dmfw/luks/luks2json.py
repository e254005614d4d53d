# The LUKS2 JSON area checked as cryptsetup's LUKS2_hdr_validate() checks it
# (lib/luks2/luks2_json_metadata.c: tokens, digests, segments, keyslots,
# config, keyslot areas, json_size; luks2_keyslot_luks2.c for the luks2
# keyslot type). A header that breaks a rule is not a LUKS2 header.

from dmfw.luks import NotLuks

U64_MAX = (1 << 64) - 1
U32_MAX = (1 << 32) - 1
HDR_BIN_LEN = 4096
METADATA_SIZES = (0x4000, 0x8000, 0x10000, 0x20000, 0x40000, 0x80000,
                  0x100000, 0x200000, 0x400000)
MAX_KEYSLOTS_SIZE = 128 * 1024 * 1024


class Invalid(NotLuks):
    pass


def _bad(why):
    raise Invalid(why)


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def numbered(s):
    if not isinstance(s, str):
        return False
    for c in s:
        if not "0" <= c <= "9":
            return False
    return True


def u64(s):
    """A JSON string holding a uint64, as json_str_to_uint64 takes it."""
    if not numbered(s) or not s or int(s) > U64_MAX:
        _bad("not a uint64 string: %r" % (s,))
    return int(s)


def _u32ok(v):
    return is_int(v) and 0 <= v <= U32_MAX


def contains(obj, key, kind, what):
    v = obj.get(key) if isinstance(obj, dict) else None
    if kind == "int":
        ok = is_int(v)
    else:
        ok = isinstance(v, kind)
    if not ok:
        _bad("%s is missing \"%s\" specification." % (what, key))
    return v


def _section(j, name):
    v = j.get(name)
    if not isinstance(v, dict):
        _bad("Missing %s section." % name)
    return v


def _ref_array(arr, section, what):
    for v in arr:
        if not isinstance(v, str) or not isinstance(section.get(v), dict):
            _bad("%s references a missing entry." % what)


def _tokens(j):
    ks = _section(j, "keyslots")
    for k, t in _section(j, "tokens").items():
        if not numbered(k) or not isinstance(t, dict):
            _bad("Token %s" % k)
        contains(t, "type", str, "Token")
        _ref_array(contains(t, "keyslots", list, "Token"), ks, "Token")


def _digests(j):
    ks = _section(j, "keyslots")
    segs = _section(j, "segments")
    for k, d in _section(j, "digests").items():
        if not numbered(k) or not isinstance(d, dict):
            _bad("Digest %s" % k)
        contains(d, "type", str, "Digest")
        _ref_array(contains(d, "keyslots", list, "Digest"), ks, "Digest")
        _ref_array(contains(d, "segments", list, "Digest"), segs, "Digest")


def _strings(arr):
    for v in arr:
        if not isinstance(v, str):
            _bad("array member is not a string")


def _segments(j):
    segs = _section(j, "segments")
    if not segs:
        _bad("Empty segments section.")
    digests = _section(j, "digests")
    for k, s in segs.items():
        if not numbered(k) or not isinstance(s, dict):
            _bad("Segment %s" % k)
        t = contains(s, "type", str, "Segment")
        off = u64(contains(s, "offset", str, "Segment"))
        size = contains(s, "size", str, "Segment")
        size = 0 if size == "dynamic" else u64(size)
        if size == 0 and contains(s, "size", str, "Segment") != "dynamic":
            _bad("Segment size zero.")
        if off % 512 or size % 512:
            _bad("Offset/size field has to be aligned to sector size: 512")
        if "flags" in s:
            _strings(contains(s, "flags", list, "Segment"))
        if t == "crypt":
            _crypt_segment(k, s, size, digests)


def _crypt_segment(k, s, size, digests):
    tweak = contains(s, "iv_tweak", str, "Segment")
    contains(s, "encryption", str, "Segment")
    ss = contains(s, "sector_size", "int", "Segment")
    if "integrity" in s:
        i = contains(s, "integrity", dict, "Segment")
        for f in ("type", "journal_encryption", "journal_integrity"):
            contains(i, f, str, "Segment integrity")
    if not _u32ok(ss) or not ss or ss % 512:
        _bad("Illegal sector size: %r" % (ss,))
    u64(tweak)
    if size % ss:
        _bad("Size field has to be aligned to sector size: %d" % ss)
    for d in digests.values():
        if k in d.get("segments", ()):
            return
    _bad("Segment %s has no digest." % k)


def _keyslots(j):
    for k, ks in _section(j, "keyslots").items():
        if not numbered(k) or not isinstance(ks, dict):
            _bad("Keyslot %s" % k)
        contains(ks, "type", str, "Keyslot")
        if not _u32ok(contains(ks, "key_size", "int", "Keyslot")):
            _bad("Illegal field \"key_size\".")


def first_data_offset(segs, kind=None):
    best = None
    for s in segs.values():
        if kind is not None and s.get("type") != kind:
            continue
        off = int(s["offset"])
        if off == 0:
            return 0
        if best is None or off < best:
            best = off
    return U64_MAX if best is None else best


def _config(j):
    c = _section(j, "config")
    meta = u64(contains(c, "json_size", str, "Config")) + HDR_BIN_LEN
    kss = u64(contains(c, "keyslots_size", str, "Config"))
    if meta not in METADATA_SIZES:
        _bad("Unsupported LUKS2 header size (%d)." % meta)
    if kss % 4096 or kss > MAX_KEYSLOTS_SIZE:
        _bad("Unsupported LUKS2 keyslots size (%d)." % kss)
    seg_off = first_data_offset(j["segments"], "crypt")
    if seg_off and (seg_off < kss or seg_off - kss < 2 * meta):
        _bad("keyslots_size is too large %d (bytes). Data offset: %d, keyslots "
             "offset: %d" % (kss, seg_off, 2 * meta))
    if "flags" in c:
        _strings(contains(c, "flags", list, "Config"))
    if "requirements" in c:
        r = contains(c, "requirements", dict, "Config")
        if "mandatory" in r:
            _strings(contains(r, "mandatory", list, "Requirements"))
    return meta, kss


def _areas(j, meta, kss):
    end = 2 * meta + kss
    iv = []
    for k, ks in j["keyslots"].items():
        a = contains(ks, "area", dict, "Keyslot")
        off = u64(contains(a, "offset", str, "Keyslot"))
        ln = u64(contains(a, "size", str, "Keyslot"))
        iv.append((off, ln))
    for i in range(len(iv)):
        off, ln = iv[i]
        if off < 2 * meta:
            _bad("Illegal area offset: %d." % off)
        if not ln:
            _bad("Area length must be greater than zero.")
        if off + ln > end:
            _bad("Area [%d, %d] overflows binary keyslots area (ends at offset: %d)."
                 % (off, off + ln, end))
        for m in range(len(iv)):
            if m != i and iv[m][0] <= off < iv[m][0] + iv[m][1]:
                _bad("Overlapping areas.")


def _luks2_keyslot(k, ks):
    # luks2_keyslot_luks2.c luks2_keyslot_validate: kdf, af and area objects.
    kdf = contains(ks, "kdf", dict, "Keyslot")
    af = contains(ks, "af", dict, "Keyslot")
    area = contains(ks, "area", dict, "Keyslot")
    kt = contains(kdf, "type", str, "Keyslot kdf")
    if kt == "pbkdf2":
        contains(kdf, "hash", str, "Keyslot kdf")
        contains(kdf, "iterations", "int", "Keyslot kdf")
        contains(kdf, "salt", str, "Keyslot kdf")
    else:
        contains(kdf, "time", "int", "Keyslot kdf")
        contains(kdf, "memory", "int", "Keyslot kdf")
        contains(kdf, "cpus", "int", "Keyslot kdf")
        contains(kdf, "salt", str, "Keyslot kdf")
    if contains(af, "type", str, "Keyslot af") == "luks1":
        contains(af, "stripes", "int", "Keyslot af")
        contains(af, "hash", str, "Keyslot af")
    else:
        _bad("Keyslot %s: unsupported af type" % k)
    if contains(area, "type", str, "Keyslot area") == "raw":
        contains(area, "encryption", str, "Keyslot area")
        contains(area, "key_size", "int", "Keyslot area")
    else:
        _bad("Keyslot %s: unsupported area type" % k)


def _pbkdf2_digest(k, d):
    # What the pbkdf2 digest handler reads (luks2_digest_pbkdf2.c); a digest
    # missing them could never verify a key, nor be dumped.
    contains(d, "hash", str, "Digest")
    if not _u32ok(contains(d, "iterations", "int", "Digest")):
        _bad("Digest %s: iterations" % k)
    contains(d, "salt", str, "Digest")
    contains(d, "digest", str, "Digest")


def validate(j, json_area_size):
    """LUKS2_hdr_validate(); Invalid (a NotLuks) on the first broken rule."""
    if not isinstance(j, dict):
        _bad("JSON is not an object")
    _tokens(j)
    _digests(j)
    _segments(j)
    _keyslots(j)
    meta, kss = _config(j)
    _areas(j, meta, kss)
    if u64(j["config"]["json_size"]) != json_area_size:
        _bad("JSON area size doesn't match value in binary header.")
    for k, ks in j["keyslots"].items():
        if ks["type"] == "luks2":
            _luks2_keyslot(k, ks)
    for k, d in j["digests"].items():
        if d["type"] == "pbkdf2":
            _pbkdf2_digest(k, d)
    return meta, kss
