"""dm-crypt and LUKS in the guest, against Linux 6.12's dm-crypt and cryptsetup 2.7.

Raw `crypt` tables: the same table on both sides decrypts the same sectors to the same
bytes, and what one side writes through its mapping the other reads back through its
own (so the ciphertext on the disk is the same); `dmsetup table [--showkeys]` and
`status` print the same lines.  LUKS: volumes made by the host's real cryptsetup
(images/luks.py) opened by the guest's cryptsetup into the kernel and by dmfw give
the same dm names, UUIDs, tables, status, `cryptsetup status` and `luksDump`, and
the same refusals.  Stacks: LVM inside LUKS and LUKS on a logical volume, made in the
guest by the real tools, read the same through dmfw.

Disks (harness/pytest_plugin.py): vda/vdb pattern data (read-only here), vdd the
scratch disk write tests change.
"""
import pytest

from sides import checksum, create, flush_linux, normalise, plug

pytestmark = [pytest.mark.guest, pytest.mark.qemu_only]

# Key bytes fixed per size so a failure can be reproduced by hand.
KEYS = {n: bytes((i * 37 + n) & 0xFF for i in range(n)).hex() for n in (16, 32, 64)}
LEN = 1024  # sectors each mapping covers (512 KiB)

# id: (cipher, key bytes, iv_offset, optional arguments)
SPECS = {
    "xts-plain64-256": ("aes-xts-plain64", 32, 0, ""),
    "xts-plain64-512": ("aes-xts-plain64", 64, 7, ""),
    # iv_offset close to 2**32: plain's IV wraps inside the mapping, plain64's does not.
    "xts-plain-wrap": ("aes-xts-plain", 32, 4294967000, ""),
    "xts-plain64-wrap": ("aes-xts-plain64", 32, 4294967000, ""),
    "cbc-essiv-128": ("aes-cbc-essiv:sha256", 16, 0, ""),
    "cbc-essiv-256": ("aes-cbc-essiv:sha256", 32, 5, "1 allow_discards"),
    "cbc-plain": ("aes-cbc-plain", 32, 0, ""),
    "cbc-plain64": ("aes-cbc-plain64", 16, 11, ""),
    "cbc-plain64be": ("aes-cbc-plain64be", 32, 3, ""),
    "cbc-benbi": ("aes-cbc-benbi", 32, 0, ""),
    "cbc-null": ("aes-cbc-null", 16, 0, ""),
    "ecb": ("aes-ecb", 32, 0, ""),
    "capi-xts": ("capi:xts(aes)-plain64", 64, 0, ""),
    "capi-cbc-essiv": ("capi:cbc(aes)-essiv:sha256", 32, 0, ""),
    "xts-4096-large": ("aes-xts-plain64", 64, 8, "2 sector_size:4096 iv_large_sectors"),
    "xts-4096": ("aes-xts-plain64", 32, 0, "1 sector_size:4096"),
    "essiv-1024": ("aes-cbc-essiv:sha256", 32, 0, "1 sector_size:1024"),
    "xts-flags": ("aes-xts-plain64", 32, 0, "5 allow_discards same_cpu_crypt "
                  "submit_from_crypt_cpus no_read_workqueue no_write_workqueue"),
}
WRITE_SPECS = ["xts-plain64-512", "xts-plain-wrap", "cbc-essiv-256", "cbc-benbi", "ecb",
               "xts-4096-large", "essiv-1024"]


def _table(spec, dev, offset, key=None):
    cipher, nkey, iv_off, opts = SPECS[spec]
    line = "0 %d crypt %s %s %d %s %d" % (LEN, cipher, key or KEYS[nkey], iv_off, dev, offset)
    return line + (" " + opts if opts else "")


def _octal(data):
    return "".join("\\%03o" % b for b in data)


def put_file(linux, path, data):
    """A file in the guest that both sides read (the firmware shell runs there too)."""
    linux.check("printf '%s' > %s" % (_octal(data), path))


