"""An Infix-like test OS for the boot command, made by the real tools (host, CPython).

One squashfs per version, as Buildroot makes Infix's (gzip, 128 KiB blocks):

    /boot/bzImage                  the guest's own Debian kernel
    /boot/initrd.img               busybox, dmsetup and the dm-verity/squashfs modules;
                                   its /init re-creates the mapping from dm-mod.create=
                                   with `dmsetup create --concise` (Debian builds dm as
                                   a module, so the kernel itself cannot), mounts the
                                   verified root, prints a marker with the version,
                                   `dmsetup table` and /proc/cmdline, and powers off
    /boot/syslinux/syslinux.conf   what U-Boot's sysboot reads on Infix
    /loader/entries/infix.conf     a BLS type #1 entry (absent with bls=False)
    /etc/os-release                NAME=Infix VERSION_ID=<version>

wrapped as a signed DDI (veritysetup + openssl + sfdisk: images.ddi.dps_disk), and
installed two ways:

    lvm   one PV holding VG "infix", one LV per version named infix_<version>[+counter]
          (lvm2 on a loop device, metadata only; the DDI bytes are written at the LV's
          extents, which lvm2's own report gives)
    dps   one disk with the versions' root sets side by side, named by partition label

    python -m images.testos [lvm|dps]    build (or find cached) and print the folder
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

from images import fstree

MiB = 1 << 20
RECIPE_VERSION = 2
CMDLINE = "console=ttyS0 loglevel=3 panic=-1"

# name -> versions, newest last; each (version name, signer, with a BLS entry)
LAYOUTS = {
    "lvm": {"kind": "lvm", "versions": [
        ("infix_25.01.0", "good", True),
        ("infix_25.02.0+3", "good", True),
        ("infix_25.03.0", "wrong", True),
    ]},
    "dps": {"kind": "dps", "versions": [
        ("infix_24.12.0", "good", False),
        ("infix_25.01.0+1-2", "good", False),
    ]},
}

INITRD_BINARIES = ["usr/bin/busybox", "usr/sbin/dmsetup"]
INITRD_MODULES = ["virtio_pci", "virtio_blk", "dm_mod", "dm_verity", "squashfs"]

INIT = r"""#!/bin/sh
# The test OS's initrd: map the root as dm-mod.create= says, mount it, report.
/bin/busybox --install -s
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in virtio_blk dm_mod dm_verity squashfs; do modprobe "$m"; done
export DM_DISABLE_UDEV=1
mkdir -p /dev/mapper /newroot
spec=$(sed -n 's/.*dm-mod\.create="\([^"]*\)".*/\1/p' /proc/cmdline)
root=$(sed -n 's/.* root=\([^ ]*\).*/\1/p' /proc/cmdline)
for i in 1 2 3 4 5 6 7 8 9 10; do [ -e /sys/block/vda ] && break; sleep 0.2; done
if dmsetup create --concise "$spec" && mount -t squashfs -o ro "$root" /newroot; then
	. /newroot/etc/os-release
	echo "TESTOS-BOOTED version=$VERSION_ID root=$root"
else
	echo "TESTOS-FAILED"
fi
echo "TESTOS-TABLE-BEGIN"
dmsetup table
echo "TESTOS-TABLE-END"
echo "TESTOS-CMDLINE $(cat /proc/cmdline)"
echo "TESTOS-END"
sync
poweroff -f
"""


def cache_root():
    return os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
                        "dmfw")


def _guest():
    from images import guest
    return guest.ensure()


def recipe(name):
    g = _guest()
    from images import ddi
    with open(os.path.join(ddi.keys(), "good-cert.pem"), "rb") as f:
        cert = f.read()
    return {"layout": LAYOUTS[name], "guest": g.manifest["hash"], "init": INIT,
            "cmdline": CMDLINE, "binaries": INITRD_BINARIES, "modules": INITRD_MODULES,
            "version": RECIPE_VERSION, "cert": hashlib.sha256(cert).hexdigest()}


def _initrd(out):
    """The test OS's initrd (gzip'd cpio), from the guest's trixie root."""
    import gzip
    import io
    from images import guest as gmod
    from images.cpio import CpioWriter
    g = _guest()
    buf = io.BytesIO()
    w = CpioWriter(buf)
    gmod._add_layout(w)
    w.directory("newroot")
    gmod._add_binaries(w, g.rootfs, INITRD_BINARIES)
    gmod._add_modules(w, g.rootfs, g.manifest["kernel"], INITRD_MODULES)
    w.file("init", INIT.encode(), 0o755)
    w.close()
    with open(out, "wb") as f:
        f.write(gzip.compress(buf.getvalue(), 6, mtime=0))


