# KDFs and hashes for LUKS: PBKDF2 over every hash cryptsetup may name,
# RIPEMD-160 and Whirlpool, BLAKE2b and Argon2, each against published vectors
# and an independent implementation (hashlib/OpenSSL, the argon2 CLI).

import hashlib
import os

import pytest
from hypothesis import given, settings, strategies as st

from dmfw.crypto import hashes, kdf
from dmfw.crypto.ripemd160 import ripemd160
from dmfw.crypto.whirlpool import whirlpool

def _hashlib_has(name):
    try:
        hashlib.new(name)
        return True
    except ValueError:
        return False


needs_rmd = pytest.mark.skipif(not _hashlib_has("ripemd160"), reason="OpenSSL without ripemd160")

# RFC 6070 (PBKDF2-HMAC-SHA1).
RFC6070 = [
    (b"password", b"salt", 1, 20, "0c60c80f961f0e71f3a9b524af6012062fe037a6"),
    (b"password", b"salt", 2, 20, "ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957"),
    (b"password", b"salt", 4096, 20, "4b007901b765489abead49d926f721d065a429c1"),
    (b"passwordPASSWORDpassword", b"saltSALTsaltSALTsaltSALTsaltSALTsalt", 4096, 25,
     "3d2eec4fe41c849b80c8d83662c0e44a8b291a964cf2f07038"),
    (b"pass\0word", b"sa\0lt", 4096, 16, "56fa6aa75548099dcc37d7f03425e0c3"),
]

# The RIPEMD-160 authors' page and the NESSIE Whirlpool vectors.
RIPEMD160 = {
    b"": "9c1185a5c5e9fc54612808977ee8f548b2258d31",
    b"a": "0bdc9d2d256b3ee9daae347be6f4dc835a467ffe",
    b"abc": "8eb208f7e05d987a9b044a8e98c6b087f15a0bfc",
    b"message digest": "5d0689ef49d2fae572b881b123a85ffa21595f36",
    b"abcdefghijklmnopqrstuvwxyz": "f71c27109c692c1b56bbdceb5b9d2865b3708dbc",
    b"1234567890" * 8: "9b752e45573d4b39f4dbd3323cab82bf63326bfb",
}
WHIRLPOOL = {
    b"": "19fa61d75522a4669b44e39c1d2e1726c530232130d407f89afee0964997f7a7"
         "3e83be698b288febcf88e3e03c4f0757ea8964e59b63d93708b138cc42a66eb3",
    b"a": "8aca2602792aec6f11a67206531fb7d7f0dff59413145e6973c45001d0087b42"
          "d11bc645413aeff63a42391a39145a591a92200d560195e53b478584fdae231a",
    b"abc": "4e2448a4c6f486bb16b6562c73b4020bf3043e3a731bce721ae1b303d97e6d4c"
            "7181eebdb6c57e277d0e34957114cbd6c797fc9d95d8b582d225292076d4eef5",
    b"message digest": "378c84a4126e2dc6e56dcc7458377aac838d00032230f53ce1f5700c0ffb4d3b"
                       "8421557659ef55c106b4b52ac5a4aaa692ed920052838f3362e86dbd37a8903e",
}


@pytest.mark.parametrize("pw,salt,n,dklen,hexout", RFC6070)
def test_pbkdf2_rfc6070_both_paths(pw, salt, n, dklen, hexout):
    assert kdf.pbkdf2("sha1", pw, salt, n, dklen).hex() == hexout
    assert kdf._pbkdf2("sha1", pw, salt, n, dklen).hex() == hexout


@pytest.mark.parametrize("name", ["sha1", "sha256", "sha384", "sha512",
                                  pytest.param("ripemd160", marks=needs_rmd)])
def test_pure_pbkdf2_equals_hashlib(name):
    for n, pwlen, dklen in [(1, 0, 1), (3, 200, 64), (7, 64, 97), (2, 129, 32)]:
        pw, salt = os.urandom(pwlen), os.urandom(16)
        want = hashlib.pbkdf2_hmac(name, pw, salt, n, dklen)
        assert kdf._pbkdf2(name, pw, salt, n, dklen) == want
        assert kdf.pbkdf2(name, pw, salt, n, dklen) == want