def _queries(console, name):
    out = {}
    for cmd in ("dmsetup table %s" % name, "dmsetup table --showkeys %s" % name,
                "dmsetup status %s" % name, "dmsetup info %s" % name,
                "dmsetup info -c -o name,uuid,attr,segments %s" % name):
        text, status = console.run(cmd)
        out[cmd] = (normalise(cmd, text), status)
    return out


def _diff(kernel, dmfw):
    return ["$ %s\n--- linux (status %d)\n%s--- dmfw (status %d)\n%s"
            % (cmd, kernel[cmd][1], kernel[cmd][0], dmfw[cmd][1], dmfw[cmd][0])
            for cmd in kernel if kernel[cmd] != dmfw[cmd]]


@pytest.mark.parametrize("spec", list(SPECS))
def test_crypt_table_reads_as_kernel(guest, spec):
    """The pattern on vda read as ciphertext: both sides decrypt it to the same bytes."""
    table = _table(spec, "/dev/vda", 2048)
    results = []
    for console in (guest.linux, guest.fw):
        out, status = create(console, "c", table)
        assert status == 0, "%s refused %s:\n%s" % (console.name, table, out)
        results.append((_queries(console, "c"), checksum(console, "/dev/mapper/c")))
        console.check("dmsetup remove c")
    (kq, ksum), (fq, fsum) = results
    assert not _diff(kq, fq), "\n".join(_diff(kq, fq))
    assert ksum == fsum and ksum[0]
    # Not the identity: the mapping decrypted something.
    assert ksum != checksum(guest.linux, "/dev/vda", 2048, LEN)


@pytest.mark.parametrize("spec", WRITE_SPECS)
def test_crypt_writes_both_ways(guest, spec):
    """dmfw encrypts onto vdd, the kernel's mapping decrypts it; then the reverse."""
    a = _table(spec, "/dev/vdd", 4096)
    b = _table(spec, "/dev/vdd", 12288)
    count = LEN // 8
    # dmfw writes vda's sectors 8192.. through its mapping; the kernel reads them.
    assert create(guest.fw, "w", a)[1] == 0
    guest.fw.check("dd if=/dev/vda of=/dev/mapper/w bs=4096 skip=1024 count=%d" % count,
                   timeout=300)
    guest.fw.check("dmsetup remove w")
    flush_linux(guest.linux, "/dev/vdd")
    source = checksum(guest.linux, "/dev/vda", 8192, LEN)
    assert create(guest.linux, "w", a)[1] == 0
    assert checksum(guest.linux, "/dev/mapper/w") == source
    guest.linux.check("dmsetup remove w")
    # The kernel writes vdb's sectors through its mapping; dmfw reads them.
    assert create(guest.linux, "w", b)[1] == 0
    guest.linux.check("dd if=/dev/vdb of=/dev/mapper/w bs=4096 skip=300 count=%d "
                      "oflag=direct 2>/dev/null" % count)
    guest.linux.check("dmsetup remove w")
    flush_linux(guest.linux, "/dev/vdd")
    source = checksum(guest.linux, "/dev/vdb", 2400, LEN)
    assert create(guest.fw, "w", b)[1] == 0
    assert checksum(guest.fw, "/dev/mapper/w") == source
    # And the ciphertext on the disk is not the plaintext.
    assert checksum(guest.fw, "/dev/vdd", 12288, LEN) != source


def test_crypt_keyring_keys_as_kernel(guest):
    """`:<size>:logon:<desc>` and `:<size>:user:<desc>` keys: the same bytes, and the
    reference printed as it was given, with or without --showkeys."""
    key = bytes.fromhex(KEYS[64])
    put_file(guest.linux, "/tmp/k64", key)
    for kind in ("logon", "user"):
        desc = "dmfw:t%s" % kind
        ref = ":64:%s:%s" % (kind, desc)
        for console in (guest.linux, guest.fw):
            console.check("keyctl padd %s %s @u < /tmp/k64" % (kind, desc))
        results = []
        for console in (guest.linux, guest.fw):
            out, status = create(console, "c", _table("xts-plain64-512", "/dev/vdb", 64, ref))
            assert status == 0, "%s: %s" % (console.name, out)
            results.append((_queries(console, "c"), checksum(console, "/dev/mapper/c")))
            console.check("dmsetup remove c")
        (kq, ksum), (fq, fsum) = results
        assert not _diff(kq, fq), "\n".join(_diff(kq, fq))
        assert ref in kq["dmsetup table --showkeys c"][0]
        hexed = _table("xts-plain64-512", "/dev/vdb", 64)
        assert create(guest.linux, "h", hexed)[1] == 0
        assert checksum(guest.linux, "/dev/mapper/h") == ksum == fsum
        guest.linux.check("dmsetup remove h")


