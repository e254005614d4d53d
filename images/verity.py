"""Reference dm-verity images made by the real veritysetup, and root-hash
signatures made by openssl (host, CPython only).

Each image records what the tools printed (format output, `veritysetup
dump`) and the table line veritysetup would load, derived from the dump
with cryptsetup's rules (lib/verity/verity.c, verity_fec.c,
libdevmapper.c) — not from dmfw:

  hash_start = hash_offset / hbs                 (--no-superblock)
             = ceil((hash_offset + 512) / hbs)   (superblock)
  fec_blocks = data_blocks + hash_dev_blocks - hash_start        (own FEC file)
             = data_blocks + fec_offset / bs - hash_start        (FEC in hash file)
  fec_start  = fec_offset / bs
  length     = data_blocks * dbs / 512

    python -m images.verity [matrix|sigs|bench]   build (or find cached), print dir

Cached under ${XDG_CACHE_HOME:-~/.cache}/dmfw/verity-NAME-HASH, the hash
covering this file's recipe data and the tool versions.
"""

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

_VERSION = b"3"
TOOLS = ("veritysetup", "openssl")

HASHES = ("sha1", "sha256", "sha512")
BLOCKS = ((512, 512), (1024, 1024), (4096, 4096), (4096, 1024), (1024, 4096))
LAYOUTS = (("sb", "file"), ("nosb", "file"), ("sb", "offset"), ("nosb", "offset"))
FEC_CYCLE = (0, 2, 5, 24)
SIZES = (1, 37, 300, 129)


def matrix():
    """format 0/1 x sha1/256/512 x block sizes x superblock or not x
    separate hash file or --hash-offset; FEC roots cycle over the entries
    whose block sizes are equal (FEC requires it)."""
    out = []
    k = 0
    for fmt in (0, 1):
        for alg in HASHES:
            for dbs, hbs in BLOCKS:
                for sb, lay in LAYOUTS:
                    r, l = k // len(LAYOUTS), k % len(LAYOUTS)
                    roots = FEC_CYCLE[(r + l) % len(FEC_CYCLE)] if dbs == hbs else 0
                    n = SIZES[(r + 2 * l) % len(SIZES)]
                    salt = "-" if k % 5 == 3 else \
                        hashlib.sha256(b"salt%d" % k).hexdigest()[:(k % 3 + 1) * 16]
                    out.append({"name": "v%d-%s-%d-%d-%s-%s-r%d" % (
                        fmt, alg, dbs, hbs, sb, lay, roots),
                        "format": fmt, "hash": alg, "dbs": dbs, "hbs": hbs,
                        "sb": sb == "sb", "layout": lay, "roots": roots,
                        "blocks": n, "salt": salt,
                        "uuid": "%08x-0000-4000-8000-%012x" % (k, k)})
                    k += 1
    return out


SIGNERS = (
    # name, key, openssl variant, extra args
    ("rsa2048-smime", "rsa:2048", "smime", ["-nocerts", "-noattr"]),
    ("rsa2048-cms", "rsa:2048", "cms", ["-nocerts", "-noattr"]),
    ("rsa3072-pss", "rsa:3072", "cms", ["-nocerts", "-noattr", "-keyopt",
                                        "rsa_padding_mode:pss"]),
    ("rsa4096-attrs", "rsa:4096", "cms", ["-md", "sha512"]),
    ("rsa2048-pss-attrs", "rsa:2048", "cms", ["-keyopt", "rsa_padding_mode:pss",
                                              "-keyopt", "rsa_pss_saltlen:32"]),
    ("p256-smime", "P-256", "smime", ["-nocerts", "-noattr"]),
    ("p256-cms-keyid", "P-256", "cms", ["-nocerts", "-keyid"]),
    ("p384-cms", "P-384", "cms", ["-nocerts", "-noattr", "-md", "sha384"]),
    ("p384-attrs", "P-384", "cms", ["-md", "sha512"]),
)

RECIPES = {"matrix": None, "sigs": None, "bench": None}
BENCH_MIB = int(os.environ.get("DMFW_VERITY_BENCH_MIB", "1024"))


