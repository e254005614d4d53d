# AES, the dm-crypt sector ciphers and the crypt target, checked against
# FIPS-197 / IEEE 1619 vectors, openssl's CLI and volumes the real
# cryptsetup made on this host.

import binascii
import hashlib
import os
import shutil
import struct
import subprocess

import pytest

from dmfw.crypto import aes, cipher
from dmfw.errors import DMError

h = binascii.unhexlify

# Backends that run in CPython; `cryptography` is in the test extra, so it is never
# silently left out (cryptolib is MicroPython's: the MicroPython test covers it).
BACKENDS = ["pure", "cryptography"]


@pytest.fixture(params=BACKENDS)
def backend(request):
    aes.set_backend(request.param)
    yield request.param
    aes.set_backend(None)


FIPS197 = [
    ("000102030405060708090a0b0c0d0e0f", "69c4e0d86a7b0430d8cdb78070b4c55a"),
    ("000102030405060708090a0b0c0d0e0f1011121314151617", "dda97ca4864cdfe06eaf70a0ec0d7191"),
    ("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
     "8ea2b7ca516745bfeafc49904b496089"),
]
# SP 800-38A F.1 ECB, four blocks.
SP38A_PT = ("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
            "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710")
SP38A = [
    ("2b7e151628aed2a6abf7158809cf4f3c",
     "3ad77bb40d7a3660a89ecaf32466ef97f5d3d58503b9699de785895a96fdbaaf"
     "43b1cd7f598ece23881b00e3ed0306887b0c785e27e8ad3f8223207104725dd4"),
    ("8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b",
     "bd334f1d6e45f25ff712a214571fa5cc974104846d0ad3ad7734ecb3ecee4eef"
     "ef7afd2270e2e60adce0ba2face6444e9a4b41ba738d6c72fb16691603c18e0e"),
    ("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4",
     "f3eed1bdb5d2a03c064b5a7e3db181f8591ccb10d410ed26dc5ba74a31362870"
     "b6ed21b99ca6f4f9f153e7b1beafed1d23304b7a39f9f3ff067d8d8f9e24ecc7"),
]


def test_aes_fips197_and_sp800_38a(backend):
    pt = h("00112233445566778899aabbccddeeff")
    for key, ct in FIPS197:
        a = aes.AES(h(key))
        assert a.backend == backend
        b = bytearray(pt)
        a.encrypt_blocks(b)
        assert b.hex() == ct
        a.decrypt_blocks(memoryview(b))
        assert b == pt
    for key, ct in SP38A:
        a = aes.AES(h(key))
        b = bytearray(h(SP38A_PT))
        a.encrypt_blocks(memoryview(b))
        assert b.hex() == ct
        a.decrypt_blocks(b)
        assert b.hex() == SP38A_PT


def test_aes_long_buffer_crosses_chunks(backend):
    # More than aes._CHUNK bytes, at an offset inside a memoryview.
    key = bytes(range(32))
    data = bytes((i * 7 + 3) & 255 for i in range(3 * aes._CHUNK + 48))
    b = bytearray(b"\xaa" * 16 + data + b"\xbb" * 16)
    aes.AES(key).encrypt_blocks(memoryview(b)[16:-16])
    assert b[:16] == b"\xaa" * 16 and b[-16:] == b"\xbb" * 16
    ref = bytearray(data)
    aes.AES(key, "pure").encrypt_blocks(ref)
    assert b[16:-16] == ref
    aes.AES(key).decrypt_blocks(memoryview(b)[16:-16])
    assert b[16:-16] == data


def test_aes_bad_input():
    with pytest.raises(ValueError):
        aes.AES(b"x" * 15)
    with pytest.raises(ValueError):
        aes.AES(b"x" * 16).encrypt_blocks(bytearray(17))


# IEEE 1619-2007 XTS-AES vectors 1-3 (32-byte data units).
XTS1619 = [
    ("00" * 16, "00" * 16, 0, "00" * 32,
     "917cf69ebd68b2ec9b9fe9a3eadda692cd43d2f59598ed858c02c2652fbf922e"),
    ("11" * 16, "22" * 16, 0x3333333333, "44" * 32,
     "c454185e6a16936e39334038acef838bfb186fff7480adc4289382ecd6d394f0"),
    ("fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0", "22" * 16, 0x3333333333, "44" * 32,
     "af85336b597afc1a900b2eb21ec949d292df4c047e0b21532186a5971a227a89"),
]


