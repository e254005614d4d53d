"""dmfw.boot.version.vercmp against systemd's own strverscmp_improved, run through
`systemd-analyze compare-versions` (systemd >= 252 on the host): deterministic
random version strings, most pairs sharing a prefix so that every rule ('~', '-',
'^', '.', numbers with leading zeros, letters, the end of the string, characters
that only separate) decides some of them."""
import random
import shutil
import subprocess

import pytest

from dmfw.boot.version import vercmp

pytestmark = pytest.mark.skipif(not shutil.which("systemd-analyze"),
                                reason="no systemd-analyze")

ALPHABET = "0001299azZ~~^^..--_+"
# systemd-analyze's exit status: 0 equal, 11 first newer, 12 first older.
RC = {0: 0, 11: 1, 12: -1}


def _systemd(a, b):
    p = subprocess.run(["systemd-analyze", "compare-versions", "--", a, b],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if p.returncode not in RC:
        pytest.skip("systemd-analyze has no compare-versions: %s" % p.stderr.strip())
    return RC[p.returncode]


def _pairs(n):
    rnd = random.Random(252)

    def word(k):
        return "".join(rnd.choice(ALPHABET) for _ in range(k))

    out = []
    for _ in range(n):
        a = word(rnd.randint(0, 8))
        cut = rnd.randint(0, len(a))
        b = a[:cut] + word(rnd.randint(0, 4))
        out.append((a, b) if rnd.random() < 0.5 else (b, a))
    return out


def test_vercmp_as_systemd_analyze():
    pairs = _pairs(120)
    got = [(a, b, vercmp(a, b)) for a, b in pairs]
    want = [(a, b, _systemd(a, b)) for a, b in pairs]
    assert got == want
    # The sample is not degenerate: every outcome occurs.
    assert set(r for _, _, r in want) == {-1, 0, 1}