def cache_root():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(base, "dmfw")


def missing_tools():
    return [t for t in TOOLS if shutil.which(t) is None]


def _tool_versions():
    out = []
    for t in (["veritysetup", "--version"], ["openssl", "version"]):
        try:
            out.append(subprocess.run(t, capture_output=True).stdout)
        except OSError:
            out.append(b"")
    return b"".join(out)


def recipe_key(name):
    h = hashlib.sha256(_VERSION)
    h.update(name.encode())
    h.update(json.dumps(matrix(), sort_keys=True).encode())
    h.update(repr(SIGNERS).encode())
    if name == "bench":
        h.update(b"%d" % BENCH_MIB)
    h.update(_tool_versions())
    return h.hexdigest()[:12]


def _run(cmd, **kw):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    if r.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(cmd), r.returncode,
                                                   r.stderr.decode(errors="replace")))
    return r.stdout.decode()


def fill(path, nbytes, seed, zero_every=7, bs=512):
    """Deterministic pseudo-random content with some all-zero blocks (for
    ignore_zero_blocks)."""
    with open(path, "wb") as f:
        done = 0
        i = 0
        while done < nbytes:
            n = min(bs, nbytes - done)
            if zero_every and i % zero_every == zero_every - 1:
                f.write(bytes(n))
            else:
                blk = b""
                c = 0
                while len(blk) < n:
                    blk += hashlib.sha256(b"%s:%d:%d" % (seed.encode(), i, c)).digest()
                    c += 1
                f.write(blk[:n])
            done += n
            i += 1


def dump_fields(text):
    out = {}
    for line in text.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            out[k.strip()] = v.strip()
    return out


def _build_one(e, d):
    dbs, hbs, n = e["dbs"], e["hbs"], e["blocks"]
    data_bytes = dbs * n
    base = os.path.join(d, e["name"])
    os.makedirs(base)
    args = ["--format", str(e["format"]), "--hash", e["hash"],
            "--data-block-size", str(dbs), "--hash-block-size", str(hbs),
            "--salt", e["salt"]]
    if e["sb"]:
        args += ["--uuid", e["uuid"]]
    else:
        args += ["--no-superblock"]
    info = dict(e)
    if e["layout"] == "file":
        data = os.path.join(base, "data.img")
        hashf = os.path.join(base, "hash.img")
        fill(data, data_bytes, e["name"], bs=dbs)
        hash_offset = 0
        cmd = ["veritysetup", "format", data, hashf] + args
    else:
        data = hashf = os.path.join(base, "image.img")
        # The hash area starts at the next 4 KiB boundary after the data.
        hash_offset = (data_bytes + 4095) // 4096 * 4096
        fill(data, data_bytes, e["name"], bs=dbs)
        with open(data, "r+b") as f:
            f.truncate(hash_offset)
        cmd = ["veritysetup", "format", data, hashf, "--hash-offset",
               str(hash_offset), "--data-blocks", str(n)] + args
    fec_offset = 0
    fecf = None
    if e["roots"]:
        if e["layout"] == "file":
            fecf = os.path.join(base, "fec.img")
            cmd += ["--fec-device", fecf, "--fec-roots", str(e["roots"])]
        else:
            fecf = hashf
            # After the hash area: superblock + every level fits in this
            # bound (each level is at most ceil(blocks/2) + 1 blocks).
            fec_offset = hash_offset + (2 * n + 64) * hbs
            fec_offset = (fec_offset + 4095) // 4096 * 4096
            # FEC covers everything up to fec_offset: it must exist.
            with open(hashf, "r+b") as f:
                f.truncate(fec_offset)
            cmd += ["--fec-device", fecf, "--fec-roots", str(e["roots"]),
                    "--fec-offset", str(fec_offset)]
    out = _run(cmd)
    f = dump_fields(out)
    root = f["Root hash"]
    info["root"] = root
    info["format_output"] = out
    dcmd = ["veritysetup", "dump", hashf]
    if hash_offset:
        dcmd += ["--hash-offset", str(hash_offset)]
    if e["sb"]:
        info["dump_output"] = _run(dcmd)
    info["hash_offset"] = hash_offset
    info["fec_offset"] = fec_offset
    info["data_file"] = os.path.basename(data)
    info["hash_file"] = os.path.basename(hashf)
    info["fec_file"] = os.path.basename(fecf) if fecf else None
    hash_blocks = int(f["Hash blocks"])
    if e["sb"]:
        hash_start = (hash_offset + 512 + hbs - 1) // hbs
    else:
        hash_start = hash_offset // hbs
    info["hash_start"] = hash_start
    info["hash_blocks"] = hash_blocks
    info["length"] = data_bytes // 512
    if fecf:
        if fecf == hashf:
            fec_blocks = n + fec_offset // dbs - hash_start
        else:
            fec_blocks = n + os.path.getsize(hashf) // dbs - hash_start
        info["fec_blocks"] = fec_blocks
        info["fec_start"] = fec_offset // dbs
    # veritysetup verify on the pristine image: must pass.
    vcmd = ["veritysetup", "verify", data, hashf, root] + open_args(info, base)
    _run(vcmd)
    return info