def test_xts_ieee1619(backend):
    for k1, k2, sector, pt, ct in XTS1619:
        c = cipher.new("aes-xts-plain64", h(k1 + k2))
        b = bytearray(h(pt))
        c.xts(c.parts[0], memoryview(b), sector, True)
        assert b.hex() == ct
        c.xts(c.parts[0], memoryview(b), sector, False)
        assert b.hex() == pt


needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


def _openssl(alg, key, iv, data, decrypt=False):
    args = ["openssl", "enc", "-" + alg, "-nopad", "-K", key.hex()]
    if iv is not None:
        args += ["-iv", iv.hex()]
    if decrypt:
        args.append("-d")
    return subprocess.run(args, input=data, capture_output=True, check=True).stdout


def _ref_sector(spec, key, data, ivs):
    """One crypto sector encrypted by openssl as dm-crypt would."""
    s = cipher.parse_spec(spec)
    bits = len(key) * 8 // (2 if s.chainmode == "xts" else 1)
    alg = "aes-%d-%s" % (bits, s.chainmode)
    iv = cipher._iv(s.ivmode, ivs).to_bytes(16, "little")
    if s.ivmode == "essiv":
        salt = hashlib.new(s.ivopts, key).digest()
        iv = _openssl("aes-%d-ecb" % (len(salt) * 8), salt, None, iv)
    if s.chainmode == "xts":
        # openssl enc has no XTS: tweaks from openssl ECB under K2 and the
        # IEEE 1619 byte-wise doubling, the data through openssl ECB under K1.
        half = len(key) // 2
        t = bytearray(_openssl("aes-%d-ecb" % bits, key[half:], None, iv))
        mask = b""
        for _j in range(len(data) // 16):
            mask += bytes(t)
            carry = 0
            for i in range(16):
                nc = t[i] >> 7
                t[i] = ((t[i] << 1) & 255) | carry
                carry = nc
            if carry:
                t[0] ^= 0x87
        x = bytes(a ^ b for a, b in zip(data, mask))
        y = _openssl("aes-%d-ecb" % bits, key[:half], None, x)
        return bytes(a ^ b for a, b in zip(y, mask))
    return _openssl(alg, key, None if s.chainmode == "ecb" else iv, data)


SPECS = [
    ("aes-xts-plain64", 64), ("aes-xts-plain64", 32), ("aes-xts-plain", 32),
    ("capi:xts(aes)-plain64", 64), ("aes-cbc-essiv:sha256", 32),
    ("capi:cbc(aes)-essiv:sha256", 16), ("aes-cbc-plain", 16), ("aes-cbc-plain64", 32),
    ("aes-cbc-plain64be", 24), ("aes-cbc-benbi", 32), ("aes-cbc-null", 16),
    ("aes-ecb", 32), ("aes", 16),
]


@needs_openssl
@pytest.mark.parametrize("spec,klen", SPECS)
@pytest.mark.parametrize("ss,large", [(512, False), (4096, False), (4096, True)])
def test_sector_ciphers_vs_openssl(backend, spec, klen, ss, large):
    key = bytes((i * 37 + 11) & 255 for i in range(klen))
    data = bytes((i * 13 + 5) & 255 for i in range(2 * ss))
    # A sector number past 2^32 shows plain's truncation and the 64-bit modes.
    first = (1 << 32) + 8 * 5 if ss == 4096 else (1 << 32) + 3
    c = cipher.new(spec, key, ss, large)
    b = bytearray(data)
    c.encrypt(b, first)
    step = ss // 512
    for j in range(2):
        ivs = first + j * step
        if large:
            ivs >>= 3
        assert b[j * ss:(j + 1) * ss] == _ref_sector(spec, key, data[j * ss:(j + 1) * ss], ivs)
    c.decrypt(memoryview(b), first)
    assert b == data


def test_multikey_spec_picks_part_by_sector():
    k = bytes(range(64))
    c = cipher.new("aes:2-cbc-plain64", k)
    one = [cipher.new("aes-cbc-plain64", k[:32]), cipher.new("aes-cbc-plain64", k[32:])]
    data = bytes(range(256)) * 4
    b = bytearray(data)
    c.encrypt(b, 6)
    for j in range(2):
        r = bytearray(data[j * 512:(j + 1) * 512])
        one[(6 + j) & 1].encrypt(r, 6 + j)
        assert b[j * 512:(j + 1) * 512] == r


SPEC_ERRORS = [
    ("aes-cbc", "IV mechanism required"),
    ("aes-xts-", "IV mechanism required"),
    ("aes-cbc-essiv", "Digest algorithm missing for ESSIV mode"),
    ("capi:cbc(aes)-essiv", "Digest algorithm missing for ESSIV mode"),
    ("xts(aes)-plain64", "Bad cipher specification"),
    ("aes:3-cbc-plain", "Bad cipher key count specification"),
    ("aes:x-cbc-plain", "Bad cipher key count specification"),
    ("aes-xts-foo", "Invalid IV mode"),
    ("capi:xts(aes)-foo", "Invalid IV mode"),
    ("twofish-xts-plain64", "Error allocating crypto tfm"),
    ("aes-ctr-plain64", "Error allocating crypto tfm"),
    ("aes-cbc-essiv:nohash", "Error allocating crypto tfm"),
    ("capi:xts(aes", "Error allocating crypto tfm"),
]


@pytest.mark.parametrize("spec,msg", SPEC_ERRORS)
def test_parse_spec_refusals(spec, msg):
    with pytest.raises(DMError) as e:
        cipher.parse_spec(spec)
    assert str(e.value) == msg


def test_parse_spec_accepts():
    s = cipher.parse_spec("aes-ecb-whatever")       # ECB ignores the IV mode
    assert (s.chainmode, s.ivmode) == ("ecb", None)
    s = cipher.parse_spec("aes-plain")               # the original format: cbc-plain
    assert (s.chainmode, s.ivmode) == ("cbc", "plain")
    s = cipher.parse_spec("capi:cbc(aes)-essiv:sha256")
    assert (s.chainmode, s.ivmode, s.ivopts) == ("cbc", "essiv", "sha256")
    with pytest.raises(DMError):
        cipher.new("aes-xts-plain64", bytes(16))    # XTS needs two keys


# -- real cryptsetup keyslots (LUKS1): the volume key we pass to luksFormat must
# come back through PBKDF2, our cipher and the AF merge.
needs_cryptsetup = pytest.mark.skipif(shutil.which("cryptsetup") is None,
                                      reason="needs cryptsetup")


def _af_merge(material, keylen, stripes, hname):
    dlen = hashlib.new(hname).digest_size

    def diffuse(b):
        out = b""
        for i in range(0, keylen, dlen):
            chunk = b[i:i + dlen]
            out += hashlib.new(hname, struct.pack(">I", i // dlen) + chunk).digest()[:len(chunk)]
        return out
    buf = bytes(keylen)
    for s in range(stripes - 1):
        buf = diffuse(bytes(x ^ y for x, y in zip(buf, material[s * keylen:(s + 1) * keylen])))
    last = material[(stripes - 1) * keylen:stripes * keylen]
    return bytes(x ^ y for x, y in zip(buf, last))


@needs_cryptsetup
@pytest.mark.parametrize("spec,bits", [("aes-xts-plain64", 512), ("aes-cbc-essiv:sha256", 256),
                                       ("aes-cbc-plain", 128)])
def test_luks1_keyslot_made_by_cryptsetup(tmp_path, spec, bits):
    img = tmp_path / "luks.img"
    with open(img, "wb") as f:
        f.truncate(4 << 20)
    vk = bytes((i * 29 + 1) & 255 for i in range(bits // 8))
    (tmp_path / "vk").write_bytes(vk)
    (tmp_path / "pw").write_bytes(b"secret")
    subprocess.run(["cryptsetup", "luksFormat", "-q", "--type", "luks1", "--cipher", spec,
                    "--key-size", str(bits), "--hash", "sha256",
                    "--pbkdf-force-iterations", "1000", "--volume-key-file", str(tmp_path / "vk"),
                    "--key-file", str(tmp_path / "pw"), str(img)],
                   check=True, capture_output=True)
    hdr = img.read_bytes()[:4096]
    name = hdr[8:40].rstrip(b"\0").decode()
    mode = hdr[40:72].rstrip(b"\0").decode()
    hname = hdr[72:104].rstrip(b"\0").decode()
    keylen = struct.unpack(">I", hdr[108:112])[0]
    ks = hdr[208:256]
    active, iters = struct.unpack(">II", ks[:8])
    assert active == 0x00AC71F3
    salt = ks[8:40]
    off, stripes = struct.unpack(">II", ks[40:48])
    dk = hashlib.pbkdf2_hmac(hname, b"secret", salt, iters, keylen)
    n = (keylen * stripes + 511) // 512 * 512
    area = bytearray(img.read_bytes()[off * 512:off * 512 + n])
    cipher.new("%s-%s" % (name, mode), dk).decrypt(area, 0)
    assert _af_merge(bytes(area), keylen, stripes, hname) == vk


# -- the same ciphers under the real MicroPython unix port: cryptolib and the
# pure code must give CPython's bytes.
_MP_SCRIPT = """
import hashlib, binascii
from dmfw.crypto import aes, cipher
out = []
for be in BACKENDS:
    aes.set_backend(be)
    for spec, klen in SPECS:
        for ss, large in ((512, False), (4096, True)):
            key = bytes([(i * 37 + 11) & 255 for i in range(klen)])
            data = bytes([(i * 13 + 5) & 255 for i in range(2 * ss)])
            c = cipher.new(spec, key, ss, large)
            b = bytearray(data)
            c.encrypt(b, (1 << 32) + 8)
            d = binascii.hexlify(hashlib.sha256(b).digest()).decode()
            c.decrypt(b, (1 << 32) + 8)
            out.append("%s %s %d %d %s %s %s" % (be, spec, klen, ss, c.parts[0][0].backend, d, b == data))
print("\\n".join(out))
"""


def _mp_script(backends):
    return "BACKENDS = %r\nSPECS = %r\n" % (backends, SPECS) + _MP_SCRIPT


@pytest.mark.micropython
def test_ciphers_under_micropython_match_cpython():
    from shellrun import ROOT, micropython
    exe = micropython()
    if exe is None:
        pytest.skip("no micropython binary")
    env = dict(os.environ, MICROPYPATH=ROOT)
    p = subprocess.run([exe, "-c", "exec(open('/dev/stdin').read())"], capture_output=True,
                       text=True, env=env, cwd=ROOT, timeout=300,
                       input=_mp_script(["cryptolib", "pure"]))
    assert p.returncode == 0, p.stderr
    mp = p.stdout.strip().split("\n")
    g = {}
    exec(_mp_script(["pure"]).replace("print(", "_r = ("), g)
    aes.set_backend(None)
    cp = g["_r"].split("\n")
    # Fields: backend asked, spec, key length, sector size, backend used, sha256, round trip.
    same = lambda l: [f for j, f in enumerate(l.split()) if j not in (0, 4)]
    assert len(mp) == 2 * len(cp) and len(cp) == 2 * len(SPECS)
    for a, b in zip(mp, cp + cp):
        assert same(a) == same(b) and a.endswith(" True")
    # cryptolib takes 16/32-byte keys; a 24-byte key runs the pure code.
    used = [l.split()[4] for l in mp[:len(cp)]]
    assert used == ["pure" if l.split()[2] == "24" else "cryptolib" for l in mp[:len(cp)]]
    assert set(l.split()[4] for l in mp[len(cp):]) == {"pure"}


# -- the crypt target through the shell (dmsetup), as dm-crypt maps it.
KEY64 = "".join("%02X" % ((i * 11 + 7) & 255) for i in range(64))


def _sh(disks):
    from shellrun import new_shell
    return new_shell(disks["specs"])


def _run(sh, script):
    from shellrun import run
    return run(script, sh=sh)


@pytest.mark.parametrize("spec,opts,iv_offset", [
    ("aes-xts-plain64", "", 0), ("aes-xts-plain64", " 1 sector_size:4096", 8),
    ("aes-cbc-essiv:sha256", " 2 iv_large_sectors sector_size:4096", 16),
    ("capi:cbc(aes)-plain", " 1 allow_discards", 5)])
def test_target_maps_sectors_as_dm_crypt(disks, spec, opts, iv_offset):
    klen = 64 if "xts" in spec else 32
    key = h(KEY64)[:klen]
    sh = _sh(disks)
    r = _run(sh, "dmsetup create c --table '0 256 crypt %s %s %d /dev/vda 64%s'\n"
             "dd if=/dev/vdb of=/dev/mapper/c bs=4096 count=32"
             % (spec, key.hex(), iv_offset, opts))
    assert r.status == 0, r
    raw = open(disks["paths"]["/dev/vda"], "rb").read()[64 * 512:(64 + 256) * 512]
    plain = disks["data"]["/dev/vdb"][:256 * 512]
    ss = 4096 if "sector_size" in opts else 512
    ref = bytearray(plain)
    cipher.new(spec, key, ss, "iv_large" in opts).encrypt(ref, iv_offset)
    assert raw == ref and raw != plain
    # Sector k is sector k: a short read in the middle decrypts alone.
    r = _run(sh, "sha256sum /dev/mapper/c 128 16")
    assert r.out.split()[0] == hashlib.sha256(plain[128 * 512:144 * 512]).hexdigest()
    r = _run(sh, "sha256sum /dev/mapper/c")
    assert r.out.split()[0] == hashlib.sha256(plain).hexdigest()


def test_table_lines_mask_keys_and_order_options(disks):
    sh = _sh(disks)
    r = _run(sh, "dmsetup create c --table '0 4096 crypt aes-xts-plain64 %s 0 /dev/vda 8 "
             "6 iv_large_sectors NO_READ_WORKQUEUE sector_size:4096 same_cpu_crypt "
             "submit_from_crypt_cpus allow_discards'" % KEY64)
    assert r.status == 0, r
    tail = " 0 254:0 8 6 allow_discards same_cpu_crypt submit_from_crypt_cpus " \
           "no_read_workqueue sector_size:4096 iv_large_sectors\n"
    assert _run(sh, "dmsetup table c").out == \
        "0 4096 crypt aes-xts-plain64 " + "0" * 128 + tail
    assert _run(sh, "dmsetup table --showkeys c").out == \
        "0 4096 crypt aes-xts-plain64 " + KEY64.lower() + tail
    assert _run(sh, "dmsetup status c").out == "0 4096 crypt \n"
    assert "crypt            v1.28.0\n" in _run(sh, "dmsetup targets").out
    # Words past the counted group are ignored, as crypt_ctr_optional does.
    r = _run(sh, "dmsetup create d --table '0 8 crypt aes-cbc-plain %s 0 /dev/vda 0 0 junk'"
             % KEY64[:32])
    assert r.status == 0, r
    assert _run(sh, "dmsetup table d").out == "0 8 crypt aes-cbc-plain %s 0 254:0 0\n" % ("0" * 32)


def test_keyring_keys(disks, tmp_path):
    sh = _sh(disks)
    key = h(KEY64)
    (tmp_path / "k").write_bytes(key)
    r = _run(sh, "keyctl padd logon cryptsetup:vol @u < %s\n"
             "keyctl padd user plainkey @u %s" % (tmp_path / "k", tmp_path / "k"))
    assert r.status == 0 and len(r.out.split()) == 2, r
    r = _run(sh, "dmsetup create a --table '0 64 crypt aes-xts-plain64 :64:logon:cryptsetup:vol "
             "0 /dev/vda 0'\ndmsetup create b --table '0 64 crypt aes-xts-plain64 %s 0 /dev/vda 0'\n"
             "dmsetup create u --table '0 64 crypt aes-xts-plain64 :64:user:plainkey 0 /dev/vda 0'"
             % KEY64)
    assert r.status == 0, r
    a = _run(sh, "sha256sum /dev/mapper/a").out.split()[0]
    assert a == _run(sh, "sha256sum /dev/mapper/b").out.split()[0]
    assert a == _run(sh, "sha256sum /dev/mapper/u").out.split()[0]
    line = "0 64 crypt aes-xts-plain64 :64:logon:cryptsetup:vol 0 254:0 0\n"
    assert _run(sh, "dmsetup table a").out == line
    assert _run(sh, "dmsetup table --showkeys a").out == line
    lst = _run(sh, "keyring list").out
    assert " logon cryptsetup:vol 64\n" in lst and " user plainkey 64\n" in lst
    # The target holds no copy of a keyring key, and a hex key is zeroed at remove.
    tb = sh.dm.get("b").live.targets[0]
    assert sh.dm.get("a").live.targets[0].key is None
    held = tb.key
    assert bytes(held) == key
    _run(sh, "dmsetup remove b")
    assert held == bytearray(64)
    # keyutils: a logon description needs a "prefix:".
    r = _run(sh, "keyctl add logon noprefix abc @u")
    assert r.status != 0 and "Traceback" not in r.err
    r = _run(sh, "keyctl add logon p:q abc @u\nkeyctl unlink p:q")
    assert r.status == 0, r


TARGET_ERRORS = [
    ("aes-xts-plain64 %s 0 /dev/vda" % KEY64, "Not enough arguments"),
    ("aes-xts-plain64 :64 0 /dev/vda 0", "Cannot parse key size"),
    ("aes-xts-plain64 :x:logon:a 0 /dev/vda 0", "Cannot parse key size"),
    ("aes-xts-plain64 %s 0 /dev/vda 0 10" % KEY64, "Invalid number of feature args"),
    ("aes-xts-plain64 %s 0 /dev/vda 0 2 allow_discards" % KEY64, "Invalid number of feature args"),
    ("aes-xts-plain64 %s 0 /dev/vda 0 1 bogus" % KEY64, "Invalid feature arguments"),
    ("aes-xts-plain64 %s 0 /dev/vda 0 1 sector_size:1024x" % KEY64, "Invalid feature arguments"),
    ("aes-xts-plain64 %s 0 /dev/vda 0 1 sector_size:1000" % KEY64,
     "Invalid feature value for sector_size"),
    ("aes-xts-plain64 %s 0 /dev/vda 0 1 sector_size:8192" % KEY64,
     "Invalid feature value for sector_size"),
    ("aes-xts-plain64 %s 0 /dev/vda 0 1 integrity:0:aead" % KEY64, "Invalid integrity arguments"),
    ("aes-xts-plain64 %s 0 /dev/vda 0 1 integrity:28:foo" % KEY64, "Unknown integrity profile"),
    ("aes-xts-plain64 %s 0 /dev/vda 0 1 integrity:28:aead" % KEY64, "Bad cipher specification"),
    ("aes-xts-plain64 %s 0 /dev/vda 0 1 integrity_key_size:0" % KEY64,
     "Invalid integrity_key_size argument"),
    ("aes-xts-bogus %s 0 /dev/vda 0" % KEY64, "Invalid IV mode"),
    ("aes-xts-plain64 %s 0 /dev/vda 0" % KEY64[:40], "Error decoding and setting key"),
    ("aes-xts-plain64 %s 0 /dev/vda 0" % ("zz" + KEY64[2:]), "Error decoding and setting key"),
    ("aes-xts-plain64 - 0 /dev/vda 0", "Error decoding and setting key"),
    ("aes-xts-plain64 :64:logon:nokey 0 /dev/vda 0", "Error decoding and setting key"),
    ("aes-xts-plain64 :64:other:x 0 /dev/vda 0", "Error decoding and setting key"),
    ("aes-xts-plain64 %s x /dev/vda 0" % KEY64, "Invalid iv_offset sector"),
    ("aes-xts-plain64 %s 4 /dev/vda 0 1 sector_size:4096" % KEY64, "Invalid iv_offset sector"),
    ("aes-xts-plain64 %s 0 /dev/nodisk 0" % KEY64, "Device lookup failed"),
    ("aes-xts-plain64 %s 0 /dev/vda -1" % KEY64, "Invalid device sector"),
    ("aes-xts-plain64 %s 0 /dev/vda 0 1 integrity:28:none" % KEY64,
     "Integrity profile not supported."),
]


@pytest.mark.parametrize("args,msg", TARGET_ERRORS)
def test_target_refusals(disks, args, msg):
    sh = _sh(disks)
    r = _run(sh, "dmsetup create c --table '0 4096 crypt %s'" % args)
    assert r.status != 0
    assert "device-mapper: table: 253:0: crypt: %s\n" % msg in r.err, r.err
    assert "Traceback" not in r.err
    assert _run(sh, "dmsetup ls").out == "No devices found\n"


def test_sector_size_needs_aligned_length(disks):
    sh = _sh(disks)
    r = _run(sh, "dmsetup create c --table '0 4100 crypt aes-xts-plain64 %s 0 /dev/vda 0 "
             "1 sector_size:4096'" % KEY64)
    assert "crypt: Device size is not multiple of sector_size feature\n" in r.err
    r = _run(sh, "dmsetup create c --table '0 4096 crypt aes-xts-plain64 %s 0 /dev/vda 0 "
             "1 sector_size:4096'\nblockdev --getss /dev/mapper/c" % KEY64)
    assert r.out == "4096\n", r