def test_pbkdf2_pure_hashes_without_copy_refeed():
    # MicroPython's hash objects have no copy(): the re-feeding path must agree.
    class NoCopy:
        def __init__(self, data=b""):
            self._h = hashlib.sha256(data)

        def update(self, d):
            self._h.update(d)

        def digest(self):
            return self._h.digest()
    old = hashes._CTORS.get("sha256")
    hashes._CTORS["sha256"] = NoCopy
    try:
        got = kdf._pbkdf2("sha256", b"pw", b"salt", 5, 40)
    finally:
        hashes._CTORS["sha256"] = old
    assert got == hashlib.pbkdf2_hmac("sha256", b"pw", b"salt", 5, 40)


def _openssl_kdf(digest, pw, salt, n, dklen):
    import subprocess
    p = subprocess.run(["openssl", "kdf", "-provider", "legacy", "-provider", "default",
                        "-keylen", str(dklen), "-kdfopt", "digest:" + digest,
                        "-kdfopt", "hexpass:" + pw.hex(), "-kdfopt", "hexsalt:" + salt.hex(),
                        "-kdfopt", "iter:%d" % n, "PBKDF2"], capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip("openssl without the legacy provider: " + p.stderr.strip())
    return bytes.fromhex(p.stdout.strip().replace(":", ""))


def test_pbkdf2_whirlpool_vs_openssl():
    pw, salt = os.urandom(20), os.urandom(32)
    assert kdf.pbkdf2("whirlpool", pw, salt, 17, 100) == _openssl_kdf("whirlpool", pw, salt, 17, 100)


def test_pbkdf2_refuses_unknown_hash_and_bad_counts():
    from dmfw.errors import DMError
    for args in [("md4", b"p", b"s", 1, 8), ("sha1", b"p", b"s", 0, 8), ("sha1", b"p", b"s", 1, 0)]:
        with pytest.raises(DMError):
            kdf.pbkdf2(*args)


@pytest.mark.parametrize("msg", sorted(RIPEMD160))
def test_ripemd160_vectors(msg):
    assert ripemd160(msg).hexdigest() == RIPEMD160[msg]
    assert hashes.new("ripemd160", msg).hexdigest() == RIPEMD160[msg]


@pytest.mark.slow
def test_ripemd160_million_a():
    h = ripemd160()
    for _ in range(1000):
        h.update(b"a" * 1000)
    assert h.hexdigest() == "52783243c1697bdbe16d37f97f68f08325dc1528"


@pytest.mark.parametrize("msg", sorted(WHIRLPOOL))
def test_whirlpool_vectors(msg):
    assert whirlpool(msg).hexdigest() == WHIRLPOOL[msg]
    assert hashes.new("whirlpool", msg).hexdigest() == WHIRLPOOL[msg]


@needs_rmd
@settings(max_examples=30, deadline=None)
@given(st.lists(st.binary(max_size=150), max_size=4))
def test_pure_hashes_stream_like_hashlib(chunks):
    data = b"".join(chunks)
    r = ripemd160()
    w = whirlpool()
    for c in chunks:
        r.update(c)
        w.update(c)
    assert r.copy().digest() == hashlib.new("ripemd160", data).digest()
    assert w.digest() == whirlpool(data).digest()
    assert hashes.DIGEST_SIZE["ripemd160"] == len(r.digest())
    assert hashes.DIGEST_SIZE["whirlpool"] == len(w.digest())


# ---- BLAKE2b -------------------------------------------------------------

from dmfw.crypto import blake2b  # noqa: E402


def test_blake2b_rfc7693_abc():
    want = ("ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1"
            "7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923")
    assert blake2b.Blake2b(b"abc").hexdigest() == want
    assert blake2b.digest(b"abc").hex() == want


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=400), st.integers(1, 64), st.binary(max_size=64),
       st.integers(0, 400))
def test_pure_blake2b_equals_hashlib(data, size, key, cut):
    want = hashlib.blake2b(data, digest_size=size, key=key).digest()
    h = blake2b.Blake2b(data[:cut], size, key)
    c = h.copy()
    h.update(data[cut:])
    c.update(data[cut:])
    assert h.digest() == want and c.digest() == want


