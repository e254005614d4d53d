# LUKS1/LUKS2 against the real cryptsetup on the host: volumes made by
# cryptsetup luksFormat/luksAddKey (images/luks.py). dmfw must dump them as
# cryptsetup does, unlock them to the volume key cryptsetup reports, and
# refuse what cryptsetup refuses, with its words and exit codes. Where the
# host tool can run the same command without a device mapper (luksDump,
# isLuks, luksUUID, open --test-passphrase) the two are run side by side.

import json
import os
import shutil
import subprocess

import pytest

from shellrun import run, new_shell

il = pytest.importorskip("images.luks")
pytestmark = pytest.mark.skipif(il.missing_tools() is not None,
                                reason="needs cryptsetup and openssl on the host")


@pytest.fixture(scope="module")
def vols():
    m = il.load()
    return m["dir"], dict((v["name"], v) for v in m["volumes"])


def _need_argon2(name="argon2"):
    from dmfw.crypto import kdf
    if "argon2" in name and not hasattr(kdf, "argon2"):
        pytest.skip("dmfw.crypto.kdf has no Argon2 yet (wip-kdf)")


def _names():
    return [r["name"] for r in il.RECIPES]


def _strip_usage(text):
    # popt's option list (lines opening with 8 blanks) is not copied.
    return "".join([ln for ln in text.splitlines(True) if not ln.startswith("        ")])


def host(args, cwd):
    p = subprocess.run(["cryptsetup"] + args, cwd=cwd, capture_output=True, text=True)
    return p.stdout, _strip_usage(p.stderr), p.returncode


def dmfw(args, cwd, monkeypatch):
    monkeypatch.chdir(cwd)
    r = run("cryptsetup " + " ".join(args))
    return r.out, r.err, r.status


def same(args, cwd, monkeypatch):
    ref = host(args, cwd)
    got = dmfw(args, cwd, monkeypatch)
    assert got == ref, args
    return got


def _meta(v):
    return v["header"] or v["image"]


def _pw_args(v):
    return ["--key-file", v["passphrase_file"]]


@pytest.mark.parametrize("name", _names())
def test_luksdump_equals_cryptsetups(vols, name, monkeypatch):
    d, vs = vols
    v = vs[name]
    out = same(["luksDump", _meta(v)], d, monkeypatch)[0]
    assert out == v["dump"] and out


@pytest.mark.parametrize("name", _names())
def test_uuid_and_isluks_equal_cryptsetups(vols, name, monkeypatch):
    d, vs = vols
    v = vs[name]
    assert same(["luksUUID", _meta(v)], d, monkeypatch)[0] == v["uuid"] + "\n"
    same(["isLuks", "-v", _meta(v)], d, monkeypatch)
    same(["isLuks", "--type", "luks1", _meta(v)], d, monkeypatch)
    same(["isLuks", "--type", "luks2", _meta(v)], d, monkeypatch)


@pytest.mark.parametrize("name", _names())
def test_unlock_gives_cryptsetups_volume_key(vols, name):
    from dmfw.blockdev import FileDevice
    from dmfw import luks
    from dmfw.luks import unlock
    _need_argon2(name)
    d, vs = vols
    v = vs[name]
    dev = FileDevice(os.path.join(d, _meta(v)), readonly=True)
    h = luks.load(dev)
    for k in v["keys"]:
        if "keyfile" in k:
            with open(k["path"], "rb") as f:
                secret = f.read()[k["offset"]:k["offset"] + k["size"]]
        else:
            secret = k["passphrase"].encode()
        r = unlock.unlock(h, bytearray(secret))
        assert bytes(r.key).hex() == v["volume_key"]
    with pytest.raises(Exception) as e:
        unlock.unlock(h, bytearray(b"not the passphrase"))
    assert e.value.msg == "No key available with this passphrase."


@pytest.mark.parametrize("name", ["l1-sha256", "l2-pbkdf2-512", "l2-multi", "l1-detached",
                                  "l2-detached"])
