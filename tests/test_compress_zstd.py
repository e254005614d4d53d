# The Zstandard decoder against the real zstd CLI (and mksquashfs -comp zstd):
# every level and framing option the CLI has decodes to the original bytes, and
# every corrupt, truncated or oversized stream is a CorruptData, nothing else.

import hashlib
import os
import random
import shutil
import struct
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from dmfw.compress import CorruptData, decompress as registry_decompress
from dmfw.compress.zstd import decompress
from dmfw.compress.zstd_entropy import xxh64
from shellrun import ROOT, micropython

needs_zstd = pytest.mark.skipif(shutil.which("zstd") is None and not os.environ.get("CI"),
                                reason="no zstd CLI")


def mix(n, seed=1):
    """Deterministic text + binary: words, packed integer tables, random bytes, runs."""
    r = random.Random(seed)
    vocab = ["".join(r.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(r.randint(2, 9)))
             for _ in range(800)]
    out = bytearray()
    while len(out) < n:
        k = r.random()
        if k < 0.6:
            out += (" ".join(r.choice(vocab) for _ in range(r.randint(5, 40))) + ".\n").encode()
        elif k < 0.8:
            base = r.randint(0, 1 << 20)
            out += b"".join(struct.pack("<IH", base + 16 * i, i & 0xFFFF)
                            for i in range(r.randint(4, 200)))
        elif k < 0.9:
            out += bytes(r.getrandbits(8) for _ in range(r.randint(1, 300)))
        else:
            out += bytes([r.getrandbits(8)]) * r.randint(1, 2000)
    return bytes(out[:n])


def zstd(data, *args):
    p = subprocess.run(["zstd", "-q", "-c"] + list(args), input=data, capture_output=True,
                       check=True)
    return p.stdout


def rand(n, seed=7):
    return random.Random(seed).randbytes(n)


INPUTS = {
    "empty": b"",
    "one": b"x",
    "random": rand(70000),
    "runs": b"a" * 300000 + b"b" * 5 + b"\x00" * 200000,
    "text": mix(150000, 3).replace(b"\x00", b" "),
    "mix": mix(200000),
}


@needs_zstd
@pytest.mark.parametrize("name", sorted(INPUTS))
@pytest.mark.parametrize("level", ["-1", "-3", "-19"])
def test_cli_levels(name, level):
    data = INPUTS[name]
    out = decompress(zstd(data, level), len(data))
    assert bytes(out) == data


@needs_zstd
@pytest.mark.parametrize("args", [
    ["--ultra", "-22"], ["--long"], ["-9", "--long=24"], ["--no-check"], ["--check"],
    ["--format=zstd"], ["--no-content-size"], ["-5", "--rsyncable"],
    ["-3", "--target-compressed-block-size=2000"], ["-T2", "-B524288"], ["--fast=5"],
])
def test_cli_options(args):
    data = mix(200000, 5) if args != ["-T2", "-B524288"] else mix(600000, 5)
    z = zstd(data, *args)
    assert decompress(z, len(data)) == data
    # Through the registry, as the file systems call it.
    assert registry_decompress("zstd", z, len(data)) == data


@needs_zstd
def test_stdin_stream_has_no_content_size():
    # zstd reading a pipe writes no content size and a full window: the output
    # buffer then grows, bounded by max_out.
    data = mix(100000, 9)
    z = subprocess.run("zstd -q -c --long=20 | cat", shell=True, input=data,
                       capture_output=True, check=True).stdout
    assert z[4] & 0xE0 == 0        # no content size, not single segment
    assert decompress(z, 1 << 20) == data
    with pytest.raises(CorruptData):
        decompress(z, len(data) - 1)


@needs_zstd
def test_window_beyond_128_mib_refused(tmp_path):
    # As `zstd -d` without --memory: a 256 MiB window (a pipe with --long=28) is
    # refused; from a file the CLI shrinks the window to the content and it decodes.
    data = mix(20000, 10)
    z = subprocess.run("zstd -q -c --long=28 | cat", shell=True, input=data,
                       capture_output=True, check=True).stdout
    with pytest.raises(CorruptData, match="window"):
        decompress(z, 1 << 20)
    f = tmp_path / "f"
    f.write_bytes(data)
    subprocess.run(["zstd", "-q", "--long=30", str(f)], check=True)
    assert decompress((tmp_path / "f.zst").read_bytes(), len(data)) == data


