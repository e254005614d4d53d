"""dmfw.boot.entries and dmfw.boot.fdt on a squashfs made by mksquashfs holding BLS
entries, UKIs built with objcopy over Debian's systemd-stub (systemd-boot-efi), U-Boot
extlinux/syslinux confs and device trees compiled by dtc. Section offsets are checked
against objdump, device-tree compatibles against fdtget."""
import os
import shutil
import subprocess

import pytest

from shellrun import ROOT, micropython

STUB = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub"
NEEDS = ("mksquashfs", "objcopy", "objdump", "dtc", "fdtget")

DTS = """/dts-v1/;
/ { model = "%s"; compatible = %s; #address-cells = <1>; #size-cells = <1>;
    memory@0 { device_type = "memory"; reg = <0 0x1000>; }; };
"""
OVERLAY = "/dts-v1/;\n/plugin/;\n&{/} { x = <1>; };\n"

BLS = {
    "loader/entries/infix-a.conf":
        "# comment\ntitle Infix A\nversion 1.2\nsort-key infix\nmachine-id 0123abcd\n"
        "linux /boot/vmlinuz-6.1.0-9\ninitrd /boot/initrd.img-6.1.0-9\n"
        "initrd /boot/extra.img\noptions root=/dev/dm-0  ro\noptions\tquiet\n"
        "devicetree /boot/dtbs/other.dtb\n"
        "devicetree-overlay /boot/o1.dtbo /boot/o2.dtbo\nunknown-key x\n",
    "loader/entries/infix-b+3-1.conf":
        "title Infix B\nversion 1.10\nsort-key infix\nlinux /boot/vmlinuz-6.1.0-10\n",
    "loader/entries/infix-c+0-3.conf":
        "title Infix C\nversion 9\nsort-key infix\nlinux /boot/vmlinuz-6.1.0-10\n",
    "loader/entries/nosk.conf": "linux /boot/vmlinuz-6.1.0-9\n",
    "loader/entries/quoted.conf":
        '  title\t"Quoted"\nlinux\t/boot/vmlinuz-6.1.0-9\r\narchitecture X64\n',
    "loader/entries/arm.conf": "linux /boot/vmlinuz-6.1.0-9\narchitecture aa64\n",
    "loader/entries/efi.conf": "title E\nefi /EFI/foo.efi\n",
    "loader/entries/nolinux.conf": "title Nothing\n",
    "loader/entries/missing.conf": "linux /boot/nope\n",
    "loader/entries/both.conf": "linux /boot/vmlinuz-6.1.0-9\nefi /EFI/x.efi\n",
    "loader/entries/auto-skip.conf": "linux /boot/vmlinuz-6.1.0-9\n",
    "loader/entries/.hidden.conf": "linux /boot/vmlinuz-6.1.0-9\n",
    "loader/entries/README": "not an entry\n",
    "boot/loader/entries/xb.conf": "linux /vmlinuz-6.1.0-10\n",
}

