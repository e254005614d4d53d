# The pieces every command shares: the one device resolver, the one option
# parser, the target registry, `--help` on every command, coreutils-style
# checksums over several devices, and self tests that survive freezing.

import hashlib
import os
import subprocess

import pytest

from shellrun import ROOT, micropython, new_shell, run
from dmfw.errors import DMError, UsageError


# -- the device resolver -------------------------------------------------

def test_resolver_names_one_device_every_way(disks):
    from dmfw.devices import resolve
    sh = new_shell(disks["specs"])
    run("dmsetup create m --table '0 16 linear /dev/vdb 8'", sh=sh)
    md = sh.dm.get("m")
    for spec in ("/dev/mapper/m", "/dev/dm-0", "dm-0", "253:0"):
        assert resolve(sh.devices, spec) is md, spec
    vda = sh.devices.get("vda")
    for spec in ("/dev/vda", "vda", "254:0"):
        assert resolve(sh.devices, spec) is vda, spec
    # A kernel node that is not the firmware's (the real dmsetup's
    # /dev/mapper/x in the guest) and a name no disk has: refused.
    for spec in ("/dev/mapper/notours", "/dev/dm-7", "/dev/vdq", "7:9"):
        with pytest.raises(DMError):
            resolve(sh.devices, spec)


def test_resolver_attaches_a_disk_the_kernel_shows(monkeypatch, tmp_path):
    # /sys/block/NAME/dev gives the kernel's numbers; the /dev node is
    # opened under them, read-only when the kernel says ro.
    from dmfw import compat
    from dmfw.devices import DeviceRegistry, resolve
    img = tmp_path / "vdc.img"
    img.write_bytes(b"\x01" * 8192)
    sysfs = {"/sys/block/vdc/dev": "254:32\n", "/sys/block/vdc/ro": "1\n"}
    monkeypatch.setattr(compat, "read_text", lambda p: sysfs.get(p))
    reg = DeviceRegistry()
    real = reg.attach

    def attach(devpath, filepath, readonly=False, devno=None, warn=None):
        assert filepath == "/dev/vdc"
        return real(devpath, str(img), readonly, devno, warn)

    reg.attach = attach
    dev = resolve(reg, "/sys/block/vdc")
    assert (dev.name, dev.major, dev.minor, dev.readonly) == ("vdc", 254, 32, True)
    assert resolve(reg, "/dev/vdc") is dev and resolve(reg, "254:32") is dev
    with pytest.raises(DMError):
        resolve(reg, "/dev/vdd")


def test_resolver_images_as_loop_devices_or_files(tmp_path):
    from dmfw.devices import DeviceRegistry, resolve
    img = tmp_path / "disk.img"
    img.write_bytes(bytes(range(256)) * 64)
    reg = DeviceRegistry()
    with pytest.raises(DMError):
        resolve(reg, str(img))                  # neither loop nor file wanted
    a = resolve(reg, str(img), image="loop")
    assert (a.name, a.major, a.minor, a.readonly) == ("loop0", 7, 0, True)
    assert resolve(reg, str(img), image="loop") is a     # losetup -j: the same one
    other = tmp_path / "other.img"
    other.write_bytes(b"\0" * 4096)
    assert resolve(reg, str(other), image="loop").name == "loop1"
    (tmp_path / "new.img").write_bytes(b"")
    f = resolve(reg, str(tmp_path / "new.img"), image="file", write=True)
    assert f.nr_sectors == 0 and not f.readonly and reg.find(f.name) is None
    with pytest.raises(DMError):
        resolve(reg, str(tmp_path / "missing.img"), image="file")


