"""Reference LVM2 physical volumes made by the real lvm2 (host, CPython only).

The host kernel has no device-mapper, so lvm2 works on loop devices with
activation off: only metadata is written. lvm2's own reports (segments, PE
ranges, default `pvs`/`vgs`/`lvs` text) are saved beside the images, so tests
compare dmfw against lvm2 rather than against dmfw's own reading.

    python -m images.lvm [ref|bench]     build (or find cached) and print dir

Images are cached under ${XDG_CACHE_HOME:-~/.cache}/dmfw/lvm-NAME-HASH, the
hash covering the recipe, so editing a recipe makes a new set.
"""

import fcntl
import hashlib
import json
import os
import shutil
import struct
import subprocess
import tempfile

MiB = 1 << 20
# Bump when what is saved beside the images changes.
_VERSION = b"3"

# Each recipe: PV image sizes (MiB), whether to fill the data area with
# pseudo-random bytes (so reads through an LV mean something), and lvm
# command lines with {pvN} placeholders for the loop devices. Many small
# edits on a 32 KiB metadata area make the ring buffer wrap several times.
_GROW = []
for _i in range(12):
    _GROW.append("lvextend -l +1 vg-one/grow-me {pv%d}" % (_i % 3))
for _i in range(3):
    _GROW.append("lvreduce -f -l -1 vg-one/grow-me")
for _i in range(8):
    _GROW.append("lvrename vg-one str-3 str-3-r%d" % _i)
    _GROW.append("lvrename vg-one str-3-r%d str-3" % _i)

RECIPES = {
    "ref": {
        "sizes": [64, 64, 48, 40, 40],
        "fill": False,
        "steps": [
            "pvcreate --metadatasize 32k --dataalignment 4k --pvmetadatacopies 2 {pv0}",
            "pvcreate --metadatasize 32k --dataalignment 4k {pv1}",
            "pvcreate {pv2}",
            "pvcreate {pv3} {pv4}",
            "vgcreate -s 1m vg-one {pv0} {pv1} {pv2}",
            "lvcreate -l 4 -n lin vg-one {pv0}",
            "lvcreate -l 6 -i 2 -I 64k -n str2 vg-one",
            "lvcreate -l 9 -i 3 -I 4k -n str-3 vg-one",
            "lvcreate -l 4 -i 2 -I 512k -n str512 vg-one {pv1} {pv2}",
            "lvcreate -l 3 -n gone vg-one {pv0}",
            "lvcreate -l 2 -n grow-me vg-one {pv0}",
            "lvremove -f vg-one/gone",
        ] + _GROW + [
            "lvextend -l +4 vg-one/str2",
            "lvrename vg-one grow-me grown-lv",
            "lvcreate -l 5 -i 3 -I 16k -n s3x vg-one",
            "vgcreate gvg {pv3} {pv4}",
            "lvcreate -L 8m -n lin gvg {pv3}",
            "lvcreate -L 8m -i 2 -I 64k -n str gvg",
            "lvcreate -L 8m -n span gvg {pv4}",
            "lvextend -L +16m gvg/span {pv3}",
        ],
        # Then rename back and forth with growing names (the text changes
        # length, so the 512-aligned starts drift) until the committed copy
        # on pv0's first area wraps around the end of the ring.
        "wrap": ("lvrename vg-one lin lin-{x}", "lvrename vg-one lin-{x} lin"),
    },
    "bench": {
        "sizes": [48] * 8,
        "fill": True,
        "steps": [
            "pvcreate {pv0} {pv1} {pv2} {pv3} {pv4} {pv5} {pv6} {pv7}",
            "vgcreate -s 4m bvg {pv0} {pv1} {pv2} {pv3} {pv4} {pv5} {pv6} {pv7}",
            "lvcreate -l 48 -i 8 -I 64k -n str bvg",
            "lvcreate -l 40 -n lin bvg",
        ],
    },
}

_LVM_CONF = """\
devices {
    filter = [ %s"r|.*|" ]
    obtain_device_list_from_udev = 0
    hints = "none"
    use_devicesfile = 0
    md_component_detection = 0
}
global { activation = 0 }
activation { udev_sync = 0 udev_rules = 0 monitoring = 0 }
backup { backup = 0 archive = 0 }
"""