EXTLINUX = {
    "boot/extlinux/extlinux.conf":
        "# U-Boot sysboot\nTIMEOUT 30\nMENU TITLE Boot menu\nINCLUDE common.conf\n"
        "DEFAULT second\nPROMPT 0\n\n"
        "LABEL first\n  MENU LABEL First one\n  LINUX ../vmlinuz-6.1.0-10\n"
        "  INITRD /boot/initrd.img-6.1.0-10,/boot/extra.img\n  INITRD /boot/ignored\n"
        "  APPEND root=/dev/sda1 quiet\n  FDTDIR /boot/dtbs/\n"
        "label second\n  kernel /boot/vmlinuz-6.1.0-9\n"
        "  append console=ttyS0 initrd=/boot/initrd.img-6.1.0-9 rw\n"
        "  fdt /boot/dtbs/other.dtb\n  FdtOverlays /boot/o1.dtbo /boot/o2.dtbo\n"
        "LABEL fit\n  KERNEL /boot/image.itb#conf-1\n"
        "LABEL nokernel\n  APPEND x\n"
        "LABEL local\n  LOCALBOOT 0\n  KERNEL /boot/vmlinuz-6.1.0-9\n"
        "LABEL noinitrd\n  KERNEL /boot/vmlinuz-6.1.0-9\n  INITRD /boot/initrd.img,/boot/extra.img\n",
    "boot/extlinux/common.conf":
        "LABEL included\n  KERNEL /boot/vmlinuz-6.1.0-9\n  MENU DEFAULT\n",
    "boot/syslinux/syslinux.conf": "INCLUDE syslinux.conf\n",
    # parsed one by one in the tests
    "cfg/ends.conf": "LABEL a\n  KERNEL /k\n  SAY hello\n  APPEND ignored\nDEFAULT a\n"
                     "LABEL b\nKERNEL /k2\n",
    "cfg/menudefault.conf": "LABEL a\nKERNEL /k\nLABEL b\nKERNEL /k2\nMENU DEFAULT\n"
                            "LABEL c\nKERNEL /k3\nMENU DEFAULT\n",
    "cfg/fan.conf": "INCLUDE fan.conf\nINCLUDE fan.conf\n",
    # 2**10 INCLUDEs within the nesting limit
    "cfg/d9.conf": "LABEL leaf\nKERNEL /k\n",
}
EXTLINUX.update({"cfg/d%d.conf" % i: "INCLUDE d%d.conf\nINCLUDE d%d.conf\n" % (i + 1, i + 1)
                 for i in range(9)})
EXTLINUX.update({
    "cfg/noarg.conf": "LABEL a\nKERNEL /k\nAPPEND\n",
    "cfg/noinclude.conf": "INCLUDE /nothere.conf\nLABEL a\nKERNEL /k\n",
    "cfg/appendinitrd.conf": "LABEL a\nKERNEL k\nAPPEND initrd=rd.img\nINITRD later\n",
})

OSREL = 'NAME=Infix\nID=infix\nVERSION_ID=%s\nPRETTY_NAME="Infix %s"\n'


def _uki(tmp, out, version, kernel, initrd, cmdline, dtb=None):
    files = []
    for name, data in ((".osrel", (OSREL % (version, version)).encode()),
                       (".cmdline", cmdline), (".linux", kernel), (".initrd", initrd),
                       (".dtb", dtb)):
        if data is None:
            continue
        p = os.path.join(tmp, "sec" + name + version)
        with open(p, "wb") as f:
            f.write(data)
        files.append((name, p))
    vma = {".osrel": 0x20000, ".cmdline": 0x30000, ".dtb": 0x40000, ".linux": 0x2000000,
           ".initrd": 0x3000000}
    args = ["objcopy"]
    for name, p in files:
        args += ["--add-section", "%s=%s" % (name, p),
                 "--change-section-vma", "%s=0x%x" % (name, vma[name])]
    subprocess.run(args + [STUB, out], check=True)


def _objdump(path):
    """{section: (file offset, size)} as binutils reads the PE."""
    out = {}
    lines = subprocess.run(["objdump", "-h", path], check=True, capture_output=True,
                           text=True).stdout.splitlines()
    for line in lines:
        f = line.split()
        if len(f) == 7 and f[0].isdigit():
            out[f[1]] = (int(f[5], 16), int(f[2], 16))
    return out