def test_no_command_resolves_devices_on_its_own():
    # One resolver: no shell command looks up /sys/block or walks the
    # registry for a free loop number by itself.
    base = os.path.join(ROOT, "dmfw")
    for dirpath, _dirs, files in os.walk(base):
        for f in files:
            path = os.path.join(dirpath, f)
            if not f.endswith(".py") or path.endswith(os.path.join("dmfw", "devices.py")):
                continue
            text = open(path).read()
            rel = os.path.relpath(path, ROOT)
            assert '"loop%d" % n' not in text, rel
            if rel.startswith(os.path.join("dmfw", "shell")) and not rel.endswith("__init__.py"):
                assert "/sys/block" not in text, rel
                assert "FileDevice(" not in text, rel


# -- the option parser ---------------------------------------------------

def _getopt(argv, spec, alias=None):
    from dmfw.shell.options import getopt
    return getopt(["cmd"] + argv, spec, alias or {}, "unknown %s", "needs %s",
                  "ambiguous %s", "no value for %s")


SPEC = {"-r": 0, "--readonly": 0, "-o": 1, "--options": 1, "--table": 1,
        "--tree": 0, "-v": 0}
ALIAS = {"-r": "--readonly", "-o": "--options"}


@pytest.mark.parametrize("argv, opts, args", [
    (["a", "-r", "b"], {"--readonly": 1}, ["a", "b"]),
    (["-rv", "x"], {"--readonly": 1, "-v": 1}, ["x"]),
    (["-ofoo", "-o", "bar"], {"--options": "bar"}, []),
    (["-rofoo"], {"--readonly": 1, "--options": "foo"}, []),
    (["--options=a,b", "--tab", "0 8 zero"], {"--options": "a,b", "--table": "0 8 zero"}, []),
    (["--tre"], {"--tree": 1}, []),
    (["-v", "--", "-r", "--tree"], {"-v": 1}, ["-r", "--tree"]),
    (["-", "x"], {}, ["-", "x"]),
])
def test_getopt_long_semantics(argv, opts, args):
    assert _getopt(argv, SPEC, ALIAS) == (opts, args)


@pytest.mark.parametrize("argv, msg", [
    (["--bogus"], "unknown --bogus"),
    (["-x"], "unknown -x"),
    (["--t"], "ambiguous --t"),
    (["--tree=1"], "no value for --tree"),
    (["--table"], "needs --table"),
    (["-o"], "needs -o"),
])
def test_getopt_refusals(argv, msg):
    with pytest.raises(UsageError) as e:
        _getopt(argv, SPEC, ALIAS)
    assert e.value.msg == msg


# -- target registry -----------------------------------------------------

def test_registry_lists_only_modules_that_exist():
    from dmfw.targets import _MODULES, target_class
    for name, mod in _MODULES:
        path = os.path.join(ROOT, *mod.split(".")) + ".py"
        assert os.path.exists(path), mod
        assert target_class(name).name == name


def test_a_target_that_fails_to_import_says_why(monkeypatch, tmp_path):
    import sys
    from dmfw import targets
    (tmp_path / "dmfw_broken_target.py").write_text("import no_such_module_here\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(targets, "_MODULES",
                        targets._MODULES + (("broken", "dmfw_broken_target"),))
    sys.modules.pop("dmfw_broken_target", None)
    r = run("dmsetup create b --table '0 8 broken'; dmsetup targets")
    assert "cannot load target type broken (dmfw_broken_target)" in r.err, r
    assert "no_such_module_here" in r.err and "unknown target type" not in r.err
    assert "broken" not in r.out
    r = run("dmsetup create c --table '0 8 nosuchtype'")
    assert "nosuchtype: unknown target type" in r.err


# -- --help everywhere, checksums as coreutils --------------------------

def test_every_command_prints_its_usage_on_help():
    from dmfw.shell.commands import COMMANDS
    for name in sorted(COMMANDS):
        if name in ("echo", "true", "false"):
            continue                # shell builtins: bash's ignore --help too
        # veritysetup's and cryptsetup's -h is --hash (their popt table): -? there.
        for flag in ("--help", "-?" if name in ("veritysetup", "cryptsetup") else "-h"):
            r = run("%s %s" % (name, flag))
            assert r.status == 0, (name, flag, r)
            assert "usage" in r.out.lower(), (name, flag, r)