def test_test_passphrase_equals_cryptsetups(vols, name, monkeypatch, tmp_path):
    d, vs = vols
    v = vs[name]
    hdr = ["--header", v["header"]] if v["header"] else []
    base = ["open", "--test-passphrase"] + hdr + [v["image"]]
    same(base + _pw_args(v), d, monkeypatch)
    same(["-v"] + base + _pw_args(v), d, monkeypatch)
    wrong = tmp_path / "wrong"
    wrong.write_bytes(b"wrong")
    same(["-v"] + base + ["--key-file", str(wrong)], d, monkeypatch)
    same(base + ["--key-file", str(wrong)], d, monkeypatch)
    for extra in (["-S", "0"], ["-S", "1"], ["-S", "7"], ["-S", "40"],
                  ["--keyfile-offset", "100"], ["-l", "100"], ["-l", "abc"],
                  ["-l", "3"], ["--type", "luks1"], ["--type", "luks2"],
                  ["--type", "plain"]):
        same(base + _pw_args(v) + extra, d, monkeypatch)
    same(base + ["--key-file", "/nonexistent"], d, monkeypatch)
    same(base + ["--key-file", "/dev/null"], d, monkeypatch)


def test_keyfile_offset_and_priorities(vols, monkeypatch):
    d, vs = vols
    v = vs["l2-multi"]
    base = ["-v", "open", "--test-passphrase", v["image"]]
    # slot 1 is "prefer": tried first, so the second passphrase opens it
    # and the first one is tried against it before slot 0.
    assert "Key slot 1 unlocked." in same(base + ["--key-file", "l2-multi.key1"], d,
                                          monkeypatch)[0]
    assert "Key slot 0 unlocked." in same(base + ["--key-file", "l2-multi.pw"], d,
                                          monkeypatch)[0]
    out = same(base + ["--key-file", "l2-multi.key2", "--keyfile-offset", "7",
                       "-l", "40"], d, monkeypatch)
    assert "Key slot 2 unlocked." in out[0]
    assert same(base + ["--key-file", "l2-multi.key2"], d, monkeypatch)[2] == 2


def test_passphrase_from_input_and_retries(vols, monkeypatch):
    from shellrun import new_shell
    d, vs = vols
    v = vs["l1-sha1"]
    monkeypatch.chdir(d)
    # `< FILE` is the first line of the file (no key file: stdin stops at a newline).
    with open(v["passphrase_file"]) as f:
        pw = f.read()
    p = d + "/pw-nl"
    if not os.path.exists(p):
        with open(p + ".tmp", "w") as f:
            f.write(pw + "\nignored")
        os.rename(p + ".tmp", p)
    r = run("cryptsetup open --test-passphrase -v %s < %s" % (v["image"], p))
    assert (r.status, r.out) == (0, "Key slot 0 unlocked.\nCommand successful.\n")
    # A console: up to --tries prompts, each failure said, the prompt names DEV.
    sh = new_shell()
    answers = [b"a", b"b", pw.encode()]
    prompts = []

    def reader(prompt):
        prompts.append(prompt)
        return answers.pop(0)
    sh.secret_reader = reader
    r = run("cryptsetup open --test-passphrase %s" % v["image"], sh=sh)
    assert r.status == 0 and prompts == ["Enter passphrase for %s: " % v["image"]] * 3
    assert r.err == "No key available with this passphrase.\n" * 2
    answers[:] = [b"a", b"b", b"c"]
    r = run("cryptsetup open --test-passphrase -T 2 %s" % v["image"], sh=sh)
    assert r.status == 2 and r.err == "No key available with this passphrase.\n" * 2


# -- damaged and hostile headers, on copies

def _copy(vols, name, tmp_path):
    d, vs = vols
    v = vs[name]
    for f in os.listdir(d):
        if f.startswith(name + "."):
            shutil.copy(os.path.join(d, f), str(tmp_path / f))
    return v


def _rewrite(path, offset, mutate=None, seqid=None):
    """Re-serialize the LUKS2 header copy at `offset` through `mutate(json)`
    with a good checksum, as a tool (not dmfw) would write it."""
    import hashlib
    with open(path, "r+b") as f:
        f.seek(offset)
        b = bytearray(f.read(4096))
        size = int.from_bytes(b[8:16], "big")
        area = f.read(size - 4096)
        j = json.loads(area.split(b"\0")[0])
        if mutate:
            mutate(j)
        text = json.dumps(j, separators=(",", ":")).encode()
        area = text + bytes(size - 4096 - len(text))
        if seqid is not None:
            b[16:24] = seqid.to_bytes(8, "big")
        b[448:512] = bytes(64)
        b[448:480] = hashlib.sha256(bytes(b) + area).digest()
        f.seek(offset)
        f.write(bytes(b) + area)