BAD_TABLES = [
    "0 1024 crypt aes-xts-plain64 %s 0 /dev/vda 0" % KEYS[16],        # XTS needs 2 keys
    "0 1024 crypt aes-cbc-essiv:sha256 %s 0 /dev/vda 0" % KEYS[16][:-1],  # odd hex
    "0 1024 crypt aes-cbc-essiv:sha256 %sZZ 0 /dev/vda 0" % KEYS[16][:-2],
    "0 1024 crypt aes-cbc-essiv:nosuchhash %s 0 /dev/vda 0" % KEYS[32],
    "0 1024 crypt aes-cbc-nosuchiv %s 0 /dev/vda 0" % KEYS[32],
    "0 1024 crypt aes-xts-plain64 %s 0 /dev/vda 0 1 sector_size:1000" % KEYS[32],
    "0 1020 crypt aes-xts-plain64 %s 0 /dev/vda 0 1 sector_size:4096" % KEYS[32],
    "0 1024 crypt aes-xts-plain64 %s 0 /dev/vda 0 1 no_such_option" % KEYS[32],
    "0 1024 crypt aes-xts-plain64 %s 0 /dev/vda 0 2 allow_discards" % KEYS[32],
    "0 1024 crypt aes-xts-plain64 :32:logon:dmfw:absent 0 /dev/vda 0",
    "0 1024 crypt aes-xts-plain64 %s 0 /dev/vda" % KEYS[32],
    "0 1024 crypt aes-xts-plain64 %s 0 /dev/vda 40000" % KEYS[32],
]


def test_bad_crypt_tables_refused_as_kernel(guest):
    for table in BAD_TABLES:
        for console in (guest.linux, guest.fw):
            out, status = create(console, "x", table)
            assert status != 0, "%s accepted %s:\n%s" % (console.name, table, out)
            assert "Traceback" not in out
            assert console.run("dmsetup ls")[0].strip() == "No devices found", table


# -- LUKS volumes made by the real cryptsetup

def _volumes():
    luks = pytest.importorskip("images.luks")
    try:
        return luks.load()
    except RuntimeError as e:
        pytest.skip(str(e))


def _plug_volume(g, v, plugged):
    dev = "/dev/" + plug(g, v["path"], plugged)
    hdr = "/dev/" + plug(g, v["header_path"], plugged) if v["header_path"] else None
    return dev, hdr


def _unplug(g, plugged):
    g.fw.run("dmsetup remove_all")
    g.linux.run("dmsetup remove_all")
    g.linux.run("keyctl clear @u")
    for node in plugged:
        g.qemu.unplug(node)
    del plugged[:]


LUKS_QUERIES = ["cryptsetup status c", "dmsetup ls", "dmsetup info -c -o name,uuid c",
                "dmsetup table c", "dmsetup table --showkeys c", "dmsetup status c",
                "dmsetup info c"]


def _names():
    # Every volume the recipes name; one the host could not make is skipped in the test.
    luks = pytest.importorskip("images.luks")
    return [r["name"] for r in luks.RECIPES]


# Opened with every variant and refused every way; the rest are opened once.
FULL = ("l1-sha256", "l1-detached", "l2-pbkdf2-512", "l2-detached", "l2-multi")
# Hashes dmfw computes in pure Python, which MicroPython runs for half a minute per
# unlock here: their unlock is proved on the host against the same volumes
# (tests/test_luks.py); in the guest their header reports are compared.
SLOW = ("l1-sha512", "l1-ripemd160", "l1-whirlpool")


