"""BLS type #1 and type #2 (UKI) entries: dmfw.boot.entries.find_entries against
the real bootctl (Debian's systemd-boot; its bootspec.c boot_entry_compare mirrors
systemd-boot's) on the same entries: bootctl reads them from a tmpfs ESP, dmfw from a
squashfs made of the same tree by mksquashfs. UKIs are Debian's systemd-stub with
sections added by objcopy."""
import json
import os
import random
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("bootctl") or not shutil.which("mksquashfs"),
    reason="needs root (a tmpfs ESP for bootctl), bootctl (systemd-boot), mksquashfs")

# name -> (sort-key, machine-id, version); None leaves the key out. bootctl 252
# ignores file names with "~" or "^" (only [A-Za-z0-9+._-]), so those are in versions.
FIXED = {
    "fedora-6.1": ("fedora", "aaa", "6.1"),
    "fedora-6.10": ("fedora", "aaa", "6.10"),
    "fedora-6.9+2-1": ("fedora", "aaa", "6.9"),
    "fedora-rc": ("fedora", "aaa", "6.10~rc1"),
    "fedora-other": ("fedora", "bbb", "9"),
    "fedora-nomid": ("fedora", None, "1"),
    "fedora-nover": ("fedora", "aaa", None),
    "debian": ("debian", None, "12"),
    "arch-1.0": ("arch", None, "1.0"),
    "arch-1.0p1": ("arch", None, "1.0"),
    "old": (None, None, None),
    "old-1": (None, None, None),
    "old-10": (None, None, "99"),
    "old-2": (None, "zzz", None),
    "old-1.0rc": (None, None, None),
    "bad+0-3": ("aaa", None, "99"),
    "bad-old+0": (None, None, None),
    "good+5-0": ("fedora", "aaa", "6.1"),
}


def _entries():
    rnd = random.Random(14)
    out = dict(FIXED)
    alpha = "0129az~^.-_"
    for i in range(24):
        ver = "".join(rnd.choice(alpha) for _ in range(rnd.randint(1, 7)))
        sk = rnd.choice(("r", "r", "s", None))
        name = "r%02d%s" % (i, rnd.choice(("", "+0", "+1-1", "+2")))
        out[name] = (sk, rnd.choice((None, "m1")), ver)
    return out


def _write(root, entries, ukis=None):
    for rel, data in (ukis or {}).items():
        os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
        shutil.copyfile(data, os.path.join(root, rel))
    os.makedirs(os.path.join(root, "loader/entries"))
    with open(os.path.join(root, "k"), "wb") as f:
        f.write(b"kernel")
    for name, (sk, mid, ver) in entries.items():
        lines = ["title %s" % name]
        for k, v in (("sort-key", sk), ("machine-id", mid), ("version", ver)):
            if v is not None:
                lines.append("%s %s" % (k, v))
        lines.append("linux /k")
        with open(os.path.join(root, "loader/entries", name + ".conf"), "w") as f:
            f.write("\n".join(lines) + "\n")


def _bootctl_json(tmp, entries, ukis=None):
    esp = os.path.join(tmp, "esp")
    os.makedirs(esp)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "dmfw-esp", esp], check=True)
    try:
        _write(esp, entries, ukis)
        env = dict(os.environ, SYSTEMD_RELAX_ESP_CHECKS="1")
        out = subprocess.run(["bootctl", "--esp-path=" + esp, "--no-variables",
                              "--no-pager", "list", "--json=short"], env=env,
                             check=True, capture_output=True, text=True).stdout
    finally:
        subprocess.run(["umount", esp], check=True)
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def _bootctl(tmp, entries):
    return [(r["id"], r.get("triesLeft"), r.get("triesDone"))
            for r in _bootctl_json(tmp, entries)]


def _find(tmp, entries, ukis=None):
    from dmfw.blockdev import FileDevice
    from dmfw.fs import open_fs
    from dmfw.boot.entries import find_entries
    tree = os.path.join(tmp, "tree")
    _write(tree, entries, ukis)
    img = os.path.join(tmp, "bls.squashfs")
    subprocess.run(["mksquashfs", tree, img, "-noappend", "-quiet", "-no-progress",
                    "-all-root"], check=True, stdout=subprocess.DEVNULL)
    warns = []
    got = find_entries(open_fs(FileDevice(img, readonly=True)), None, warn=warns.append)
    assert not warns
    return got


def _dmfw(tmp, entries):
    return [(e.id + ".conf", e.left, e.done) for e in _find(tmp, entries) if e.kind == "bls"]


def test_bls_order_as_bootctl(tmp_path):
    entries = _entries()
    want = _bootctl(str(tmp_path), entries)
    assert len(want) == len(entries)
    assert _dmfw(str(tmp_path), entries) == want


STUB = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub"
# file name -> (.osrel, .cmdline or None)
UKIS = {
    "infix-25.01.efi": ('ID=infix\nVERSION_ID=25.01\nPRETTY_NAME="Infix 25.01"\n',
                        "console=ttyS0 root=/dev/dm-0\n\0"),
    "infix-25.02+2.efi": ("ID=infix\nIMAGE_ID=infix-img\nIMAGE_VERSION=25.02.1\n"
                          "VERSION_ID=25.02\nNAME=Infix\n", "quiet"),
    "infix-25.10+0-3.efi": ('ID=infix\nIMAGE_ID=infix-img\nIMAGE_VERSION=25.10\n'
                            'PRETTY_NAME="Infix bad"\n', None),
    "other.efi": ("ID=other\nVERSION=7 (Seven)\nNAME='Other OS'\n", "a=1  b=2\t\n"),
    "Zeta-1.efi": ("NAME=zeta\nBUILD_ID=b7\n", ""),
}


def _uki(tmp, name, osrel, cmdline):
    args = ["objcopy"]
    for sec, data, vma in ((".osrel", osrel, 0x20000), (".cmdline", cmdline, 0x30000),
                           (".linux", "kernel " + name, 0x2000000),
                           (".initrd", "initrd " + name, 0x3000000)):
        if data is None:
            continue
        p = os.path.join(tmp, name + sec)
        with open(p, "w") as f:
            f.write(data)
        args += ["--add-section", "%s=%s" % (sec, p),
                 "--change-section-vma", "%s=0x%x" % (sec, vma)]
    out = os.path.join(tmp, name)
    subprocess.run(args + [STUB, out], check=True)
    return out


@pytest.mark.skipif(not os.path.exists(STUB) or not shutil.which("objcopy"),
                    reason="needs systemd-boot-efi's linuxx64.efi.stub and objcopy")
def test_uki_fields_and_order_as_bootctl(tmp_path):
    tmp = str(tmp_path)
    ukis = {"EFI/Linux/" + n: _uki(tmp, n, o, c) for n, (o, c) in UKIS.items()}
    want = [r for r in _bootctl_json(tmp, {}, ukis) if r.get("type") != "type1"]
    got = [e for e in _find(tmp, {}, ukis) if e.kind == "uki"]
    assert len(want) == len(UKIS)
    assert [(e.id, e.title, e.version, e.sort_key, e.options, e.left, e.done)
            for e in got] == \
        [(r["id"], r.get("title"), r.get("version"), r.get("sortKey"), r.get("options") or "",
          r.get("triesLeft"), r.get("triesDone")) for r in want]
