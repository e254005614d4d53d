"""The same device-mapper operation on both sides of the guest.

`fw` is the dmfw shell (firmware console), `linux` the busybox shell whose dmsetup
and sha256sum are the real tools over the kernel's device mapper.  Commands are
written once, in dmsetup syntax both understand.
"""
import re


def q(text):
    """Single-quote for both shells (neither treats anything inside specially)."""
    assert "'" not in text
    return "'%s'" % text


def create(console, name, table, opts=""):
    return console.run("dmsetup create %s%s --table %s" % (name, " " + opts if opts else "", q(table)))


def checksum(console, dev, start=None, count=None, timeout=300):
    """(sha256 hex or None, status) of a device or of a sector range of it."""
    if start is None:
        cmd = "sha256sum %s" % dev
    elif console.name == "fw":
        cmd = "sha256sum %s %d %d" % (dev, start, count)
    else:
        cmd = ("dd if=%s bs=512 skip=%d count=%d iflag=direct 2>/dev/null | sha256sum"
               % (dev, start, count))
    out, status = console.run(cmd, timeout=timeout)
    words = out.split()
    ok = status == 0 and words and re.fullmatch("[0-9a-f]{64}", words[0])
    return (words[0] if ok else None), status


def probe_pages(console, dev, pages, per_line=32):
    """{page start sector: read succeeded} for 4 KiB pages (8 sectors) of dev.

    Many probes per command line: one round trip per line instead of per page.
    """
    result = {}
    for i in range(0, len(pages), per_line):
        chunk = pages[i:i + per_line]
        if console.name == "fw":
            line = "; ".join("sha256sum %s %d 8; echo P%d=$?" % (dev, p, p) for p in chunk)
        else:
            line = ("for p in %s; do dd if=%s of=/dev/null bs=4096 skip=$((p/8)) count=1 "
                    "iflag=direct 2>/dev/null; echo P$p=$?; done"
                    % (" ".join(map(str, chunk)), dev))
        out, _ = console.run(line, timeout=300)
        for p, st in re.findall(r"^P(\d+)=(\d+)$", out, re.M):
            result[int(p)] = st == "0"
    assert sorted(result) == sorted(pages), "probe lost: %s" % out
    return result


def flush_linux(linux, *disks):
    """Make the kernel's view and dmfw's file view of disks agree after a write:
    write back dirty pages, then drop every cached page of the disks."""
    linux.check("sync; for d in %s; do blockdev --flushbufs $d; done; "
                "echo 3 > /proc/sys/vm/drop_caches" % " ".join(disks))


# What may differ between the two dmsetups' outputs: only the dm device's own
# major:minor (dmfw allocates 253:N like the kernel, but need not match it).
_OWN_DEVNO = [
    (re.compile(r"^(Major, minor:\s+)\d+, \d+$", re.M), r"\1<devno>"),      # info
    (re.compile(r"^(\S+\t)\(\d+(?::|, )\s*\d+\)$", re.M), r"\1(<devno>)"),  # ls
]
_INFO_C_ROW = re.compile(r"^(\S+\s+)\d+(\s+)\d+(\s)", re.M)
_INFO_C_BARE = re.compile(r"^([^:\n]+):\d+:\d+:", re.M)  # --noheadings: ':'-separated


def normalise(cmd, text):
    for pattern, repl in _OWN_DEVNO:
        text = pattern.sub(repl, text)
    words = cmd.split()
    if "info" in words and "-c" in words and "-o" not in words:
        if "--noheadings" in words:
            text = _INFO_C_BARE.sub(r"\1:<maj>:<min>:", text)
        else:
            head, _, rows = text.partition("\n")
            text = head + "\n" + _INFO_C_ROW.sub(r"\1<maj>\2<min>\3", rows)
    return text


def plug(g, path, plugged, partitions=False):
    """Hot-plug image `path` read-only; returns the kernel's name for it (vdX) once
    /sys/block shows it, and records the QEMU node in `plugged` for unplug. With
    `partitions`, waits a moment more: the kernel's partition scan follows the disk."""
    before, _ = g.linux.run("ls /sys/block")
    plugged.append(g.qemu.hotplug(path, readonly=True))
    for _ in range(60):
        out, _ = g.linux.run("ls /sys/block")
        new = sorted(set(out.split()) - set(before.split()))
        if new:
            if partitions:
                g.linux.run("sleep 0.5")
            return new[0]
        g.linux.run("sleep 0.5")
    raise AssertionError("hot-plugged disk did not appear")