def popt(text):
    # popt's option list after "Usage:" (8 blanks and a bracket) is not copied.
    return "".join(ln for ln in text.splitlines(True) if not ln.startswith("        ["))


def _linux(g, cmd, timeout=300):
    out, status = g.linux.run(cmd + " 2>&1", timeout=timeout)
    return popt(out), status


def _same(g, cmd, timeout=300):
    k = _linux(g, cmd, timeout)
    f = g.fw.run(cmd, timeout=timeout)
    assert f == k, "$ %s\n--- linux (status %d)\n%s--- dmfw (status %d)\n%s" % (
        cmd, k[1], k[0], f[1], f[0])


@pytest.mark.parametrize("name", _names())
def test_luks_open_as_cryptsetup_27(qemu_guest, name):
    g = qemu_guest
    m = _volumes()
    if name in m["skipped"]:
        pytest.skip("host cryptsetup could not make %s: %s" % (name, m["skipped"][name]))
    v = [x for x in m["volumes"] if x["name"] == name][0]
    plugged = []
    try:
        dev, hdr = _plug_volume(g, v, plugged)
        put_file(g.linux, "/tmp/pw", v["keys"][0]["passphrase"].encode())
        put_file(g.linux, "/tmp/bad", b"not-the-passphrase")
        h = " --header %s" % hdr if hdr else ""
        meta = hdr or dev
        for cmd in ("cryptsetup luksDump %s" % meta, "cryptsetup isLuks %s" % meta,
                    "cryptsetup luksUUID %s" % meta, "cryptsetup isLuks --type luks1 %s" % meta):
            _same(g, cmd)
        if name in SLOW:
            return
        variants = ["", " --disable-keyring", " --readonly --allow-discards"]
        runs = {}
        for extra in variants if name in FULL else variants[:1]:
            opened = "cryptsetup open --key-file /tmp/pw%s%s %s c" % (h, extra, dev)
            for console in (g.linux, g.fw):
                out, status = console.run(opened + (" 2>&1" if console is g.linux else ""),
                                          timeout=300)
                assert status == 0, "%s: %s\n%s" % (console.name, opened, out)
                res = {}
                for cmd in LUKS_QUERIES + ["cryptsetup status%s c" % h]:
                    text, st = console.run(cmd)
                    res[cmd] = (normalise(cmd, text), st)
                res["sum"] = (checksum(console, "/dev/mapper/c"), 0)
                runs[console.name] = res
                console.check("cryptsetup close c")
            diffs = _diff(runs["linux"], runs["fw"])
            assert not diffs, ("%s:\n" % opened) + "\n".join(diffs)
        # The data is the pattern images/luks.py encrypted with openssl.
        import hashlib
        luks = pytest.importorskip("images.luks")
        assert runs["fw"]["sum"][0][0] == hashlib.sha256(luks.pattern(v["data_bytes"])).hexdigest()
        if name in FULL:
            # Refusals and the passphrase test: byte for byte, exit status included,
            # and nothing left mapped.
            for cmd in ("cryptsetup open --key-file /tmp/bad%s %s c" % (h, dev),
                        "cryptsetup open --test-passphrase --key-file /tmp/pw%s %s" % (h, dev),
                        "cryptsetup open --key-file /tmp/pw --key-slot 5%s %s c" % (h, dev),
                        "cryptsetup status c"):
                _same(g, cmd)
                assert g.fw.run("dmsetup ls")[0].strip() == "No devices found"
            # Plain mode over the volume: 2.7 warns about the signature libblkid finds
            # (none on a detached header's data device); not at a terminal it goes on.
            put_file(g.linux, "/tmp/kf", bytes(range(64)))
            plain = "cryptsetup open --type plain -c aes-xts-plain64 -s 256 -d /tmp/kf "
            for extra in ("", "-q ", "--offset 8 "):
                _same(g, plain + extra + dev + " p < /dev/null")
                for console in (g.linux, g.fw):
                    console.check("cryptsetup close p")
    finally:
        _unplug(g, plugged)


