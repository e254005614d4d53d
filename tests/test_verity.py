# dm-verity against the real tools: reference images made by veritysetup
# (images/verity.py) across the format matrix. dmfw's veritysetup must load
# the table cryptsetup would, map the same content, dump and format
# byte-identically, and catch every corruption.

import hashlib
import os
import shutil
import subprocess

import pytest

from shellrun import new_shell, run

iv = pytest.importorskip("images.verity")
pytestmark = pytest.mark.skipif(iv.missing_tools() != [],
                                reason="needs veritysetup and openssl on the host")

NAMES = [e["name"] for e in iv.matrix()]
DEVNO = {"/dev/vda": "254:0", "/dev/vdb": "254:16", "/dev/vdc": "254:32"}


@pytest.fixture(scope="module")
def matrix():
    d, infos = iv.load("matrix")
    return d, dict((i["name"], i) for i in infos)


def attach(info, base):
    """Disks for an image, as the guest would see them: data vda, hash vdb
    (unless in the same file), FEC vdc (unless in the hash file)."""
    disks = [("/dev/vda", os.path.join(base, info["data_file"]))]
    hash_spec = "/dev/vda"
    if info["hash_file"] != info["data_file"]:
        disks.append(("/dev/vdb", os.path.join(base, info["hash_file"])))
        hash_spec = "/dev/vdb"
    fec_spec = None
    if info.get("fec_file"):
        if info["fec_file"] == info["hash_file"]:
            fec_spec = hash_spec
        else:
            disks.append(("/dev/vdc", os.path.join(base, info["fec_file"])))
            fec_spec = "/dev/vdc"
    return disks, hash_spec, fec_spec


def _args(info, fec_spec):
    """The image's options for open/verify, FEC on fec_spec (or none)."""
    args = [fec_spec if a == info.get("fec_file") else a
            for a in iv.open_args(info, "")]
    if fec_spec is None and "--fec-device" in args:
        i = args.index("--fec-device")
        del args[i:i + 4]
        if "--fec-offset" in args:
            i = args.index("--fec-offset")
            del args[i:i + 2]
    return " ".join(args)


def open_cmd(info, hash_spec, fec_spec, name="v", extra=""):
    return "veritysetup open /dev/vda %s %s %s %s %s" % (
        name, hash_spec, info["root"], _args(info, fec_spec), extra)


def data_digest(info, base):
    with open(os.path.join(base, info["data_file"]), "rb") as f:
        return hashlib.sha256(f.read(info["blocks"] * info["dbs"])).hexdigest()


@pytest.mark.parametrize("name", NAMES)
def test_open_loads_veritysetups_table_and_maps_the_data(matrix, name):
    d, infos = matrix
    info = infos[name]
    base = os.path.join(d, name)
    disks, hs, fs = attach(info, base)
    r = run(open_cmd(info, hs, fs) + "\ndmsetup table v\nsha256sum /dev/mapper/v\n"
            "dmsetup status v", disks)
    assert r.status == 0, r
    want = iv.expected_table(info, "254:0", DEVNO[hs], DEVNO.get(fs))
    lines = r.out.splitlines()
    assert lines[0] == want
    assert lines[1].split()[0] == data_digest(info, base)
    assert lines[2] == "0 %d verity V" % info["length"]


@pytest.mark.parametrize("name", [n for n in NAMES if "-sb-" in n])
def test_dump_prints_what_veritysetup_prints(matrix, name):
    d, infos = matrix
    info = infos[name]
    base = os.path.join(d, name)
    hashf = os.path.join(base, info["hash_file"])
    cmd = "veritysetup dump %s" % hashf
    if info["hash_offset"]:
        cmd += " --hash-offset %d" % info["hash_offset"]
    r = run(cmd)
    assert r.status == 0, r
    ref = subprocess.run(["veritysetup", "dump", hashf] +
                         (["--hash-offset", str(info["hash_offset"])]
                          if info["hash_offset"] else []),
                         capture_output=True, text=True).stdout
    assert r.out == ref