@needs_zstd
def test_one_mib_mix():
    data = mix(1 << 20, 11)
    for level in ("-3", "-19"):
        assert decompress(zstd(data, level), 1 << 20) == data


def skippable(payload, nibble=0):
    return struct.pack("<II", 0x184D2A50 | nibble, len(payload)) + payload


@needs_zstd
def test_concatenated_and_skippable_frames():
    a, b, c = mix(50000, 1), INPUTS["runs"][:70000], rand(3000)
    z = (skippable(b"hello", 0) + zstd(a, "-3") + zstd(b, "-19", "--no-check") +
         skippable(b"", 0xF) + zstd(b"", "-1") + zstd(c, "--no-content-size"))
    assert decompress(z, len(a + b + c)) == a + b + c
    # The bound is over all frames together.
    with pytest.raises(CorruptData):
        decompress(z, len(a + b + c) - 1)
    assert decompress(skippable(b"abc"), 10) == b""


@needs_zstd
def test_squashfs_blocks(tmp_path):
    if shutil.which("mksquashfs") is None:
        pytest.skip("no mksquashfs")
    src = tmp_path / "src"
    src.mkdir()
    data = mix(400000, 21)
    (src / "f").write_bytes(data)
    img = tmp_path / "img"
    subprocess.run(["mksquashfs", str(src), str(img), "-comp", "zstd", "-b", "131072",
                    "-no-fragments", "-no-xattrs", "-noappend", "-quiet"],
                   check=True, capture_output=True)
    raw = img.read_bytes()
    assert raw[20:22] == b"\x06\x00"          # compression id 6: zstd
    inode_table = struct.unpack_from("<Q", raw, 64)[0]
    # The file's blocks (one frame each, all compressed: the data is compressible)
    # lie back to back after the 96-byte superblock.
    blocks = raw[96:inode_table]
    assert decompress(blocks, len(data)) == data
    # The first metadata block: 2-byte header, high bit clear = compressed.
    hdr = struct.unpack_from("<H", raw, inode_table)[0]
    assert not hdr & 0x8000
    meta = decompress(raw[inode_table + 2:inode_table + 2 + (hdr & 0x7FFF)], 8192)
    assert 0 < len(meta) <= 8192
    with pytest.raises(CorruptData):
        decompress(raw[inode_table + 2:inode_table + 2 + (hdr & 0x7FFF)], len(meta) - 1)
    # Its first inode is the file (basic file, type 2): its block list gives each data
    # block, decoded alone within the block size as the squashfs reader does.
    assert struct.unpack_from("<HHHHII", meta, 0)[0] == 2
    start, _frag, _off, size = struct.unpack_from("<IIII", meta, 16)
    assert (start, size) == (96, len(data))
    nblocks = (size + 131071) // 131072
    pos, got = start, bytearray()
    for (bsize,) in struct.iter_unpack("<I", meta[32:32 + 4 * nblocks]):
        assert not bsize & (1 << 24)
        got += decompress(raw[pos:pos + bsize], 131072)
        pos += bsize
    assert got == data


# -- corrupt input: CorruptData, nothing else --------------------------------------------

def corrupt(z, max_out):
    """Decode z, which must fail with CorruptData (any other exception fails the test)."""
    with pytest.raises(CorruptData):
        decompress(z, max_out)


@needs_zstd
def test_every_truncation():
    for data, args in ((mix(3000, 2), ["-19"]), (mix(3000, 2), ["-3", "--no-check"]),
                       (b"q" * 5000, ["--no-content-size", "--no-check"])):
        z = zstd(data, *args)
        assert decompress(z, len(data)) == data
        for k in range(len(z)):
            corrupt(z[:k], len(data))


