"""The boot command in the guest against Linux doing the same work in the same guest.

Test OS (images/testos.py): VG infix with one LV per version, each a signed DDI
holding a gzip squashfs with a ~12 MiB kernel and a ~3.5 MiB initrd. Caches dropped
before each side.

  firmware   `boot --save /run/...` (scan every disk, LVM, GPT in each LV, check the signature,
             map the stack, read kernel + initrd through verity) and, for the split,
             `boot -l` (scan + signature checks only)
  Linux      vgchange -ay, the DDI's partitions as loop partitions of the LV
             (losetup -P), veritysetup open with the root hash (the guest kernel
             cannot check a self-made certificate: the signature is not part of its
             figure), mount the squashfs, read kernel + initrd

    python -m bench boot
"""
import os
import shutil
import sys
import tempfile

VERSION = "infix_25.01.0"


def guest_rows(reps):
    try:
        from harness.guest import boot, Disk
        from images import testos
        from bench.ddi_bench import _fw_secs, _linux_secs
    except ImportError as e:
        return ["boot_bench: no guest harness (%s)" % e]
    meta = testos.load("lvm")
    tmp = tempfile.mkdtemp(prefix="boot-bench-")
    try:
        pv = os.path.join(tmp, "pv.img")
        shutil.copyfile(meta["paths"][0], pv)
        g = boot([Disk(pv)], trust=[os.path.join(meta["dir"], "good-cert.pem")])
        try:
            fw, lx = g.fw, g.linux
            drop = "sync; echo 3 > /proc/sys/vm/drop_caches"
            lvm = ("lvm %s --config 'devices{filter=[\"a|^/dev/vd|\",\"r|.*|\"] "
                   "obtain_device_list_from_udev=0} activation{udev_sync=0 udev_rules=0 "
                   "monitoring=0}'")
            rh = meta["versions"][VERSION]["root_hash"]
            lv = "/dev/mapper/infix-%s" % VERSION
            linux = [lvm % "vgchange -ay infix >/dev/null",
                     "L=$(/usr/sbin/losetup -f --show -r -P %s)" % lv,
                     "veritysetup open ${L}p1 root ${L}p2 %s" % rh,
                     "modprobe squashfs; mkdir -p /mnt/b; mount -t squashfs -o ro "
                     "/dev/mapper/root /mnt/b",
                     "cat /mnt/b/boot/bzImage /mnt/b/boot/initrd.img >/dev/null"]
            undo = ("umount /mnt/b; veritysetup close root; /usr/sbin/losetup -D; " +
                    lvm % "vgchange -an infix >/dev/null")
            best = {}
            for _ in range(reps):
                lx.run(drop)
                t_list, _ = _fw_secs(fw, "boot -l")
                lx.run(drop)
                t_dry, _ = _fw_secs(fw, "boot -n %s" % VERSION)
                lx.run(drop)
                # A real boot up to the hand-off: --save into the guest's RAM stands
                # in for kexec's load (the version has no counter: nothing renamed).
                t_boot, _ = _fw_secs(fw, "boot --save /run/bench %s" % VERSION)
                lx.run(drop)
                t_lx = 0.0
                for cmd in linux:
                    dt, _ = _linux_secs(lx, cmd)
                    t_lx += dt
                lx.run(undo)
                for k, v in (("list", t_list), ("dry", t_dry), ("boot", t_boot),
                             ("linux", t_lx)):
                    best[k] = v if k not in best else min(best[k], v)
        finally:
            g.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    mb = (os.path.getsize(testos_kernel()) + meta["initrd_size"]) / 1048576.0
    return ["guest  boot of %s up to the hand-off (%.1f MiB kernel + initrd), caches "
            "dropped: firmware %.2f s (scan + 3 signatures %.2f s; stack + verity + read "
            "%.2f s), Linux %.2f s without a signature check: %.2fx Linux's time "
            "(goal <= 2x); boot -n (also sha256 of each file) %.2f s"
            % (VERSION, mb, best["boot"], best["list"], best["boot"] - best["list"],
               best["linux"], best["boot"] / best["linux"], best["dry"])]


def testos_kernel():
    from images import guest
    return guest.cached().kernel


def main(flags=()):
    for r in guest_rows(2 if "--quick" in flags else 3):
        print(r, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