def test_luks_damaged_headers_refused_as_cryptsetup_27(qemu_guest, tmp_path):
    """A LUKS2 volume with its primary header damaged opens from the secondary on both
    sides; with both damaged, both refuse with cryptsetup's message."""
    import shutil
    g = qemu_guest
    m = _volumes()
    v = [x for x in m["volumes"] if x["name"] == "l2-pbkdf2-512"][0]
    one = str(tmp_path / "one.img")
    both = str(tmp_path / "both.img")
    shutil.copy(v["path"], one)
    with open(one, "r+b") as f:
        f.seek(0x200)
        f.write(b"\xff" * 64)             # the primary's header checksum no longer matches
    shutil.copy(one, both)
    with open(both, "r+b") as f:
        f.seek(16384 + 0x200)
        f.write(b"\xff" * 64)
    put_file(g.linux, "/tmp/pw", v["keys"][0]["passphrase"].encode())
    plugged = []
    try:
        for path, ok in ((one, True), (both, False)):
            dev = "/dev/" + plug(g, path, plugged)
            cmd = "cryptsetup open --readonly --key-file /tmp/pw %s c" % dev
            k = g.linux.run(cmd + " 2>&1", timeout=300)
            f = g.fw.run(cmd, timeout=300)
            assert (k[1] == 0) == ok and (f[1] == 0) == ok, (k, f)
            if ok:
                assert checksum(g.fw, "/dev/mapper/c") == checksum(g.linux, "/dev/mapper/c")
                for console in (g.linux, g.fw):
                    console.check("cryptsetup close c")
            else:
                assert f == k
            for cmd in ("cryptsetup isLuks %s" % dev, "blkid %s" % dev):
                _same(g, cmd)
    finally:
        _unplug(g, plugged)


def test_plain_mode_as_cryptsetup_27(guest):
    """`cryptsetup open --type plain`: the warnings, tables and data of 2.7.5."""
    put_file(guest.linux, "/tmp/kf", bytes(range(7, 7 + 100)))
    put_file(guest.linux, "/tmp/short", b"0123456789")
    cases = [
        "cryptsetup open --type plain --key-file /tmp/kf /dev/vdb c",
        "cryptsetup open --type plain -q --cipher aes-cbc-essiv:sha256 --key-size 128 "
        "--key-file /tmp/kf --keyfile-offset 9 --offset 8 --skip 3 /dev/vdb c",
        "cryptsetup open --type plain --cipher aes-xts-plain64 --key-size 512 --hash sha256 "
        "--key-file /tmp/kf /dev/vdb c",
        "cryptsetup open --type plain -q --cipher aes --key-size 256 --key-file /tmp/kf "
        "--keyfile-size 32 --sector-size 4096 /dev/vdb c",
        "cryptsetup open --type plain -q --cipher aes-xts-plain64 --key-file /tmp/short /dev/vdb c",
        "cryptsetup open --type plain -q --key-size 100 --key-file /tmp/kf /dev/vdb c",
        "cryptsetup open --type plain -q --sector-size 1000 --key-file /tmp/kf /dev/vdb c",
    ]
    for cmd in cases:
        runs = {}
        for console in (guest.linux, guest.fw):
            out, status = (_linux(guest, cmd) if console is guest.linux else console.run(cmd))
            res = {"open": (out, status)}
            if status == 0:
                for q in ("cryptsetup status c", "dmsetup table --showkeys c",
                          "dmsetup info -c -o name,uuid c"):
                    res[q] = console.run(q)
                res["sum"] = checksum(console, "/dev/mapper/c")
                console.check("cryptsetup close c")
            runs[console.name] = res
        diffs = ["%s\n--- linux\n%r\n--- dmfw\n%r" % (k, runs["linux"][k], runs["fw"].get(k))
                 for k in runs["linux"] if runs["linux"][k] != runs["fw"].get(k)]
        assert not diffs, ("$ %s\n" % cmd) + "\n".join(diffs)


# -- stacks made in the guest by the real tools