def _dtc(src, out, *extra):
    subprocess.run(["dtc", "-q", "-I", "dts", "-O", "dtb", "-o", out] + list(extra) + [src],
                   check=True, input=None)


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    for t in NEEDS:
        if not shutil.which(t):
            pytest.skip("needs %s" % t)
    if not os.path.exists(STUB):
        pytest.skip("needs systemd-boot-efi")
    tmp = str(tmp_path_factory.mktemp("entries"))
    tree = os.path.join(tmp, "tree")
    data = {}

    def put(rel, content):
        p = os.path.join(tree, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(content if isinstance(content, bytes) else content.encode())
        data["/" + rel] = content
    for rel, text in list(BLS.items()) + list(EXTLINUX.items()):
        put(rel, text)
    for rel in ("k", "k2", "k3", "cfg/k", "cfg/rd.img"):
        put(rel, "x")
    for n in ("vmlinuz-6.1.0-9", "vmlinuz-6.1.0-10", "initrd.img-6.1.0-9",
              "initrd.img-6.1.0-10", "extra.img"):
        put("boot/" + n, ("%s contents\n" % n) * 3)
    # device trees: two boards of one SoC under a vendor dir, one other at the top
    os.makedirs(os.path.join(tree, "boot/dtbs/vendor"))
    for rel, model, comp in (("vendor/board-a", "Board A", '"vendor,board-a", "vendor,soc"'),
                             ("vendor/board-b", "Board B", '"vendor,board-b", "vendor,soc"'),
                             ("other", "Other", '"other,x"')):
        src = os.path.join(tmp, rel.replace("/", "_") + ".dts")
        with open(src, "w") as f:
            f.write(DTS % (model, comp))
        _dtc(src, os.path.join(tree, "boot/dtbs", rel + ".dtb"))
    put("boot/dtbs/vendor/broken.dtb", b"\xd0\x0d\xfe\xed" + b"\xff" * 60)
    ov = os.path.join(tmp, "o.dts")
    with open(ov, "w") as f:
        f.write(OVERLAY)
    for n in ("o1", "o2"):
        _dtc(ov, os.path.join(tree, "boot", n + ".dtbo"), "-@")
    # UKIs
    ukis = os.path.join(tree, "boot/EFI/Linux")
    os.makedirs(ukis)
    k1, i1 = os.urandom(5000), os.urandom(3001)
    k2, i2 = os.urandom(7000), os.urandom(1003)
    with open(os.path.join(tree, "boot/dtbs/other.dtb"), "rb") as f:
        dtb = f.read()
    _uki(tmp, os.path.join(ukis, "infix-25.01.efi"), "25.01", k1, i1,
         b"console=ttyS0 quiet \n\0")
    _uki(tmp, os.path.join(ukis, "infix-25.02+2.efi"), "25.02", k2, i2,
         b"root=PARTLABEL=x\n", dtb)
    with open(os.path.join(ukis, "infix-25.01.efi"), "rb") as f:
        whole = f.read()
    with open(os.path.join(ukis, "broken.efi"), "wb") as f:
        f.write(whole[:300])
    with open(os.path.join(ukis, "notpe.efi"), "wb") as f:
        f.write(b"#!/bin/sh\n")
    # /extlinux/extlinux.conf -> the same file: its labels are listed once
    os.makedirs(os.path.join(tree, "extlinux"))
    os.symlink("../boot/extlinux/extlinux.conf", os.path.join(tree, "extlinux/extlinux.conf"))
    img = os.path.join(tmp, "boot.squashfs")
    subprocess.run(["mksquashfs", tree, img, "-noappend", "-quiet", "-no-progress",
                    "-all-root", "-processors", "1"], check=True, stdout=subprocess.DEVNULL)
    from dmfw.blockdev import FileDevice
    from dmfw.fs import open_fs
    fs = open_fs(FileDevice(img, readonly=True))
    return {"fs": fs, "img": img, "tree": tree, "k1": k1, "i1": i1, "k2": k2, "i2": i2,
            "dtb": dtb, "objdump": {n: _objdump(os.path.join(ukis, n))
                                    for n in ("infix-25.01.efi", "infix-25.02+2.efi")}}


def _find(image, arch="x86-64", compatible=None, fdtfile=None):
    from dmfw.boot.entries import find_entries
    warns = []
    es = find_entries(image["fs"], arch, compatible, warns.append, fdtfile=fdtfile)
    return es, warns


def test_order_of_kinds_and_ids(image):
    es, _ = _find(image, compatible=["vendor,board-b"])
    assert [(e.kind, e.id) for e in es] == [
        ("bls", "infix-b"), ("bls", "infix-a"), ("bls", "xb"), ("bls", "quoted"),
        ("bls", "nosk"), ("bls", "infix-c"),
        ("uki", "infix-25.02.efi"), ("uki", "infix-25.01.efi"),
        ("extlinux", "second"), ("extlinux", "included"), ("extlinux", "first"),
        ("plain", "plain")]


def test_bls_fields(image):
    es, _ = _find(image)
    e = {x.id: x for x in es if x.kind == "bls"}
    a = e["infix-a"]
    assert (a.title, a.version, a.sort_key, a.machine_id) == ("Infix A", "1.2", "infix",
                                                              "0123abcd")
    assert a.source == "/loader/entries/infix-a.conf"
    assert a.kernel.name() == "/boot/vmlinuz-6.1.0-9"
    assert [b.name() for b in a.initrds] == ["/boot/initrd.img-6.1.0-9", "/boot/extra.img"]
    assert a.options == "root=/dev/dm-0  ro quiet"      # joined with one space, as systemd
    assert a.devicetree.name() == "/boot/dtbs/other.dtb"
    assert [b.name() for b in a.overlays] == ["/boot/o1.dtbo", "/boot/o2.dtbo"]
    assert (a.left, a.done) == (None, None)
    assert (e["infix-b"].left, e["infix-b"].done) == (3, 1)
    assert (e["infix-c"].left, e["infix-c"].done) == (0, 3)
    assert e["quoted"].title == "Quoted" and e["quoted"].architecture == "X64"
    # /boot/loader/entries: paths relative to /boot
    assert e["xb"].kernel.name() == "/boot/vmlinuz-6.1.0-10"
    assert e["xb"].source == "/boot/loader/entries/xb.conf"
    assert a.kernel.read(image["fs"], 1 << 20) == image_file(image, a.kernel.path)


def image_file(image, path):
    with open(os.path.join(image["tree"], path.lstrip("/")), "rb") as f:
        return f.read()


def test_bls_warnings_name_the_file(image):
    _, warns = _find(image)
    bls = sorted(w for w in warns if w.startswith("/loader"))
    assert bls == [
        "/loader/entries/both.conf:2: 'efi' after 'linux': not a valid entry",
        "/loader/entries/efi.conf: 'efi' entries are not booted by dmfw (only 'linux')",
        "/loader/entries/missing.conf: linux /boot/nope: no such file",
        "/loader/entries/nolinux.conf: no 'linux' line: not a bootable entry"]


def test_architecture_filter(image):
    es, _ = _find(image, arch="arm64")
    assert [e.id for e in es if e.kind == "bls"] == ["infix-b", "infix-a", "xb", "nosk",
                                                     "arm", "infix-c"]
    assert not [e for e in es if e.kind == "uki"]        # the UKIs are x64
    es, _ = _find(image, arch=None)
    assert {"arm", "quoted"} <= {e.id for e in es}


def test_uki_sections_match_objdump(image):
    es, warns = _find(image)
    u = {e.id: e for e in es if e.kind == "uki"}
    fs = image["fs"]
    new, old = u["infix-25.02.efi"], u["infix-25.01.efi"]
    assert (new.left, new.done, old.left) == (2, None, None)
    assert (new.title, new.version, new.sort_key, new.architecture) == (
        "Infix 25.02", "25.02", "infix", "x64")
    assert old.options == "console=ttyS0 quiet"
    assert new.options == "root=PARTLABEL=x"
    assert new.source == "/boot/EFI/Linux/infix-25.02+2.efi"
    for e, fname, k, i in ((new, "infix-25.02+2.efi", image["k2"], image["i2"]),
                           (old, "infix-25.01.efi", image["k1"], image["i1"])):
        od = image["objdump"][fname]
        assert (e.kernel.offset, e.kernel.size) == od[".linux"]
        assert (e.initrds[0].offset, e.initrds[0].size) == od[".initrd"]
        assert e.kernel.name() == "/boot/EFI/Linux/%s:.linux" % fname
        assert e.kernel.read(fs, 1 << 20) == k
        assert e.initrds[0].read(fs, 1 << 20) == i
    assert new.devicetree.read(fs, 1 << 20) == image["dtb"]
    assert old.devicetree is None
    assert sorted(w for w in warns if "/EFI/" in w) == [
        "/boot/EFI/Linux/broken.efi: PE section table past the end of the file",
        "/boot/EFI/Linux/notpe.efi: not a PE file (no MZ)"]
    from dmfw.errors import DMError
    with pytest.raises(DMError):
        new.kernel.read(fs, 100)


def test_extlinux_as_uboot(image):
    es, warns = _find(image, compatible=["vendor,board-b", "vendor,soc"])
    x = {e.id: e for e in es if e.kind == "extlinux"}
    first, second = x["first"], x["second"]
    assert first.title == "First one" and second.title == "second"
    assert first.source == "/boot/extlinux/extlinux.conf"
    # relative to the config file's directory, as pxe_setup_ctx's bootdir
    assert first.kernel.name() == "/boot/extlinux/../vmlinuz-6.1.0-10"
    assert first.kernel.read(image["fs"], 4096) == image_file(image, "/boot/vmlinuz-6.1.0-10")
    assert [b.name() for b in first.initrds] == ["/boot/initrd.img-6.1.0-10",
                                                 "/boot/extra.img"]
    assert first.options == "root=/dev/sda1 quiet"
    assert first.devicetree.name() == "/boot/dtbs/vendor/board-b.dtb"
    assert [b.name() for b in second.initrds] == ["/boot/initrd.img-6.1.0-9"]
    assert second.options == "console=ttyS0 initrd=/boot/initrd.img-6.1.0-9 rw"
    assert second.devicetree.name() == "/boot/dtbs/other.dtb"
    assert [b.name() for b in second.overlays] == ["/boot/o1.dtbo", "/boot/o2.dtbo"]
    ext = sorted(w for w in warns if w.startswith(("/boot/extlinux", "/boot/syslinux",
                                                    "/boot/dtbs")))
    assert ext == [
        "/boot/dtbs/vendor/broken.dtb: device tree: blocks outside the 4294967295-byte tree",
        "/boot/extlinux/extlinux.conf:20: label fit: /boot/image.itb#conf-1 is a FIT "
        "configuration: not booted by dmfw",
        "/boot/extlinux/extlinux.conf:22: label nokernel: no kernel given",
        "/boot/extlinux/extlinux.conf:27: label noinitrd: /boot/initrd.img: no such file",
        "/boot/syslinux/syslinux.conf: not used: /boot/syslinux/syslinux.conf: maximum "
        "nesting (16) of INCLUDE exceeded"]


def test_fdtdir_choice(image):
    def dt(**kw):
        es, warns = _find(image, **kw)
        e = [e for e in es if e.id == "first"][0]
        return (e.devicetree.name() if e.devicetree else None), [
            w for w in warns if "FDTDIR" in w]
    # the board's most specific string wins; then the SoC's (first .dtb in order)
    assert dt(compatible=["vendor,board-a", "vendor,soc"])[0] == "/boot/dtbs/vendor/board-a.dtb"
    assert dt(compatible=["nope,x", "vendor,soc"])[0] == "/boot/dtbs/vendor/board-a.dtb"
    assert dt(compatible=["other,x"])[0] == "/boot/dtbs/other.dtb"
    # nothing matches: U-Boot's $fdtfile under FDTDIR, else none and a warning
    assert dt(compatible=["nope,x"], fdtfile="vendor/board-b.dtb")[0] == \
        "/boot/dtbs/vendor/board-b.dtb"
    assert dt(compatible=["nope,x"]) == (None, [
        "/boot/extlinux/extlinux.conf: label first: no device tree under FDTDIR "
        "/boot/dtbs for nope,x"])
    assert dt(compatible=None, fdtfile="missing.dtb") == (None, [
        "/boot/extlinux/extlinux.conf: label first: FDTDIR /boot/dtbs has no missing.dtb"])


def _labels(image, rel):
    from dmfw.boot.entries import extlinux
    warns = []
    es = extlinux.parse(image["fs"], rel, warn=warns.append)
    return [(e.id, e.kernel.name(), e.options) for e in es], warns


def test_extlinux_label_rules(image):
    from dmfw.boot.entries.extlinux import ConfigError
    # An unknown keyword ends the label: APPEND after it is a top-level line (ignored).
    assert _labels(image, "/cfg/ends.conf")[0] == [("a", "/k", ""), ("b", "/k2", "")]
    # The first MENU DEFAULT names the default label.
    assert [x[0] for x in _labels(image, "/cfg/menudefault.conf")[0]] == ["b", "a", "c"]
    # APPEND's initrd= counts when no INITRD came before it; relative to /cfg/.
    from dmfw.boot.entries import extlinux
    e = extlinux.parse(image["fs"], "/cfg/appendinitrd.conf")[0]
    assert [b.name() for b in e.initrds] == ["/cfg/rd.img"] and e.kernel.name() == "/cfg/k"
    with pytest.raises(ConfigError, match="maximum nesting"):
        _labels(image, "/cfg/fan.conf")
    with pytest.raises(ConfigError, match="more than 64 INCLUDEs"):
        _labels(image, "/cfg/d0.conf")
    with pytest.raises(ConfigError, match="noarg.conf:3: expected kernel arguments"):
        _labels(image, "/cfg/noarg.conf")
    with pytest.raises(ConfigError, match="/nothere.conf: no such file"):
        _labels(image, "/cfg/noinclude.conf")


def test_plain_is_the_newest_debian_kernel(image):
    es, _ = _find(image)
    p = es[-1]
    assert p.kind == "plain" and p.kernel.name() == "/boot/vmlinuz-6.1.0-10"
    assert [b.name() for b in p.initrds] == ["/boot/initrd.img-6.1.0-10"]
    assert p.options == ""


def test_fdt_root_matches_fdtget(image):
    from dmfw.boot import fdt
    for rel in ("vendor/board-a", "other"):
        path = os.path.join(image["tree"], "boot/dtbs", rel + ".dtb")
        want = subprocess.run(["fdtget", "-t", "s", path, "/", "compatible"], check=True,
                              capture_output=True, text=True).stdout.split()
        model = subprocess.run(["fdtget", "-t", "s", path, "/", "model"], check=True,
                               capture_output=True, text=True).stdout.strip()
        with open(path, "rb") as f:
            assert fdt.parse(f.read()) == (want, model)
        assert fdt.read_root(image["fs"], "/boot/dtbs/%s.dtb" % rel) == (want, model)


@pytest.mark.micropython
def test_micropython_find_entries(image):
    if micropython() is None:
        pytest.skip("no micropython")
    prog = ("from dmfw.blockdev import FileDevice\nfrom dmfw.fs import open_fs\n"
            "from dmfw.boot.entries import find_entries\n"
            "w = []\nfs = open_fs(FileDevice(%r, readonly=True))\n"
            "for e in find_entries(fs, 'x86-64', ['vendor,board-b'], w.append):\n"
            "    print(e.kind, e.id, e.kernel.name(), e.kernel.size_in(fs),"
            " [b.name() for b in e.initrds], e.devicetree and e.devicetree.name(),"
            " e.options)\n"
            "print(len(w))\n" % image["img"])
    p = subprocess.run([micropython(), "-c", prog], capture_output=True, text=True,
                       env=dict(os.environ, MICROPYPATH=ROOT), cwd=ROOT, timeout=120)
    es, warns = _find(image, compatible=["vendor,board-b"])
    fs = image["fs"]
    want = ["%s %s %s %d %s %s %s" % (e.kind, e.id, e.kernel.name(), e.kernel.size_in(fs),
                                      [b.name() for b in e.initrds],
                                      e.devicetree and e.devicetree.name(), e.options)
            for e in es] + [str(len(warns))]
    assert p.stdout.splitlines() == want, p.stderr
