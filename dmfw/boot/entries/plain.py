# No boot config at all: the kernel where distributions install it. Debian installs
# /boot/vmlinuz-<version> with /boot/initrd.img-<version> (and /vmlinuz symlinks);
# Buildroot (Infix) /boot/bzImage, Image or zImage; /boot/initrd.img if present.

from dmfw.boot import version as vmod
from dmfw.boot.entries import Entry, Blob, is_file, names

KERNELS = ("vmlinuz", "bzImage", "Image", "zImage")


def _newest(fs):
    # The newest /boot/vmlinuz-<version> by the UAPI version order.
    best = None
    for n in names(fs, "/boot"):
        if n.startswith("vmlinuz-") and is_file(fs, "/boot/" + n):
            if best is None or vmod.vercmp(n[8:], best[8:]) > 0:
                best = n
    return best


def find(fs):
    kernel = None
    initrd = None
    for k in KERNELS:
        if is_file(fs, "/boot/" + k):
            kernel = "/boot/" + k
            break
        n = _newest(fs) if k == "vmlinuz" else None
        if n is not None:
            kernel = "/boot/" + n
            if is_file(fs, "/boot/initrd.img-" + n[8:]):
                initrd = "/boot/initrd.img-" + n[8:]
            break
    if kernel is None:
        return []
    if initrd is None and is_file(fs, "/boot/initrd.img"):
        initrd = "/boot/initrd.img"
    e = Entry("plain", "plain", kernel)
    e.title = kernel
    e.kernel = Blob(kernel)
    if initrd is not None:
        e.initrds = [Blob(initrd)]
    return [e]