def test_checksums_of_several_devices_as_coreutils(disks, tmp_path):
    f = tmp_path / "plain.bin"
    f.write_bytes(b"hello\n")
    sh = new_shell(disks["specs"])
    r = run("sha256sum /dev/vda %s /dev/vdb" % f, sh=sh)
    want = "".join("%s  %s\n" % (hashlib.sha256(d).hexdigest(), n) for n, d in (
        ("/dev/vda", disks["data"]["/dev/vda"]), (str(f), b"hello\n"),
        ("/dev/vdb", disks["data"]["/dev/vdb"])))
    assert (r.status, r.out, r.err) == (0, want, "")
    # A name that cannot be read is reported; the others are still summed.
    r = run("md5sum %s /nonexistent" % f, sh=sh)
    assert r.status == 1
    assert r.out == "%s  %s\n" % (hashlib.md5(b"hello\n").hexdigest(), f)
    assert r.err == "md5sum: /nonexistent: No such file or directory\n"
    r = run("sha1sum < %s" % f, sh=sh)
    assert r.out == "%s  -\n" % hashlib.sha1(b"hello\n").hexdigest()
    r = run("sha1sum /dev/vdb 8 16", sh=sh)
    assert r.out == "%s  /dev/vdb\n" % hashlib.sha1(
        disks["data"]["/dev/vdb"][8 * 512:24 * 512]).hexdigest()


# -- self tests that survive freezing -----------------------------------

BROKEN_LINEAR = (
    "import sys\n"
    "from dmfw.shell import Shell\n"
    "import dmfw.targets.linear as lin\n"
    "cls = lin.TARGETS[0]\n"
    "good = cls.read\n"
    "def bad(self, sector, mv):\n"
    "    good(self, sector, mv)\n"
    "    mv[0] ^= 1\n"
    "if %r:\n"
    "    cls.read = bad\n"
    "sh = Shell()\n"
    "sys.exit(sh.run(['selftest', 'linear']))\n")


@pytest.mark.micropython
@pytest.mark.skipif(micropython() is None and not os.environ.get("CI"),
                    reason="no micropython binary")
@pytest.mark.parametrize("broken", [False, True])
def test_selftest_fails_under_micropython_O3(broken):
    # -O3 is how micropython-lib freezes (opt=3): asserts are gone there,
    # so a check made with assert would pass silently.
    p = subprocess.run([micropython(), "-O3", "-c", BROKEN_LINEAR % broken],
                       capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, MICROPYPATH=ROOT), cwd=ROOT)
    if broken:
        assert p.returncode == 1, p
        assert "selftest: linear: FAILED (SelfTestFailure: linear read differs" in p.stdout
    else:
        assert p.returncode == 0 and "selftest: linear: ok" in p.stdout, p


def test_no_assert_in_firmware_code():
    for dirpath, _dirs, files in os.walk(os.path.join(ROOT, "dmfw")):
        for f in files:
            if f.endswith(".py"):
                for i, line in enumerate(open(os.path.join(dirpath, f))):
                    assert not line.lstrip().startswith("assert "), (f, i + 1)


def test_empty_lvm_reports_print_nothing(disks):
    # lvm2 2.03.31: no heading when there is no row, exit 0.
    sh = new_shell(disks["specs"])
    for cmd in ("lvs", "vgs", "pvs", "lvs -a -o +devices", "lvm lvs --segments"):
        r = run(cmd, sh=sh)
        assert (r.status, r.out, r.err) == (0, "", ""), (cmd, r)


def test_lvm_help_shape():
    r = run("lvs --help")
    assert r.out.startswith("  lvs - Display information about logical volumes\n\n")
    assert "\t[ -o|--options String ]\n" in r.out and r.status == 0
    r = run("lvm help vgchange")
    assert r.out.startswith("  vgchange - Change volume group attributes\n")