def _open_args(info):
    """veritysetup options that open/verify this image."""
    a = []
    if info["layout"] == "offset":
        a += ["--hash-offset", str(info["hash_offset"])]
    if not info["sb"]:
        a += ["--no-superblock", "--format", str(info["format"]), "--hash",
              info["hash"], "--data-block-size", str(info["dbs"]),
              "--hash-block-size", str(info["hbs"]), "--data-blocks",
              str(info["blocks"]), "--salt", info["salt"]]
    elif info["layout"] == "offset":
        a += ["--data-blocks", str(info["blocks"])]
    if info.get("fec_file"):
        a += ["--fec-device", "FEC", "--fec-roots", str(info["roots"])]
        if info["fec_offset"]:
            a += ["--fec-offset", str(info["fec_offset"])]
    return a


def open_args(info, base):
    return [os.path.join(base, info["fec_file"]) if x == "FEC" else x
            for x in _open_args(info)]


def expected_table(info, data_dev, hash_dev, fec_dev=None, opts=()):
    """The table line veritysetup loads, given the devices' major:minor."""
    salt = info["salt"] if info["salt"] != "-" else "-"
    line = "0 %d verity %d %s %s %d %d %d %d %s %s %s" % (
        info["length"], info["format"], data_dev, hash_dev, info["dbs"],
        info["hbs"], info["blocks"], info["hash_start"], info["hash"],
        info["root"], salt.lower())
    o = list(opts)
    n = len(o)
    if fec_dev is not None and info.get("fec_file"):
        o.append("use_fec_from_device %s fec_blocks %d fec_start %d fec_roots %d"
                 % (fec_dev, info["fec_blocks"], info["fec_start"], info["roots"]))
        n += 8
    if o:
        line += " %d %s" % (n, " ".join(o))
    return line


def _build_matrix(d):
    infos = []
    for e in matrix():
        infos.append(_build_one(e, d))
    with open(os.path.join(d, "matrix.json"), "w") as f:
        json.dump(infos, f, indent=1)


