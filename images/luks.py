"""Reference LUKS1/LUKS2 volumes made by the real cryptsetup on plain files
(no device mapper needed for luksFormat/luksAddKey/luksDump), host only.

Each volume records what cryptsetup printed (`luksDump`, the JSON
metadata, the volume key from `luksDump --dump-volume-key`) and gets a
known plaintext pattern in its data area, encrypted with openssl's AES
(ECB/CBC, XTS built on ECB here): neither the key nor the ciphertext comes
from dmfw, so a dmfw unlock + crypt mapping that reads the pattern back is
checked against independent code.

    python -m images.luks     build (or find cached), print dir

Cached under ${XDG_CACHE_HOME:-~/.cache}/dmfw/luks-HASH, the hash covering
the recipes, this file's version and the cryptsetup version.
"""

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile

_VERSION = b"1"
DATA_BYTES = 64 * 1024

FAST1 = ["--pbkdf-force-iterations", "1000"]
FAST2 = ["--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000"]


def _argon(kind, mem):
    return ["--pbkdf", kind, "--pbkdf-memory", str(mem), "--pbkdf-force-iterations",
            "4", "--pbkdf-parallel", "1"]


# name, luksFormat args, data offset (sectors), extra keys, detached header
RECIPES = [
    {"name": "l1-sha1", "args": ["--type", "luks1", "--hash", "sha1"] + FAST1},
    {"name": "l1-sha256", "args": ["--type", "luks1", "--hash", "sha256"] + FAST1},
    {"name": "l1-sha512", "args": ["--type", "luks1", "--hash", "sha512", "-s", "256"]
     + FAST1},
    {"name": "l1-cbc-essiv", "args": ["--type", "luks1", "-c", "aes-cbc-essiv:sha256",
                                      "-s", "256"] + FAST1},
    {"name": "l1-ripemd160", "args": ["--type", "luks1", "--hash", "ripemd160"] + FAST1},
    {"name": "l1-whirlpool", "args": ["--type", "luks1", "--hash", "whirlpool"] + FAST1},
    {"name": "l1-detached", "args": ["--type", "luks1"] + FAST1, "detached": True},
    {"name": "l2-pbkdf2-512", "args": ["--type", "luks2", "--sector-size", "512",
                                       "--luks2-metadata-size", "16k"] + FAST2},
    {"name": "l2-pbkdf2-4096", "args": ["--type", "luks2", "--sector-size", "4096",
                                        "--luks2-metadata-size", "64k"] + FAST2},
    {"name": "l2-argon2i", "args": ["--type", "luks2", "--sector-size", "512"]
     + _argon("argon2i", 32)},
    {"name": "l2-argon2id", "args": ["--type", "luks2", "--sector-size", "4096",
                                     "--label", "lab", "--subsystem", "sub"]
     + _argon("argon2id", 64)},
    {"name": "l2-detached", "args": ["--type", "luks2", "--sector-size", "512"] + FAST2,
     "detached": True},
    {"name": "l2-meta4m", "args": ["--type", "luks2", "--sector-size", "512",
                                   "--luks2-metadata-size", "4m"] + FAST2,
     "offset": 24576, "keyslots": "4m"},
    {"name": "l2-cbc", "args": ["--type", "luks2", "-c", "aes-cbc-essiv:sha256", "-s",
                                "256", "--sector-size", "512"] + FAST2},
    # Three keyslots: the passphrase, a key file read at an offset, and a
    # preferred slot; a token that is listed, never run.
    {"name": "l2-multi", "args": ["--type", "luks2", "--sector-size", "512"] + FAST2,
     "add": [{"passphrase": "second", "args": FAST2},
             {"keyfile": True, "args": FAST2 + ["--new-keyfile-offset", "7",
                                                 "--new-keyfile-size", "40"]}],
     "priority": [1, "prefer"], "token": True},
]


def cache_root():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(base, "dmfw")


def _cryptsetup_version():
    try:
        return subprocess.run(["cryptsetup", "--version"], capture_output=True,
                              text=True).stdout.strip()
    except OSError:
        return ""


def recipe_key():
    h = hashlib.sha256(json.dumps(RECIPES, sort_keys=True).encode())
    h.update(_VERSION)
    h.update(_cryptsetup_version().encode())
    return "luks-%s" % h.hexdigest()[:16]