def cache_root():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(base, "dmfw")


def recipe_key(name):
    h = hashlib.sha256(json.dumps(RECIPES[name], sort_keys=True).encode())
    h.update(_LVM_CONF.encode())
    h.update(_VERSION)
    return "lvm-%s-%s" % (name, h.hexdigest()[:16])


def missing_tools():
    """Why the recipe cannot run here, or None."""
    for tool in ("losetup", "lvm"):
        if shutil.which(tool) is None and not os.path.exists("/usr/sbin/" + tool) \
                and not os.path.exists("/sbin/" + tool):
            return "%s not installed (scripts/setup-host.sh installs it)" % tool
    if os.geteuid() != 0:
        return "loop devices need root"
    if not os.path.exists("/dev/loop-control"):
        return "no /dev/loop-control (loop module not loaded)"
    return None


def _env(confdir):
    env = dict(os.environ)
    env["LVM_SYSTEM_DIR"] = confdir
    env["LVM_SUPPRESS_FD_WARNINGS"] = "1"
    env["PATH"] = env.get("PATH", "") + ":/usr/sbin:/sbin"
    return env


def _run(cmd, env, check=True):
    p = subprocess.run(cmd, shell=True, env=env, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and p.returncode:
        raise RuntimeError("%s: exit %d\n%s%s" % (cmd, p.returncode, p.stdout, p.stderr))
    return p.stdout


def host_lvm(path, cmd, readonly=True):
    """One lvm2 command line on image `path` (or a list of images: one VG's PVs),
    through loop devices and a private lvm.conf that sees only them (the host has no
    dm: metadata only) -> CompletedProcess with text stdout/stderr."""
    paths = [path] if isinstance(path, str) else list(path)
    loops = []
    conf = tempfile.mkdtemp(prefix="dmfw-lvmconf-")
    try:
        for p in paths:
            loops.append(subprocess.check_output(
                ["losetup", "-f", "--show"] + (["-r"] if readonly else []) + [p],
                text=True).strip())
        with open(os.path.join(conf, "lvm.conf"), "w") as f:
            f.write(_LVM_CONF % "".join('"a|^%s$|", ' % l for l in loops))
        return subprocess.run(cmd, shell=True, env=_env(conf), stdin=subprocess.DEVNULL,
                              capture_output=True, text=True)
    finally:
        for l in loops:
            subprocess.run(["losetup", "-d", l])
        shutil.rmtree(conf, ignore_errors=True)


def _fill(path, size):
    # Deterministic bytes so a re-built set has the same data.
    seed = hashlib.sha256(path.split("/")[-1].encode()).digest()
    with open(path, "wb") as f:
        block = bytearray()
        while len(block) < MiB:
            seed = hashlib.sha256(seed).digest()
            block += seed * 64
        for i in range(size // MiB):
            f.write(block[i % 256:] + block[:i % 256])


def _wraps(path):
    # mda_header at 4096 (pvcreate's first area): size u64@32, slot 0's
    # offset u64@40 and size u64@48.
    with open(path, "rb") as f:
        f.seek(4096)
        h = f.read(64)
    size, off, n = struct.unpack_from("<QQQ", h, 32)
    return off + n > size


def _until_wrap(cmds, path, env):
    for k in range(1, 400):
        x = "y" * k
        _run(cmds[0].format(x=x), env)
        if _wraps(path):
            # Leave the wrapped copy as the committed one.
            return k
        _run(cmds[1].format(x=x), env)
        if _wraps(path):
            return k
    raise RuntimeError("metadata never wrapped")


def _build(name, out):
    r = RECIPES[name]
    tmp = tempfile.mkdtemp(prefix="dmfw-lvm-")
    loops = []
    try:
        paths = []
        for i, size in enumerate(r["sizes"]):
            p = os.path.join(tmp, "pv%d.img" % i)
            if r["fill"]:
                _fill(p, size * MiB)
            else:
                with open(p, "wb") as f:
                    f.truncate(size * MiB)
            paths.append(p)
        for p in paths:
            loops.append(subprocess.check_output(
                ["losetup", "-f", "--show", p], text=True).strip())
        conf = os.path.join(tmp, "etc")
        os.mkdir(conf)
        with open(os.path.join(conf, "lvm.conf"), "w") as f:
            f.write(_LVM_CONF % "".join('"a|^%s$|", ' % l for l in loops))
        env = _env(conf)
        subst = dict(("pv%d" % i, l) for i, l in enumerate(loops))
        for step in r["steps"]:
            cmd = step.format(**subst)
            if cmd.startswith("lvcreate"):
                # Nothing can be activated or zeroed without dm.
                cmd = cmd.replace(" ", " --driverloaded n -an -Zn ", 1)
            _run(cmd, env)
        manifest = {"pvs": ["pv%d.img" % i for i in range(len(paths))],
                    "steps": r["steps"], "reports": {}, "text": {}}
        if "wrap" in r:
            manifest["wrap_renames"] = _until_wrap(r["wrap"], paths[0], env)

        # Tests name their devices after these loops, so lvm2's reports and
        # column widths apply unchanged.
        manifest["loops"] = [l.split("/")[-1] for l in loops]

        js = "--reportformat json --units s --nosuffix"
        reports = {
            "pvs": "pvs %s -o pv_name,pv_uuid,pe_start,pv_size,dev_size,"
                   "pv_pe_count,vg_name,pv_mda_count" % js,
            "vgs": "vgs %s -o vg_name,vg_uuid,vg_extent_size,vg_seqno,"
                   "vg_extent_count,vg_free_count,lv_count,pv_count" % js,
            "segs": "lvs %s -a --segments -o lv_name,vg_name,lv_uuid,vg_uuid,"
                    "seg_start_pe,seg_size_pe,segtype,stripes,stripe_size,"
                    "seg_pe_ranges,devices,lv_size" % js,
        }
        for k, cmd in reports.items():
            manifest["reports"][k] = json.loads(_run(cmd, env))
        texts = {
            "pvs": "pvs", "vgs": "vgs", "lvs": "lvs",
            "lvs_segments": "lvs --segments",
            "lvs_o": "lvs -o lv_name,lv_size,seg_count,lv_uuid --units k",
            "pvs_o": "pvs -o pv_name,pv_uuid,pe_start,pv_pe_count,pv_pe_alloc_count",
            "vgs_o": "vgs -o vg_name,vg_uuid,vg_seqno,vg_extent_size,vg_free --units m",
            "pvscan": "pvscan", "vgscan": "vgscan",
        }
        for k, cmd in texts.items():
            manifest["text"][k] = _run(cmd, env)
        for vg in ("vg-one", "gvg", "bvg"):
            if ("vgcreate %s " % vg) in " ".join(r["steps"]):
                _run("vgchange --driverloaded n -an %s" % vg, env, check=False)
        for l in loops:
            subprocess.run(["losetup", "-d", l])
        loops = []
        staging = out + ".tmp"
        shutil.rmtree(staging, ignore_errors=True)
        os.mkdir(staging)
        for p in paths:
            shutil.move(p, staging)
        with open(os.path.join(staging, "manifest.json"), "w") as f:
            json.dump(manifest, f, indent=1, sort_keys=True)
        os.rename(staging, out)
    finally:
        for l in loops:
            subprocess.run(["losetup", "-d", l])
        shutil.rmtree(tmp, ignore_errors=True)


def build(name="ref"):
    """Directory holding pvN.img and manifest.json for recipe `name`."""
    root = cache_root()
    os.makedirs(root, exist_ok=True)
    out = os.path.join(root, recipe_key(name))
    if os.path.exists(os.path.join(out, "manifest.json")):
        return out
    why = missing_tools()
    if why:
        raise RuntimeError(why)
    # Parallel test processes would otherwise race on the same VG names.
    with open(os.path.join(root, ".lvm.lock"), "w") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        if not os.path.exists(os.path.join(out, "manifest.json")):
            _build(name, out)
    return out


def load(name="ref"):
    d = build(name)
    with open(os.path.join(d, "manifest.json")) as f:
        m = json.load(f)
    m["dir"] = d
    m["paths"] = [os.path.join(d, p) for p in m["pvs"]]
    return m


if __name__ == "__main__":
    import sys
    for n in sys.argv[1:] or ["ref"]:
        print(build(n))
