# `cryptsetup luksDump` text as cryptsetup 2.6/2.7 prints it (lib/luks1
# LUKS_hdr_dump via src/cryptsetup.c, lib/luks2/luks2_json_metadata.c
# LUKS2_hdr_dump and the keyslot/digest/token dump handlers). Never the
# volume key.

import binascii

from dmfw.luks.luks1 import ACTIVE
from dmfw.luks.luks2json import is_int


def _hexsp(b):
    return "".join(["%02x " % c for c in b])


def luks1(w, h, path):
    w("LUKS header information for %s\n\n" % path)
    w("Version:       \t1\n")
    w("Cipher name:   \t%s\n" % h.cipher_name)
    w("Cipher mode:   \t%s\n" % h.cipher_mode)
    w("Hash spec:     \t%s\n" % h.hash)
    w("Payload offset:\t%d\n" % h.payload_offset)
    w("MK bits:       \t%d\n" % (h.key_bytes * 8))
    w("MK digest:     \t%s\n" % _hexsp(h.mk_digest))
    w("MK salt:       \t%s\n" % _hexsp(h.mk_salt[:16]))
    w("               \t%s\n" % _hexsp(h.mk_salt[16:]))
    w("MK iterations: \t%d\n" % h.mk_iterations)
    w("UUID:          \t%s\n\n" % h.uuid)
    for s in h.slots:
        if s.active != ACTIVE:
            w("Key Slot %d: DISABLED\n" % s.n)
            continue
        w("Key Slot %d: ENABLED\n" % s.n)
        w("\tIterations:         \t%d\n" % s.iterations)
        w("\tSalt:               \t%s\n" % _hexsp(s.salt[:16]))
        w("\t                      \t%s\n" % _hexsp(s.salt[16:]))
        w("\tKey material offset:\t%d\n" % s.offset)
        w("\tAF stripes:            \t%d\n" % s.stripes)


def _b64hex(w, s, sep="            "):
    # hexprint_base64: half the bytes, a new line, the other half.
    try:
        b = binascii.a2b_base64(s)
    except (ValueError, TypeError):
        return
    half = len(b) // 2
    w(_hexsp(b[:half]))
    w("\n\t%s" % sep)
    w(_hexsp(b[half:]))
    w("\n")


def _by_number(obj, limit):
    out = []
    for i in range(limit):
        v = obj.get(str(i))
        if v is not None:
            out.append((str(i), v))
    return out


def _priority(ks):
    p = ks.get("priority", 1)
    if not isinstance(p, int):
        p = 0           # json_object_get_int() of a non-number
    return {0: "ignored", 1: "normal", 2: "preferred"}.get(p, "invalid")


def luks2(w, h):
    j = h.json
    w("LUKS header information\n")
    w("Version:       \t2\n")
    w("Epoch:         \t%d\n" % h.seqid)
    w("Metadata area: \t%d [bytes]\n" % h.metadata_size)
    w("Keyslots area: \t%d [bytes]\n" % h.keyslots_size)
    w("UUID:          \t%s\n" % (h.uuid or "(no UUID)"))
    w("Label:         \t%s\n" % (h.label or "(no label)"))
    w("Subsystem:     \t%s\n" % (h.subsystem or "(no subsystem)"))
    flags = h.flags()
    reqs = h.requirements()
    w("Flags:       \t" + "".join([f + " " for f in flags]))
    w("%s\n%s" % ("" if flags else "(no flags)", "" if reqs else "\n"))
    if reqs:
        w("Requirements:\t" + "".join([r + " " for r in reqs]) + "\n\n")
    w("Data segments:\n")
    for k, s in _by_number(j["segments"], 32):
        w("  %s: %s\n" % (k, s["type"]))
        w("\toffset: %d [bytes]\n" % int(s["offset"]))
        if s["size"] == "dynamic":
            w("\tlength: (whole device)\n")
        else:
            w("\tlength: %d [bytes]\n" % int(s["size"]))
        if "encryption" in s:
            w("\tcipher: %s\n" % s["encryption"])
        if is_int(s.get("sector_size")):
            w("\tsector: %d [bytes]\n" % s["sector_size"])
        integ = s.get("integrity")
        if isinstance(integ, dict) and "type" in integ:
            w("\tintegrity: %s\n" % integ["type"])
        fl = s.get("flags") or []
        if fl:
            w("\tflags : %s\n" % ", ".join(fl))
        w("\n")
    w("Keyslots:\n")
    seg_digests = [d for d in j["digests"].values() if "0" in d["segments"]]
    for k, ks in _by_number(j["keyslots"], 32):
        bound = [d for d in seg_digests if k in d["keyslots"]]
        w("  %s: %s%s\n" % (k, ks["type"], "" if bound else " (unbound)"))
        w("\tKey:        %d bits\n" % (ks["key_size"] * 8))
        w("\tPriority:   %s\n" % _priority(ks))
        if ks["type"] == "luks2":
            _keyslot_luks2(w, ks)
        for dk, d in j["digests"].items():
            if k in d["keyslots"]:
                w("\tDigest ID:  %s\n" % dk)
    w("Tokens:\n")
    for k, t in _by_number(j["tokens"], 32):
        w("  %s: %s\n" % (k, t["type"]))
        if t["type"] == "luks2-keyring" and "key_description" in t:
            w("\tKey description: %s\n" % t["key_description"])
        for ks in t["keyslots"]:
            w("\tKeyslot:    %s\n" % ks)
    w("Digests:\n")
    for k, d in _by_number(j["digests"], 32):
        w("  %s: %s\n" % (k, d["type"]))
        if d["type"] == "pbkdf2":
            w("\tHash:       %s\n" % d["hash"])
            w("\tIterations: %d\n" % d["iterations"])
            w("\tSalt:       ")
            _b64hex(w, d["salt"])
            w("\tDigest:     ")
            _b64hex(w, d["digest"])


def _keyslot_luks2(w, ks):
    area = ks["area"]
    kdf = ks["kdf"]
    w("\tCipher:     %s\n" % area["encryption"])
    w("\tCipher key: %d bits\n" % (area["key_size"] * 8))
    w("\tPBKDF:      %s\n" % kdf["type"])
    if kdf["type"] == "pbkdf2":
        w("\tHash:       %s\n" % kdf["hash"])
        w("\tIterations: %d\n" % kdf["iterations"])
    else:
        w("\tTime cost:  %d\n" % kdf["time"])
        w("\tMemory:     %d\n" % kdf["memory"])
        w("\tThreads:    %d\n" % kdf["cpus"])
    w("\tSalt:       ")
    _b64hex(w, kdf["salt"])
    af = ks["af"]
    w("\tAF stripes: %d\n" % af["stripes"])
    w("\tAF hash:    %s\n" % af["hash"])
    w("\tArea offset:%d [bytes]\n" % int(area["offset"]))
    w("\tArea length:%d [bytes]\n" % int(area["size"]))
