# The KDFs and hashes under the real MicroPython unix port (hashlib there has
# only md5/sha1/sha256, no pbkdf2_hmac, no blake2b): the same bytes as CPython.

import os
import subprocess

import pytest

from shellrun import ROOT, micropython

pytestmark = [
    pytest.mark.micropython,
    pytest.mark.skipif(micropython() is None, reason="no micropython binary"),
]

# Each case is one expression over `kdf`, `hashes`, `blake2b`; both
# interpreters print its value in hex.
CASES = [
    "kdf.pbkdf2('sha1', b'password', b'salt', 4096, 20)",
    "kdf.pbkdf2('sha256', b'pw' * 40, b'salt', 50, 70)",
    "kdf.pbkdf2('sha512', b'pw', b'NaCl', 3, 64)",
    "kdf.pbkdf2('ripemd160', b'pw', b'salt', 5, 32)",
    "kdf.pbkdf2('whirlpool', b'pw', b'salt', 2, 64)",
    "hashes.new('ripemd160', b'message digest').digest()",
    "hashes.new('whirlpool', b'x' * 200).digest()",
]

PROG = """
import binascii
from dmfw.crypto import kdf, hashes
for c in %r:
    print(binascii.hexlify(eval(c)).decode())
"""


def run_cases(cases, tmp_path, heap=None):
    prog = tmp_path / "cases.py"
    prog.write_text(PROG % (cases,))
    args = [micropython()] + (["-X", "heapsize=" + heap] if heap else []) + [str(prog)]
    p = subprocess.run(args, capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, MICROPYPATH=ROOT), cwd=ROOT)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout.split()


def expected(cases):
    from dmfw.crypto import kdf, hashes
    env = {"kdf": kdf, "hashes": hashes}
    return [eval(c, env).hex() for c in cases]


def test_hashes_and_pbkdf2_same_bytes_on_micropython(tmp_path):
    assert run_cases(CASES, tmp_path) == expected(CASES)
