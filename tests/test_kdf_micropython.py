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
    "blake2b.Blake2b(b'abc').digest()",
    "blake2b.digest(b'k' * 300, 17, b'key')",
    "blake2b.hprime(1024, b'h0')",
    "kdf.argon2('argon2id', b'\\x01' * 32, b'\\x02' * 16, 3, 32, 4, 32, None, b'\\x03' * 8,"
    " b'\\x04' * 12)",
    "kdf.argon2('argon2i', b'pw', b'saltsalt', 2, 64, 2, 32)",
    "kdf.argon2('argon2id', b'pw', b'saltsalt', 1, 64, 1, 64)",
    "kdf.argon2('argon2id', b'pw', b'saltsalt', 3, 64, 2, 32)",
    "kdf.argon2('argon2d', b'pw', b'saltsalt', 1, 136, 1, 32)",
]

PROG = """
import binascii
from dmfw.crypto import kdf, hashes, blake2b
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
    from dmfw.crypto import kdf, hashes, blake2b
    env = {"kdf": kdf, "hashes": hashes, "blake2b": blake2b}
    return [eval(c, env).hex() for c in cases]


def test_hashes_and_pbkdf2_same_bytes_on_micropython(tmp_path):
    assert run_cases(CASES, tmp_path) == expected(CASES)


def test_argon2_limit_on_micropython(tmp_path):
    # The default limit comes from the heap: a cost far over it is refused
    # with the message, not a MemoryError.
    prog = tmp_path / "limit.py"
    prog.write_text("from dmfw.crypto import kdf\n"
                    "lim = kdf.memory_limit_kib()\n"
                    "print(0 < lim < 64 * 1024)\n"
                    "try:\n"
                    "    kdf.argon2('argon2id', b'pw', b'saltsalt', 1, 1 << 20, 1, 32)\n"
                    "except kdf.KDFMemoryError as e:\n"
                    "    print(e.errno)\n"
                    "    print(e)\n")
    p = subprocess.run([micropython(), "-X", "heapsize=64M", str(prog)], capture_output=True,
                       text=True, timeout=60, env=dict(os.environ, MICROPYPATH=ROOT), cwd=ROOT)
    import re
    lines = p.stdout.splitlines()
    assert lines[:2] == ["True", "12"], p.stdout + p.stderr
    assert re.fullmatch(r"argon2id needs 1048576 KiB of memory, the limit is \d+ KiB", lines[2])
