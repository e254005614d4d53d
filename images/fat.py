"""FAT file systems made by the real tools (mkfs.vfat from dosfstools, filled by
mtools), for the DDI reference roots and the FAT reader's tests (CPython only).

    make_fat(path, size_kb, {"dir/name": b"content", ...}, bits=None, label="NO NAME",
             volume_id=None, cluster=None, mtime=None)

`bits` is the FAT width (-F 12/16/32; None lets mkfs.vfat choose), `cluster` the
sectors per cluster (-s). mkfs.vfat runs with --invariant; with `volume_id` (-i) and
`mtime` (file times, mcopy -m) also fixed the image is the same bytes on every run.
"""
import os
import subprocess

TOOLS = ("mkfs.vfat", "mmd", "mcopy")


def _run(cmd, env=None):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    if r.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(cmd), r.returncode,
                                                   r.stderr.decode(errors="replace")))
    return r.stdout


def mtools_env():
    # mtools refuses image files whose geometry it finds odd unless told not to check.
    return dict(os.environ, MTOOLS_SKIP_CHECK="1")


def make_fat(path, size_kb, files, bits=None, label="NO NAME", volume_id=None,
             cluster=None, mtime=None):
    """Create the FAT image `path` of size_kb KiB holding `files` (path -> bytes,
    directories made as needed, in sorted order)."""
    args = ["mkfs.vfat", "-C", "--invariant"]
    if bits:
        args += ["-F", str(bits)]
    if volume_id:
        args += ["-i", volume_id]
    args += ["-n", label]
    if cluster:
        args += ["-s", str(cluster)]
    _run(args + [path, str(size_kb)])
    env = mtools_env()
    made = set()
    for name in sorted(files):
        parts = name.split("/")
        for i in range(1, len(parts)):
            d = "/".join(parts[:i])
            if d not in made:
                _run(["mmd", "-i", path, "::/" + d], env=env)
                made.add(d)
        src = path + ".src"
        with open(src, "wb") as f:
            f.write(files[name])
        copy = ["mcopy", "-i", path, src, "::/" + name]
        if mtime is not None:
            os.utime(src, (mtime, mtime))
            copy.insert(1, "-m")
        _run(copy, env=env)
        os.unlink(src)
    return path