def _format_like_reference(info, base, tmp_path, extra=""):
    """dmfw's veritysetup format with the reference image's parameters;
    asserts it printed and wrote what veritysetup did."""
    if info["layout"] == "offset":
        img = tmp_path / "image.img"
        with open(os.path.join(base, info["data_file"]), "rb") as f:
            img.write_bytes(f.read(info["hash_offset"]))
        data = hashf = str(img)
    else:
        data = os.path.join(base, info["data_file"])
        hashf = str(tmp_path / "hash.img")
    args = ["--format", str(info["format"]), "--hash", info["hash"],
            "--data-block-size", str(info["dbs"]), "--hash-block-size",
            str(info["hbs"]), "--salt", info["salt"]]
    args += ["--uuid", info["uuid"]] if info["sb"] else ["--no-superblock"]
    if info["hash_offset"]:
        args += ["--hash-offset", str(info["hash_offset"]), "--data-blocks",
                 str(info["blocks"])]
    fecf = None
    if info.get("fec_file"):
        fecf = hashf if info["fec_file"] == info["hash_file"] else \
            str(tmp_path / "fec.img")
        args += ["--fec-device", fecf, "--fec-roots", str(info["roots"])]
        if info["fec_offset"]:
            args += ["--fec-offset", str(info["fec_offset"])]
            with open(hashf, "r+b") as f:
                f.truncate(info["fec_offset"])
    r = run("veritysetup format %s %s %s %s" % (data, hashf, " ".join(args), extra))
    assert r.status == 0, r
    ref_out = info["format_output"].splitlines()
    assert r.out.splitlines()[1:] == ref_out[1:]
    ref_hash = open(os.path.join(base, info["hash_file"]), "rb").read()
    got = open(hashf, "rb").read()
    assert got == ref_hash[:len(got)] and not any(ref_hash[len(got):])
    if fecf and fecf != hashf:
        assert open(fecf, "rb").read() == open(os.path.join(base, info["fec_file"]), "rb").read()


@pytest.mark.parametrize("name", NAMES[::3] + [n for n in NAMES if "-r" in n
                                               and not n.endswith("-r0")][:12])
def test_format_writes_cryptsetups_bytes(matrix, name, tmp_path):
    d, infos = matrix
    _format_like_reference(infos[name], os.path.join(d, name), tmp_path)


@pytest.fixture
def every_worker(monkeypatch):
    # The reference images are small: let each worker take one hash block
    # (one FEC round), so their slices split every image.
    from dmfw.verity import parallel
    monkeypatch.setattr(parallel, "MIN_PER_WORKER", 1)
    calls = []
    real = parallel.run

    def run(work, ranges, devs):
        calls.append(len(ranges))
        return real(work, ranges, devs)
    monkeypatch.setattr(parallel, "run", run)
    return calls


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("name", NAMES)
def test_format_and_verify_with_workers_match_cryptsetup(matrix, name, threads,
                                                         tmp_path, every_worker):
    # All 120 reference images, level 0 and FEC split over 1, 2 and 3
    # workers: the same bytes as veritysetup wrote, and a clean verify.
    d, infos = matrix
    info = infos[name]
    base = os.path.join(d, name)
    _format_like_reference(info, base, tmp_path, "--threads %d" % threads)
    disks, hs, fs = attach(info, base)
    r = run("veritysetup verify /dev/vda %s %s %s --threads %d"
            % (hs, info["root"], _args(info, fs), threads), disks)
    assert (r.status, r.err) == (0, ""), r
    # The split did happen: format and verify each ran level 0 (and format
    # the FEC rounds) on `threads` workers wherever there were two hash
    # blocks to share.
    from dmfw.verity.tree import Geometry
    salt = b"" if info["salt"] == "-" else bytes.fromhex(info["salt"])
    g = Geometry(info["format"], info["dbs"], info["hbs"], info["blocks"], 0,
                 info["hash"], salt)
    split = threads > 1 and g.levels and g.level_size[0] > 1
    fec_split = threads > 1 and info.get("fec_file") and \
        info["fec_blocks"] > 255 - info["roots"]
    want = 2 * bool(split) + bool(fec_split)
    assert len([c for c in every_worker if c > 1]) == want


