# Fuzzing the crypt table line and the cipher spec parser: whatever the
# words, the only exceptions allowed out are dmfw's own DMError family, and
# a refused table leaves no device behind.

import os

import pytest

hyp = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st, HealthCheck  # noqa: E402

from dmfw.errors import DMError  # noqa: E402

SETTINGS = settings(max_examples=int(os.environ.get("DMFW_FUZZ_EXAMPLES", "300")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])

KEY = "00112233445566778899aabbccddeeff" * 2
PIECES = ["aes", "xts", "cbc", "ecb", "plain", "plain64", "plain64be", "essiv", "sha256",
          "benbi", "null", "capi", "(", ")", ":", "-", "2", "0", "x", "lmk"]
WORDS = [KEY, KEY[:32], KEY + KEY, "-", ":32:logon:a:b", ":64:user:k", ":", ":32", "0", "8",
         "/dev/vda", "1", "2", "9", "10", "allow_discards", "sector_size:4096",
         "sector_size:512", "iv_large_sectors", "integrity:28:aead", "integrity:28:none",
         "same_cpu_crypt", "high_priority", "integrity_key_size:32", "junk", ""]

spec = st.lists(st.sampled_from(PIECES), max_size=8).map("".join)


@SETTINGS
@given(spec)
def test_parse_spec_only_dmerror(s):
    from dmfw.crypto import cipher
    try:
        p = cipher.parse_spec(s)
    except DMError:
        return
    assert p.chainmode in ("xts", "cbc", "ecb")


@SETTINGS
@given(spec, st.lists(st.sampled_from(WORDS), max_size=9))
def test_crypt_table_only_dmerror(disks, s, words):
    from shellrun import new_shell
    sh = new_shell(disks["specs"])
    from dmfw.table import build
    md = sh.dm.create("f")
    try:
        t = build(sh.dm, md, [(0, 8, "crypt", [s] + words)])
    except DMError:
        assert md.live is None
        return
    line = t.targets[0].params(True)
    assert line.split()[0] == s
    t.destroy()