def _build_sigs(d):
    work = tempfile.mkdtemp(dir=d)
    rh = os.path.join(d, "root.txt")
    # A root hash string of a real image: the sha256/4096 superblock entry.
    src = os.path.join(d, "img")
    e = [m for m in matrix() if m["format"] == 1 and m["hash"] == "sha256"
         and m["dbs"] == 4096 and m["hbs"] == 4096 and m["sb"]
         and m["layout"] == "file"][0]
    info = _build_one(e, src)
    with open(rh, "w") as f:
        f.write(info["root"])
    out = {"image": info, "signers": []}
    for name, key, tool, extra in SIGNERS:
        k = os.path.join(d, name + ".key")
        c = os.path.join(d, name + ".pem")
        if key.startswith("rsa:"):
            newkey = ["-newkey", key]
        else:
            newkey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:" + key]
        _run(["openssl", "req", "-x509", "-nodes", "-days", "3650", "-sha256",
              "-subj", "/CN=dmfw test %s/O=dmfw" % name, "-keyout", k,
              "-out", c, "-addext", "subjectKeyIdentifier=hash"] + newkey)
        _run(["openssl", "x509", "-in", c, "-outform", "DER", "-out",
              os.path.join(d, name + ".der")])
        sig = os.path.join(d, name + ".p7s")
        _run(["openssl", tool, "-sign", "-binary", "-in", rh, "-inkey", k,
              "-signer", c, "-outform", "DER", "-out", sig] + extra)
        out["signers"].append({"name": name, "cert": name + ".pem",
                               "der": name + ".der", "sig": name + ".p7s",
                               "key": key, "tool": tool, "args": extra})
    # openssl's own decision for every (signature, trusted cert) pair and
    # for the signature over a tampered root string.
    bad = os.path.join(d, "root-tampered.txt")
    with open(bad, "w") as f:
        f.write(info["root"][:-1] + ("0" if info["root"][-1] != "0" else "1"))
    decisions = {}
    for s in out["signers"]:
        for t in out["signers"]:
            for content in (rh, bad):
                r = subprocess.run(
                    ["openssl", "cms", "-verify", "-binary", "-inform", "DER",
                     "-in", os.path.join(d, s["sig"]), "-content", content,
                     "-CAfile", os.path.join(d, t["cert"]), "-certfile",
                     os.path.join(d, t["cert"]), "-purpose", "any",
                     "-out", os.devnull], capture_output=True)
                decisions["%s|%s|%s" % (s["name"], t["name"],
                                        os.path.basename(content))] = r.returncode == 0
    out["openssl"] = decisions
    shutil.rmtree(work)
    with open(os.path.join(d, "sigs.json"), "w") as f:
        json.dump(out, f, indent=1)


def bench_files(data, hashf, mib, tag=b"bench"):
    """`mib` MiB of data and its hash tree, formatted by the real veritysetup (4 KiB
    blocks, sha256, a salt from `tag`) -> veritysetup's output."""
    # Fast fill: one pseudo-random MiB, rotated per MiB (content only has
    # to differ between blocks, not be unpredictable).
    seed = b"".join(hashlib.sha256(tag + b"%d" % i).digest() for i in range(32768))
    with open(data, "wb") as f:
        for i in range(mib):
            r = (i * 4099) % len(seed)
            f.write(seed[r:] + seed[:r])
    return _run(["veritysetup", "format", data, hashf, "--salt",
                 hashlib.sha256(tag).hexdigest()])


def _build_bench(d):
    out = bench_files(os.path.join(d, "data.img"), os.path.join(d, "hash.img"), BENCH_MIB)
    with open(os.path.join(d, "bench.json"), "w") as f:
        json.dump({"root": dump_fields(out)["Root hash"], "mib": BENCH_MIB,
                   "format_output": out}, f)


_BUILDERS = {"matrix": _build_matrix, "sigs": _build_sigs, "bench": _build_bench}


def build(name="matrix"):
    """Build (once) and return the cache directory of recipe `name`."""
    root = cache_root()
    os.makedirs(root, exist_ok=True)
    d = os.path.join(root, "verity-%s-%s" % (name, recipe_key(name)))
    if os.path.exists(os.path.join(d, ".done")):
        return d
    with open(os.path.join(root, ".verity.lock"), "w") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        if os.path.exists(os.path.join(d, ".done")):
            return d
        tmp = d + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        _BUILDERS[name](tmp)
        open(os.path.join(tmp, ".done"), "w").close()
        shutil.rmtree(d, ignore_errors=True)
        os.rename(tmp, d)
    return d


def load(name):
    d = build(name)
    fn = {"matrix": "matrix.json", "sigs": "sigs.json", "bench": "bench.json"}[name]
    with open(os.path.join(d, fn)) as f:
        return d, json.load(f)


if __name__ == "__main__":
    print(build(sys.argv[1] if len(sys.argv) > 1 else "matrix"))