def _squashfs(tmp, vname, initrd, bls):
    from dmfw.boot.version import parse_counter, split_version
    base = parse_counter(vname)[0]
    osname, ver = split_version(base)
    tree = os.path.join(tmp, "tree-" + vname)
    os.makedirs(os.path.join(tree, "boot/syslinux"))
    os.makedirs(os.path.join(tree, "etc"))
    shutil.copyfile(_guest().kernel, os.path.join(tree, "boot/bzImage"))
    shutil.copyfile(initrd, os.path.join(tree, "boot/initrd.img"))
    with open(os.path.join(tree, "etc/os-release"), "w") as f:
        f.write('NAME=Infix\nID=%s\nVERSION_ID=%s\nPRETTY_NAME="Infix %s"\n'
                % (osname, ver, ver))
    with open(os.path.join(tree, "boot/syslinux/syslinux.conf"), "w") as f:
        f.write("DEFAULT infix\n\nLABEL infix\n  MENU LABEL Infix %s\n"
                "  KERNEL /boot/bzImage\n  INITRD /boot/initrd.img\n"
                "  APPEND %s infix.slot=syslinux\n" % (ver, CMDLINE))
    if bls:
        os.makedirs(os.path.join(tree, "loader/entries"))
        with open(os.path.join(tree, "loader/entries/infix.conf"), "w") as f:
            f.write("title Infix %s\nversion %s\nlinux /boot/bzImage\n"
                    "initrd /boot/initrd.img\noptions %s\noptions infix.slot=bls\n"
                    % (ver, ver, CMDLINE))
    img = os.path.join(tmp, vname + ".squashfs")
    subprocess.run(["mksquashfs", tree, img, "-noappend", "-quiet", "-no-progress",
                    "-comp", "gzip", "-b", "128K", "-all-root", "-mkfs-time", "1700000000",
                    "-all-time", "1700000000", "-processors", "2"], check=True,
                   stdout=subprocess.DEVNULL)
    return img


def _ddi(tmp, vname, signer, initrd, bls):
    from images import ddi
    data = _squashfs(tmp, vname, initrd, bls)
    img = os.path.join(tmp, vname + ".ddi")
    layout = ddi.dps_disk(img, [{"data": data, "kind": "root", "arch": "x86-64",
                                 "signer": signer, "label": vname}], 512, tmp,
                          align=4 * MiB)
    return img, layout


def _lvm(tmp, ddis, out):
    """One PV, VG infix, an LV per DDI sized to it; the DDI written at the LV's
    extents as lvm2 reports them."""
    from images import lvm
    size = sum(os.path.getsize(p) for _, p in ddis)
    pv = os.path.join(out, "pv.img")
    with open(pv, "wb") as f:
        f.truncate(size + 8 * MiB)
    loop = subprocess.check_output(["losetup", "-f", "--show", pv], text=True).strip()
    try:
        conf = os.path.join(tmp, "lvmetc")
        os.mkdir(conf)
        with open(os.path.join(conf, "lvm.conf"), "w") as f:
            f.write(lvm._LVM_CONF % ('"a|^%s$|", ' % loop))
        env = lvm._env(conf)
        lvm._run("pvcreate %s" % loop, env)
        lvm._run("vgcreate -s 4m infix %s" % loop, env)
        for name, p in ddis:
            mb = os.path.getsize(p) // MiB
            lvm._run("lvcreate --driverloaded n -an -Zn -y -L %dm -n %s infix" % (mb, name),
                     env)
        rep = json.loads(lvm._run("lvs --reportformat json --units b --nosuffix -o "
                                  "lv_name,seg_pe_ranges,vg_extent_size infix", env))
        pe_start = int(json.loads(lvm._run(
            "pvs --reportformat json --units b --nosuffix -o pe_start", env)
        )["report"][0]["pv"][0]["pe_start"])
        lvs_text = lvm._run("lvs infix", env)
        lvm._run("vgchange --driverloaded n -an infix", env, check=False)
    finally:
        subprocess.run(["losetup", "-d", loop])
    where = {}
    for row in rep["report"][0]["lv"]:
        # One segment each: "<pv>:<first>-<last>"
        rng = row["seg_pe_ranges"].split(":")[-1]
        first = int(rng.split("-")[0])
        where[row["lv_name"]] = pe_start + first * int(row["vg_extent_size"])
    with open(pv, "r+b") as d:
        for name, p in ddis:
            with open(p, "rb") as s:
                d.seek(where[name])
                shutil.copyfileobj(s, d, MiB)
    return {"disks": ["pv.img"], "lv_offsets": where, "lvs": lvs_text}