def test_hprime_lengths_against_definition():
    # H' for <= 64 bytes is one BLAKE2b of LE32(T) || X; longer outputs chain.
    x = b"argon2"
    assert blake2b.hprime(32, x) == hashlib.blake2b(b"\x20\0\0\0" + x, digest_size=32).digest()
    out = blake2b.hprime(100, x)
    v1 = hashlib.blake2b(b"\x64\0\0\0" + x).digest()
    v2 = hashlib.blake2b(v1).digest()
    assert out == v1[:32] + v2[:32] + hashlib.blake2b(v2, digest_size=36).digest()


# ---- Argon2 --------------------------------------------------------------

# RFC 9106 5.1-5.3: t=3, m=32, p=4, 32-byte tag, with secret and associated data.
RFC9106 = {
    "argon2d": "512b391b6f1162975371d30919734294f868e3be3984f3c1a13a4db9fabe4acb",
    "argon2i": "c814d9d1dc7f37aa13f0d77f2494bda1c8de6b016dd388d29952a4c4672b6ce8",
    "argon2id": "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659",
}


@pytest.mark.parametrize("variant", sorted(RFC9106))
def test_argon2_rfc9106(variant):
    got = kdf.argon2(variant, b"\x01" * 32, b"\x02" * 16, 3, 32, 4, 32,
                     secret=b"\x03" * 8, ad=b"\x04" * 12)
    assert got.hex() == RFC9106[variant]


def _argon2_cli(variant, pw, salt, t, m, p, n):
    import shutil
    import subprocess
    if shutil.which("argon2") is None:
        pytest.skip("no argon2 CLI (scripts/setup-host.sh installs it)")
    flag = {"argon2d": "-d", "argon2i": "-i", "argon2id": "-id"}[variant]
    r = subprocess.run(["argon2", salt, flag, "-t", str(t), "-k", str(m), "-p", str(p),
                        "-l", str(n), "-r"], input=pw, capture_output=True, check=True)
    return bytes.fromhex(r.stdout.decode().strip())


# Memory sizes that are not multiples of 4p, segments longer than one address
# block (128) so argon2i/id fetch new addresses, several passes and lanes.
CLI_CASES = [("argon2id", 1, 64, 1, 32), ("argon2id", 2, 600, 1, 64), ("argon2id", 3, 100, 2, 32),
             ("argon2i", 2, 1100, 2, 16), ("argon2d", 2, 257, 4, 80), ("argon2id", 1, 96, 4, 32),
             ("argon2i", 1, 8, 1, 4)]


@pytest.mark.parametrize("variant,t,m,p,n", CLI_CASES)
def test_argon2_vs_cli(variant, t, m, p, n):
    pw = os.urandom(20)
    salt = os.urandom(12).hex()
    assert kdf.argon2(variant, pw, salt.encode(), t, m, p, n) == \
        _argon2_cli(variant, pw, salt.encode(), t, m, p, n)


def test_argon2_over_the_limit_refused_before_allocating(monkeypatch):
    def no_alloc(n):
        raise AssertionError("allocated %d bytes" % n)
    monkeypatch.setattr(kdf, "bytearray", no_alloc, raising=False)
    with pytest.raises(kdf.KDFMemoryError) as e:
        kdf.argon2("argon2id", b"pw", b"saltsalt", 4, 65536, 1, 32, limit_kib=16384)
    assert str(e.value) == "argon2id needs 65536 KiB of memory, the limit is 16384 KiB"
    assert e.value.errno == 12
    # Argon2 rounds m down to a multiple of 4p: 1003 KiB with p=2 is 1000 KiB.
    with pytest.raises(kdf.KDFMemoryError) as e:
        kdf.argon2("argon2i", b"pw", b"saltsalt", 1, 1003, 2, 32, limit_kib=999)
    assert "argon2i needs 1000 KiB of memory, the limit is 999 KiB" in str(e.value)
    # An absurd cost (4 TiB) is refused at once with the default limit.
    with pytest.raises(kdf.KDFMemoryError):
        kdf.argon2("argon2id", b"pw", b"saltsalt", 1, 0xFFFFFFF0, 1, 32)


