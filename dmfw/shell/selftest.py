# In-firmware self tests (like barebox's `selftest`): exercise the mapper,
# the core targets and the hash functions on RAM disks, so a board can check
# its dmfw build without any disk attached.

from dmfw.blockdev import MemoryDevice
from dmfw.devices import DeviceRegistry
from dmfw.mapper import DeviceMapper
from dmfw.errors import DMError


class SelfTestFailure(Exception):
    pass


def check(ok, what):
    # Not `assert`: MicroPython drops asserts when compiled or frozen with
    # opt >= 1 (micropython-lib freezes with opt=3), and a self test that
    # cannot fail is worse than none.
    if not ok:
        raise SelfTestFailure(what)


def _pattern(n, seed):
    b = bytearray(n)
    x = seed
    for i in range(n):
        x = (x * 1103515245 + 12345) & 0x7fffffff
        b[i] = (x >> 16) & 255
    return b


def _mapper():
    reg = DeviceRegistry()
    reg.add(MemoryDevice(_pattern(64 * 512, 1), name="ram0", major=1, minor=0))
    reg.add(MemoryDevice(_pattern(64 * 512, 2), name="ram1", major=1, minor=1))
    return DeviceMapper(reg), reg


def t_linear():
    dm, reg = _mapper()
    dm.create("l", table="0 16 linear /dev/ram0 8")
    check(reg.get("/dev/mapper/l").read(0, 16) == reg.get("ram0").read(8, 16),
          "linear read differs from ram0 at offset 8")


def t_striped():
    dm, reg = _mapper()
    dm.create("s", table="0 32 striped 2 8 /dev/ram0 0 /dev/ram1 16")
    md = reg.get("/dev/mapper/s")
    a, b = reg.get("ram0"), reg.get("ram1")
    check(md.read(0, 8) == a.read(0, 8), "chunk 0 not from ram0")
    check(md.read(8, 8) == b.read(16, 8), "chunk 1 not from ram1")
    check(md.read(16, 8) == a.read(8, 8), "chunk 2 not from ram0")
    md.writeblocks(24, bytearray(b"\x5a" * 4096))
    check(b.read(24, 8) == bytearray(b"\x5a" * 4096),
          "striped write did not reach ram1")


def t_zero_error():
    dm, reg = _mapper()
    dm.create("z", table="0 8 zero\n8 8 error")
    md = reg.get("/dev/mapper/z")
    check(md.read(0, 8) == bytearray(4096), "zero target returned non-zero data")
    try:
        md.read(8, 1)
    except DMError:
        return
    raise SelfTestFailure("error target returned data")


def t_refusals():
    dm, reg = _mapper()
    for bad in ("0 8 linear /dev/ram0", "0 100 linear /dev/ram0 0",
                "8 8 zero", "0 9 striped 2 8 /dev/ram0 0 /dev/ram1 0"):
        try:
            dm.create("x", table=bad)
        except DMError:
            check(dm.find("x") is None, "refused table left a device: " + bad)
            continue
        raise SelfTestFailure("accepted: " + bad)


def t_stack_busy():
    dm, reg = _mapper()
    dm.create("lo", table="0 32 linear /dev/ram0 0")
    dm.create("hi", table="0 16 linear /dev/mapper/lo 16")
    check(reg.get("/dev/mapper/hi").read(0, 16) == reg.get("ram0").read(16, 16),
          "stacked linear read differs from ram0")
    try:
        dm.remove("lo")
    except DMError:
        return
    raise SelfTestFailure("removed a busy device")


def t_hashes():
    import hashlib
    import binascii
    check(binascii.hexlify(hashlib.sha256(b"abc").digest()) ==
          b"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
          "sha256(abc)")
    check(binascii.hexlify(hashlib.sha1(b"abc").digest()) ==
          b"a9993e364706816aba3e25717850c26c9cd0d89d", "sha1(abc)")


TESTS = [("linear", t_linear), ("striped", t_striped), ("zero-error", t_zero_error),
         ("table-refusals", t_refusals), ("stacking-busy", t_stack_busy),
         ("hashes", t_hashes)]


USAGE = "usage: selftest [-h] [TEST...]; tests: %s"


def main(sh, argv):
    names = [n for n, _fn in TESTS]
    if len(argv) > 1 and argv[1] in ("-h", "--help"):
        sh.write(USAGE % " ".join(names) + "\n")
        return 0
    want = argv[1:]
    for n in want:
        if n not in names:
            from dmfw.errors import UsageError
            raise UsageError("%s: no such test; tests: %s" % (n, " ".join(names)))
    passed = failed = 0
    for name, fn in TESTS:
        if want and name not in want:
            continue
        try:
            fn()
            passed += 1
            sh.write("selftest: %s: ok\n" % name)
        except Exception as e:      # a failing self test must not stop the rest
            failed += 1
            sh.write("selftest: %s: FAILED (%s: %s)\n" % (name, type(e).__name__, e))
    sh.write("selftest: %d passed, %d failed\n" % (passed, failed))
    return 1 if failed else 0