def _mem_target(info, base, opts="", fec=True):
    """A shell whose disks are RAM copies, so tests can corrupt them."""
    from dmfw.blockdev import MemoryDevice
    sh = new_shell()
    files = {}
    for spec, path in attach(info, base)[0]:
        with open(path, "rb") as f:
            data = bytearray(f.read())
        data += bytes(-len(data) % 512)
        maj, mi = DEVNO[spec].split(":")
        dev = MemoryDevice(data, name=spec[5:], major=int(maj), minor=int(mi))
        sh.devices.add(dev)
        files[spec] = data
    _, hs, fs = attach(info, base)
    r = run(open_cmd(info, hs, fs if fec else None, extra=opts), sh=sh)
    assert r.status == 0, r
    md = sh.dm.get("v")
    return sh, md, files, hs


def _reset(t):
    t.shrink()      # the target's documented way to drop its verified hash blocks
    t.hash_failed = False
    if t.validated is not None:
        t.validated[:] = bytes(len(t.validated))


def _read_all(md):
    return md.read(0, md.nr_sectors)


def _pick(infos, **kw):
    for i in infos.values():
        if all(i[k] == v for k, v in kw.items()):
            return i
    raise LookupError(kw)


@pytest.mark.parametrize("fmt,alg", [(1, "sha512"), (0, "sha256")])
def test_every_flipped_byte_is_detected(matrix, fmt, alg):
    from dmfw.errors import IOFailure
    d, infos = matrix
    info = _pick(infos, format=fmt, hash=alg, dbs=512, hbs=512, sb=True,
                 layout="file", blocks=37)
    base = os.path.join(d, info["name"])
    # Opened without its FEC, which would repair the flips.
    sh, md, files, hs = _mem_target(info, base, fec=False)
    assert md.live.targets[0].geo.levels >= 2
    t = md.live.targets[0]
    good = bytes(_read_all(md))
    areas = [(files["/dev/vda"], 0, info["blocks"] * info["dbs"]),
             (files[hs], t.geo.hash_start * t.hash_bs, t.geo.hash_end * t.hash_bs)]
    missed = []
    n = 0
    for buf, lo, hi in areas:
        for pos in range(lo, hi):
            buf[pos] ^= 0x5a
            _reset(t)
            try:
                _read_all(md)
                missed.append(pos)
            except IOFailure:
                pass
            buf[pos] ^= 0x5a
            n += 1
    assert n > 19000 and missed == []
    _reset(t)
    assert bytes(_read_all(md)) == good
    assert t.status() == "V"


def test_flips_agree_with_veritysetup_verify(matrix, tmp_path):
    d, infos = matrix
    info = _pick(infos, format=1, hash="sha256", dbs=4096, hbs=4096, sb=True,
                 layout="file", blocks=300)
    base = os.path.join(d, info["name"])
    data = tmp_path / "d.img"
    hashf = tmp_path / "h.img"
    shutil.copy(os.path.join(base, "data.img"), data)
    shutil.copy(os.path.join(base, "hash.img"), hashf)
    import random
    rnd = random.Random(4)
    hsize = os.path.getsize(hashf)
    for trial in range(8):
        target = data if trial % 2 == 0 else hashf
        size = os.path.getsize(target)
        lo = 0 if target == data else 4096
        pos = rnd.randrange(lo, size)
        with open(target, "r+b") as f:
            f.seek(pos)
            b = f.read(1)
            f.seek(pos)
            f.write(bytes([b[0] ^ 1]))
        ref = subprocess.run(["veritysetup", "verify", str(data), str(hashf),
                              info["root"]], capture_output=True, text=True)
        r = run("veritysetup verify %s %s %s" % (data, hashf, info["root"]))
        assert (r.status, r.err) == (ref.returncode, ref.stderr), (target, pos)
        with open(target, "r+b") as f:
            f.seek(pos)
            f.write(b)
    assert hsize == os.path.getsize(hashf)