def test_argon2_memory_error_becomes_kdf_memory_error(monkeypatch):
    def fail(n):
        raise MemoryError
    monkeypatch.setattr(kdf, "bytearray", fail, raising=False)
    with pytest.raises(kdf.KDFMemoryError) as e:
        kdf.argon2("argon2id", b"pw", b"saltsalt", 1, 64, 1, 32, limit_kib=1 << 20)
    assert "argon2id needs 64 KiB of memory" in str(e.value)


def test_argon2_exactly_at_the_limit_runs():
    assert len(kdf.argon2("argon2id", b"pw", b"saltsalt", 1, 64, 1, 32, limit_kib=64)) == 32


@pytest.mark.parametrize("args", [
    ("argon2x", 1, 64, 1, 32, b"saltsalt"), ("argon2id", 0, 64, 1, 32, b"saltsalt"),
    ("argon2id", 1, 7, 1, 32, b"saltsalt"), ("argon2id", 1, 64, 0, 32, b"saltsalt"),
    ("argon2id", 1, 64, 9, 32, b"saltsalt"), ("argon2id", 1, 64, 1, 3, b"saltsalt"),
    ("argon2id", 1, 64, 1, 32, b"short")])
def test_argon2_bad_parameters_refused(args):
    from dmfw.errors import DMError
    v, t, m, p, n, salt = args
    with pytest.raises(DMError) as e:
        kdf.argon2(v, b"pw", salt, t, m, p, n)
    assert not isinstance(e.value, kdf.KDFMemoryError)


def test_memory_limit_like_cryptsetup():
    gib = 1024 * 1024
    assert kdf._cryptsetup_limit({"MemTotal": 4 * gib, "MemFree": 3 * gib,
                                  "SwapTotal": 1}) == 2 * gib
    # No swap: at most half the free memory.
    assert kdf._cryptsetup_limit({"MemTotal": 4 * gib, "MemFree": gib // 2}) == gib // 4
    assert kdf._cryptsetup_limit({"MemTotal": 64 * gib, "MemFree": 60 * gib}) == 4 * gib
    assert kdf._cryptsetup_limit({"MemTotal": 1000}) == gib
    assert kdf._cryptsetup_limit({}) == gib
    assert 0 < kdf.memory_limit_kib() <= 4 * gib


def test_memory_limit_from_dmfw_platform(monkeypatch):
    import sys
    import types
    mod = types.ModuleType("dmfw_platform")
    mod.KDF_MEMORY_KIB = 12345
    monkeypatch.setitem(sys.modules, "dmfw_platform", mod)
    assert kdf.memory_limit_kib() == 12345


def test_argon2_from_a_real_luks2_keyslot(tmp_path):
    # cryptsetup writes the keyslot's Argon2 parameters; the derived key for
    # them must equal libargon2's (the luks tests unlock end to end).
    import base64
    import json
    import shutil
    import subprocess
    if shutil.which("cryptsetup") is None:
        pytest.skip("no cryptsetup")
    img, key = tmp_path / "v.img", tmp_path / "key"
    for _ in range(20):     # the CLI takes the salt as an argument: no NUL byte
        key.write_bytes(os.urandom(32))
        with open(img, "wb") as f:
            f.truncate(16 << 20)
        subprocess.run(["cryptsetup", "luksFormat", "-q", "--type", "luks2", "--pbkdf",
                        "argon2id", "--pbkdf-memory", "64", "--pbkdf-force-iterations", "4",
                        "--pbkdf-parallel", "1", "--key-file", str(key), str(img)],
                       capture_output=True, check=True)
        meta = json.loads(subprocess.run(["cryptsetup", "luksDump", "--dump-json-metadata",
                                          str(img)], capture_output=True, check=True).stdout)
        ks = meta["keyslots"]["0"]
        salt = base64.b64decode(ks["kdf"]["salt"])
        if b"\0" not in salt:
            break
    k = ks["kdf"]
    assert (k["type"], k["time"], k["memory"], k["cpus"]) == ("argon2id", 4, 64, 1)
    pw = key.read_bytes()
    got = kdf.argon2("argon2id", pw, salt, k["time"], k["memory"], k["cpus"], ks["key_size"])
    assert got == _argon2_cli("argon2id", pw, salt, k["time"], k["memory"], k["cpus"],
                              ks["key_size"])