@needs_zstd
def test_bit_flips():
    data = mix(6000, 4)
    z = zstd(data, "-19")
    r = random.Random(5)
    failed = 0
    for _ in range(400):
        b = bytearray(z)
        i = r.randrange(len(b))
        b[i] ^= 1 << r.randrange(8)
        try:
            out = decompress(b, len(data) + 100)
        except CorruptData:
            failed += 1
            continue
        # With the checksum on, what decodes is the original.
        assert out == data
    assert failed > 300


@needs_zstd
def test_bombs():
    data = b"\x00" * 1000000
    for args in ([], ["--no-content-size"], ["--no-content-size", "--no-check"]):
        z = zstd(data, "-19", *args)
        assert len(z) < 100
        for max_out in (0, 1, 4096, 131072, len(data) - 1):
            corrupt(z, max_out)
        assert decompress(z, len(data)) == data


def frame(fhd, rest):
    return struct.pack("<I", 0xFD2FB528) + bytes([fhd]) + rest


def test_handmade_frames():
    # A raw block, last: header = size << 3 | 1.
    raw = struct.pack("<I", 3 << 3 | 1)[:3] + b"abc"
    assert decompress(frame(0x20, b"\x03" + raw), 3) == b"abc"      # single segment, FCS 3
    corrupt(frame(0x20, b"\x04" + raw), 10)                        # FCS disagrees
    corrupt(frame(0x28, b"\x03" + raw), 10)                        # reserved bit
    corrupt(frame(0x21, b"\x05\x03" + raw), 10)                    # dictionary 5
    assert decompress(frame(0x21, b"\x00\x03" + raw), 3) == b"abc"  # dictionary id 0
    corrupt(frame(0x00, b"\xf8" + raw), 10)                        # 2**41 window
    assert decompress(frame(0x00, b"\x00" + raw), 3) == b"abc"      # 1 KiB window
    big = struct.pack("<I", 1025 << 3 | 1)[:3] + b"x" * 1025
    corrupt(frame(0x00, b"\x00" + big), 5000)                      # block > window
    corrupt(frame(0x00, b"\x00" + struct.pack("<I", 3 << 3 | 7)[:3] + b"abc"), 10)  # type 3
    rle = struct.pack("<I", 1000 << 3 | 3)[:3] + b"z"
    assert decompress(frame(0x00, b"\x00" + rle), 1000) == b"z" * 1000
    corrupt(frame(0x00, b"\x00" + rle), 999)
    # Checksum flag: XXH64 low 32 bits.
    ck = struct.pack("<I", xxh64(b"abc") & 0xFFFFFFFF)
    assert decompress(frame(0x24, b"\x03" + raw + ck), 3) == b"abc"
    corrupt(frame(0x24, b"\x03" + raw + bytes(4)), 3)
    # A content size no block sequence could reach is refused before any allocation;
    # the most a 4-byte RLE block makes still decodes.
    corrupt(frame(0xE0, struct.pack("<Q", 1 << 40) + rle), 1 << 62)
    rle128 = struct.pack("<I", 131072 << 3 | 3)[:3] + b"m"
    assert decompress(frame(0xA0, struct.pack("<I", 131072) + rle128), 1 << 17) == b"m" * 131072
    corrupt(b"", 10)
    corrupt(b"\x28\xb5\x2f", 10)
    corrupt(b"\x29\xb5\x2f\xfd\x20\x00\x01\x00\x00", 10)
    corrupt(skippable(b"abcdef")[:-1], 10)


def test_xxh64_known_values():
    # Reference values of XXH64 (seed 0) from the xxHash project.
    assert xxh64(b"") == 0xEF46DB3751D8E999
    assert xxh64(b"a") == 0xD24EC4F1A98C6E5B
    assert xxh64(b"abc") == 0x44BC2CF5AD770999


@needs_zstd
def test_xxh64_matches_cli():
    # zstd --check stores the low 32 bits of XXH64 of the content last.
    for n in (0, 1, 7, 31, 32, 33, 100, 1000):
        data = rand(n, n)
        z = zstd(data, "--check", "--no-content-size")
        assert struct.unpack("<I", z[-4:])[0] == xxh64(data) & 0xFFFFFFFF


# -- fuzzing ------------------------------------------------------------------------------