def test_fec_repairs_a_destroyed_block_like_the_tools(matrix, tmp_path):
    d, infos = matrix
    fecs = [i for i in infos.values() if i["roots"] and i["layout"] == "file"
            and i["blocks"] >= 37]
    assert len(fecs) >= 5
    for info in fecs[:6]:
        base = os.path.join(d, info["name"])
        sh, md, files, hs = _mem_target(info, base)
        t = md.live.targets[0]
        good = bytes(_read_all(md))
        dbs = info["dbs"]
        k = info["blocks"] // 2
        files["/dev/vda"][k * dbs:(k + 1) * dbs] = os.urandom(dbs)
        _reset(t)
        assert bytes(_read_all(md)) == good, info["name"]
        assert t.status() == "V" and t.fec_corrected >= 1
        # The same damage on disk: veritysetup verify repairs it with FEC
        # and so does dmfw's verify, counting the same errors.
        tmp = tmp_path / info["name"]
        tmp.mkdir()
        for f in ("data.img", "hash.img", "fec.img"):
            shutil.copy(os.path.join(base, f), tmp / f)
        with open(tmp / "data.img", "r+b") as f:
            f.seek(k * dbs)
            f.write(bytes(files["/dev/vda"][k * dbs:(k + 1) * dbs]))
        args = [str(tmp / "data.img"), str(tmp / "hash.img"), info["root"]] + \
            iv.open_args(info, str(tmp))
        ref = subprocess.run(["veritysetup", "verify"] + args, capture_output=True,
                             text=True)
        r = run("veritysetup verify " + " ".join(args))
        assert ref.returncode == 0 and "repairable errors" in ref.stderr
        assert (r.status, r.err) == (ref.returncode, ref.stderr)


