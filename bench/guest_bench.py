"""Guest benchmark: dmfw under MicroPython against the kernel's dm, in one guest run.

    python3 -m bench.guest_bench [--quick]      (or: python3 -m bench guest)

Prints boot-to-prompt time, then read MB/s of a linear, a 2-way striped and two
dm-crypt mappings (AES-XTS, AES-CBC-ESSIV) through dmfw (firmware console, `dd ...
of=/dev/null`) and through the kernel (the same table, real dmsetup + dd), and a raw
read of the disk on each side and by bare MicroPython; the ratios are taken within
this run.  Page caches are dropped before every read so each one comes from the
virtio disk.
"""
import os
import shutil
import sys
import tempfile

from bench.common import dd_seconds

MIB = 1 << 20


def _best(console, cmd, linux, repeat):
    times = []
    for _ in range(repeat):
        linux.check("sync; echo 3 > /proc/sys/vm/drop_caches")
        out, status = console.run(cmd, timeout=600)
        if status:
            raise RuntimeError("%s: %s failed:\n%s" % (console.name, cmd, out))
        times.append(dd_seconds(out))
    return min(times)


# Bare MicroPython reading a disk with readinto into one buffer: the ceiling for any
# MicroPython code on this guest.
_BARE_MPY = (
    "import time\n"
    "b=bytearray(1<<20); f=open('/dev/vda','rb'); t=time.ticks_us(); n=0\n"
    "while True:\n"
    "    k=f.readinto(b)\n"
    "    if not k: break\n"
    "    n+=k\n"
    "print('%d bytes copied, %f s' % (n, time.ticks_diff(time.ticks_us(),t)/1e6))\n"
)


# Bare MicroPython AES (cryptolib, ECB over 4 KiB buffers, no IV work): the ceiling
# for any MicroPython dm-crypt on this guest.
_BARE_AES = (
    "import time, cryptolib\n"
    "a=cryptolib.aes(bytes(32),1); b=bytearray(4096); t=time.ticks_us(); n=0\n"
    "while n < %d:\n"
    "    a.decrypt(b, b)\n"
    "    n+=4096\n"
    "print('%%d bytes copied, %%f s' %% (n, time.ticks_diff(time.ticks_us(),t)/1e6))\n"
)


def main(flags=()):
    from harness.disks import pattern_disk
    from harness.guest import Disk, boot
    quick = "--quick" in flags
    size = (32 if quick else 64) * MIB
    repeat = 2 if quick else 3
    folder = tempfile.mkdtemp(prefix="dmfw-gbench-")
    try:
        disks = [Disk(pattern_disk(os.path.join(folder, "%s.img" % t), size, t)) for t in "ab"]
        guest = boot(disks)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    try:
        fw, linux = guest.fw, guest.linux
        sectors = size // 512
        tables = {
            "linear": "0 %d linear /dev/vda 0" % sectors,
            "striped": "0 %d striped 2 128 /dev/vda 0 /dev/vdb 0" % (2 * sectors),
            # dm-crypt as LUKS2 maps it by default (AES-256-XTS, 4 KiB sectors) and
            # as LUKS1 did (AES-CBC-ESSIV, 512-byte sectors).
            "crypt-xts": "0 %d crypt aes-xts-plain64 %s 0 /dev/vda 0 1 sector_size:4096"
                         % (sectors, "ab" * 64),
            "crypt-essiv": "0 %d crypt aes-cbc-essiv:sha256 %s 0 /dev/vda 0"
                           % (sectors, "cd" * 32),
        }
        rows = []
        for side in (fw, linux):
            for name, table in tables.items():
                side.check("dmsetup create %s --table '%s'" % (name, table))
        # busybox sh runs its own dd applet for a bare `dd`, which prints no timing:
        # name coreutils' by path on the Linux side.
        dd = "dd if=%s of=/dev/null bs=1M"
        kdd = "/usr/bin/" + dd
        for name, table in tables.items():
            nbytes = int(table.split()[1]) * 512
            k = nbytes / MIB / _best(linux, kdd % ("/dev/mapper/" + name), linux, repeat)
            f = nbytes / MIB / _best(fw, dd % ("/dev/mapper/" + name), linux, repeat)
            rows.append((name, f, k))
        raw_k = size / MIB / _best(linux, kdd % "/dev/vda", linux, repeat)
        raw_f = size / MIB / _best(fw, dd % "/dev/vda", linux, repeat)
        bare = size / MIB / _best(linux, "micropython -c \"%s\"" % _BARE_MPY.replace('"', '\\"'),
                                  linux, repeat)
        aes = (size // 4) / MIB / _best(linux, "micropython -c \"%s\"" % (
            _BARE_AES % (size // 4)).replace('"', '\\"'), linux, repeat)
        accel = "KVM" if "kvm" in " ".join(guest.command_line()) else "TCG"
        print("guest boot to both prompts: %.1f s (%s)" % (guest.boot_seconds, accel))
        print("read throughput, MiB/s (best of %d, caches dropped, %d MiB per disk):"
              % (repeat, size // MIB))
        print("  %-22s %9s %9s %7s" % ("", "dmfw", "kernel", "ratio"))
        for name, f, k in rows:
            print("  %-22s %9.1f %9.1f %7.2f" % (name + " mapping", f, k, f / k))
        print("  %-22s %9.1f %9.1f %7.2f" % ("raw disk (vda)", raw_f, raw_k, raw_f / raw_k))
        print("  bare MicroPython read of vda: %.1f MiB/s" % bare)
        print("  bare MicroPython AES-256 ECB (cryptolib): %.1f MiB/s" % aes)
        for name, f, k in rows:
            print("  dmfw %s / dmfw raw disk: %.2f" % (name, f / raw_f))
            if name.startswith("crypt"):
                print("  dmfw %s / bare AES-ECB: %.2f" % (name, f / aes))
        return 0
    finally:
        guest.close()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