def _both(path, mutate, size=16384):
    _rewrite(path, 0, mutate)
    _rewrite(path, size, mutate)


def _flip(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        c = f.read(1)
        f.seek(offset)
        f.write(bytes([c[0] ^ 0x55]))


def _open_test(v, cwd, monkeypatch, extra=()):
    return dmfw(["open", "--test-passphrase", v["image"]] + _pw_args(v) + list(extra),
                cwd, monkeypatch)


def test_damaged_primary_opens_from_secondary(vols, tmp_path, monkeypatch):
    for name, at in (("l2-pbkdf2-512", 4096 + 20), ("l2-pbkdf2-4096", 100),
                     ("l2-pbkdf2-4096", 0)):
        v = _copy(vols, name, tmp_path)
        p = str(tmp_path / v["image"])
        shutil.copy(os.path.join(vols[0], v["image"]), p)
        _flip(p, at)
        got = dmfw(["luksDump", v["image"]], str(tmp_path), monkeypatch)
        assert got == (v["dump"], "", 0), (name, at)
        assert _open_test(v, str(tmp_path), monkeypatch)[2] == 0
        # Both copies damaged: not LUKS, for cryptsetup too.
        size = v["json"] and int(v["json"]["config"]["json_size"]) + 4096
        _flip(p, size + 200)
        ref = host(["luksDump", v["image"]], str(tmp_path))
        assert dmfw(["luksDump", v["image"]], str(tmp_path), monkeypatch) == ref
        assert ref[2] == 1


def test_higher_seqid_wins(vols, tmp_path, monkeypatch):
    v = _copy(vols, "l2-pbkdf2-512", tmp_path)
    p = str(tmp_path / v["image"])

    def label(j):
        j["tokens"]["3"] = {"type": "newer", "keyslots": []}
    _rewrite(p, 16384, label, seqid=99)
    out = dmfw(["luksDump", v["image"]], str(tmp_path), monkeypatch)[0]
    assert "Epoch:         \t99\n" in out and "  3: newer\n" in out
    assert out == host(["luksDump", v["image"]], str(tmp_path))[0]


def _set(path, value):
    def f(j):
        o = j
        for k in path[:-1]:
            o = o[k]
        if value is KeyError:
            del o[path[-1]]
        else:
            o[path[-1]] = value
    return f


# JSON that breaks one of LUKS2_hdr_validate's rules (with good checksums).
BAD_JSON = [
    ("segment offset unaligned", _set(["segments", "0", "offset"], "2097153")),
    ("segment offset not a number", _set(["segments", "0", "offset"], "12x")),
    ("segment size zero", _set(["segments", "0", "size"], "0")),
    ("sector size", _set(["segments", "0", "sector_size"], 1000)),
    ("sector size type", _set(["segments", "0", "sector_size"], "512")),
    ("iv_tweak", _set(["segments", "0", "iv_tweak"], "-1")),
    ("no segments", _set(["segments"], {})),
    ("no digest for segment", _set(["digests", "0", "segments"], [])),
    ("digest names missing keyslot", _set(["digests", "0", "keyslots"], ["0", "5"])),
    ("keyslot key_size", _set(["keyslots", "0", "key_size"], -1)),
    ("keyslot name", lambda j: j["keyslots"].update({"x": j["keyslots"]["0"]})),
    ("area overflows", _set(["keyslots", "0", "area", "size"], "99999999")),
    ("area in metadata", _set(["keyslots", "0", "area", "offset"], "4096")),
    ("json_size", _set(["config", "json_size"], "4096")),
    ("keyslots_size", _set(["config", "keyslots_size"], "1000")),
    ("no config", _set(["config"], KeyError)),
    ("no tokens", _set(["tokens"], KeyError)),
    ("token keyslot", _set(["tokens"], {"0": {"type": "x", "keyslots": ["9"]}})),
    ("flags type", _set(["config", "flags"], [1])),
    ("kdf salt", _set(["keyslots", "0", "kdf", "salt"], KeyError)),
]


@pytest.mark.parametrize("why", [b[0] for b in BAD_JSON])
def test_json_breaking_cryptsetups_rules_is_refused(vols, tmp_path, monkeypatch, why):
    mutate = dict(BAD_JSON)[why]
    v = _copy(vols, "l2-pbkdf2-512", tmp_path)
    _both(str(tmp_path / v["image"]), mutate)
    ref = host(["isLuks", v["image"]], str(tmp_path))
    assert ref[2] != 0, "cryptsetup accepts it: %s" % why
    assert dmfw(["luksDump", v["image"]], str(tmp_path), monkeypatch) == \
        ("", "Device %s is not a valid LUKS device.\n" % v["image"], 1)


def test_rewritten_but_valid_json_is_accepted(vols, tmp_path, monkeypatch):
    # The control for the test above: the rewrite itself breaks nothing.
    v = _copy(vols, "l2-pbkdf2-512", tmp_path)
    _both(str(tmp_path / v["image"]), lambda j: j["config"].update(
        {"flags": ["allow-discards", "no-journal"]}))
    same(["luksDump", v["image"]], str(tmp_path), monkeypatch)
    same(["open", "--test-passphrase", v["image"]] + _pw_args(v), str(tmp_path),
         monkeypatch)


def test_unknown_requirement_is_refused(vols, tmp_path, monkeypatch):
    v = _copy(vols, "l2-pbkdf2-512", tmp_path)
    _both(str(tmp_path / v["image"]), _set(["config", "requirements"],
                                           {"mandatory": ["dmfw-future"]}))
    out = dmfw(["luksDump", v["image"]], str(tmp_path), monkeypatch)[0]
    assert out == host(["luksDump", v["image"]], str(tmp_path))[0]
    assert "Requirements:\tdmfw-future \n" in out
    got = dmfw(["open", "--test-passphrase", v["image"]] + _pw_args(v) + ["-v"],
               str(tmp_path), monkeypatch)
    assert got[2] != 0 and got[1].startswith("Unmet LUKS2 requirements detected.")


def test_truncated_keyslot_area_is_refused(vols, tmp_path, monkeypatch):
    for name, cut in (("l1-sha256", 8 * 512 + 1000), ("l2-pbkdf2-512", 32768 + 4096)):
        v = _copy(vols, name, tmp_path)
        with open(str(tmp_path / v["image"]), "r+b") as f:
            f.truncate(cut)
        got = _open_test(v, str(tmp_path), monkeypatch)
        assert got[2] != 0 and "Traceback" not in got[1]


def test_luks1_bad_keyslot_is_refused_like_cryptsetup(vols, tmp_path, monkeypatch):
    v = _copy(vols, "l1-sha256", tmp_path)
    p = str(tmp_path / v["image"])
    with open(p, "r+b") as f:
        f.seek(208 + 48 * 3 + 44)       # keyslot 3 stripes
        f.write((3999).to_bytes(4, "big"))
    same(["luksDump", v["image"]], str(tmp_path), monkeypatch)
    same(["open", "--test-passphrase", v["image"]] + _pw_args(v), str(tmp_path),
         monkeypatch)


def test_argon2_over_the_memory_limit_is_skipped(vols, monkeypatch):
    from dmfw.blockdev import FileDevice
    from dmfw import luks
    from dmfw.luks import unlock
    from dmfw.crypto import kdf
    _need_argon2()
    d, vs = vols
    v = vs["l2-argon2id"]
    h = luks.load(FileDevice(os.path.join(d, v["image"]), readonly=True))
    monkeypatch.setattr(kdf, "memory_limit_kib", lambda: 16)
    said = []
    with pytest.raises(Exception) as e:
        unlock.unlock(h, bytearray(v["keys"][0]["passphrase"].encode()), log=said.append)
    assert e.value.errno == 12 and len(said) == 1 and "64" in said[0] and "16" in said[0]


# -- the table `open` hands to the device mapper, by cryptsetup's rules
# (libdevmapper.c get_dm_crypt_params), computed here from what cryptsetup
# reported, not from dmfw.luks.table.

def _expected(v, name, flags=()):
    size = v["data_bytes"] // 512
    if v["version"] == 2:
        key = ":%d:logon:cryptsetup:%s-d0" % (v["key_bytes"], v["uuid"])
    else:
        key = v["volume_key"]
    opts = list(flags) + (["sector_size:%d" % v["sector_size"]]
                          if v["sector_size"] != 512 else [])
    line = "0 %d crypt %s %s 0 7:0 %d" % (size, v["cipher"], key, v["data_offset"] // 512)
    if opts:
        line += " %d %s" % (len(opts), " ".join(opts))
    return line, "CRYPT-LUKS%d-%s-%s" % (v["version"], v["uuid"].replace("-", ""), name)


@pytest.fixture
def captured(monkeypatch):
    """The mapper's create() and the keyring's logon keys, recorded: what open
    hands the crypt target and the keyring (the real mapping is
    test_open_maps_the_plaintext_and_writes_through)."""
    from dmfw.mapper import DeviceMapper
    from dmfw import keyring
    seen = {"create": [], "logon": [], "unlinked": []}

    def create(self, name, uuid=None, table=None, readonly=False):
        seen["create"].append((name, uuid, table, readonly))
    monkeypatch.setattr(DeviceMapper, "create", create)
    monkeypatch.setattr(keyring.Keyring, "add_logon_key",
                        lambda self, d, k: seen["logon"].append((d, bytes(k).hex())),
                        raising=False)
    monkeypatch.setattr(keyring.Keyring, "unlink",
                        lambda self, d: seen["unlinked"].append(d))
    return seen


@pytest.mark.parametrize("name", [n for n in _names() if "argon2" not in n])
def test_open_hands_cryptsetups_table_to_the_mapper(vols, name, monkeypatch, captured):
    d, vs = vols
    v = vs[name]
    hdr = ["--header", v["header"]] if v["header"] else []
    got = dmfw(["open"] + hdr + [v["image"], "c1"] + _pw_args(v), d, monkeypatch)
    assert got == ("", "", 0)
    line, uuid = _expected(v, "c1")
    assert captured["create"] == [("c1", uuid, line, False)]
    if v["version"] == 2:
        desc = "cryptsetup:%s-d0" % v["uuid"]
        assert captured["logon"] == [(desc, v["volume_key"])]
        assert captured["unlinked"] == [desc]
    else:
        assert captured["logon"] == []


def test_open_options_reach_the_table(vols, monkeypatch, captured):
    d, vs = vols
    v = vs["l2-pbkdf2-4096"]
    dmfw(["open", "-r", "--allow-discards", "--perf-no_read_workqueue", v["image"], "c2"]
         + _pw_args(v), d, monkeypatch)
    line, uuid = _expected(v, "c2", ["allow_discards", "no_read_workqueue"])
    assert captured["create"] == [("c2", uuid, line, True)]
    v = vs["l1-sha1"]
    dmfw(["luksOpen", "--disable-keyring", v["image"], "c3"] + _pw_args(v), d, monkeypatch)
    assert captured["create"][-1][2] == _expected(v, "c3")[0]


def test_plain_open_uses_cryptsetup_27_defaults(vols, monkeypatch, captured, tmp_path):
    import hashlib
    d, vs = vols
    v = vs["l1-sha1"]
    pw = tmp_path / "pw"
    pw.write_bytes(b"plain secret\nrest")
    monkeypatch.chdir(d)
    r = run("cryptsetup open --type plain %s p1 < %s" % (v["image"], pw))
    assert r.status == 0
    key = hashlib.sha256(b"plain secret").hexdigest()
    size = os.path.getsize(v["path"]) // 512
    assert captured["create"] == [("p1", "CRYPT-PLAIN-p1", "0 %d crypt aes-xts-plain64 %s 0 "
                                   "7:0 0" % (size, key), False)]
    # A key file is the key itself, no hashing: 512 bits read from offset 3.
    kf = tmp_path / "kf"
    kf.write_bytes(bytes(range(80)))
    r = run("cryptsetup open --type plain -s 512 -c aes-cbc-essiv:sha256 --offset 8 -p 2 "
            "--keyfile-offset 3 -d %s %s p2" % (kf, v["image"]))
    assert r.status == 0
    assert captured["create"][-1] == ("p2", "CRYPT-PLAIN-p2", "0 %d crypt aes-cbc-essiv:sha256"
                                      " %s 2 7:0 8" % (size - 8, bytes(range(3, 67)).hex()),
                                      False)


# cryptsetup 2.7.5's src/cryptsetup.c action_open_plain: the warnings it prints for its
# changed defaults (stderr, even with -q), a key file never hashed (--hash ignored, with a
# warning unless -q), --keyfile-size ignored for an unhashed key file, --hash plain as
# "no hash"; lib/utils_crypt.c's crypt_parse_name_and_mode completes a short --cipher.
W_CIPHER = ("WARNING: Using default options for cipher (%s, key size %d bits) that could be "
            "incompatible with older versions.\n")
W_HASH = ("WARNING: Using default options for hash (sha256) that could be incompatible with "
          "older versions.\n")
W_ALWAYS = ("For plain mode, always use options --cipher, --key-size and if no keyfile is "
            "used, then also --hash.\n")


def test_plain_open_warnings_and_key_file_rules_of_cryptsetup_27(vols, monkeypatch, captured,
                                                                 tmp_path):
    d, vs = vols
    v = vs["l1-sha1"]
    size = os.path.getsize(v["path"]) // 512
    # A blank device: over a signature 2.7 warns and asks first (tested below).
    img = "blank.img"
    (tmp_path / img).write_bytes(bytes(size * 512))
    monkeypatch.chdir(tmp_path)
    pw = tmp_path / "pw"
    pw.write_bytes(b"typed\n")
    kf = tmp_path / "kf"
    kf.write_bytes(bytes(range(100)))

    def table(name):
        return [c[2] for c in captured["create"] if c[0] == name][-1]

    r = run("cryptsetup open --type plain %s t1 < %s" % (img, pw))
    assert (r.status, r.out, r.err) == (0, "", W_CIPHER % ("aes-xts-plain64", 256) + W_HASH
                                        + W_ALWAYS)
    # Cipher and size given, no hash: only the hash warning.
    r = run("cryptsetup open --type plain -c aes-xts-plain64 -s 256 %s t2 < %s" % (img, pw))
    assert (r.status, r.err) == (0, W_HASH + W_ALWAYS)
    # A key file: no hash warning; --hash is ignored (and said so on stdout, not with -q).
    r = run("cryptsetup open --type plain -s 256 --hash sha512 -d %s %s t3" % (kf, img))
    assert (r.status, r.err) == (0, W_CIPHER % ("aes-xts-plain64", 256) + W_ALWAYS)
    assert r.out == "WARNING: The --hash parameter is being ignored in plain mode with keyfile " \
                    "specified.\n"
    assert table("t3") == "0 %d crypt aes-xts-plain64 %s 0 7:0 0" % (size, bytes(range(32)).hex())
    r = run("cryptsetup open -q --type plain -c aes-xts-plain64 -s 256 --hash sha512 "
            "--keyfile-offset 5 -d %s %s t4" % (kf, img))
    assert (r.status, r.out, r.err) == (0, "", "")
    assert table("t4").split()[4] == bytes(range(5, 37)).hex()
    # --keyfile-size cannot shorten the key read from a key file.
    r = run("cryptsetup open --type plain -c aes-xts-plain64 -s 512 -l 8 -d %s %s t5"
            % (kf, img))
    assert r.status == 0 and r.out == ("WARNING: The --keyfile-size option is being ignored, "
                                       "the read size is the same as the encryption key size.\n")
    assert table("t5").split()[4] == bytes(range(64)).hex()
    # A key file shorter than the key: nothing created.
    short = tmp_path / "short"
    short.write_bytes(b"x" * 20)
    n = len(captured["create"])
    r = run("cryptsetup open --type plain -c aes-xts-plain64 -s 256 -d %s %s t6" % (short, img))
    assert (r.status, r.err.splitlines()[-1]) == (1, "Cannot read requested amount of data.")
    assert len(captured["create"]) == n
    # --hash plain: the typed passphrase itself, padded with zeros to the key size.
    r = run("cryptsetup open --type plain -c aes-cbc-plain -s 128 --hash plain %s t7 < %s"
            % (img, pw))
    assert (r.status, r.err) == (0, "")
    assert table("t7") == "0 %d crypt aes-cbc-plain %s 0 7:0 0" % (
        size, (b"typed" + bytes(11)).hex())
    # Short cipher names completed as libcryptsetup completes them.
    for spec, full in (("aes-plain", "aes-cbc-plain"), ("aes", "aes-cbc-plain")):
        r = run("cryptsetup open --type plain -c %s -s 256 --hash sha256 %s t8%s < %s"
                % (spec, img, spec[-1], pw))
        assert r.status == 0, r
        assert table("t8" + spec[-1]).split()[3] == full
    r = run("cryptsetup open --type plain -c 'capi:xts(aes)-plain64' -s 256 --hash sha256 "
            "%s t9 < %s" % (img, pw))
    assert r.status == 0 and table("t9").split()[3] == "capi:xts(aes)-plain64"


def test_open_refusals_create_nothing(vols, monkeypatch, captured, tmp_path):
    d, vs = vols
    v = vs["l2-pbkdf2-512"]
    wrong = tmp_path / "wrong"
    wrong.write_bytes(b"x")
    assert dmfw(["open", v["image"], "c4", "--key-file", str(wrong)], d, monkeypatch) == \
        ("", "No key available with this passphrase.\n", 2)
    assert dmfw(["open", "/dev/nonexistent", "c4"] + _pw_args(v), d, monkeypatch) == \
        ("", "Device /dev/nonexistent does not exist or access denied.\n", 4)
    assert dmfw(["open", "--type", "luks1", v["image"], "c4"] + _pw_args(v), d,
                monkeypatch)[1:] == ("Device %s is not a valid LUKS device.\n" % v["image"], 1)
    assert captured["create"] == [] and captured["logon"] == []


@pytest.mark.parametrize("name", _names())
def test_open_maps_the_plaintext_and_writes_through(vols, name, tmp_path):
    """The whole chain on the real crypt target: unlock, table, keyring, dm-crypt
    reads the pattern images/luks.py put there with openssl's AES; a write through
    the mapping reads back after close and reopen, and the bytes on disk change;
    close leaves no device and no logon key behind."""
    import hashlib
    import shutil
    d, vs = vols
    v = vs[name]
    img = str(tmp_path / "v.img")
    shutil.copyfile(v["path"], img)
    hdr = ""
    if v.get("header_path"):
        h = str(tmp_path / "v.hdr")
        shutil.copyfile(v["header_path"], h)
        hdr = " --header " + h
    pw = os.path.join(d, v["passphrase_file"])
    opener = "cryptsetup open --key-file %s%s %s x" % (pw, hdr, img)
    want = hashlib.sha256(il.pattern(v["data_bytes"])).hexdigest()
    sh = new_shell()
    r = run(opener + "\nsha256sum /dev/mapper/x", sh=sh)
    assert r.status == 0, r
    assert r.out.split()[0] == want
    with open(img, "rb") as f:
        before = f.read()
    sector = bytearray(v["sector_size"])
    sector[:13] = b"dmfw-was-here"
    sh.resolve("/dev/mapper/x", write=True).writeblocks(0, sector)
    r = run("cryptsetup close x\ndmsetup ls", sh=sh)
    assert r.status == 0 and "x\t" not in r.out, r
    from dmfw.keyring import get_keyring
    assert not get_keyring(sh.dm).logon
    with open(img, "rb") as f:
        after = f.read()
    off = v["data_offset"] if not hdr else 0
    assert after[off:off + 16] != before[off:off + 16]
    assert b"dmfw-was-here" not in after
    r = run(opener + "\nhexdump -C -n 32 /dev/mapper/x\ncryptsetup close x", sh=sh)
    assert r.status == 0 and "dmfw-was-here" in r.out, r


def _damaged(src, dst, edits):
    shutil.copyfile(src, dst)
    with open(dst, "r+b") as f:
        for off, data in edits:
            f.seek(off)
            f.write(data)
    return dst


def test_blkid_equals_util_linux_also_on_damaged_headers(vols, tmp_path, monkeypatch):
    """blkid's line for every volume and detached header, and for headers damaged as
    libblkid's probe_luks decides (primary magic gone: the LUKS2 secondary is found;
    a LUKS2 header whose hdr_offset is not where it lies is no header; an unknown
    version is crypto_LUKS without a UUID; both copies gone: nothing, status 2)."""
    d, vs = vols
    l2, l1 = vs["l2-pbkdf2-512"], vs["l1-sha1"]
    l2p = os.path.join(d, l2["image"])
    hsize = int.from_bytes(open(l2p, "rb").read(16)[8:16], "big")
    files = [os.path.join(d, v["image"]) for v in vs.values()]
    files += [os.path.join(d, v["header"]) for v in vs.values() if v["header"]]
    files += [
        _damaged(l2p, str(tmp_path / "nomagic.img"), [(0, b"\0" * 6)]),
        _damaged(l2p, str(tmp_path / "both.img"), [(0, b"\0" * 6), (hsize, b"\0" * 6)]),
        _damaged(l2p, str(tmp_path / "badoff.img"), [(256, (4096).to_bytes(8, "big"))]),
        _damaged(l2p, str(tmp_path / "v3.img"), [(6, b"\0\3")]),
        _damaged(os.path.join(d, l1["image"]), str(tmp_path / "l1v9.img"), [(6, b"\0\x09")]),
    ]
    monkeypatch.chdir(tmp_path)
    for f in files:
        ref = subprocess.run(["blkid", "-c", "/dev/null", f], capture_output=True, text=True)
        r = run("blkid %s" % f)
        assert (r.out, r.status) == (ref.stdout, ref.returncode), f
    assert "TYPE" not in run("blkid %s" % (tmp_path / "both.img")).out


def test_plain_open_over_a_signature_asks_as_cryptsetup_27(vols, monkeypatch, tmp_path):
    """src/cryptsetup.c action_open_plain: with no --offset, what libblkid finds on the
    device is warned about and, at a terminal, needs a typed YES; -q skips both, and
    --offset or --disable-blkid skip the scan (the guest test compares the lines with
    2.7.5's)."""
    d, vs = vols
    v = vs["l1-sha1"]
    monkeypatch.chdir(d)
    kf = tmp_path / "kf"
    kf.write_bytes(bytes(range(64)))
    base = "cryptsetup open --type plain -c aes-xts-plain64 -s 256 -d %s " % kf
    warn = "WARNING: Device %s already contains a 'crypto_LUKS' superblock signature.\n" \
        % v["image"]
    ask = ("\nWARNING!\n========\nDetected device signature(s) on %s. Proceeding further "
           "may damage existing data.\n\nAre you sure? (Type 'yes' in capital letters): "
           % v["image"])
    sh = new_shell()
    answers = []
    sh.secret_reader = lambda prompt: answers.pop(0) if answers else None
    for answer, status, err in ((b"yes\n", 1, "Operation aborted.\n"), (None, 1,
                                "Error reading response from terminal.\n")):
        answers[:] = [answer] if answer else []
        r = run(base + "%s p" % v["image"], sh=sh)
        assert (r.status, r.out, r.err) == (status, warn + ask, err)
        assert run("dmsetup ls", sh=sh).out == "No devices found\n"
    answers[:] = [b"YES\n"]
    r = run(base + "%s p" % v["image"], sh=sh)
    assert (r.status, r.out, r.err) == (0, warn + ask, "")
    for extra in ("-q ", "--offset 8 ", "--disable-blkid "):
        r = run(base + extra + "%s q" % v["image"], sh=sh)
        assert (r.status, r.out, r.err) == (0, "", ""), extra
        assert run("cryptsetup close q", sh=sh).status == 0
    # Not at a terminal: the warning, and yesDialog's default answer.
    r = run(base + "%s n < %s" % (v["image"], kf))
    assert (r.status, r.out) == (0, warn)