def test_fec_repairs_hash_blocks_and_uses_erasures(matrix):
    from dmfw.errors import IOFailure
    d, infos = matrix
    info = [i for i in infos.values() if i["roots"] == 2 and i["layout"] == "file"
            and i["blocks"] == 300][0]
    base = os.path.join(d, info["name"])
    sh, md, files, hs = _mem_target(info, base)
    t = md.live.targets[0]
    good = bytes(_read_all(md))
    bs = info["dbs"]
    # A destroyed level-0 hash block is rebuilt from FEC.
    h0 = t.geo.level_block[0] * bs
    files[hs][h0:h0 + bs] = bytes(bs)
    _reset(t)
    assert bytes(_read_all(md)) == good
    files[hs][h0:h0 + bs] = open(os.path.join(base, "hash.img"), "rb").read()[h0:h0 + bs]
    # Two destroyed blocks of the same RS round are two errors per codeword:
    # too many for roots=2 without erasures, fine with them (the kernel's
    # second pass), while roots=2 cannot fix three.
    rounds = t.fec.rounds
    for b in (5, 5 + rounds):
        files["/dev/vda"][b * bs:(b + 1) * bs] = os.urandom(bs)
    _reset(t)
    assert bytes(_read_all(md)) == good
    files["/dev/vda"][(5 + 2 * rounds) * bs:(6 + 2 * rounds) * bs] = os.urandom(bs)
    _reset(t)
    with pytest.raises(IOFailure):
        md.read(5 * bs // 512, bs // 512)
    assert t.status() == "C"


def test_modes_and_options(matrix):
    from dmfw.errors import IOFailure
    d, infos = matrix
    info = _pick(infos, format=1, hash="sha256", dbs=4096, hbs=4096, sb=True,
                 layout="file", blocks=300)
    base = os.path.join(d, info["name"])
    bs = 4096

    # ignore_corruption: the data comes back, status turns C.
    sh, md, files, hs = _mem_target(info, base, "--ignore-corruption", fec=False)
    files["/dev/vda"][bs * 3] ^= 1
    assert md.read(24, 8)[0] == files["/dev/vda"][bs * 3]
    assert md.live.targets[0].status() == "C"

    # default: EIO, and the caller's buffer never holds the bad block.
    sh, md, files, hs = _mem_target(info, base, fec=False)
    files["/dev/vda"][bs * 3 + 7] ^= 1
    buf = bytearray(3 * bs)
    with pytest.raises(IOFailure):
        md.readblocks(16, buf)
    assert not any(buf[bs:2 * bs])
    r = run("dmsetup status v", sh=sh)
    assert r.out == "0 2400 verity C\n"

    # restart / panic go to the platform hooks with the kernel's reasons.
    calls = []

    class P:
        def restart(self, why):
            calls.append(("restart", why))

        def panic(self, why):
            calls.append(("panic", why))
    for opt, kind in (("--restart-on-corruption", "restart"),
                      ("--panic-on-corruption", "panic")):
        sh, md, files, hs = _mem_target(info, base, opt, fec=False)
        sh.dm.platform = P()
        files["/dev/vda"][bs * 9] ^= 1
        with pytest.raises(IOFailure):
            md.read(72, 8)
        assert calls[-1] == (kind, "dm-verity device corrupted")

    # check_at_most_once: a verified block is not hashed again.
    sh, md, files, hs = _mem_target(info, base, "--check-at-most-once", fec=False)
    first = bytes(md.read(0, 16))
    files["/dev/vda"][0] ^= 1
    assert md.read(0, 8)[0] == first[0] ^ 1

    # ignore_zero_blocks: blocks whose hash is the zero-block hash read as
    # zeros without being read back and checked.
    sh, md, files, hs = _mem_target(info, base, "--ignore-zero-blocks", fec=False)
    zb = [i for i in range(info["blocks"])
          if not any(files["/dev/vda"][i * bs:(i + 1) * bs])][0]
    files["/dev/vda"][zb * bs] = 0xff
    assert not any(md.read(zb * 8, 8))
    r = run("dmsetup table v", sh=sh)
    assert r.out.rstrip().endswith(" 1 ignore_zero_blocks")


TABLE_ERRORS = [
    ("1 254:0 254:16 4096 4096 300 1 sha256", "Not enough arguments"),
    ("2 254:0 254:16 4096 4096 300 1 sha256 R -", "Invalid version"),
    ("1 9:9 254:16 4096 4096 300 1 sha256 R -", "Data device lookup failed"),
    ("1 254:0 9:9 4096 4096 300 1 sha256 R -", "Hash device lookup failed"),
    ("1 254:0 254:16 4095 4096 300 1 sha256 R -", "Invalid data device block size"),
    ("1 254:0 254:16 8192 4096 300 1 sha256 R -", "Invalid data device block size"),
    ("1 254:0 254:16 256 4096 300 1 sha256 R -", "Invalid data device block size"),
    ("1 254:0 254:16 4096 3000 300 1 sha256 R -", "Invalid hash device block size"),
    ("1 254:0 254:16 4096 4096 x 1 sha256 R -", "Invalid data blocks"),
    ("1 254:0 254:16 4096 4096 299 1 sha256 R -", "Data device is too small"),
    ("1 254:0 254:16 4096 4096 300 -1 sha256 R -", "Invalid hash start"),
    ("1 254:0 254:16 4096 4096 300 1 sha999 R -", "Cannot initialize hash function"),
    ("1 254:0 254:16 4096 4096 300 1 sha256 00 -", "Invalid root digest"),
    ("1 254:0 254:16 4096 4096 300 1 sha256 R abc", "Invalid salt"),
    ("1 254:0 254:16 4096 4096 300 1 sha256 R zz", "Invalid salt"),
    ("1 254:0 254:16 4096 4096 300 1 sha256 R - 2 ignore_corruption",
     "Invalid number of feature args"),
    ("1 254:0 254:16 4096 4096 300 1 sha256 R - 16 a b c d e f g h i j k l m n o p",
     "Invalid number of feature args"),
    ("1 254:0 254:16 4096 4096 300 1 sha256 R - 1 bogus",
     "Unrecognized verity feature request"),
    ("1 254:0 254:16 4096 4096 300 1 sha256 R - 2 ignore_corruption panic_on_corruption",
     "Conflicting error handling parameters"),
    ("1 254:0 254:16 4096 4096 300 1 sha256 R - 2 restart_on_error panic_on_error",
     "Conflicting error handling parameters"),
    ("1 254:0 254:16 4096 4096 300 1 sha256 R - 1 fec_roots",
     "FEC feature arguments require a value"),
    ("1 254:0 254:16 4096 4096 300 1 sha256 R - 2 fec_roots 1", "Invalid fec_roots"),
    ("1 254:0 254:16 4096 4096 300 1 sha256 R - 2 fec_roots 25", "Invalid fec_roots"),
    ("1 254:0 254:16 4096 4096 300 1 sha256 R - 2 use_fec_from_device 9:9",
     "FEC device lookup failed"),
    ("1 254:0 254:16 4096 4096 300 1 sha256 R - 4 use_fec_from_device 254:16 fec_blocks 400",
     "Missing fec_roots"),
    ("1 254:0 254:16 4096 4096 300 1 sha256 R - 4 use_fec_from_device 254:16 fec_roots 2",
     "Missing fec_blocks"),
    ("1 254:0 254:16 4096 4096 300 1 sha256 R - 6 use_fec_from_device 254:16 fec_roots 2 "
     "fec_blocks 30", "Invalid fec_blocks"),
    ("1 254:0 254:16 4096 4096 300 1000 sha256 R -", "Hash device is too small"),
    ("1 254:0 254:16 4096 4096 300 1 sha256 R - 8 use_fec_from_device 254:16 fec_roots 2 "
     "fec_blocks 304 fec_start 3", "FEC device is too small"),
    ("1 254:0 254:16 4096 4096 300 1 sha256 R - 8 use_fec_from_device 254:16 fec_roots 2 "
     "fec_blocks 3000 fec_start 0", "Hash device is too small for fec_blocks"),
    ("1 254:0 254:16 4096 1024 300 1 sha256 R - 8 use_fec_from_device 254:16 fec_roots 2 "
     "fec_blocks 3000 fec_start 0", "Block sizes must match to use FEC"),
    ("1 254:0 254:16 4096 4096 300 1 sha256 R - 1 root_hash_sig_key_desc",
     "DM Verity Sig Verification Signature key not specified"),
    ("1 254:0 254:16 4096 4096 300 1 sha256 R - 2 root_hash_sig_key_desc nokey",
     "DM Verity Sig Verification Invalid key specified"),
]


@pytest.mark.parametrize("args,msg", TABLE_ERRORS)
def test_constructor_refusals_match_the_kernel(matrix, args, msg):
    d, infos = matrix
    info = _pick(infos, format=1, hash="sha256", dbs=4096, hbs=4096, sb=True,
                 layout="file", blocks=300)
    base = os.path.join(d, info["name"])
    disks = attach(info, base)[0]
    args = args.replace(" R ", " %s " % info["root"])
    r = run("dmsetup create -r v --table '0 2400 verity %s'\ndmsetup ls" % args, disks)
    assert "verity: %s" % msg in r.err, r
    assert r.out == "No devices found\n"


def test_table_output_order_and_case(matrix):
    d, infos = matrix
    info = _pick(infos, format=1, hash="sha256", dbs=4096, hbs=4096, sb=True,
                 layout="file", blocks=300)
    base = os.path.join(d, info["name"])
    disks = attach(info, base)[0]
    head = "1 254:0 254:16 4096 4096 300 1 sha256 %s -" % info["root"]
    r = run("dmsetup create -r v --table '0 2400 verity %s 5 try_verify_in_tasklet "
            "Check_At_Most_Once PANIC_ON_ERROR ignore_zero_blocks "
            "restart_on_corruption extra'\ndmsetup table v" % head, disks)
    assert r.status == 0, r
    assert r.out == ("0 2400 verity %s 5 restart_on_corruption panic_on_error "
                     "ignore_zero_blocks check_at_most_once try_verify_in_tasklet\n"
                     % head)
    r = run("dmsetup create v --table '0 2400 verity %s'" % head, disks)
    assert "Device must be readonly" in r.err
    r = run("dmsetup create -r v --table $'0 2400 verity %s\\n2400 8 zero'" % head, disks)
    assert r.status != 0


def test_veritysetup_status_and_close(matrix):
    d, infos = matrix
    info = _pick(infos, format=1, hash="sha256", dbs=4096, hbs=1024, sb=True,
                 layout="file", blocks=129)
    base = os.path.join(d, info["name"])
    disks, hs, fs = attach(info, base)
    r = run(open_cmd(info, hs, fs, extra="--ignore-zero-blocks --check-at-most-once")
            + "\nveritysetup status v\nveritysetup close v\nveritysetup status v\n"
            "echo $?\nveritysetup close v", disks)
    salt = info["salt"] if info["salt"] != "-" else "-"
    assert r.out == (
        "/dev/mapper/v is active.\n"
        "  type:        VERITY\n"
        "  status:      verified\n"
        "  hash type:   1\n"
        "  data block:  4096\n"
        "  hash block:  1024\n"
        "  hash name:   sha256\n"
        "  salt:        %s\n"
        "  data device: /dev/vda\n"
        "  size:        %d sectors\n"
        "  mode:        readonly\n"
        "  hash device: /dev/vdb\n"
        "  hash offset: 2 sectors\n"
        "  root hash:   %s\n"
        "  flags:       ignore_zero_blocks check_at_most_once\n"
        "/dev/mapper/v is inactive.\n"
        "4\n" % (salt, info["length"], info["root"]))
    assert r.err == "veritysetup: Device v is not active.\n" or \
        r.err == "Device v is not active.\n"


def test_parallel_verify_reports_the_first_failure(matrix, tmp_path):
    # Enough level-0 hash blocks for the two-thread check; damage in both
    # halves must still name the earlier block, as veritysetup does.
    d, infos = matrix
    info = _pick(infos, format=0, hash="sha512", dbs=512, hbs=512, sb=True,
                 layout="file", blocks=300)
    base = os.path.join(d, info["name"])
    data = tmp_path / "d.img"
    hashf = tmp_path / "h.img"
    shutil.copy(os.path.join(base, "data.img"), data)
    shutil.copy(os.path.join(base, "hash.img"), hashf)
    outs = []
    for blk in (250, 20):
        with open(data, "r+b") as f:
            f.seek(blk * 512 + 100)
            f.write(b"\xff\x00")
        ref = subprocess.run(["veritysetup", "verify", str(data), str(hashf),
                              info["root"]], capture_output=True, text=True)
        r = run("veritysetup verify %s %s %s" % (data, hashf, info["root"]))
        assert (r.status, r.err) == (ref.returncode, ref.stderr)
        outs.append(r.err.splitlines()[0])
    assert outs == ["Verification failed at position %d." % (250 * 512),
                    "Verification failed at position %d." % (20 * 512)]


def test_io_errors_unaligned_reads_and_error_modes(matrix):
    from dmfw.errors import IOFailure
    from dmfw.blockdev import MemoryDevice
    d, infos = matrix
    info = _pick(infos, format=1, hash="sha256", dbs=4096, hbs=4096, sb=True,
                 layout="file", blocks=300)
    base = os.path.join(d, info["name"])
    with open(os.path.join(base, "data.img"), "rb") as f:
        good = f.read()

    # Sector-sized reads (a FAT driver's) get verified whole blocks cut up.
    sh, md, files, hs = _mem_target(info, base, fec=False)
    for s in (0, 1, 7, 9, 2399):
        assert bytes(md.read(s, 1)) == good[s * 512:(s + 1) * 512]
    assert bytes(md.read(3, 10)) == good[3 * 512:13 * 512]

    class Flaky(MemoryDevice):
        fail = False

        def _read(self, sector, mv):
            if self.fail:
                raise IOFailure("vda: medium error")
            MemoryDevice._read(self, sector, mv)

    calls = []

    class P:
        def restart(self, why):
            calls.append(("restart", why))

        def panic(self, why):
            calls.append(("panic", why))
    for opt, kind in (("", None), ("--restart-on-corruption --error-as-corruption",
                                   "restart"),
                      ("--panic-on-corruption --error-as-corruption", "panic")):
        sh = new_shell()
        sh.dm.platform = P()
        dev = Flaky(bytearray(good), name="vda", major=254, minor=0)
        sh.devices.add(dev)
        with open(os.path.join(base, "hash.img"), "rb") as f:
            sh.devices.add(MemoryDevice(bytearray(f.read()), name="vdb", major=254,
                                        minor=16))
        r = run(open_cmd(info, "/dev/vdb", None, extra=opt) + "\ndmsetup table v",
                sh=sh)
        assert r.status == 0, r
        if kind:
            assert ("%s_on_error" % kind) in r.out
        md = sh.dm.get("v")
        dev.fail = True
        del calls[:]
        with pytest.raises(IOFailure):
            md.read(0, 8)
        assert calls == ([] if kind is None else [(kind, "dm-verity device has I/O error")])
        # An I/O error is not corruption: the status stays V.
        assert md.live.targets[0].status() == "V"


def test_target_version_is_linux_6_12s():
    from dmfw.targets.verity import VerityTarget
    # `dmsetup targets` in the reference guest (Debian 6.12.117): verity v1.10.0
    assert VerityTarget.version == (1, 10, 0)


def test_open_image_files_on_loop_devices(matrix):
    # Like veritysetup on files: loop devices 7:N, "data loop:" in status.
    d, infos = matrix
    info = _pick(infos, format=0, hash="sha256", dbs=4096, hbs=4096, sb=True,
                 layout="offset")
    base = os.path.join(d, info["name"])
    img = os.path.join(base, "image.img")
    args = " ".join(img if a == "FEC" else a for a in iv._open_args(info))
    r = run("veritysetup open %s v %s %s %s\ndmsetup table v\nveritysetup status v\n"
            "sha256sum /dev/mapper/v" % (img, img, info["root"], args))
    assert r.status == 0, r
    lines = r.out.splitlines()
    assert lines[0] == iv.expected_table(info, "7:0", "7:0", "7:0")
    assert "  data loop:   %s" % img in lines and "  hash loop:   %s" % img in lines
    assert lines[-1].split()[0] == data_digest(info, base)


def test_format_then_open_with_root_hash_file(matrix, tmp_path):
    d, infos = matrix
    info = _pick(infos, format=1, hash="sha256", dbs=4096, hbs=4096, sb=True,
                 layout="file", blocks=300)
    data = os.path.join(d, info["name"], "data.img")
    hashf = tmp_path / "h.img"
    rh = tmp_path / "root.hex"
    r = run("veritysetup format %s %s --salt - --uuid %s --root-hash-file %s"
            % (data, hashf, info["uuid"], rh))
    assert r.status == 0, r
    assert rh.read_text() == info["root"]
    ref = subprocess.run(["veritysetup", "verify", data, str(hashf), "--root-hash-file",
                          str(rh)], capture_output=True, text=True)
    assert ref.returncode == 0, ref.stderr
    r = run("veritysetup open %s v %s --root-hash-file %s\ndmsetup status v"
            % (data, hashf, rh))
    assert r.out == "0 2400 verity V\n", r
    rh.write_text("00" * 31)
    r = run("veritysetup open %s v %s --root-hash-file %s" % (data, hashf, rh))
    assert r.status == 1 and r.err == "Invalid root hash file %s.\n" % rh


def test_fec_takes_known_zero_blocks_as_zeros(matrix):
    # With ignore_zero_blocks the kernel fills rows whose expected hash is
    # the zero-block hash with zeros instead of reading them; so garbage in
    # such blocks costs FEC nothing. Two damaged zero blocks and one
    # destroyed block of the same round: repairable only that way (roots=2).
    d, infos = matrix
    info = [i for i in infos.values() if i["roots"] == 2 and i["layout"] == "file"
            and i["blocks"] == 300][0]
    base = os.path.join(d, info["name"])
    sh, md, files, hs = _mem_target(info, base, "--ignore-zero-blocks")
    t = md.live.targets[0]
    bs = info["dbs"]
    good = bytes(_read_all(md))
    zero = [b for b in range(info["blocks"]) if b % t.fec.rounds == 0
            and not any(files["/dev/vda"][b * bs:(b + 1) * bs])][:2]
    victim = [b for b in range(info["blocks"]) if b % t.fec.rounds == 0
              and any(files["/dev/vda"][b * bs:(b + 1) * bs])][3]
    assert len(zero) == 2
    for b in zero + [victim]:
        files["/dev/vda"][b * bs:(b + 1) * bs] = os.urandom(bs)
    _reset(t)
    spb = bs // 512
    assert bytes(md.read(victim * spb, spb)) == good[victim * bs:(victim + 1) * bs]
    assert t.status() == "V"


def test_64k_blocks(tmp_path, monkeypatch):
    # veritysetup formats 64 KiB blocks; an x86-64 kernel (4 KiB pages)
    # refuses them as data blocks, a 64 KiB-page kernel takes them.
    data = tmp_path / "d.img"
    hashf = tmp_path / "h.img"
    iv.fill(str(data), 40 * 65536, "64k", bs=65536)
    out = subprocess.run(["veritysetup", "format", str(data), str(hashf),
                          "--data-block-size", "65536", "--hash-block-size", "65536",
                          "--salt", "ab"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    root = iv.dump_fields(out.stdout)["Root hash"]
    disks = [("/dev/vda", str(data)), ("/dev/vdb", str(hashf))]
    cmd = "veritysetup open /dev/vda v /dev/vdb %s\nsha256sum /dev/mapper/v" % root
    r = run(cmd, disks)
    assert "Invalid data device block size" in r.err
    from dmfw.targets.verity import VerityTarget
    monkeypatch.setattr(VerityTarget, "page_size", 65536)
    r = run(cmd, disks)
    assert r.status == 0, r
    import hashlib
    assert r.out.split()[0] == hashlib.sha256(data.read_bytes()).hexdigest()