def test_lvm_inside_luks_luks_on_an_lv_and_verity_over_it(guest):
    """vdd: a LUKS2 volume holding an LVM VG whose LV carries data; a second LV holds
    a LUKS1 volume, and verity (hashes on a third LV) covers what it decrypts.  dmfw
    unlocks, activates, unlocks again and opens verity with the root hash, and reads
    what the kernel reads."""
    lx, fw = guest.linux, guest.fw
    put_file(lx, "/tmp/pw", b"stack-passphrase")
    fast = "--pbkdf pbkdf2 --pbkdf-force-iterations 1000"
    try:
        lx.check("dd if=/dev/zero of=/dev/vdd bs=1M count=16 2>/dev/null")
        lx.check("cryptsetup luksFormat -q --type luks2 %s --offset 4096 --luks2-keyslots-size 1m "
                 "--key-file /tmp/pw /dev/vdd" % fast,
                 timeout=300)
        lx.check("cryptsetup open --key-file /tmp/pw /dev/vdd outer")
        lx.check("lvm pvcreate -q /dev/mapper/outer && lvm vgcreate -q -s 1m vgc "
                 "/dev/mapper/outer && lvm lvcreate -q -an -Zn -L 4m -n plain vgc "
                 "&& lvm lvcreate -q -an -Zn -L 4m -n sealed vgc "
                 "&& lvm lvcreate -q -an -Zn -L 1m -n hash vgc && lvm vgchange -q -ay vgc",
                 timeout=300)
        lx.check("dd if=/dev/vdb of=/dev/mapper/vgc-plain bs=4096 count=1024 oflag=direct "
                 "2>/dev/null")
        lx.check("cryptsetup luksFormat -q --type luks1 --pbkdf-force-iterations 1000 "
                 "--key-file /tmp/pw /dev/mapper/vgc-sealed", timeout=300)
        lx.check("cryptsetup open --key-file /tmp/pw /dev/mapper/vgc-sealed inner")
        lx.check("dd if=/dev/vda of=/dev/mapper/inner bs=4096 count=512 oflag=direct "
                 "2>/dev/null")
        out = lx.check("veritysetup format /dev/mapper/inner /dev/mapper/vgc-hash", timeout=300)
        root = [ln.split()[-1] for ln in out.splitlines() if ln.startswith("Root hash:")][0]
        verity = "veritysetup open /dev/mapper/inner v /dev/mapper/vgc-hash " + root
        lx.check(verity)
        want = [checksum(lx, "/dev/mapper/vgc-plain"), checksum(lx, "/dev/mapper/inner"),
                checksum(lx, "/dev/mapper/v")]
        tables = lx.check("dmsetup table --showkeys | sort")
        lx.check("veritysetup close v; cryptsetup close inner; lvm vgchange -q -an vgc; "
                 "cryptsetup close outer")
        flush_linux(lx, "/dev/vdd")
        fw.check("cryptsetup open --key-file /tmp/pw /dev/vdd outer", timeout=300)
        fw.check("vgchange -ay vgc", timeout=300)
        fw.check("cryptsetup open --key-file /tmp/pw /dev/mapper/vgc-sealed inner", timeout=300)
        fw.check(verity, timeout=300)
        got = [checksum(fw, "/dev/mapper/vgc-plain"), checksum(fw, "/dev/mapper/inner"),
               checksum(fw, "/dev/mapper/v")]
        assert got == want and want[0][0] and want[1][0] and want[2][0]
        # Device numbers may differ between the two device mappers: compare the rest.
        import re
        devno = re.compile(r"\b253:\d+\b")
        assert devno.sub("253:N", fw.check("dmsetup table --showkeys").strip()) == \
            devno.sub("253:N", "\n".join(sorted(tables.strip().splitlines())))
        # A wrong root hash: the mapping is made (as the kernel's), and no read of it
        # returns data.
        fw.check("veritysetup close v")
        fw.check(verity[:-1] + ("0" if verity[-1] != "0" else "1"), timeout=300)
        assert checksum(fw, "/dev/mapper/v") == (None, 1)
    finally:
        fw.run("dmsetup remove_all")
        lx.run("dmsetup remove_all")
        lx.run("keyctl clear @u")