def _build(name, out):
    lay = LAYOUTS[name]
    tmp = tempfile.mkdtemp(prefix="dmfw-testos-")
    try:
        initrd = os.path.join(tmp, "initrd.img")
        _initrd(initrd)
        meta = {"name": name, "versions": {}, "cmdline": CMDLINE}
        ddis = []
        for vname, signer, bls in lay["versions"]:
            img, layout = _ddi(tmp, vname, signer, initrd, bls)
            ddis.append((vname, img))
            meta["versions"][vname] = {"signer": signer, "bls": bls, "layout": layout,
                                       "root_hash": layout[1]["roothash"]}
        if lay["kind"] == "lvm":
            meta.update(_lvm(tmp, ddis, out))
        else:
            from images import ddi
            groups = []
            for vname, signer, bls in lay["versions"]:
                groups.append({"data": os.path.join(tmp, vname + ".squashfs"),
                               "kind": "root", "arch": "x86-64", "signer": signer,
                               "label": vname})
            layout = ddi.dps_disk(os.path.join(out, "disk.img"), groups, 512, tmp)
            meta["disks"] = ["disk.img"]
            meta["layout"] = layout
            for vname in meta["versions"]:
                meta["versions"][vname]["root_hash"] = [
                    p["roothash"] for p in layout
                    if p["label"] == vname and p["roothash"]][0]
        with open(os.path.join(_guest().path, "vmlinuz"), "rb") as f:
            meta["kernel_sha256"] = hashlib.sha256(f.read()).hexdigest()
        with open(initrd, "rb") as f:
            meta["initrd_sha256"] = hashlib.sha256(f.read()).hexdigest()
            meta["initrd_size"] = os.path.getsize(initrd)
        from images import ddi
        for who in ("good", "wrong"):
            shutil.copyfile(os.path.join(ddi.keys(), who + "-cert.pem"),
                            os.path.join(out, who + "-cert.pem"))
        with open(os.path.join(out, "meta.json"), "w") as f:
            json.dump(meta, f, indent=1, sort_keys=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def build(name="lvm"):
    """The folder of layout `name` (its disk image(s), meta.json, the certificates),
    built once under the image cache's lock."""
    key = hashlib.sha256(json.dumps(recipe(name), sort_keys=True).encode()).hexdigest()[:12]
    out = os.path.join(cache_root(), "testos-%s-%s" % (name, key))
    if os.path.exists(os.path.join(out, "meta.json")):
        return out
    with fstree._lock():
        if not os.path.exists(os.path.join(out, "meta.json")):
            tmp = out + ".tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            os.makedirs(tmp)
            _build(name, tmp)
            shutil.rmtree(out, ignore_errors=True)
            os.rename(tmp, out)
    return out


def load(name="lvm"):
    d = build(name)
    with open(os.path.join(d, "meta.json")) as f:
        meta = json.load(f)
    meta["dir"] = d
    meta["paths"] = [os.path.join(d, p) for p in meta["disks"]]
    return meta


if __name__ == "__main__":
    for n in sys.argv[1:] or sorted(LAYOUTS):
        print(build(n))