def missing_tools():
    for tool in ("cryptsetup", "openssl"):
        if shutil.which(tool) is None and not os.path.exists("/usr/sbin/" + tool) \
                and not os.path.exists("/sbin/" + tool):
            return "%s not installed" % tool
    return None


def _run(cmd, input=None, cwd=None):
    r = subprocess.run(cmd, input=input, capture_output=True, cwd=cwd)
    if r.returncode:
        raise RuntimeError("%s: %s" % (" ".join(cmd), r.stderr.decode(errors="replace")))
    return r.stdout


def _ecb(key, data, decrypt=False):
    bits = len(key) * 8
    return _run(["openssl", "enc", "-aes-%d-ecb" % bits, "-nopad", "-K", key.hex()]
                + (["-d"] if decrypt else []), data)


def _xts(key, data, sector0, ss):
    """XTS-plain64 encryption over sectors of `ss` bytes, IV = 512-byte sector
    number (dm-crypt without iv_large_sectors), on openssl ECB."""
    half = len(key) // 2
    k1, k2 = key[:half], key[half:]
    nsec = len(data) // ss
    ivs = b"".join([(sector0 + i * (ss // 512)).to_bytes(16, "little")
                    for i in range(nsec)])
    t0 = _ecb(k2, ivs)
    tweaks = []
    for i in range(nsec):
        t = int.from_bytes(t0[16 * i:16 * i + 16], "little")
        for _ in range(ss // 16):
            tweaks.append(t)
            t <<= 1
            if t >> 128:
                t = (t ^ 0x87) & ((1 << 128) - 1)
    x = bytearray(len(data))
    for j, t in enumerate(tweaks):
        b = int.from_bytes(data[16 * j:16 * j + 16], "little") ^ t
        x[16 * j:16 * j + 16] = b.to_bytes(16, "little")
    y = _ecb(k1, bytes(x))
    out = bytearray(len(data))
    for j, t in enumerate(tweaks):
        b = int.from_bytes(y[16 * j:16 * j + 16], "little") ^ t
        out[16 * j:16 * j + 16] = b.to_bytes(16, "little")
    return bytes(out)


def _cbc_essiv(key, data, sector0, ss):
    salt = hashlib.sha256(key).digest()
    out = b""
    for i in range(len(data) // ss):
        s = sector0 + i * (ss // 512)
        iv = _ecb(salt, s.to_bytes(16, "little"))
        out += _run(["openssl", "enc", "-aes-%d-cbc" % (len(key) * 8), "-nopad",
                     "-K", key.hex(), "-iv", iv.hex()], data[i * ss:(i + 1) * ss])
    return out


def pattern(n):
    """The plaintext every volume's data area holds."""
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(b"luks-pattern-%d" % i).digest()
        i += 1
    return bytes(out[:n])


def _volume_key(text):
    lines = text.splitlines()
    hexs = ""
    on = False
    for line in lines:
        if line.startswith("MK dump:") or line.startswith("Volume key:"):
            on = True
            hexs += line.split(":", 1)[1]
            continue
        if on and line.startswith("\t\t"):
            hexs += line
        else:
            on = False
    return bytes.fromhex(hexs.replace(" ", "").replace("\t", ""))


def _build_one(r, out):
    # cryptsetup runs in the volume directory on relative names, so its
    # "LUKS header information for NAME" is what a test running there prints.
    name = r["name"]
    img = name + ".img"
    hdr = name + ".hdr" if r.get("detached") else None
    pw = ("pw-" + name).encode()
    pwfile = name + ".pw"
    cwd = os.getcwd()
    os.chdir(out)
    try:
        return _build_in(r, name, img, hdr, pw, pwfile)
    finally:
        os.chdir(cwd)


def _build_in(r, name, img, hdr, pw, pwfile):
    with open(pwfile, "wb") as f:
        f.write(pw)
    offset = r.get("offset", 4096)
    size = (0 if hdr else offset * 512) + DATA_BYTES
    with open(img, "wb") as f:
        f.truncate(size)
    args = ["cryptsetup", "luksFormat", "-q", "--key-file", pwfile] + r["args"]
    if hdr:
        with open(hdr, "wb") as f:
            f.truncate(4 * 1024 * 1024)
        args += ["--header", hdr, "--offset", "0"]
    else:
        args += ["--offset", str(offset)]
        if r["args"][1] == "luks2":
            args += ["--luks2-keyslots-size", r.get("keyslots", "1m")]
    _run(args + [img])
    meta = hdr or img
    keys = [{"passphrase": pw.decode()}]
    for i, a in enumerate(r.get("add", [])):
        new = "%s.key%d" % (name, i + 1)
        if a.get("keyfile"):
            blob = hashlib.sha256(b"kf" + pw).digest() * 2
            entry = {"keyfile": os.path.basename(new), "offset": 7, "size": 40}
        else:
            blob = a["passphrase"].encode()
            entry = {"passphrase": a["passphrase"]}
        with open(new, "wb") as f:
            f.write(blob)
        _run(["cryptsetup", "luksAddKey", "-q", "--key-file", pwfile] + a["args"]
             + [meta, new])
        keys.append(entry)
    if r.get("priority"):
        slot, prio = r["priority"]
        _run(["cryptsetup", "config", "--priority", prio, "--key-slot", str(slot), meta])
    if r.get("token"):
        _run(["cryptsetup", "token", "import", "--json-file", "-", meta],
             input=b'{"type":"dmfw-test","keyslots":["0"],"x":"y"}')
    dump = _run(["cryptsetup", "luksDump", meta]).decode()
    vk = _volume_key(_run(["cryptsetup", "luksDump", "-q", "--dump-volume-key",
                           "--key-file", pwfile, meta]).decode())
    js = None
    if r["args"][1] == "luks2":
        js = json.loads(_run(["cryptsetup", "luksDump", "--dump-json-metadata", meta]))
        seg = js["segments"]["0"]
        cipher, ss, data_off = seg["encryption"], seg["sector_size"], int(seg["offset"])
    else:
        cipher, ss = None, 512
        for line in dump.splitlines():
            if line.startswith("Cipher name:"):
                cname = line.split("\t")[1]
            elif line.startswith("Cipher mode:"):
                cipher = cname + "-" + line.split("\t")[1]
            elif line.startswith("Payload offset:"):
                data_off = int(line.split("\t")[1]) * 512
    uuid = [ln.split("\t")[1] for ln in dump.splitlines() if ln.startswith("UUID:")][0]
    plain = pattern(DATA_BYTES)
    enc = _xts if "xts" in cipher else _cbc_essiv
    ct = enc(vk, plain, 0, ss)
    with open(img, "r+b") as f:
        f.seek(data_off)
        f.write(ct)
    return {"name": name, "image": img,
            "header": hdr, "passphrase_file": pwfile,
            "version": 2 if js else 1, "keys": keys, "uuid": uuid,
            "cipher": cipher, "sector_size": ss, "data_offset": data_off,
            "data_bytes": DATA_BYTES, "key_bytes": len(vk), "volume_key": vk.hex(),
            "dump": dump, "json": js}


def _build(out):
    tmp = tempfile.mkdtemp(dir=os.path.dirname(out))
    try:
        vols = []
        skipped = {}
        for r in RECIPES:
            try:
                vols.append(_build_one(r, tmp))
            except RuntimeError as e:
                # A hash the host's libcryptsetup backend lacks (ripemd160,
                # whirlpool need OpenSSL's legacy provider): recorded, not fatal.
                skipped[r["name"]] = str(e)
        with open(os.path.join(tmp, "manifest.json"), "w") as f:
            json.dump({"volumes": vols, "skipped": skipped,
                       "cryptsetup": _cryptsetup_version()}, f, indent=1)
        os.rename(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def build():
    root = cache_root()
    os.makedirs(root, exist_ok=True)
    out = os.path.join(root, recipe_key())
    if os.path.exists(os.path.join(out, "manifest.json")):
        return out
    why = missing_tools()
    if why:
        raise RuntimeError(why)
    with open(os.path.join(root, ".luks.lock"), "w") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        if not os.path.exists(os.path.join(out, "manifest.json")):
            _build(out)
    return out


def load():
    d = build()
    with open(os.path.join(d, "manifest.json")) as f:
        m = json.load(f)
    m["dir"] = d
    for v in m["volumes"]:
        v["path"] = os.path.join(d, v["image"])
        v["header_path"] = os.path.join(d, v["header"]) if v["header"] else None
        for k in v["keys"]:
            if "keyfile" in k:
                k["path"] = os.path.join(d, k["keyfile"])
    return m


if __name__ == "__main__":
    print(build())