FUZZ_SEEDS = {}


def fuzz_seed(args):
    key = tuple(args)
    if key not in FUZZ_SEEDS:
        data = mix(6000, 8) + b"y" * 500
        FUZZ_SEEDS[key] = (data, zstd(data, *args))
    return FUZZ_SEEDS[key]


@needs_zstd
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([("-3", "--no-check"), ("-19", "--no-check"), ("-1",)]),
       st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), min_size=1,
                max_size=4),
       st.integers(0, 1 << 20), st.booleans())
def test_fuzz_mutations(args, edits, cut, truncate):
    data, z = fuzz_seed(args)
    b = bytearray(z)
    for i, v in edits:
        b[i % len(b)] = v
    if truncate:
        b = b[:cut % len(b)]
    try:
        decompress(bytes(b), len(data) + 64)
    except CorruptData:
        pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(min_size=0, max_size=300))
def test_fuzz_random_frames(body):
    # Random bytes behind a valid magic and a few plausible frame headers.
    for fhd in (0x00, 0x20, 0x24):
        try:
            decompress(frame(fhd, b"\x40" + body), 1 << 16)
        except CorruptData:
            pass


# -- MicroPython -------------------------------------------------------------------------

MP_PROG = """
import sys, hashlib
from dmfw.compress.zstd import decompress
from dmfw.compress import CorruptData
for name in sys.argv[1:]:
    with open(name, "rb") as f:
        z = f.read()
    try:
        out = decompress(z, 1 << 20)
        h = hashlib.sha256(out).digest()
        print(name, len(out), "".join("%02x" % c for c in h))
    except CorruptData as e:
        print(name, "CorruptData")
# Mutations of small.zst (deterministic LCG): only CorruptData may escape.
with open([a for a in sys.argv if a.endswith("small.zst")][0], "rb") as f:
    z = f.read()
x = 12345
bad = 0
for _ in range(300):
    b = bytearray(z)
    for _ in range(3):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        b[x % len(b)] ^= 1 << (x >> 8) % 8
    try:
        decompress(bytes(b[:len(b) - x % 3]), 1 << 18)
    except CorruptData:
        bad += 1
print("mutations", bad > 250)
"""


@needs_zstd
@pytest.mark.micropython
@pytest.mark.skipif(micropython() is None and not os.environ.get("CI"),
                    reason="no micropython binary")
def test_micropython_decodes_cli_files(tmp_path):
    cases = {
        "mix3.zst": zstd(mix(200000, 12), "-3"),
        "mix19.zst": zstd(mix(100000, 13), "-19", "--no-content-size"),
        "runs.zst": zstd(INPUTS["runs"], "-1"),
        "rand.zst": zstd(rand(20000), "-3"),
        "multi.zst": zstd(b"abc" * 1000, "-3") + skippable(b"x") + zstd(mix(30000), "--ultra",
                                                                          "-22"),
        "bomb.zst": zstd(b"\x00" * 2000000, "-3"),
        "bad.zst": zstd(mix(30000), "-3")[:-9] + b"\x00" * 9,
        "small.zst": zstd(mix(8000, 14), "-19"),
    }
    names = []
    expect = []
    for name, z in sorted(cases.items()):
        path = tmp_path / name
        path.write_bytes(z)
        names.append(str(path))
        try:
            out = decompress(z, 1 << 20)
            expect.append("%s %d %s" % (path, len(out), hashlib.sha256(out).hexdigest()))
        except CorruptData:
            expect.append("%s CorruptData" % path)
    prog = tmp_path / "prog.py"
    prog.write_text(MP_PROG)
    # The unix port's default 2 MiB heap is too small for a 1 MiB output grown block by
    # block (fragmentation); a firmware decoding such files has a larger one.
    p = subprocess.run([micropython(), "-X", "heapsize=8M", str(prog)] + names, capture_output=True, text=True,
                       env=dict(os.environ, MICROPYPATH=ROOT), cwd=ROOT, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split("\n")[:-1] == expect + ["mutations True"]
    assert expect[0].endswith("CorruptData") and expect[1].endswith("CorruptData")
